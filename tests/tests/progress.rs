//! A newcomer's first sync of a member holding thousands of records shows its progress: `csx
//! status` (through the daemon) reports the records and bytes received, the rate and the records
//! left while the catch-up runs, the figures grow, and the final counts are the records fetched.

use std::time::{Duration, Instant};

use csx_node::api::{Status, SyncProgress};
use csx_node::client::Node as _;
use csx_node::control::ControlClient;
use csx_node::home::Home;
use csx_tests::federation::review;
use csx_tests::process::{found_federation, free_port};

const RECORDS: u32 = 4000;

fn client(home: &std::path::Path) -> ControlClient {
    ControlClient::connect(&Home::new(home)).expect("control").expect("a daemon runs")
}

fn status(c: &ControlClient) -> Status {
    c.timed(Duration::from_secs(30)).status().expect("status")
}

#[test]
fn a_newcomer_catching_up_shows_its_progress_and_the_final_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (nodes, _) = found_federation(dir.path(), &["PG0", "PG1"], None);
    let port = free_port();
    nodes[0].write_test_config(port);
    let _old = nodes[0].start_daemon(&[]);
    let member = client(&nodes[0].home);
    let numbers: Vec<u32> = (0..RECORDS).collect();
    for chunk in numbers.chunks(500) {
        let bodies = chunk.iter().map(|n| review(*n)).collect();
        member.timed(Duration::from_secs(120)).publish(bodies).expect("publish");
    }
    let held = status(&member);
    assert!(held.store.records > u64::from(RECORDS));
    let peer_id = held.network.as_ref().expect("network").peer_id.clone();

    // The newcomer dials the member directly and asks for small pages: a catch-up of many
    // round trips, as over a slow link.
    std::fs::write(
        nodes[1].home.join("config.toml"),
        format!(
            "listen = [\"/ip4/127.0.0.1/tcp/{}\"]\npeers = [\"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id}\"]\n\
             sync_interval_secs = 2\n[limits]\npage_records = 20\nverify_timeout_secs = 3\n",
            free_port()
        ),
    )
    .expect("config");
    let _newcomer = nodes[1].start_daemon(&[]);
    let newcomer = client(&nodes[1].home);
    let mut seen: Vec<SyncProgress> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let last = loop {
        let s = status(&newcomer);
        let progress = s.network.as_ref().and_then(|n| n.progress.clone());
        match progress {
            Some(p) if p.active => seen.push(p),
            Some(p) if s.heads_digest == held.heads_digest || s.store.records >= held.store.records => break p,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the newcomer did not catch up in 120s; progress seen: {seen:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    // While it ran: the figures grew, with a rate and the records left.
    assert!(seen.len() >= 2, "progress was seen while the catch-up ran: {seen:?}");
    let (first, later) = (&seen[0], &seen[seen.len() - 1]);
    assert!(later.received_records > first.received_records, "{first:?} then {later:?}");
    assert!(later.received_bytes > first.received_bytes);
    assert!(seen.windows(2).all(|w| w[1].received_records >= w[0].received_records), "never goes back");
    assert!(
        seen.iter().any(|p| p.remaining_records > 0 && p.records_per_sec > 0.0 && p.eta_secs.is_some()),
        "{seen:?}"
    );
    assert!(seen.iter().all(|p| p.received_records + p.remaining_records <= held.store.records + 1));
    // At the end: the newcomer holds every record the member held, besides its own two; sync
    // fetched them all but the member's node certificate, which may come first, on its own,
    // when the newcomer verifies the member's node.
    assert!(!last.active && last.eta_secs.is_none() && last.remaining_records == 0, "{last:?}");
    let own = 2;
    assert_eq!(status(&newcomer).store.records, held.store.records + own);
    assert!(
        last.received_records <= held.store.records && held.store.records - last.received_records <= 1,
        "{last:?}: {} records held by the member",
        held.store.records
    );
    assert!(
        last.received_bytes * 10 >= held.store.record_bytes * 9,
        "{last:?} vs {} bytes held",
        held.store.record_bytes
    );
    // `csx status` says so in words; a catch-up that ran over 2 s was logged as it went.
    let text = nodes[1].ok(&["status"]);
    assert!(text.contains(&format!("done: {} records", last.received_records)), "{text}");
    if last.elapsed_secs > 2.5 {
        let log = std::fs::read_to_string(nodes[1].home.join("daemon.log")).expect("log");
        assert!(log.contains("catching up:") && log.contains("caught up:"), "{log}");
    }
}
