//! How a federation comes together, with real daemons on 127.0.0.1 and default settings except
//! their ports: `csx sync` run at once after a daemon starts, a second daemon on a taken home or
//! port, records written offline reaching peers when the daemon starts, and the formation of a
//! federation of many founders started at once (issue 16).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use csx_node::api::{Request, Response};
use csx_node::control::ControlClient;
use csx_node::home::Home;
use csx_tests::process::{Bootstrap, CliHome, Proc, found_federation, free_port, wait_for};
use serde_json::Value;

fn listen(port: u16) -> String {
    format!("/ip4/127.0.0.1/tcp/{port}")
}

/// Starts `csx daemon` for `node` without waiting for it to come up.
fn spawn_daemon(node: &CliHome, port: u16) -> Proc {
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(node.home.join("daemon.log")).expect("log file");
    let child = node
        .cmd(&["daemon", "--listen", &listen(port)])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("daemon starts");
    Proc { child, name: format!("daemon {}", node.home.display()) }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn log_of(node: &CliHome) -> String {
    std::fs::read_to_string(node.home.join("daemon.log")).unwrap_or_default()
}

/// `csx sync --timeout 30s --json`, expected to succeed and be level the first time.
fn sync_level(node: &CliHome, who: &str) -> Value {
    let out = node.run(&["sync", "--timeout", "30s", "--json"]);
    assert!(
        out.status.success(),
        "{who}: `csx sync --timeout 30s` failed the first time: {}\n{}",
        text(&out),
        log_of(node)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["level"], true, "{who}: {report}");
    assert!(report["peers"].as_array().is_some_and(|p| !p.is_empty()), "{who}: synced with nobody: {report}");
    report
}

fn counters(node: &CliHome) -> Value {
    node.json(&["status"])["network"]["counters"].clone()
}

/// Two founders, a bootstrap server; the second founder's daemon is started and `csx sync` run
/// at once, while it starts, connects and takes the first founder's records (written offline
/// before either daemon started): the sync waits for all of it and is level the first time.
#[test]
fn csx_sync_right_after_starting_a_daemon_waits_for_it_its_peers_and_its_rounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (nodes, genesis) = found_federation(dir.path(), &["QSA", "QSB"], Some(&server.address));
    let _bootstrap = server.start(&genesis);
    for i in 0..20 {
        nodes[0].review(&format!("written offline on QSA, {i}"));
    }
    let (pa, pb) = (free_port(), free_port());
    let _a = nodes[0].start_daemon(&["--listen", &listen(pa)]);
    let _b = spawn_daemon(&nodes[1], pb);
    let started = Instant::now();
    let report = sync_level(&nodes[1], "QSB");
    println!("FIGURE csx sync right after the daemon's start: level after {} ms", started.elapsed().as_millis());
    assert!(
        report["peers"].as_array().is_some_and(|p| p.iter().any(|p| p["org"] == "QSA")),
        "synced with QSA: {report}"
    );
    assert_eq!(nodes[1].json(&["status"])["mode"], "daemon");
    assert!(
        nodes[1].json(&["review", "list"]).as_array().is_some_and(|a| a.len() == 20),
        "QSB holds QSA's offline reviews once level"
    );
    sync_level(&nodes[0], "QSA");
    assert_eq!(nodes[0].digest(), nodes[1].digest());
    // Neither founder refused the other as not a member while they verified each other.
    for n in &nodes {
        let c = counters(n);
        assert!(c.get("refused.not_a_member").is_none() && c.get("dropped.not_a_member").is_none(), "{c}");
    }
}

/// A second `csx daemon` for a home whose daemon runs fails at once with the message the
/// guide documents; one for another home on a port a daemon listens on fails at start too.
#[test]
fn a_second_daemon_on_the_same_home_or_port_fails_at_start_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (nodes, _) = found_federation(dir.path(), &["QDA", "QDB"], None);
    let port = free_port();
    let _first = nodes[0].start_daemon(&["--listen", &listen(port)]);

    let started = Instant::now();
    let out = nodes[0].run(&["daemon", "--listen", &listen(free_port())]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a daemon is already running for this home"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let guide = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/OPERATIONS.md"))
        .expect("the guide");
    assert!(guide.contains("a daemon is already running for this home"), "the guide documents the message");

    let out = nodes[1].run(&["daemon", "--listen", &listen(port)]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {}", listen(port))) && err.contains("in use"), "{err}");
    assert!(guide.contains("cannot listen on …"), "the guide documents the message");
    // The first daemon still serves its home.
    assert_eq!(nodes[0].json(&["status"])["mode"], "daemon");
}

/// Founders' codes for a federation of `n`.
fn codes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("Q{}{}", (b'A' + (i / 26) as u8) as char, (b'A' + (i % 26) as u8) as char)).collect()
}

/// Records a running daemon holds, asked over its control socket (as `csx status` does, without
/// starting a process: at 60 nodes, a pass of `csx status` processes took seconds and a core).
fn daemon_records(home: &Path) -> Option<u64> {
    let client = ControlClient::connect(&Home::new(home)).ok().flatten()?;
    match client.call(&Request::Status, Duration::from_secs(5)).ok()? {
        Response::Status(s) if s.mode == "daemon" => Some(s.store.records),
        _ => None,
    }
}

/// Starts a bootstrap server and `n` founders' daemons at once (default settings but their
/// ports), and measures the time until every member holds every member's first records (its
/// certificate and profile) and has registered at the bootstrap server. Returns the seconds
/// from the last daemon's start until all were level.
fn formation(n: usize, bound: Duration) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    // CSX_TEST_KEEP=1 keeps the homes and logs (daemon.log, bootstrap/bootstrap.log) to read.
    let _dir = if std::env::var_os("CSX_TEST_KEEP").is_some() {
        println!("keeping the homes and logs in {}", dir.keep().display());
        None
    } else {
        Some(dir)
    };
    let server = Bootstrap::new(&root.join("bootstrap"), free_port());
    let codes = codes(n);
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    let (nodes, genesis) = found_federation(&root, &codes, Some(&server.address));
    let _bootstrap = server.start(&genesis);
    let first = Instant::now();
    let daemons: Vec<Proc> = nodes.iter().map(|n| spawn_daemon(n, free_port())).collect();
    let last = Instant::now();
    println!("FIGURE formation of {n}: {} ms to start the daemons", (last - first).as_millis());
    let want = 2 * n as u64;
    // One watcher per node (a sequential pass over 60 busy daemons took seconds): each asks its
    // daemon every quarter second until it is level and has logged its registration.
    let watched: Vec<(Option<Duration>, Option<Duration>)> = std::thread::scope(|scope| {
        let watchers: Vec<_> = nodes
            .iter()
            .map(|node| {
                scope.spawn(move || {
                    let (mut level_at, mut registered_at) = (None, None);
                    while (level_at.is_none() || registered_at.is_none()) && last.elapsed() < bound {
                        if registered_at.is_none() && log_of(node).contains("registered at the bootstrap server") {
                            registered_at = Some(last.elapsed());
                        }
                        if level_at.is_none() && daemon_records(&node.home) >= Some(want) {
                            level_at = Some(last.elapsed());
                        }
                        std::thread::sleep(Duration::from_millis(250));
                    }
                    (level_at, registered_at)
                })
            })
            .collect();
        watchers.into_iter().map(|w| w.join().expect("a watcher")).collect()
    });
    let (level_at, registered_at): (Vec<_>, Vec<_>) = watched.into_iter().unzip();
    if let Some(i) = level_at.iter().zip(&registered_at).position(|(l, r)| l.is_none() || r.is_none()) {
        panic!(
            "not formed {bound:?} after the last daemon started: level {}/{n}, registered {}/{n}; log of the first \
             not formed:\n{}",
            level_at.iter().flatten().count(),
            registered_at.iter().flatten().count(),
            log_of(&nodes[i])
        );
    }
    let level = level_at.iter().flatten().max().expect("n > 0").as_secs_f64();
    let registered = registered_at.iter().flatten().max().expect("n > 0").as_secs_f64();
    println!("FIGURE formation of {n}: all level on their first records {level:.1} s after the last daemon started");
    println!("FIGURE formation of {n}: all registered at the bootstrap server after {registered:.1} s");
    // Founders verify one another: no refusals or drops for not being a member.
    for node in &nodes {
        let c = counters(node);
        for k in ["refused.not_a_member", "dropped.not_a_member"] {
            assert!(c.get(k).is_none(), "{}: {k}: {c}", node.home.display());
        }
    }
    drop(daemons);
    level
}

/// Twelve founders started at once form their federation within the bound (the figure goes to
/// docs/PERFORMANCE.md).
#[test]
fn twelve_founders_started_at_once_are_level_and_registered_soon() {
    formation(12, Duration::from_secs(30));
}

/// Sixty founders (run by hand: `cargo test -p csx-tests --test formation -- --ignored --nocapture`).
#[test]
#[ignore = "starts 60 daemons: run by hand for docs/PERFORMANCE.md"]
fn sixty_founders_started_at_once() {
    formation(60, Duration::from_secs(120));
}

/// Records written while the daemon was stopped reach the peers as soon as it starts again (not
/// at the next periodic round, 30 s by default).
#[test]
fn records_written_offline_reach_peers_as_soon_as_the_daemon_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (nodes, genesis) = found_federation(dir.path(), &["QFA", "QFB"], Some(&server.address));
    let _bootstrap = server.start(&genesis);
    let (pa, pb) = (free_port(), free_port());
    let _a = nodes[0].start_daemon(&["--listen", &listen(pa)]);
    let b = nodes[1].start_daemon(&["--listen", &listen(pb)]);
    sync_level(&nodes[1], "QFB");
    nodes[1].ok(&["shutdown"]);
    drop(b);
    for i in 0..5 {
        nodes[1].review(&format!("written offline on QFB, {i}"));
    }
    let _b = nodes[1].start_daemon(&["--listen", &listen(pb)]);
    let started = Instant::now();
    wait_for("QFA holds QFB's offline reviews", Duration::from_secs(10), || {
        nodes[0].json(&["review", "list"]).as_array().is_some_and(|a| a.len() == 5)
    });
    println!("FIGURE offline writes reached the peer {} ms after the daemon answered", started.elapsed().as_millis());
}
