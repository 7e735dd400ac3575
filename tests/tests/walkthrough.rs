//! docs/OPERATIONS.md, "Join a federation, step by step", followed literally on one machine:
//! the same commands in the same order, with `127.0.0.1` and a port of its own for each host
//! (the guide's `0.0.0.0`/`192.0.2.x` addresses), each member with its own home, default settings
//! otherwise. Every `csx sync --timeout 1m` in the steps must succeed the first time.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use csx_tests::process::{CliHome, Proc, csx_bin, free_port, wait_for};

/// Step 7 and 10's `csx sync --timeout 1m`: it must succeed the first time, and say so.
fn sync_first_time(node: &CliHome, who: &str) {
    let started = Instant::now();
    let out = node.run(&["sync", "--timeout", "1m", "--json"]);
    println!("FIGURE {who}: csx sync took {} ms", started.elapsed().as_millis());
    assert!(
        out.status.success(),
        "{who}: the guide's `csx sync --timeout 1m` failed the first time (exit {:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["level"], true, "{who}: {report}");
}

fn addr(port: u16) -> String {
    format!("/ip4/127.0.0.1/tcp/{port}")
}

#[test]
fn the_operations_guide_join_a_federation_steps_work_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (boot_port, qwo_port, qoq_port, qxx_port) = (free_port(), free_port(), free_port(), free_port());
    let boot_home = d.join("bootstrap-host");
    let qwo = CliHome::new(d.join("qwo-host"));
    let qoq = CliHome::new(d.join("qoq-host"));
    let qxx = CliHome::new(d.join("qxx-host"));
    let boot = |args: &[&str]| {
        let mut c = Command::new(csx_bin());
        c.env("CSX_LOG", "info").arg("--home").arg(&boot_home).args(args);
        c
    };

    // 1. The bootstrap host: its address.
    let out = boot(&["bootstrap", "--listen", &addr(boot_port), "--external", &addr(boot_port), "--show-address"])
        .output()
        .expect("csx runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let boot_address = text.trim().strip_prefix("bootstrap address: ").expect("the address").to_string();

    // 2. Each founder: a node and an identity.
    for (node, code, name) in
        [(&qwo, "QWO", "NHS West Yorkshire ICB"), (&qoq, "QOQ", "NHS Humber and North Yorkshire ICB")]
    {
        node.ok(&["init", "--org-code", code, "--name", name]);
        std::fs::write(d.join(format!("{}.json", code.to_lowercase())), node.ok(&["id", "--json"])).expect("write");
    }

    // 3. One founder: the genesis file (sent to the others as a file: here, one path).
    let genesis = d.join("genesis.json").display().to_string();
    let (qwo_id, qoq_id) = (d.join("qwo.json").display().to_string(), d.join("qoq.json").display().to_string());
    qwo.ok(&[
        "federation",
        "create",
        "--name",
        "Yorkshire commissioning federation",
        "--founder",
        &qwo_id,
        "--founder",
        &qoq_id,
        "--bootstrap",
        &boot_address,
        "--out",
        &genesis,
    ]);

    // 4. Each founder: adopt it.
    for node in [&qwo, &qoq] {
        node.ok(&["federation", "join", &genesis]);
    }

    // 5. The bootstrap host: start the server.
    let mut child =
        boot(&["bootstrap", "--listen", &addr(boot_port), "--external", &addr(boot_port), "--genesis", &genesis])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(d.join("bootstrap.log")).expect("log"))
            .spawn()
            .expect("bootstrap starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("its address");
    assert_eq!(line.trim().strip_prefix("bootstrap address: "), Some(boot_address.as_str()));
    let _bootstrap = Proc { child, name: "bootstrap".into() };

    // 6. Each founder: start the daemon, listening on its port and announcing its address.
    let _qwo_daemon = qwo.start_daemon(&["--listen", &addr(qwo_port), "--external", &addr(qwo_port)]);
    let _qoq_daemon = qoq.start_daemon(&["--listen", &addr(qoq_port), "--external", &addr(qoq_port)]);

    // 7. Each founder: check — status, peers, sync.
    for (node, who) in [(&qwo, "QWO"), (&qoq, "QOQ")] {
        assert_eq!(node.json(&["status"])["mode"], "daemon", "{who}");
        node.ok(&["peers"]);
        sync_first_time(node, who);
    }
    // Level with the other founder: each holds both founders' certificates and profiles.
    for (node, other) in [(&qwo, "QOQ"), (&qoq, "QWO")] {
        let peers = node.json(&["peers"]);
        assert!(
            peers.as_array().is_some_and(|a| a.iter().any(|p| p["org"] == other && p["connected"] == true)),
            "the founders are connected: {peers}"
        );
    }
    assert_eq!(qwo.digest(), qoq.digest(), "the founders are level after their syncs");

    // 8. A new member: a node and an identity.
    qxx.ok(&["init", "--org-code", "QXX", "--name", "NHS South Yorkshire ICB"]);
    let qxx_id = d.join("qxx.json");
    std::fs::write(&qxx_id, qxx.ok(&["id", "--json"])).expect("write");
    let qxx_id = qxx_id.display().to_string();

    // 9. Enough members endorse it (2 by default with two founders).
    qwo.ok(&["member", "endorse", &qxx_id, "--yes"]);
    qwo.ok(&["members"]);
    qoq.ok(&["member", "endorse", &qxx_id, "--yes"]);
    let members = qoq.ok(&["members"]);
    assert!(members.contains("QXX"), "{members}");

    // 10. The new member: join, start, sync.
    qxx.ok(&["federation", "join", &genesis]);
    let _qxx_daemon = qxx.start_daemon(&["--listen", &addr(qxx_port), "--external", &addr(qxx_port)]);
    sync_first_time(&qxx, "QXX");
    // The whole history arrived: both founders' records and both endorsements.
    let held = qxx.records();
    assert!(held >= qwo.records().min(qoq.records()), "QXX holds {held} records");
    let digest = qxx.digest();
    wait_for("all three members hold the same records", Duration::from_secs(60), || {
        qwo.digest() == digest && qoq.digest() == digest
    });
    for node in [&qwo, &qoq, &qxx] {
        node.ok(&["shutdown"]);
    }
}
