//! A bootstrap server serves members' nodes only: they find each other through it and relay
//! through it (within limits); a stranger's discovery — with or without a namespace, in csx's
//! protocol or the standard rendezvous one — returns nothing, its registration is refused,
//! members are never told of it, and the relay refuses it.

use std::time::{Duration, Instant};

use csx_node::author::Author;
use csx_node::bootstrap::BootstrapLimits;
use csx_protocol::body::NodeCert;
use csx_protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use csx_protocol::keys::SecretKey;
use csx_protocol::sync::RefusalCode;
use csx_protocol::{Body, FederationId};
use csx_tests::bootstrap::TestBootstrap;
use csx_tests::federation::Federation;
use csx_tests::peer::{Frame, RawPeer};
use csx_tests::{now_ms, wait_until};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, rendezvous};

const SETTLE: Duration = Duration::from_secs(60);
const VERIFY_TIMEOUT: Duration = Duration::from_secs(4);

fn limits() -> BootstrapLimits {
    BootstrapLimits {
        verify_timeout: VERIFY_TIMEOUT,
        follow_interval: Duration::from_secs(2),
        relay_max_circuit_bytes: 32 * 1024,
        relay_max_circuit_duration: Duration::from_secs(3),
        ..BootstrapLimits::default()
    }
}

/// A raw peer with a stranger's key and certificate (an organisation nobody endorsed).
fn stranger(fed: &Federation) -> RawPeer {
    let org = SecretKey::generate().expect("key");
    let key = SecretKey::generate().expect("key");
    let cert = NodeCert::issue(&org, key.node_key(), "X97", u64::MAX / 2).expect("cert");
    let record = Author::new(SecretKey::from_seed(&key.seed()), fed.genesis.id(), None)
        .sign(vec![Body::NodeCert(cert)], now_ms() - 60_000)
        .expect("signs")
        .remove(0);
    RawPeer::new(&key, fed.genesis.id(), Some(record.bytes().to_vec()))
}

/// A raw peer with member `i`'s node key and certificate (member `i`'s node not started).
fn member_peer(fed: &Federation, i: usize) -> RawPeer {
    let key = fed.members[i].home.node_key().expect("key");
    let cert = Body::NodeCert(fed.members[i].home.node_cert().expect("cert"));
    let record = Author::new(fed.members[i].home.node_key().expect("key"), fed.genesis.id(), None)
        .sign(vec![cert], now_ms() - 60_000)
        .expect("signs")
        .remove(0);
    RawPeer::new(&key, fed.genesis.id(), Some(record.bytes().to_vec()))
}

/// Connects `peer` to the server and waits until the server has verified it (it answers its
/// discovery).
async fn verified_at(peer: &mut RawPeer, server: &TestBootstrap, federation: FederationId) -> Vec<PeerId> {
    peer.connect_only(server.address.clone(), server.peer_id).await;
    match peer.discover(server.peer_id, DiscoveryRequest::Discover { federation: Some(federation) }).await {
        Ok(DiscoveryResponse::Peers { peers }) => {
            peers.into_iter().map(|(p, _)| PeerId::from_bytes(&p).expect("a peer id")).collect()
        }
        other => panic!("a member's node is answered: {other:?}"),
    }
}

/// Drives two raw peers until `done(caller)`.
async fn pump_both(caller: &mut RawPeer, hidden: &mut RawPeer, what: &str, done: impl Fn(&RawPeer) -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !done(caller) {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::select! {
            _ = caller.pump(Duration::from_millis(20)) => {}
            _ = hidden.pump(Duration::from_millis(20)) => {}
        }
    }
}

fn refused_or_unanswered(answer: &Result<DiscoveryResponse, String>) -> bool {
    matches!(answer, Ok(DiscoveryResponse::Refused { code: RefusalCode::NotAMember, .. }) | Err(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_find_each_other_there_and_a_stranger_learns_nothing_and_is_never_announced() {
    let mut fed = Federation::new(4);
    let server = TestBootstrap::start(&fed.genesis, limits()).await;
    fed.net.bootstrap = vec![server.address.clone()];
    fed.net.discover_interval = Duration::from_secs(1);
    for i in 0..3 {
        fed.start(i).await;
    }
    // No member dials another: they find each other through the server.
    wait_until("three members found each other", SETTLE, || (0..3).all(|i| fed.records(i) == 6)).await;
    let fed_id = fed.genesis.id();

    // A stranger asks in csx's protocol, with the federation, without, for another, and
    // registers: nothing but refusals (once its certificate has shown it a non-member).
    let mut peer = stranger(&fed);
    let stranger_id = *peer.swarm.local_peer_id();
    peer.connect_only(server.address.clone(), server.peer_id).await;
    let start = Instant::now();
    let asks = [
        DiscoveryRequest::Discover { federation: Some(fed_id) },
        DiscoveryRequest::Discover { federation: None },
        DiscoveryRequest::Discover { federation: Some(FederationId([7; 32])) },
        DiscoveryRequest::Register {
            federation: fed_id,
            ttl_secs: 3600,
            addresses: vec!["/memory/4242".parse::<Multiaddr>().expect("addr").to_vec()],
        },
    ];
    let ids: Vec<_> = asks
        .iter()
        .map(|a| peer.swarm.behaviour_mut().discovery.send_request(&server.peer_id, Ok(a.clone())))
        .collect();
    peer.pump_until("every ask is answered", SETTLE, |p| ids.iter().all(|id| p.discovery.contains_key(id))).await;
    for (ask, id) in asks.iter().zip(&ids) {
        let answer = &peer.discovery[id];
        assert!(refused_or_unanswered(answer), "{ask:?} was answered {answer:?}");
    }
    peer.pump_until("the stranger is dropped", SETTLE, |p| !p.is_connected(&server.peer_id)).await;
    assert!(start.elapsed() <= VERIFY_TIMEOUT + Duration::from_secs(4), "dropped after {:?}", start.elapsed());
    assert!(server.counter("refused.not_a_member") >= 4, "each refusal counted");
    assert_eq!(server.counter("dropped.not_a_member"), 1);

    // Another stranger tries the standard rendezvous protocol: the server does not speak it.
    let mut other = stranger(&fed);
    other.connect_only(server.address.clone(), server.peer_id).await;
    other.swarm.add_external_address("/memory/4343".parse().expect("addr"));
    let ns = rendezvous::Namespace::new(format!("csx-{}", fed_id.to_hex())).expect("namespace");
    other.swarm.behaviour_mut().rendezvous.discover(None, None, None, server.peer_id);
    other.swarm.behaviour_mut().rendezvous.discover(Some(ns.clone()), None, None, server.peer_id);
    other.swarm.behaviour_mut().rendezvous.register(ns, server.peer_id, None).expect("an address to register");
    other.pump_until("three rendezvous answers", SETTLE, |p| p.seen.rendezvous.len() >= 3).await;
    assert!(
        other.seen.rendezvous.iter().all(|e| e.starts_with("DiscoverFailed") || e.starts_with("RegisterFailed")),
        "{:?}",
        other.seen.rendezvous
    );

    // Members are never told of them: a member's node asking now (verified, answered) hears of
    // the three members only, and no member ever dialled a stranger.
    let mut member = member_peer(&fed, 3);
    let told = verified_at(&mut member, &server, fed_id).await;
    let expected: std::collections::BTreeSet<PeerId> = (0..3).map(|i| fed.members[i].peer_id).collect();
    assert_eq!(told.iter().copied().collect::<std::collections::BTreeSet<_>>(), expected);
    for i in 0..3 {
        let peers = fed.node(i).api().net().status().await.expect("status").peers;
        for s in [stranger_id, *other.swarm.local_peer_id()] {
            assert!(peers.iter().all(|p| p.peer_id != s.to_string()), "member {i} knows of a stranger");
        }
    }
    fed.stop_all().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_serves_members_only_within_its_byte_and_time_limits() {
    let fed = Federation::new(4);
    let server = TestBootstrap::start(&fed.genesis, limits()).await;
    let fed_id = fed.genesis.id();
    let circuit = server.address.clone().with(Protocol::P2pCircuit);

    // A member's node reserves a slot: accepted.
    let mut hidden = member_peer(&fed, 2);
    let hidden_id = *hidden.swarm.local_peer_id();
    verified_at(&mut hidden, &server, fed_id).await;
    hidden.swarm.listen_on(circuit.clone()).expect("listen through the relay");
    hidden
        .pump_until("the reservation is accepted", SETTLE, |p| {
            p.seen.listen.iter().any(|a| a.iter().any(|x| x == Protocol::P2pCircuit))
        })
        .await;

    // A stranger's reservation is refused.
    let mut outsider = stranger(&fed);
    outsider.connect_only(server.address.clone(), server.peer_id).await;
    outsider.swarm.listen_on(circuit.clone()).expect("asks");
    outsider
        .pump_until("the reservation is refused", SETTLE, |_| server.counter("refused.relay_reservation") >= 1)
        .await;
    outsider.pump(Duration::from_millis(500)).await;
    assert!(!outsider.seen.listen.iter().any(|a| a.iter().any(|x| x == Protocol::P2pCircuit)), "no relayed address");

    // A stranger cannot reach the member's node through the relay either.
    let through = circuit.clone().with(Protocol::P2p(hidden_id));
    outsider.swarm.dial(through.clone()).expect("dial");
    outsider.pump_until("the circuit is refused", SETTLE, |_| server.counter("refused.relay_circuit") >= 1).await;
    outsider.pump(Duration::from_millis(500)).await;
    assert!(!outsider.is_connected(&hidden_id));

    // Another member's node reaches it through the relay, and a small request goes through.
    let mut caller = member_peer(&fed, 3);
    verified_at(&mut caller, &server, fed_id).await;
    caller.swarm.dial(through.clone()).expect("dial");
    pump_both(&mut caller, &mut hidden, "connected through the relay", |c| c.is_connected(&hidden_id)).await;
    let small = caller.swarm.behaviour_mut().sync.send_request(&hidden_id, Frame::new(vec![1; 1_000]));
    pump_both(&mut caller, &mut hidden, "a small request is answered", |c| c.responses.contains_key(&small)).await;
    assert!(caller.responses[&small].is_ok(), "{:?}", caller.responses[&small]);

    // More than the circuit may carry: the relay cuts it.
    let big = caller.swarm.behaviour_mut().sync.send_request(&hidden_id, Frame::new(vec![2; 256 * 1024]));
    pump_both(&mut caller, &mut hidden, "the oversized transfer fails", |c| c.responses.contains_key(&big)).await;
    assert!(caller.responses[&big].is_err(), "{:?}", caller.responses[&big]);
    wait_until("the relay counted the cut circuit", SETTLE, || server.counter("relay.circuits_cut") >= 1).await;

    // A circuit that stays within its bytes ends at its time limit.
    pump_both(&mut caller, &mut hidden, "the cut connection is gone", |c| !c.is_connected(&hidden_id)).await;
    caller.swarm.dial(through).expect("dial again");
    pump_both(&mut caller, &mut hidden, "connected again", |c| c.is_connected(&hidden_id)).await;
    let opened = Instant::now();
    pump_both(&mut caller, &mut hidden, "the circuit ends at its time limit", |c| !c.is_connected(&hidden_id)).await;
    let lasted = opened.elapsed();
    assert!(lasted <= Duration::from_secs(3) + Duration::from_secs(5), "the circuit lasted {lasted:?}");
    server.stop().await;
}
