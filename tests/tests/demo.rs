//! The README's first command: `csx demo` builds a local federation of separate processes and
//! shows every node holding every record.

use std::process::Command;

use csx_tests::process::csx_bin;

#[test]
fn the_demo_federation_converges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(csx_bin())
        .args(["demo", "--exit", "--members", "3", "--seed", "11", "--dir"])
        .arg(dir.path())
        .output()
        .expect("csx demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Every node holds every record"), "{stdout}");
    assert!(stdout.contains("identical heads on all 3 nodes"), "{stdout}");
    // It prints the dashboard's address and a one-time sign-in link for an administrator.
    assert!(stdout.contains("Dashboard: http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("/signin/link/"), "{stdout}");
    // Every daemon was stopped and released its store: the homes can be read offline.
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let home = entry.expect("entry").path();
        if home.join("identity.json").exists() {
            assert!(!home.join("control.sock").exists(), "{} still has a daemon", home.display());
            let status =
                Command::new(csx_bin()).env("CSX_HOME", &home).args(["status", "--json"]).output().expect("runs");
            assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
            let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
            assert_eq!(v["mode"], "offline");
            assert!(v["store"]["records"].as_u64().expect("count") > 100);
        }
    }
}
