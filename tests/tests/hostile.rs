//! A hostile peer against a real node. Each attack is refused with its named reason, counted,
//! nothing of it is stored, the sender is penalised, and an honest member's records keep
//! flowing meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use csx_node::api::{Request, Response};
use csx_node::author::Author;
use csx_protocol::body::{NodeCert, Revoke, RevokedNode};
use csx_protocol::keys::SecretKey;
use csx_protocol::sync::{SyncRequest, SyncResponse};
use csx_protocol::{Body, FederationId, Header, Record};
use csx_tests::federation::{Federation, review};
use csx_tests::peer::{Frame, RawPeer};
use csx_tests::{now_ms, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

/// The target (member 0), an honest member (1) connected to it, and member 2's organisation
/// key to certify hostile nodes with.
struct Arena {
    fed: Federation,
    org2: SecretKey,
    honest_sent: usize,
}

impl Arena {
    async fn new() -> Arena {
        let mut fed = Federation::new(4);
        fed.members[1].dials = vec![fed.address(0)];
        fed.start(0).await;
        fed.start(1).await;
        wait_until("the honest member is level with the target", SETTLE, || fed.records(0) == 4 && fed.records(1) == 4)
            .await;
        let org2 = fed.members[2].home.org_key(None).expect("org key");
        Arena { fed, org2, honest_sent: 0 }
    }

    fn counter(&self, name: &str) -> u64 {
        self.fed.node(0).counters().get(name)
    }

    /// A new node of member 2's organisation: its key and its certificate record.
    fn hostile_node(&self, expires_at: u64) -> (SecretKey, Vec<u8>) {
        let key = SecretKey::generate().expect("key");
        let cert = NodeCert::issue(&self.org2, key.node_key(), "QF7", expires_at).expect("cert");
        let records = Author::new(SecretKey::from_seed(&key.seed()), self.fed.genesis.id(), None)
            .sign(vec![Body::NodeCert(cert)], now_ms() - 60_000)
            .expect("signs");
        (key, records[0].bytes().to_vec())
    }

    /// Connects a raw peer with `key` to the target and waits until the target has verified it
    /// as a member's node.
    async fn connect(&self, key: &SecretKey, cert: Vec<u8>) -> RawPeer {
        let mut peer = RawPeer::new(key, self.fed.genesis.id(), Some(cert));
        peer.connect(self.fed.address(0), self.fed.members[0].peer_id).await;
        let flag =
            csx_tests::peer::watch_verified(self.fed.node(0).api().clone(), peer.swarm.local_peer_id().to_string());
        peer.pump_until("the target verified the peer", SETTLE, |_| flag.load(Ordering::SeqCst)).await;
        peer
    }

    /// The honest member publishes a review; returns it.
    async fn honest_write(&mut self) -> Record {
        self.honest_sent += 1;
        self.fed.publish(1, vec![review(9_000 + self.honest_sent as u32)]).await.remove(0)
    }

    async fn peer_info(&self, peer: &RawPeer) -> Option<csx_node::api::PeerInfo> {
        let id = peer.swarm.local_peer_id().to_string();
        let status = self.fed.node(0).api().net().status().await.ok()?;
        status.peers.into_iter().find(|p| p.peer_id == id)
    }

    /// Drives `peer` until the target has given it at least `strikes` strikes.
    async fn wait_strikes(&self, peer: &mut RawPeer, strikes: f64) {
        let id = peer.swarm.local_peer_id().to_string();
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let api = self.fed.node(0).api().clone();
        let watcher = tokio::spawn(async move {
            loop {
                if let Ok(s) = api.net().status().await
                    && s.peers.iter().any(|p| p.peer_id == id && (p.strikes >= strikes || p.banned.is_some()))
                {
                    f.store(true, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        peer.pump_until("the target struck the peer", SETTLE, |_| flag.load(Ordering::SeqCst)).await;
        watcher.abort();
    }
}

/// Sends `attack` as gossip and waits until the target has counted `counter` up by one, while an
/// honest record goes through. Returns nothing; panics on a failed expectation.
async fn gossip_attack(arena: &mut Arena, peer: &mut RawPeer, bytes: Vec<u8>, counter: &str) {
    let before = arena.counter(counter);
    let stored_before = arena.fed.records(0);
    peer.gossip(bytes.clone()).expect("published");
    let honest = arena.honest_write().await;
    let target = arena.fed.store(0);
    peer.pump_until(&format!("the target counts {counter}"), SETTLE, |_| {
        target.get(&honest.id()).ok().flatten().is_some() && arena.fed.node(0).counters().get(counter) > before
    })
    .await;
    assert_eq!(arena.fed.records(0), stored_before + 1, "only the honest record was stored");
    if let Ok(r) = Record::decode(bytes) {
        assert!(target.get(&r.id()).ok().flatten().is_none(), "the attack record was not stored");
    }
}

fn sign_as(
    key: &SecretKey,
    federation: FederationId,
    seq: u64,
    prev: Option<csx_protocol::RecordId>,
    created_at: u64,
    body: &Body,
) -> Vec<u8> {
    let header =
        Header { version: 1, kind: body.kind_code(), federation, author: key.node_key(), seq, prev, created_at };
    Record::sign_unchecked(key, &header, &body.encode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_are_refused_by_name_and_their_sender_graylisted() {
    let mut arena = Arena::new().await;
    let fed_id = arena.fed.genesis.id();
    type Make = fn(&SecretKey, FederationId, csx_protocol::RecordId) -> Vec<u8>;
    let cases: Vec<(&str, Make)> = vec![
        ("rejected.bad_signature", |k, f, prev| {
            let mut r = sign_as(k, f, 2, Some(prev), now_ms(), &review(1));
            let n = r.len();
            r[n - 1] ^= 1;
            r
        }),
        ("rejected.wrong_federation", |k, _, prev| {
            sign_as(k, FederationId([9; 32]), 2, Some(prev), now_ms(), &review(1))
        }),
        ("rejected.malformed", |_, _, _| b"\x00\x01 not a record".to_vec()),
        ("rejected.oversized", |k, f, prev| {
            let mut r = sign_as(k, f, 2, Some(prev), now_ms(), &review(1));
            r.resize(70_000, 0);
            r
        }),
    ];
    for (counter, make) in cases {
        // A fresh hostile node each time: after one invalid message its sender is graylisted.
        let (key, cert) = arena.hostile_node(u64::MAX / 2);
        let cert_id = Record::decode(cert.clone()).expect("decodes").id();
        let mut peer = arena.connect(&key, cert).await;
        gossip_attack(&mut arena, &mut peer, make(&key, fed_id, cert_id), counter).await;
        arena.wait_strikes(&mut peer, 9.0).await;
        // Penalised: its next invalid message is dropped by gossipsub before it is even looked at.
        let before = arena.counter(counter);
        let mut again = make(&key, fed_id, cert_id);
        let n = again.len();
        again[n.saturating_sub(70)] ^= 0x55;
        let _ = peer.gossip(again);
        let honest = arena.honest_write().await;
        let target = arena.fed.store(0);
        peer.pump_until("honest records still flow", SETTLE, |_| target.get(&honest.id()).ok().flatten().is_some())
            .await;
        peer.pump(Duration::from_millis(300)).await;
        assert_eq!(
            arena.counter(counter),
            before,
            "{counter}: the graylisted sender's second message was not processed"
        );
    }
    arena.fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_from_the_future_is_refused_by_name_but_its_sender_is_not_punished() {
    let mut arena = Arena::new().await;
    let fed_id = arena.fed.genesis.id();
    let (key, cert) = arena.hostile_node(u64::MAX / 2);
    let cert_id = Record::decode(cert.clone()).expect("decodes").id();
    let mut peer = arena.connect(&key, cert).await;
    let ahead = sign_as(&key, fed_id, 2, Some(cert_id), now_ms() + 3_600_000, &review(1));
    let id = Record::decode(ahead.clone()).expect("decodes").id();
    gossip_attack(&mut arena, &mut peer, ahead, "rejected.from_the_future").await;
    assert!(arena.fed.store(0).get(&id).expect("read").is_none(), "not stored");
    // A wrong clock is not an attack: one small strike, no graylisting, and its next (correctly
    // dated) record is taken.
    let info = arena.peer_info(&peer).await.expect("still a peer");
    assert!(info.connected && info.banned.is_none() && info.strikes < 2.0, "{info:?}");
    let now = sign_as(&key, fed_id, 2, Some(cert_id), now_ms(), &review(2));
    let now_id = Record::decode(now.clone()).expect("decodes").id();
    peer.gossip(now).expect("gossiped");
    let target = arena.fed.store(0);
    peer.pump_until("the correctly dated record is taken", SETTLE, |_| target.get(&now_id).ok().flatten().is_some())
        .await;
    arena.fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_naming_the_wrong_predecessor_is_refused() {
    let mut arena = Arena::new().await;
    let fed_id = arena.fed.genesis.id();
    let (key, cert) = arena.hostile_node(u64::MAX / 2);
    let mut peer = arena.connect(&key, cert).await;
    // The target holds the peer's certificate (it verified the peer with it); record 2 must
    // name it as prev, and this one names something else.
    let wrong_prev = sign_as(&key, fed_id, 2, Some(csx_protocol::RecordId([7; 32])), now_ms(), &review(2));
    gossip_attack(&mut arena, &mut peer, wrong_prev, "rejected.wrong_prev").await;
    arena.fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authors_that_are_not_members_in_good_standing_are_refused() {
    let mut arena = Arena::new().await;
    let fed_id = arena.fed.genesis.id();
    // Members 0 and 1 revoke member 3 (threshold 2), naming its record 0 as the last valid.
    let member3 = arena.fed.members[3].home.node_key().expect("key");
    let revoke = Body::Revoke(Revoke {
        org_key: arena.fed.members[3].home.identity().expect("id").org_key,
        reason: "left".into(),
        nodes: vec![RevokedNode { node_key: member3.node_key(), last_valid_seq: 0 }],
    });
    arena.fed.publish(0, vec![revoke.clone()]).await;
    arena.fed.publish(1, vec![revoke]).await;
    let target = arena.fed.node(0).api().clone();
    wait_until("the target sees member 3 revoked", SETTLE, || {
        let m = futures::executor::block_on(target.handle(Request::Members));
        matches!(m, Ok(Response::Members(m)) if m.members.iter().any(|x| x.ods_code == arena.fed.members[3].ods && !x.current))
    })
    .await;

    let (key, cert) = arena.hostile_node(u64::MAX / 2);
    let mut peer = arena.connect(&key, cert).await;
    // A revoked member's record.
    let m3_cert = Body::NodeCert(arena.fed.members[3].home.node_cert().expect("cert"));
    let revoked = sign_as(&member3, fed_id, 1, None, now_ms(), &m3_cert);
    gossip_attack(&mut arena, &mut peer, revoked, "rejected.revoked_author").await;
    // A stranger's record: certified by an organisation nobody endorsed.
    let stranger_org = SecretKey::generate().expect("key");
    let stranger = SecretKey::generate().expect("key");
    let cert = NodeCert::issue(&stranger_org, stranger.node_key(), "X99", u64::MAX / 2).expect("cert");
    let stranger_rec = sign_as(&stranger, fed_id, 1, None, now_ms(), &Body::NodeCert(cert));
    gossip_attack(&mut arena, &mut peer, stranger_rec, "rejected.not_a_member").await;
    // A record whose author nobody knows (no certificate anywhere).
    let unknown = sign_as(&stranger, fed_id, 2, Some(csx_protocol::RecordId([1; 32])), now_ms(), &review(3));
    gossip_attack(&mut arena, &mut peer, unknown, "rejected.unknown_author").await;
    // A node whose certificate had expired when it signed (its certificate itself is fine).
    let (old_key, old_cert) = arena.hostile_node(now_ms() - 1_000);
    let old_id = Record::decode(old_cert.clone()).expect("decodes").id();
    let expired = sign_as(&old_key, fed_id, 2, Some(old_id), now_ms(), &review(4));
    peer.gossip(old_cert).expect("published");
    let store = arena.fed.store(0);
    peer.pump_until("the old certificate is stored", SETTLE, |_| store.get(&old_id).ok().flatten().is_some()).await;
    gossip_attack(&mut arena, &mut peer, expired, "rejected.expired_author").await;
    // Validly signed records by non-members weigh little against a forwarder: still connected.
    arena.wait_strikes(&mut peer, 1.0).await;
    assert!(arena.peer_info(&peer).await.is_some_and(|p| p.connected && p.banned.is_none()));
    arena.fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_is_proven_kept_spread_and_ends_the_feed() {
    let mut arena = Arena::new().await;
    arena.fed.members[1].dials = vec![arena.fed.address(0)];
    let fed_id = arena.fed.genesis.id();
    let (key, cert) = arena.hostile_node(u64::MAX / 2);
    let cert_id = Record::decode(cert.clone()).expect("decodes").id();
    let mut peer = arena.connect(&key, cert.clone()).await;
    let a = sign_as(&key, fed_id, 2, Some(cert_id), now_ms(), &review(10));
    let b = sign_as(&key, fed_id, 2, Some(cert_id), now_ms(), &review(11));
    peer.gossip(a.clone()).expect("published");
    let target = arena.fed.store(0);
    let a_id = Record::decode(a).expect("decodes").id();
    peer.pump_until("the first record is stored", SETTLE, |_| target.get(&a_id).ok().flatten().is_some()).await;
    // A replay of a stored record is ignored, not penalised.
    let replays = arena.counter("duplicate");
    peer.gossip(cert.clone()).ok();
    let strikes_before = arena.peer_info(&peer).await.map_or(0.0, |p| p.strikes);
    gossip_attack(&mut arena, &mut peer, b, "forks_detected").await;
    assert!(arena.counter("duplicate") >= replays);
    assert!(
        arena.peer_info(&peer).await.map_or(0.0, |p| p.strikes) <= strikes_before + 1e-9,
        "a fork is the author's fault, not the forwarder's"
    );
    assert_eq!(target.forks().expect("forks").len(), 1, "the proof is kept");
    // Nothing more is accepted from that node key.
    let c = sign_as(&key, fed_id, 3, Some(a_id), now_ms(), &review(12));
    gossip_attack(&mut arena, &mut peer, c, "rejected.forked_author").await;
    // The honest member learns of the fork from the proof.
    let honest = arena.fed.store(1);
    wait_until("the honest member holds the fork proof", SETTLE, || honest.forks().map(|f| f.len()).unwrap_or(0) == 1)
        .await;
    let status = arena.fed.node(0).api().handle(Request::Status).await.expect("status");
    let Response::Status(s) = status else { panic!("status") };
    assert_eq!(s.forks.len(), 1, "csx status shows the fork");
    arena.fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unasked_sync_traffic_is_refused() {
    let mut arena = Arena::new().await;
    let target = arena.fed.members[0].peer_id;
    let (key, cert) = arena.hostile_node(u64::MAX / 2);
    let mut peer = arena.connect(&key, cert).await;
    // Garbage as a request.
    let before = arena.counter("rejected.malformed_sync_request");
    let _ = peer.request(target, Frame::new(b"\xff\xffgarbage".to_vec())).await;
    peer.pump_until("a malformed request is counted", SETTLE, |_| {
        arena.counter("rejected.malformed_sync_request") > before
    })
    .await;
    // A request larger than any request may be.
    let before = arena.counter("rejected.oversized_sync_request");
    let _ = peer.request(target, Frame::new(vec![1; 100_000])).await;
    peer.pump_until("an oversized request is counted", SETTLE, |_| {
        arena.counter("rejected.oversized_sync_request") > before
    })
    .await;
    // Two unreadable requests earn a ban.
    peer.pump_until("the peer is banned and cut off", SETTLE, |p| !p.is_connected(&target)).await;
    assert!(arena.peer_info(&peer).await.and_then(|p| p.banned).is_some());
    // A flood of requests beyond the rate limit, from another node.
    let (key, cert) = arena.hostile_node(u64::MAX / 2);
    let mut peer = arena.connect(&key, cert).await;
    let before = arena.counter("refused.rate_limited");
    let summary = Frame::request(&SyncRequest::Summary { federation: arena.fed.genesis.id(), root: [0; 32] });
    // A sustained flood: waves of requests well beyond the burst and rate allowed.
    for _ in 0..40 {
        for _ in 0..100 {
            peer.swarm.behaviour_mut().sync.send_request(&target, summary.clone());
        }
        peer.pump(Duration::from_millis(50)).await;
        if arena.counter("refused.rate_limited") > before {
            break;
        }
    }
    assert!(arena.counter("refused.rate_limited") > before, "the flood was rate limited");
    let honest = arena.honest_write().await;
    wait_until("honest records still flow during the flood", SETTLE, || arena.fed.holds(0, &honest)).await;
    arena.fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_answering_with_records_nobody_asked_for_is_dropped() {
    let mut arena = Arena::new().await;
    let (key, cert) = arena.hostile_node(u64::MAX / 2);
    let mut peer = arena.connect(&key, cert.clone()).await;
    // The honest member's certificate: a record of another author than any asked for.
    let foreign =
        arena.fed.store(1).get_at(&arena.fed.store(1).heads().expect("heads")[0].0, 1).expect("read").expect("held");
    let own = key.node_key();
    peer.responder = Box::new(move |raw| match SyncRequest::decode(raw) {
        Ok(SyncRequest::Fetch { author, from_seq: 1, to_seq: 1, .. }) if author == own => {
            Frame::response(&SyncResponse::Records { records: vec![cert.clone()] })
        }
        Ok(SyncRequest::Summary { .. }) => Frame::response(&SyncResponse::Differs {
            buckets: vec![[0xaa; csx_protocol::sync::BUCKET_DIGEST_LEN]; 256],
            forked: vec![],
        }),
        Ok(SyncRequest::Heads { buckets }) => {
            let b = csx_protocol::sync::bucket_of(&own);
            let heads = if buckets.contains(&b) {
                vec![(own, csx_protocol::Head { seq: 5, id: csx_protocol::RecordId([5; 32]) })]
            } else {
                vec![]
            };
            Frame::response(&SyncResponse::Heads { heads })
        }
        // Asked for its own feed, it answers with someone else's record.
        Ok(SyncRequest::Fetch { .. }) => {
            Frame::response(&SyncResponse::Records { records: vec![foreign.bytes().to_vec()] })
        }
        _ => Frame::new(b"garbage".to_vec()),
    });
    let before = arena.counter("rejected.sync_violation");
    arena.fed.node(0).api().net().sync().await.ok();
    let target = arena.fed.members[0].peer_id;
    peer.pump_until("the violation is counted and the peer dropped", SETTLE, |p| {
        arena.counter("rejected.sync_violation") > before && !p.is_connected(&target)
    })
    .await;
    assert!(arena.peer_info(&peer).await.and_then(|p| p.banned).is_some(), "banned for a while");
    arena.fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_sync_response_is_counted_and_penalised() {
    let mut arena = Arena::new().await;
    let (key, cert) = arena.hostile_node(u64::MAX / 2);
    let mut peer = arena.connect(&key, cert.clone()).await;
    let own = key.node_key();
    peer.responder = Box::new(move |raw| match SyncRequest::decode(raw) {
        Ok(SyncRequest::Fetch { author, from_seq: 1, .. }) if author == own => {
            Frame::response(&SyncResponse::Records { records: vec![cert.clone()] })
        }
        _ => Frame::new(b"\x07 this is not a sync response".to_vec()),
    });
    let before = arena.counter("rejected.malformed_sync_response");
    arena.fed.node(0).api().net().sync().await.ok();
    peer.pump_until("the malformed response is counted", SETTLE, |_| {
        arena.counter("rejected.malformed_sync_response") > before
    })
    .await;
    arena.wait_strikes(&mut peer, 9.0).await;
    arena.fed.stop_all().await;
}
