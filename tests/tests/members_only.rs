//! A stranger — a fresh libp2p identity that copies the federation's identify version and
//! speaks every protocol a node speaks — dials a member's node. It is sent nothing but one
//! request for its own certificate, the work it can cause is bounded and struck, and it is
//! dropped and banned within the verification time (docs/SECURITY.md, "What a stranger can
//! learn").

use std::time::{Duration, Instant};

use csx_node::author::Author;
use csx_protocol::body::NodeCert;
use csx_protocol::keys::SecretKey;
use csx_protocol::sync::{RefusalCode, SyncRequest, SyncResponse};
use csx_protocol::{Body, RecordId};
use csx_tests::federation::{Federation, review};
use csx_tests::peer::{Frame, RawPeer};
use csx_tests::{now_ms, wait_until};

const SYNC_INTERVAL: Duration = Duration::from_secs(2);
const VERIFY_TIMEOUT: Duration = Duration::from_secs(8);
/// Slack on a loaded machine: the admission clock ticks every second, plus scheduling.
const SLACK: Duration = Duration::from_secs(4);
const SETTLE: Duration = Duration::from_secs(60);

/// Member 0 (the target) and member 1, connected and level.
async fn federation() -> Federation {
    let mut fed = Federation::new(3);
    fed.net.sync_interval = SYNC_INTERVAL;
    fed.net.verify_timeout = VERIFY_TIMEOUT;
    fed.members[1].dials = vec![fed.address(0)];
    fed.start(0).await;
    fed.start(1).await;
    wait_until("members 0 and 1 are level", SETTLE, || fed.records(0) == 4 && fed.records(1) == 4).await;
    fed
}

/// A stranger's node key and its feed: a certificate by an organisation nobody endorsed, then
/// `reviews` validly signed reviews.
fn stranger(fed: &Federation, reviews: u32) -> (SecretKey, Vec<Vec<u8>>) {
    let org = SecretKey::generate().expect("key");
    let key = SecretKey::generate().expect("key");
    let cert = NodeCert::issue(&org, key.node_key(), "X99", u64::MAX / 2).expect("cert");
    let mut bodies = vec![Body::NodeCert(cert)];
    bodies.extend((0..reviews).map(review));
    let records = Author::new(SecretKey::from_seed(&key.seed()), fed.genesis.id(), None)
        .sign(bodies, now_ms() - 60_000)
        .expect("signs");
    (key, records.iter().map(|r| r.bytes().to_vec()).collect())
}

fn is_not_a_member_refusal(answer: &Result<Vec<u8>, String>) -> bool {
    matches!(
        answer.as_deref().map(SyncResponse::decode),
        Ok(Ok(SyncResponse::Refused { code: RefusalCode::NotAMember, .. }))
    )
}

async fn peers_of(fed: &Federation, i: usize) -> Vec<csx_node::api::PeerInfo> {
    fed.node(i).api().net().status().await.expect("status").peers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_learns_nothing_and_is_banned_within_the_verification_time() {
    let mut fed = federation().await;
    let target = fed.members[0].peer_id;
    let target_key = fed.members[0].home.node_key().expect("key").node_key();
    let member1_key = fed.members[1].home.node_key().expect("key").node_key();
    let fed_id = fed.genesis.id();
    // The first stranger shows its (valid, non-member) certificate; the second withholds it.
    for shows_certificate in [true, false] {
        let (key, feed) = stranger(&fed, 1);
        let cert = shows_certificate.then(|| feed[0].clone());
        let mut peer = RawPeer::new(&key, fed_id, cert);
        let id = *peer.swarm.local_peer_id();
        let received = fed.node(0).counters().get("received");
        let dropped = fed.node(0).counters().get("dropped.not_a_member");
        let start = Instant::now();
        peer.connect_only(fed.address(0), target).await;

        // It asks for everything a member's node may ask for: all refused, the target's own
        // certificate included (the dialler shows its certificate first).
        let asks = [
            SyncRequest::Fetch { author: target_key, from_seq: 1, to_seq: 1, max_bytes: 65_536 },
            SyncRequest::Summary { federation: fed_id, root: [0; 32] },
            SyncRequest::Heads { buckets: (0..=255).collect() },
            SyncRequest::Fetch { author: member1_key, from_seq: 1, to_seq: 100, max_bytes: 1 << 20 },
            SyncRequest::Proof { author: member1_key },
            SyncRequest::Membership { known: [0; 32], after: RecordId([0; 32]) },
        ];
        for ask in &asks {
            let answer = peer.request(target, Frame::request(ask)).await;
            assert!(is_not_a_member_refusal(&answer), "{ask:?} was answered {answer:?}");
        }
        // Its gossip goes nowhere (nobody there told it of a subscription).
        let _ = peer.gossip(feed.last().expect("a review").clone());

        // It stays connected for three sync intervals and more, then is dropped and banned.
        peer.pump_until("the stranger is dropped", VERIFY_TIMEOUT + SETTLE, |p| !p.is_connected(&target)).await;
        let connected_for = start.elapsed();
        assert!(connected_for >= 3 * SYNC_INTERVAL, "dropped after {connected_for:?}");
        assert!(connected_for <= VERIFY_TIMEOUT + SLACK, "dropped only after {connected_for:?}");

        // All it was sent: requests for its own certificate (once when shown; while withheld,
        // again each second and on each request it makes), and no Summary, Heads, other Fetch,
        // subscription, gossip or identify.
        let asked: Vec<SyncRequest> =
            peer.requests_seen.iter().map(|r| SyncRequest::decode(r).expect("a sync request")).collect();
        let own = key.node_key();
        assert!(!asked.is_empty(), "it was asked for its certificate");
        assert!(
            asked
                .iter()
                .all(|r| matches!(r, SyncRequest::Fetch { author, from_seq: 1, to_seq: 1, .. } if *author == own)),
            "{asked:?}"
        );
        if shows_certificate {
            assert_eq!(asked.len(), 1, "asked once: its certificate was checked once");
        } else {
            // About once a second, and once more for each request it made (each one struck).
            let bound = VERIFY_TIMEOUT.as_secs() as usize + SLACK.as_secs() as usize + asks.len();
            assert!(asked.len() <= bound, "asked {} times", asked.len());
        }
        assert!(peer.seen.subscriptions.is_empty(), "subscriptions told: {:?}", peer.seen.subscriptions);
        assert!(peer.seen.gossip.is_empty(), "gossip received: {:?}", peer.seen.gossip);
        assert!(
            peer.seen.identified.iter().all(|(p, _)| *p != target),
            "the node answered identify: {:?}",
            peer.seen.identified
        );
        // At most its certificate was verified; nothing of it was stored.
        assert!(fed.node(0).counters().get("received") <= received + 1);
        assert_eq!(fed.records(0), 4);
        assert_eq!(fed.node(0).counters().get("dropped.not_a_member"), dropped + 1);
        let info = peers_of(&fed, 0).await.into_iter().find(|p| p.peer_id == id.to_string()).expect("listed");
        assert_eq!(info.banned.as_deref(), Some("not_a_member"), "{info:?}");
        // Member 1 was told nothing of it.
        assert!(peers_of(&fed, 1).await.iter().all(|p| p.peer_id != id.to_string()));
        // It cannot come straight back.
        peer.swarm.dial(fed.address(0)).expect("dial");
        peer.pump(Duration::from_millis(1_500)).await;
        assert!(!peer.is_connected(&target), "a banned stranger is refused on sight");
    }
    let counters = fed.node(0).counters();
    assert!(counters.get("refused.unverified") >= 12, "each refused ask is counted by name");
    assert_eq!(counters.get("refused.not_a_member"), 0, "peers being verified are not counted as non-members");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_answering_with_a_long_signed_chain_costs_at_most_its_certificate() {
    let mut fed = federation().await;
    let target = fed.members[0].peer_id;
    let fed_id = fed.genesis.id();

    // Asked for its certificate, it answers with its whole chain: 2,000 validly signed
    // records. Nothing of it is verified; it is dropped and banned at once.
    let (key, chain) = stranger(&fed, 1_999);
    let mut peer = RawPeer::new(&key, fed_id, None);
    let page = chain.clone();
    peer.responder = Box::new(move |_| Frame::response(&SyncResponse::Records { records: page.clone() }));
    let received = fed.node(0).counters().get("received");
    let start = Instant::now();
    peer.connect_only(fed.address(0), target).await;
    peer.pump_until("the stranger is dropped", SETTLE, |p| !p.is_connected(&target)).await;
    assert!(start.elapsed() < VERIFY_TIMEOUT, "dropped at once, not at its time ({:?})", start.elapsed());
    assert_eq!(fed.node(0).counters().get("received"), received, "not one of its records was verified");
    assert_eq!(fed.node(0).counters().get("dropped.no_certificate"), 1);
    let id = peer.swarm.local_peer_id().to_string();
    let info = peers_of(&fed, 0).await.into_iter().find(|p| p.peer_id == id).expect("listed");
    assert_eq!(info.banned.as_deref(), Some("no_certificate"));

    // Another shows its certificate alone, then gossips the chain and floods requests: exactly
    // one record (its certificate) is verified, each request is refused and struck, and the
    // strikes ban it before its time is up.
    let (key, chain) = stranger(&fed, 1_999);
    let mut peer = RawPeer::new(&key, fed_id, Some(chain[0].clone()));
    let counters = fed.node(0).counters().clone();
    let received = counters.get("received");
    let start = Instant::now();
    peer.connect_only(fed.address(0), target).await;
    // Its certificate is asked for and checked first (on a loaded machine the flood below could
    // otherwise get it banned before its answer is read).
    peer.pump_until("its certificate is verified", SETTLE, |_| counters.get("received") > received).await;
    for record in &chain[1..] {
        let _ = peer.gossip(record.clone());
    }
    let summary = Frame::request(&SyncRequest::Summary { federation: fed_id, root: [0; 32] });
    for _ in 0..30 {
        if !peer.is_connected(&target) {
            break;
        }
        let _ = peer.request(target, summary.clone()).await;
    }
    peer.pump_until("the stranger is dropped", SETTLE, |p| !p.is_connected(&target)).await;
    assert!(start.elapsed() < VERIFY_TIMEOUT, "banned for its requests before its time ({:?})", start.elapsed());
    assert_eq!(fed.node(0).counters().get("received"), received + 1, "its certificate alone was verified");
    let id = peer.swarm.local_peer_id().to_string();
    let info = peers_of(&fed, 0).await.into_iter().find(|p| p.peer_id == id).expect("listed");
    assert_eq!(info.banned.as_deref(), Some("misbehaving"), "{info:?}");
    assert_eq!(fed.records(0), 4, "nothing of it is stored");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_federation_is_banned_at_once_and_refused_when_it_redials() {
    let mut fed = federation().await;
    // A real node of another federation, told to dial member 0 (a wrong address in its config).
    let mut other = Federation::new(1);
    other.members[0].dials = vec![fed.address(0)];
    other.start(0).await;
    let counters = fed.node(0).counters().clone();
    wait_until("its certificate shows another federation: dropped", SETTLE, || {
        counters.get("dropped.wrong_federation") >= 1
    })
    .await;
    assert!(counters.get("rejected.wrong_federation") >= 1, "its certificate was refused by name");
    let id = other.members[0].peer_id.to_string();
    let info = peers_of(&fed, 0).await.into_iter().find(|p| p.peer_id == id).expect("listed");
    assert_eq!(info.banned.as_deref(), Some("wrong_federation"));
    // It keeps dialling (with its backoff); each time it is refused as the connection is made.
    wait_until("its redial is refused on sight", SETTLE, || counters.get("refused.banned") >= 1).await;
    assert_eq!(counters.get("dropped.wrong_federation"), 1, "dropped once; refused since");
    assert_eq!(fed.records(0), 4);
    other.stop_all().await;
    fed.stop_all().await;
}
