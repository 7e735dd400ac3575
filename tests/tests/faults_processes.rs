//! The fault suite, process part: `csx daemon`s killed with SIGKILL at random moments, and damaged
//! or unusable files, driven only with the CLI. Figures are printed (`--nocapture` shows them);
//! `CSX_CRASH_CYCLES` sets the number of kill cycles (20 by default; the soak script runs more).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use csx_tests::process::{Bootstrap, CliHome, found_federation, free_port, wait_for};

const SOON: Duration = Duration::from_secs(60);

/// Writes reviews on `node` with the CLI until `stop`, one at a time; returns the comments of the
/// writes the CLI reported as saved (exit 0), and how many it reported as failed.
fn writer(node: CliHome, tag: &'static str, stop: Arc<AtomicBool>, saved: Arc<Mutex<Vec<String>>>) -> u64 {
    let mut failed = 0;
    let mut k = 0;
    while !stop.load(Ordering::Relaxed) {
        let comment = format!("{tag}-{k}");
        k += 1;
        if node.add_review(&comment).status.success() {
            saved.lock().expect("lock").push(comment);
        } else {
            failed += 1;
        }
    }
    failed
}

/// The comments of the reviews in `author`'s feed as `node` holds it, checking the feed runs 1, 2, 3 …
fn feed_comments(node: &CliHome, author: &str) -> BTreeSet<String> {
    let feed = node.json(&["feed", "--author", author, "--limit", "1000000"]);
    let records = feed.as_array().expect("a list");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"].as_u64(), Some(i as u64 + 1), "the feed of {author} on {} has a gap", node.home.display());
    }
    records.iter().filter_map(|r| r["body"]["comment"].as_str().map(str::to_string)).collect()
}

fn node_key(node: &CliHome) -> String {
    node.json(&["id"])["node_key"].as_str().expect("node key").to_string()
}

#[test]
fn a_daemon_killed_at_random_moments_loses_nothing_it_saved() {
    let cycles: usize = std::env::var("CSX_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (nodes, genesis) = found_federation(dir.path(), &["QC1", "QC2"], Some(&server.address));
    let _bootstrap = server.start(&genesis);
    let (victim, peer) = (nodes[0].clone(), nodes[1].clone());
    for n in &nodes {
        n.write_test_config(free_port());
    }
    let _peer_daemon = peer.start_daemon(&[]);
    let mut daemon = victim.start_daemon(&[]);
    let (victim_key, peer_key) = (node_key(&victim), node_key(&peer));

    // Both write all along: the victim's own CLI (through its daemon, or offline while it is
    // down), and its peer, whose records the victim ingests by gossip and sync.
    let stop = Arc::new(AtomicBool::new(false));
    let saved_here = Arc::new(Mutex::new(Vec::new()));
    let saved_there = Arc::new(Mutex::new(Vec::new()));
    let here = {
        let (n, s, v) = (victim.clone(), stop.clone(), saved_here.clone());
        std::thread::spawn(move || writer(n, "victim", s, v))
    };
    let there = {
        let (n, s, v) = (peer.clone(), stop.clone(), saved_there.clone());
        std::thread::spawn(move || writer(n, "peer", s, v))
    };

    let started = Instant::now();
    for cycle in 1..=cycles {
        std::thread::sleep(Duration::from_millis(fastrand::u64(200..1500)));
        daemon.kill();
        // Everything the CLI reported saved is there after the crash, in a feed without gaps.
        let saved: BTreeSet<String> = saved_here.lock().expect("lock").iter().cloned().collect();
        daemon = victim.start_daemon(&[]);
        let held = feed_comments(&victim, &victim_key);
        let lost: Vec<&String> = saved.difference(&held).collect();
        assert!(lost.is_empty(), "cycle {cycle}: saved but lost after the crash: {lost:?}");
        let status = victim.json(&["status"]);
        assert_eq!(status["store"]["forks"], 0, "cycle {cycle}: {status}");
    }
    stop.store(true, Ordering::Relaxed);
    let failed_here = here.join().expect("writer");
    let failed_there = there.join().expect("writer");
    let (saved_here, saved_there): (BTreeSet<String>, BTreeSet<String>) = (
        saved_here.lock().expect("lock").iter().cloned().collect(),
        saved_there.lock().expect("lock").iter().cloned().collect(),
    );

    // Sync refills whatever was received but not yet flushed when the daemon died.
    let d = peer.digest();
    wait_for("the victim and its peer converge", SOON, || {
        let _ = victim.run(&["sync", "--timeout", "20s"]);
        victim.digest() == d && peer.digest() == d
    });
    for (node, key, saved) in [(&victim, &victim_key, &saved_here), (&victim, &peer_key, &saved_there)] {
        let held = feed_comments(node, key);
        assert!(saved.is_subset(&held), "records lost in {key}'s feed");
    }
    assert!(saved_here.is_subset(&feed_comments(&peer, &victim_key)), "the peer holds all the victim saved");
    for n in [&victim, &peer] {
        let status = n.json(&["status"]);
        assert_eq!(status["store"]["forks"], 0, "{status}");
    }
    println!(
        "FIGURE crash: {cycles} kill -9 cycles in {:?}; records saved on the killed node {} (writes reported failed {failed_here}), received from its peer {} (failed {failed_there}); lost 0",
        started.elapsed(),
        saved_here.len(),
        saved_there.len()
    );
    drop(daemon);
}

/// Hashes of every file under `dir`, to show a failed open changed nothing.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).expect("read")));
        }
    }
    out.sort();
    out
}

/// Runs `csx status` expecting failure; returns its stderr.
fn fails(node: &CliHome, args: &[&str]) -> String {
    let out = node.run(args);
    assert!(!out.status.success(), "csx {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn damaged_and_unusable_files_are_reported_by_name_and_damage_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (nodes, _) = found_federation(dir.path(), &["QB1", "QB2"], None);
    let node = &nodes[0];
    for k in 0..30 {
        node.review(&format!("before the damage {k}"));
    }
    let count = node.records();
    assert_eq!(count, 32);

    // A truncated key file.
    let key = node.home.join("node.key");
    let good = std::fs::read(&key).expect("read");
    std::fs::write(&key, &good[..good.len() / 3]).expect("truncate");
    let err = fails(node, &["status"]);
    assert!(err.contains(&key.display().to_string()) && err.contains("damaged or truncated"), "{err}");
    assert!(err.contains("restore it from your backup"), "{err}");
    std::fs::write(&key, &good).expect("restore");

    // A key file others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = fails(node, &["status"]);
    assert!(err.contains(&key.display().to_string()) && err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(node.records(), count, "the key file problems damaged nothing");

    // A damaged store file: refused by name, and the failed open changes nothing.
    let store = node.home.join("store");
    let db = store.join("db");
    let original = std::fs::read(&db).expect("read");
    let mut damaged = original.clone();
    for b in &mut damaged[..8192] {
        *b ^= 0xa5;
    }
    std::fs::write(&db, &damaged).expect("damage");
    let before = snapshot(&store);
    let err = fails(node, &["review", "list"]);
    assert!(err.contains(&store.display().to_string()) && err.contains("damaged"), "{err}");
    assert!(err.contains("backup") && err.contains("OPERATIONS.md"), "says what to do: {err}");
    assert!(snapshot(&store) == before, "a failed open wrote to the damaged store");
    std::fs::write(&db, &original).expect("restore");
    assert_eq!(node.records(), count, "restoring the file restores every record");

    // A snapshot sled left half-written (as a full disk leaves it) does not stop the store opening.
    let snap = std::fs::read_dir(&store)
        .expect("read dir")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("snap.")).map(str::to_string))
        .find(|n| !n.ends_with(".generating"))
        .expect("a snapshot file");
    let lsn = u64::from_str_radix(&snap, 16).expect("hex") + 0x1000;
    let leftover = store.join(format!("snap.{lsn:016X}.generating"));
    std::fs::write(&leftover, b"").expect("write");
    assert_eq!(node.records(), count, "opens with every record");
    assert!(!leftover.exists(), "the half-written snapshot was removed");

    // A store written by a newer csx: refused naming both versions; nothing changed.
    {
        let db = sled::Config::new().path(&store).open().expect("raw open");
        db.insert(b"Mschema", &7u32.to_be_bytes()).expect("write");
        db.flush().expect("flush");
    }
    let err = fails(node, &["status"]);
    let supported = format!("supports version {}", csx_node::store::SCHEMA_VERSION);
    assert!(err.contains("schema version 7") && err.contains(&supported), "{err}");
    assert!(err.contains("upgrade csx"), "{err}");
    {
        let db = sled::Config::new().path(&store).open().expect("raw open");
        db.insert(b"Mschema", &csx_node::store::SCHEMA_VERSION.to_be_bytes()).expect("write");
        db.flush().expect("flush");
    }
    assert_eq!(node.records(), count);
}

/// A small tmpfs, unmounted when dropped. Mounting needs privileges a test machine may not give.
struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs { path: path.to_path_buf() })
    }

    fn remount_read_only(&self) {
        let s = std::process::Command::new("mount").args(["-o", "remount,ro"]).arg(&self.path).status();
        assert!(s.is_ok_and(|s| s.success()), "remount read-only");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.path).status();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

#[test]
fn a_full_disk_and_a_read_only_disk_are_reported_and_damage_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (nodes, _) = found_federation(dir.path(), &["QD1", "QD2"], None);
    for k in 0..20 {
        nodes[0].review(&format!("before the disk filled {k}"));
    }
    let count = nodes[0].records();
    let Some(fs) = Tmpfs::mount(&dir.path().join("small-disk"), "4m") else {
        // The same failures are simulated behind the Store trait in faults.rs, which always runs.
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root with mount rights)");
        return;
    };
    let node = CliHome::new(fs.path.join("home"));
    copy_dir(&nodes[0].home, &node.home);
    use std::os::unix::fs::PermissionsExt;
    for f in ["node.key", "org.key"] {
        std::fs::set_permissions(node.home.join(f), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    assert_eq!(node.records(), count);

    // Fill the disk.
    let filler = fs.path.join("filler");
    let mut f = std::fs::File::create(&filler).expect("create");
    let block = vec![0u8; 64 * 1024];
    use std::io::Write;
    while f.write_all(&block).is_ok() {}
    drop(f);
    // Whatever csx does now, it either saves a write or says the disk is full.
    let (mut refused, mut saved) = (None, vec![]);
    for k in 0..50 {
        let comment = format!("on a full disk {k} {}", "x".repeat(1500));
        let out = node.add_review(&comment);
        if out.status.success() {
            saved.push(comment);
        } else {
            refused = Some(String::from_utf8_lossy(&out.stderr).to_string());
            break;
        }
    }
    let err = refused.expect("a full disk refuses writes at some point");
    assert!(err.contains("disk is full") || err.contains("storage space"), "{err}");
    assert!(err.contains(&node.home.display().to_string()) || err.contains("free space"), "{err}");
    std::fs::remove_file(&filler).expect("free space");
    let after = node.records();
    assert!(after >= count, "nothing stored before the disk filled was lost ({after} < {count})");
    let list = node.json(&["review", "list", "--limit", "1000"]);
    let comments: Vec<&str> =
        list.as_array().expect("list").iter().filter_map(|r| r["body"]["comment"].as_str()).collect();
    assert!((0..20).all(|k| comments.contains(&format!("before the disk filled {k}").as_str())));
    assert!(saved.iter().all(|c| comments.contains(&c.as_str())), "every write reported saved is there");

    // A read-only filesystem: a clear error naming the store and what to do.
    fs.remount_read_only();
    let err = fails(&node, &["review", "list"]);
    assert!(err.contains("cannot be written") && err.contains("read-write"), "{err}");
    assert!(err.contains(&node.home.join("store").display().to_string()), "{err}");
}
