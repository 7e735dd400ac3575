//! Bounded connections: twelve nodes that all find each other through a bootstrap server, each
//! allowed at most four members' nodes at once (`limits.max_peers = 4`). The bound holds at
//! every moment the test looks, connections are rotated, and still every record reaches every
//! node and `csx sync` reports every node level.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use csx_node::bootstrap::BootstrapLimits;
use csx_node::net::NetHandle;
use csx_tests::bootstrap::TestBootstrap;
use csx_tests::federation::{Federation, review};
use csx_tests::wait_until;

const NODES: usize = 12;
const BOUND: usize = 4;
const SETTLE: Duration = Duration::from_secs(120);

/// Members' nodes `net` holds connected and verified (bootstrap servers not counted), and
/// the peers it has been connected to.
async fn members_connected(net: &NetHandle) -> Option<(usize, Vec<String>)> {
    let status = net.status().await.ok()?;
    let peers: Vec<String> =
        status.peers.iter().filter(|p| p.connected && p.verified && !p.bootstrap).map(|p| p.peer_id.clone()).collect();
    Some((peers.len(), peers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_nodes_bounded_to_four_peers_each_still_all_get_every_record() {
    let mut fed = Federation::new(NODES);
    let limits = BootstrapLimits { follow_interval: Duration::from_secs(2), ..BootstrapLimits::default() };
    let server = TestBootstrap::start(&fed.genesis, limits).await;
    fed.net.bootstrap = vec![server.address.clone()];
    fed.net.discover_interval = Duration::from_secs(2);
    fed.net.max_peers = BOUND;
    fed.net.rotate_interval = Duration::from_secs(3);
    fed.start_all().await;

    // Watch every node's connections the whole time: never more than the bound.
    let nets: Vec<NetHandle> = (0..NODES).map(|i| fed.node(i).api().net().clone()).collect();
    let most = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let pairs = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let watcher = tokio::spawn({
        let (most, stop, pairs) = (most.clone(), stop.clone(), pairs.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                for (i, net) in nets.iter().enumerate() {
                    if let Some((n, peers)) = members_connected(net).await {
                        most.fetch_max(n, Ordering::Relaxed);
                        let mut seen = pairs.lock().expect("not poisoned");
                        for p in peers {
                            seen.insert((i, p));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });

    // Each node's certificate and profile reach all twelve.
    let all = 2 * NODES as u64;
    wait_until("every node holds every certificate and profile", SETTLE, || (0..NODES).all(|i| fed.records(i) == all))
        .await;
    // Records written on a few nodes reach every node.
    let mut written = Vec::new();
    for (k, author) in [0, 5, 11].into_iter().enumerate() {
        written.extend(fed.publish(author, (0..10).map(|n| review(k as u32 * 100 + n)).collect()).await);
    }
    wait_until("the 30 reviews reached all twelve nodes", SETTLE, || {
        (0..NODES).all(|i| written.iter().all(|r| fed.holds(i, r)))
    })
    .await;
    let digest = fed.digest(0);
    wait_until("all heads digests agree", SETTLE, || (0..NODES).all(|i| fed.digest(i) == digest)).await;

    // `csx sync` completes on every node: level with each member's node it is connected to.
    // A peer may rotate this node out in the middle of one (it keeps the peers it syncs with,
    // but cannot know a round is about to start), which the report names; a second try is
    // level.
    for i in 0..NODES {
        let mut tries = Vec::new();
        loop {
            let report = fed.node(i).api().net().sync().await.expect("network running");
            assert!(report.peers.len() <= BOUND, "node {i}: {} peers", report.peers.len());
            if report.level && !report.peers.is_empty() {
                assert_eq!(report.heads_digest, hex::encode(digest), "node {i}");
                break;
            }
            tries.push(report);
            assert!(tries.len() < 3, "node {i}: csx sync not level: {tries:?}");
        }
    }

    // Connections keep changing: over the run the nodes were linked to more peers than the bound.
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.expect("the watcher ran");
    let most = most.load(Ordering::Relaxed);
    assert!(most >= 1 && most <= BOUND, "a node held {most} members' nodes at once (bound {BOUND})");
    let pairs = pairs.lock().expect("not poisoned").clone();
    let linked_per_node: Vec<usize> = (0..NODES).map(|i| pairs.iter().filter(|(j, _)| *j == i).count()).collect();
    assert!(
        linked_per_node.iter().sum::<usize>() > NODES * BOUND,
        "rotation linked nodes to others over time: {linked_per_node:?}"
    );
    let rotated: u64 = (0..NODES).map(|i| fed.node(i).counters().get("connections.rotated")).sum();
    assert!(rotated > 0, "connections were rotated");

    fed.stop_all().await;
    server.stop().await;
}
