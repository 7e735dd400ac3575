//! A churn of 1,000 fresh identities connecting to a member's node and leaving — a third
//! showing a stranger's certificate, a third withholding theirs, a third answering with
//! garbage (and banned) — every one asking for more than it may: the peer, address, strike,
//! ban and backoff tables stay within their bounds throughout, the process's memory does not
//! grow with the identities, and the honest member's records keep flowing.

use std::time::{Duration, Instant};

use csx_node::api::TableSizes;
use csx_node::author::Author;
use csx_node::net::admission::TableLimits;
use csx_protocol::Body;
use csx_protocol::body::NodeCert;
use csx_protocol::keys::SecretKey;
use csx_protocol::sync::{SyncRequest, SyncResponse};
use csx_tests::federation::{Federation, review};
use csx_tests::peer::{Frame, RawPeer};
use csx_tests::{now_ms, wait_until};
use libp2p::{Multiaddr, PeerId};

const IDENTITIES: usize = 1_000;
const AT_ONCE: usize = 20;
const SETTLE: Duration = Duration::from_secs(60);
const LIMITS: TableLimits = TableLimits {
    max_peers: 64,
    max_unverified: 16,
    // Fewer than AT_ONCE - max_unverified, so that the bound is reached and counted.
    max_queued: 2,
    max_addresses: 8,
    max_strikes: 128,
    max_bans: 128,
    max_backoff: 64,
};

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn tables(fed: &Federation) -> TableSizes {
    fed.node(0).api().net().status().await.expect("status").tables
}

fn within_bounds(t: &TableSizes) -> bool {
    t.peers <= LIMITS.max_peers
        && t.unverified <= LIMITS.max_unverified
        && t.queued <= LIMITS.max_queued
        && t.addresses <= LIMITS.max_peers * LIMITS.max_addresses
        && t.strikes <= LIMITS.max_strikes
        && t.bans <= LIMITS.max_bans
        && t.backoff <= LIMITS.max_backoff
}

/// One fresh identity: connects, asks for a Summary, leaves.
async fn visit(i: usize, fed_id: csx_protocol::FederationId, addr: Multiaddr, target: PeerId) {
    let key = SecretKey::generate().expect("key");
    let cert = i.is_multiple_of(3).then(|| {
        let org = SecretKey::generate().expect("key");
        let cert = NodeCert::issue(&org, key.node_key(), "X96", u64::MAX / 2).expect("cert");
        Author::new(SecretKey::from_seed(&key.seed()), fed_id, None)
            .sign(vec![Body::NodeCert(cert)], now_ms() - 60_000)
            .expect("signs")
            .remove(0)
            .bytes()
            .to_vec()
    });
    let mut peer = RawPeer::new(&key, fed_id, cert);
    if i % 3 == 1 {
        peer.responder = Box::new(|_| Frame::new(b"garbage".to_vec()));
    }
    peer.swarm.dial(addr).expect("dial");
    peer.pump_until("connected or turned away", SETTLE, |p| {
        p.is_connected(&target) || !p.seen.closed.is_empty() || !p.seen.dial_errors.is_empty()
    })
    .await;
    if peer.is_connected(&target) {
        let summary = SyncRequest::Summary { federation: fed_id, root: [0; 32] };
        let answer = peer.request(target, Frame::request(&summary)).await;
        if let Ok(bytes) = answer {
            assert!(matches!(SyncResponse::decode(&bytes), Ok(SyncResponse::Refused { .. })), "a stranger was served");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_churn_of_a_thousand_fresh_identities_leaves_every_table_within_its_bound() {
    let mut fed = Federation::new(2);
    fed.net.tables = LIMITS;
    fed.members[1].dials = vec![fed.address(0)];
    fed.start(0).await;
    fed.start(1).await;
    wait_until("the members are level", SETTLE, || fed.records(0) == 4 && fed.records(1) == 4).await;
    let (fed_id, addr, target) = (fed.genesis.id(), fed.address(0), fed.members[0].peer_id);
    // Warm up (allocators, the first swarms), then measure.
    futures::future::join_all((0..AT_ONCE).map(|i| visit(i, fed_id, addr.clone(), target))).await;
    let rss_before = rss_kib();
    let before = tables(&fed).await;
    let started = Instant::now();
    let mut peak = TableSizes::default();
    for wave in 1..=IDENTITIES / AT_ONCE {
        futures::future::join_all((0..AT_ONCE).map(|k| visit(wave * AT_ONCE + k, fed_id, addr.clone(), target))).await;
        let t = tables(&fed).await;
        assert!(within_bounds(&t), "after wave {wave}: {t:?}");
        peak = TableSizes {
            peers: peak.peers.max(t.peers),
            unverified: peak.unverified.max(t.unverified),
            queued: peak.queued.max(t.queued),
            addresses: peak.addresses.max(t.addresses),
            strikes: peak.strikes.max(t.strikes),
            bans: peak.bans.max(t.bans),
            buckets: peak.buckets.max(t.buckets),
            backoff: peak.backoff.max(t.backoff),
        };
    }
    // Once they are gone, nothing of them is left connected or being verified.
    let node = fed.node(0).api().clone();
    let after = loop {
        let t = node.net().status().await.expect("status").tables;
        if t.unverified == 0 || started.elapsed() > SETTLE * 2 {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rss_after = rss_kib();
    eprintln!(
        "churn of {IDENTITIES} identities in {:.1}s: tables before {before:?}, peak {peak:?}, after {after:?}; \
         RSS {rss_before} KiB before, {rss_after} KiB after ({:+} KiB)",
        started.elapsed().as_secs_f64(),
        rss_after as i64 - rss_before as i64
    );
    assert!(within_bounds(&after), "{after:?}");
    assert_eq!((after.unverified, after.peers), (0, 1), "only the member is left in the peer table");
    assert_eq!(peak.strikes, LIMITS.max_strikes, "the strike table filled and was trimmed");
    assert_eq!(peak.bans, LIMITS.max_bans, "the ban table filled and was trimmed");
    let counters = fed.node(0).counters();
    eprintln!("counters: {:?}", counters.snapshot());
    // Beyond 16 being verified and 2 queued, newcomers were turned away; garbage answers were
    // dropped at once; every ask was refused by name; each certificate shown was checked once.
    assert!(counters.get("dropped.too_many_unverified") > 0, "the bound on peers being verified was reached");
    assert!(counters.get("dropped.no_certificate") >= 100, "garbage answers were dropped");
    assert!(counters.get("refused.unverified") >= (IDENTITIES / 2) as u64, "asks were refused by name");
    assert!(counters.get("received") <= (IDENTITIES / 3 + AT_ONCE) as u64 + 2, "at most one check per certificate");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew by {} KiB over the churn",
        rss_after as i64 - rss_before as i64
    );
    // The honest member is still served.
    let written = fed.publish(1, vec![review(1)]).await;
    wait_until("the honest member's record reaches the churned node", SETTLE, || fed.holds(0, &written[0])).await;
    fed.stop_all().await;
}
