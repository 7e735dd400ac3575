//! Every long-running `csx` process — `daemon`, `bootstrap`, `dashboard`, `demo` — stops cleanly
//! on SIGINT, SIGTERM and SIGHUP: it exits with success, its control socket is gone and its
//! store opens again. And `csx demo` takes its bootstrap server and daemons with it when it is
//! terminated, hung up or killed outright (SIGKILL).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use csx_tests::process::{Bootstrap, CliHome, Proc, csx_bin, found_federation, free_port, wait_for};

const SIGNALS: [&str; 3] = ["INT", "TERM", "HUP"];
const STOP: Duration = Duration::from_secs(30);

fn send(pid: u32, signal: &str) {
    let status = Command::new("kill").args(["-s", signal, &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -s {signal} {pid} failed");
}

/// Waits for `child` to exit; panics after [`STOP`].
fn exit_of(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + STOP;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "{what} still runs {STOP:?} after the signal");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The home can be read offline: no daemon holds it, and its store opens.
fn offline_records(home: &CliHome) -> u64 {
    let v = home.json(&["status"]);
    assert_eq!(v["mode"], "offline", "{v}");
    v["store"]["records"].as_u64().expect("records")
}

#[test]
fn the_daemon_stops_cleanly_on_sigint_sigterm_and_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (homes, _) = found_federation(dir.path(), &["SG0"], None);
    let node = &homes[0];
    node.write_test_config(free_port());
    for (i, signal) in SIGNALS.iter().enumerate() {
        let mut daemon = node.start_daemon(&[]);
        let before = node.records();
        node.review(&format!("written before SIG{signal}"));
        send(daemon.child.id(), signal);
        let status = exit_of(&mut daemon.child, "the daemon");
        let log = std::fs::read_to_string(node.home.join("daemon.log")).unwrap_or_default();
        assert!(status.success(), "SIG{signal}: the daemon exited with {status}; its log:\n{log}");
        assert_eq!(log.matches("the store is flushed").count(), i + 1, "SIG{signal}: {log}");
        assert!(!node.home.join("control.sock").exists(), "SIG{signal}: the control socket is left behind");
        assert!(!node.home.join("control.token").exists(), "SIG{signal}: the control token is left behind");
        assert_eq!(offline_records(node), before + 1, "SIG{signal}: the review written just before is kept");
    }
}

#[test]
fn the_bootstrap_server_stops_cleanly_on_sigint_sigterm_and_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (_, genesis) = found_federation(dir.path(), &["SG1"], Some(&server.address));
    for signal in SIGNALS {
        let mut proc = server.start(&genesis);
        send(proc.child.id(), signal);
        let status = exit_of(&mut proc.child, "the bootstrap server");
        let log = std::fs::read_to_string(server.home.join("bootstrap.log")).unwrap_or_default();
        assert!(status.success(), "SIG{signal}: the bootstrap server exited with {status}; its log:\n{log}");
        // Its port is free again at once: a new server listens on it.
        std::net::TcpListener::bind(("127.0.0.1", server.port)).expect("the port is released");
    }
}

/// Starts `csx dashboard` over the home (offline: no daemon) and waits for its sign-in link.
fn start_dashboard(home: &CliHome) -> Proc {
    let port = free_port();
    let mut child = home
        .cmd(&["dashboard", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("csx dashboard starts");
    let lines = lines_of(child.stdout.take().expect("piped"));
    let deadline = Instant::now() + STOP;
    loop {
        let line = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a sign-in link");
        if line.starts_with("Sign in with this link") {
            break;
        }
    }
    Proc { child, name: "dashboard".into() }
}

#[test]
fn the_dashboard_stops_cleanly_on_sigint_sigterm_and_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (homes, _) = found_federation(dir.path(), &["SG2"], None);
    let node = &homes[0];
    let records = offline_records(node);
    for signal in SIGNALS {
        let mut dashboard = start_dashboard(node);
        send(dashboard.child.id(), signal);
        let status = exit_of(&mut dashboard.child, "the dashboard");
        assert!(status.success(), "SIG{signal}: the dashboard exited with {status}");
        // It held the store: released, it opens again.
        assert_eq!(offline_records(node), records);
    }
}

/// Lines of `reader`, read on a thread (so a test can wait for one with a timeout).
fn lines_of(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The processes whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if stat_of(child).is_some_and(|(_, ppid)| ppid == pid) {
            out.push(child);
        }
    }
    out
}

/// A process's state letter and parent, from /proc/PID/stat (`None` once it is gone).
fn stat_of(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Gone, or a zombie waiting for whichever process reaps orphans here.
fn has_exited(pid: u32) -> bool {
    stat_of(pid).is_none_or(|(state, _)| state == 'Z' || state == 'X')
}

/// Runs `csx demo` with two members until its federation keeps running, sends `signal`, and
/// checks the demo and every process it started are gone and every home was left clean.
fn the_demo_goes_with_its_children(signal: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Command::new(csx_bin())
        .args(["demo", "--members", "2", "--seed", "5", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("csx demo starts");
    let lines = lines_of(demo.stdout.take().expect("piped"));
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut said = String::new();
    while !said.contains("Press Ctrl-C here to stop every node") {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                said.push_str(&line);
                said.push('\n');
            }
            Err(_) => {
                let _ = demo.kill();
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(&mut demo.stderr.take().expect("piped"), &mut err);
                panic!("the demo did not come up:\n{said}\n{err}");
            }
        }
    }
    let children = children_of(demo.id());
    assert_eq!(children.len(), 3, "a bootstrap server and two daemons: {children:?}");
    send(demo.id(), signal);
    let status = exit_of(&mut demo, "the demo");
    if signal == "KILL" {
        assert!(!status.success(), "killed: {status}");
    } else {
        assert!(status.success(), "SIG{signal}: the demo exited with {status}");
    }
    wait_for(&format!("every process the demo started has exited after SIG{signal}"), STOP, || {
        children.iter().all(|&pid| has_exited(pid))
    });
    // The daemons stopped cleanly (SIGTERM, even when the demo was killed): no control socket
    // left, the store opens again and holds the market.
    let homes: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("identity.json").exists())
        .collect();
    assert_eq!(homes.len(), 2);
    for home in homes {
        assert!(!home.join("control.sock").exists(), "SIG{signal}: {} still has a control socket", home.display());
        let log = std::fs::read_to_string(home.join("daemon.log")).unwrap_or_default();
        assert!(log.contains("the store is flushed"), "SIG{signal}: {} did not stop cleanly:\n{log}", home.display());
        assert!(offline_records(&CliHome::new(home)) > 10);
    }
    assert_no_daemon_left(dir.path());
}

/// No process runs with a home under `dir`.
fn assert_no_daemon_left(dir: &Path) {
    let needle = dir.display().to_string();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if String::from_utf8_lossy(&environ).contains(&needle) && !has_exited(pid) {
            panic!("process {pid} still runs with a home under {needle}");
        }
    }
}

#[test]
fn the_demo_stops_its_nodes_on_sigterm() {
    the_demo_goes_with_its_children("TERM");
}

#[test]
fn the_demo_stops_its_nodes_on_sighup() {
    the_demo_goes_with_its_children("HUP");
}

#[test]
fn the_demo_killed_outright_takes_its_nodes_with_it() {
    the_demo_goes_with_its_children("KILL");
}
