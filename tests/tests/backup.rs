//! `csx backup` and `csx restore` with real daemons: a consistent snapshot while the daemon
//! writes, damaged files refused with nothing written, and the restored-backup guard (a node
//! restored from an old backup signs nothing until a peer has confirmed its own feed, so it
//! never forks it).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use csx_tests::process::{Bootstrap, CliHome, found_federation, free_port, wait_for};

const SOON: Duration = Duration::from_secs(30);

fn holds_comment(node: &CliHome, comment: &str) -> bool {
    node.json(&["review", "list"]).as_array().is_some_and(|a| a.iter().any(|r| r["body"]["comment"] == comment))
}

fn own_seq(node: &CliHome) -> u64 {
    node.json(&["status"])["own_head"]["seq"].as_u64().expect("own head")
}

fn connected_to_a_member(node: &CliHome) -> bool {
    node.json(&["peers"])
        .as_array()
        .is_some_and(|a| a.iter().any(|p| p["connected"] == true && p["bootstrap"] == false && p["verified"] == true))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("exists").permissions().mode() & 0o777
}

#[test]
fn a_node_restored_from_an_old_backup_writes_only_after_a_peer_confirms_its_feed_and_never_forks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (nodes, genesis) = found_federation(dir.path(), &["QB1", "QB2"], Some(&server.address));
    let _bootstrap = server.start(&genesis);
    let (a, b) = (&nodes[0], &nodes[1]);
    let (port_a, port_b) = (free_port(), free_port());
    let listen = |p: u16| format!("/ip4/127.0.0.1/tcp/{p}");
    let mut daemon_a = a.start_daemon(&["--listen", &listen(port_a), "--sync-interval", "2s"]);
    let mut daemon_b = b.start_daemon(&["--listen", &listen(port_b), "--sync-interval", "2s"]);

    a.review("before the backup");
    let old = dir.path().join("old.backup");
    let summary = a.json(&["backup", old.to_str().expect("utf8")]);
    assert_eq!(mode(&old), 0o600, "a backup holds secret keys: owner-only");
    let backed_up_seq = own_seq(a);
    assert!(summary["records"].as_u64() >= Some(backed_up_seq), "{summary}");
    for f in ["node.key", "org.key", "genesis.json", "identity.json", "config.toml"] {
        assert!(summary["files"].as_array().is_some_and(|l| l.iter().any(|x| x == f)), "{f} in {summary}");
    }

    // A writes on after the backup, and B takes those records.
    a.review("after the backup, 1");
    a.review("after the backup, 2");
    let newest = own_seq(a);
    assert_eq!(newest, backed_up_seq + 2);
    wait_for("B holds A's records written after the backup", SOON, || holds_comment(b, "after the backup, 2"));

    // A's machine is lost; its home comes back from the old backup.
    a.ok(&["shutdown"]);
    drop(daemon_a);
    std::fs::rename(&a.home, dir.path().join("lost-home")).expect("move the old home aside");
    // Only into an empty home: the lost one is refused by name.
    let lost = CliHome::new(dir.path().join("lost-home"));
    let refused = lost.run(&["restore", old.to_str().expect("utf8")]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("lost-home is not empty (it holds"), "{}", stderr(&refused));
    let restored = a.json(&["restore", old.to_str().expect("utf8")]);
    assert_eq!(restored["checksum"], summary["checksum"]);
    assert_eq!(own_seq(a), backed_up_seq, "the restored node holds only what the backup held");
    assert_eq!(a.digest(), summary["heads_digest"].as_str().expect("digest"));
    for f in ["node.key", "org.key"] {
        assert_eq!(mode(&a.home.join(f)), 0o600, "{f} restored owner-only");
    }

    // Offline, it refuses to sign: its peers may hold later records of its feed.
    let out = a.add_review("written offline right after the restore");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("restored from a backup"), "{}", stderr(&out));

    // With its daemon running but no member reachable, it still refuses (after waiting).
    b.ok(&["shutdown"]);
    drop(daemon_b);
    daemon_a = a.start_daemon(&["--listen", &listen(port_a), "--sync-interval", "2s"]);
    let out = a.add_review("written with no member reachable");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("has not yet confirmed its own feed with a peer"), "{}", stderr(&out));
    assert_eq!(own_seq(a), backed_up_seq, "nothing was signed");

    // B comes back: a sync fetches A's own later records from B and confirms the feed.
    daemon_b = b.start_daemon(&["--listen", &listen(port_b), "--sync-interval", "2s"]);
    wait_for("A connects to B", SOON, || connected_to_a_member(a));
    let report = a.json(&["sync", "--timeout", "30s"]);
    assert_eq!(report["level"], true, "{report}");
    assert_eq!(own_seq(a), newest, "A fetched back what it signed after the backup: {report}");
    assert!(holds_comment(a, "after the backup, 2"));

    // Now it writes, after its real head: no fork anywhere.
    a.review("after the restore and a sync");
    assert_eq!(own_seq(a), newest + 1);
    wait_for("B takes A's new record", SOON, || holds_comment(b, "after the restore and a sync"));
    for n in [a, b] {
        let status = n.json(&["status"]);
        assert_eq!(status["forks"].as_array().map(Vec::len), Some(0), "{status}");
    }
    assert_eq!(a.digest(), b.digest());
    // The confirmation is kept: after a restart the node writes offline again.
    a.ok(&["shutdown"]);
    drop(daemon_a);
    a.review("offline after the confirmation");
    b.ok(&["shutdown"]);
    drop(daemon_b);
}

#[test]
fn a_backup_taken_while_the_daemon_writes_is_consistent_and_a_damaged_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (nodes, _genesis) = found_federation(dir.path(), &["QC1"], None);
    let node = nodes[0].clone();
    let _daemon = node.start_daemon(&["--listen", &format!("/ip4/127.0.0.1/tcp/{}", free_port())]);

    // A writer keeps the daemon busy while backups are taken.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (node, stop, written) = (node.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                node.review(&format!("written during the backups, {i}"));
                written.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut backups = Vec::new();
    for i in 0..4 {
        let start = written.load(Ordering::Relaxed);
        wait_for("the writer writes between backups", SOON, || written.load(Ordering::Relaxed) >= start + 2);
        let file = dir.path().join(format!("during-{i}.backup"));
        let summary = node.json(&["backup", file.to_str().expect("utf8")]);
        backups.push((file, summary));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    assert!(written.load(Ordering::Relaxed) >= 8);

    // Each restores whole: every record verifies, every feed is contiguous, and the restored
    // store is exactly the store at the backup's instant (its heads digest).
    let mut previous = 0;
    for (i, (file, summary)) in backups.iter().enumerate() {
        let home = CliHome::new(dir.path().join(format!("restored-{i}")));
        let restored = home.json(&["restore", file.to_str().expect("utf8")]);
        assert_eq!(restored["records"], summary["records"]);
        let records = home.records();
        assert_eq!(Some(records), summary["records"].as_u64());
        assert_eq!(home.digest(), summary["heads_digest"].as_str().expect("digest"));
        assert!(records > previous, "each later backup holds more: {records} after {previous}");
        previous = records;
    }

    // Damaged files are refused with a clear error, and nothing is left behind.
    let (good, _) = &backups[0];
    let bytes = std::fs::read(good).expect("read");
    let target = CliHome::new(dir.path().join("target"));
    let damaged = |name: &str, data: &[u8], expect: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, data).expect("write");
        let out = target.run(&["restore", file.to_str().expect("utf8")]);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains("nothing was written"), "{name}: {}", stderr(&out));
        assert!(!target.home.exists(), "{name}: the home was not created");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
            .collect();
        assert!(leftovers.is_empty(), "{name}: no staging directory is left");
    };
    damaged("half.backup", &bytes[..bytes.len() / 2], "the file is truncated");
    damaged("no-checksum.backup", &bytes[..bytes.len() - 10], "truncated: its checksum is missing");
    let mut altered = bytes.clone();
    altered[20] ^= 1; // the time it was taken, in the header
    damaged("altered-header.backup", &altered, "its checksum does not match its contents");
    let mut altered = bytes.clone();
    let at = bytes.len() / 2;
    altered[at] ^= 0x40;
    let file = dir.path().join("altered-middle.backup");
    std::fs::write(&file, &altered).expect("write");
    let out = target.run(&["restore", file.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!target.home.exists(), "nothing written for a file altered in its middle: {}", stderr(&out));
    damaged("not-a-backup.backup", b"hello, world\n and more than a header's worth of bytes: ........................................................................", "it is not a csx backup");
    let mut newer = bytes.clone();
    newer[11..15].copy_from_slice(&2u32.to_be_bytes());
    damaged("newer.backup", &newer, "it is backup format version 2; this csx reads version 1 (upgrade csx");

    // Offline (no daemon), the backup is read from the home under the store's lock.
    node.ok(&["shutdown"]);
    let offline = dir.path().join("offline.backup");
    let summary = node.json(&["backup", offline.to_str().expect("utf8")]);
    assert_eq!(summary["records"].as_u64(), Some(node.records()));
    // It never overwrites a file.
    let out = node.run(&["backup", offline.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}
