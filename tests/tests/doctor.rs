//! `csx doctor` against real conditions: a key file others can read, a bootstrap server that is
//! not running, a listen port another process holds, a daemon with no member to talk to, a
//! broken config.toml — each a failing check with what to do — and a healthy node passing.

use std::time::Duration;

use csx_tests::process::{Bootstrap, CliHome, found_federation, free_port, wait_for};
use serde_json::Value;

fn doctor(node: &CliHome) -> (Option<i32>, Value) {
    let out = node.run(&["doctor", "--json", "--connect-timeout", "2s"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor prints JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// The status of the check whose name starts with `name`, and its detail and fix.
fn check(report: &Value, name: &str) -> (String, String) {
    let c = report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["check"].as_str().is_some_and(|n| n.starts_with(name))))
        .unwrap_or_else(|| panic!("no check `{name}` in {report}"));
    (
        c["status"].as_str().unwrap_or_default().to_string(),
        format!("{} | {}", c["detail"].as_str().unwrap_or_default(), c["fix"].as_str().unwrap_or_default()),
    )
}

#[test]
fn doctor_fails_each_real_problem_with_what_to_do_and_passes_a_healthy_node() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (nodes, genesis) = found_federation(dir.path(), &["QD1", "QD2"], Some(&server.address));
    let (a, b) = (&nodes[0], &nodes[1]);
    let port = free_port();
    a.write_test_config(port);
    b.write_test_config(free_port());

    // A key others can read, a bootstrap server not running, the listen port taken.
    let key = a.home.join("node.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).expect("hold the port");
    let (code, r) = doctor(a);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(r["ok"], false);
    let (status, text) = check(&r, "key and credential files");
    assert_eq!(status, "fail", "{text}");
    assert!(text.contains("node.key is 644") && text.contains("chmod 600"), "{text}");
    let (status, text) = check(&r, "bootstrap /ip4/127.0.0.1/tcp/");
    assert_eq!(status, "fail", "{text}");
    assert!(text.contains("Connection refused"), "{text}");
    let (status, text) = check(&r, "listen /ip4/127.0.0.1/tcp/");
    assert_eq!(status, "fail", "{text}");
    assert!(text.contains("another process holds the port"), "{text}");
    assert_eq!(check(&r, "daemon").0, "warn");
    assert_eq!(check(&r, "home").0, "ok");
    assert_eq!(check(&r, "disk space").0, "ok", "{r}");

    // Fixed; the daemon runs, but no member is there to talk to.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    drop(squatter);
    let _bootstrap = server.start(&genesis);
    let _da = a.start_daemon(&[]);
    let (code, r) = doctor(a);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(check(&r, "key and credential files").0, "ok");
    assert_eq!(check(&r, "bootstrap /ip4/127.0.0.1/tcp/").0, "ok");
    let (status, text) = check(&r, "listen /ip4/127.0.0.1/tcp/");
    assert_eq!((status.as_str(), text.contains("held by this node's daemon")), ("ok", true), "{text}");
    let (status, text) = check(&r, "peers");
    assert_eq!(status, "fail", "{text}");
    assert!(text.contains("no member is connected"), "{text}");

    // A second member: everything passes.
    let _db = b.start_daemon(&[]);
    wait_for("A has a verified member connected", Duration::from_secs(30), || {
        a.json(&["peers"]).as_array().is_some_and(|p| p.iter().any(|p| p["connected"] == true && p["verified"] == true))
    });
    let (code, r) = doctor(a);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["ok"], true);
    assert_eq!(check(&r, "peers").0, "ok");
    assert_eq!(check(&r, "daemon").0, "ok");
    assert_eq!(check(&r, "clock").0, "ok");
    // A table for people, too, readable at 100 columns.
    let table = a.ok(&["doctor", "--width", "100"]);
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");

    // A configuration edit gone wrong: a misspelt limit appended below [limits].
    let config = a.home.join("config.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("max_conections = 10\n");
    std::fs::write(&config, text).expect("write");
    let (code, r) = doctor(a);
    assert_eq!(code, Some(1), "{r}");
    let (status, text) = check(&r, "configuration");
    assert_eq!(status, "fail", "{text}");
    assert!(text.contains("did you mean `limits.max_connections`") && text.contains("(line 6)"), "{text}");
    let out = a.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(3));
    for n in [a, b] {
        n.ok(&["shutdown"]);
    }
}
