//! The bootstrap server, for members' nodes only: it tells them where the other members' nodes
//! are (`/csx/discovery/1`: short registrations, under its one federation) and relays for nodes
//! that cannot be dialled (circuit relay v2, with byte and time limits per circuit).
//!
//! It knows who the members are by following the federation's *membership records* (node
//! certificates, endorsements, revocations, retirements) — pulled from members' nodes with the
//! `Membership` sync request and run through the same roster computation members use; see
//! [`follower`]. It holds and reads no other record. A connecting node is verified like at a
//! member's node (it shows its certificate; [`crate::net::admission`] decides): until then its
//! discovery requests wait, and its relay reservations are refused; a node that is not a
//! current member's is refused everything, disconnected and banned for a while.

pub mod follower;
pub mod registry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use csx_protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use csx_protocol::keys::SecretKey;
use csx_protocol::roster::Roster;
use csx_protocol::sync::{RefusalCode, SyncRequest, SyncResponse};
use csx_protocol::{Genesis, Record, RecordError, VerifyContext};
use futures::StreamExt;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, Transport as _, allow_block_list, connection_limits, noise, ping, relay,
    tcp, yamux,
};

use crate::ingest::Counters;
use crate::keyfile;
use crate::net::TransportKind;
use crate::net::admission::{
    Access, Action, Admission, Ask, CertAnswer, CertCheck, Connection, Judge, Standing, TableLimits, certificate_answer,
};
use crate::net::codec::{SYNC_PROTOCOL, SyncCodec};
use crate::net::discovery::{DISCOVERY_PROTOCOL, DiscoveryCodec, InboundDiscovery, address_bytes, addresses};
use crate::net::guard::weight;
use crate::net::identity;
use crate::net::reason::{LogLimiter, Reason};
use crate::service::Clock;
use follower::Follower;
use registry::Registry;

/// Discovery requests kept per peer while it is being verified; beyond, refused as busy.
const MAX_HELD_PER_PEER: usize = 4;
/// How often the server checks its clock (verification deadlines, expiries, saving).
const TICK: Duration = Duration::from_secs(1);
/// How often the counters of refusals are logged (when they changed).
const COUNTERS_LOG_MS: u64 = 60_000;

#[derive(NetworkBehaviour)]
#[allow(missing_debug_implementations)] // the libp2p behaviours it holds have no Debug
struct BootstrapBehaviour {
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    ping: ping::Behaviour,
    /// Outbound only: nodes' certificates and members' membership records.
    sync: request_response::Behaviour<SyncCodec>,
    /// Inbound only: registration and discovery.
    discovery: request_response::Behaviour<DiscoveryCodec>,
    relay: relay::Behaviour,
}

/// Bounds and times of a bootstrap server.
#[derive(Debug, Clone)]
pub struct BootstrapLimits {
    /// How long a connecting node has to show it is a current member's.
    pub verify_timeout: Duration,
    /// The longest registration granted.
    pub max_registration_ttl_secs: u32,
    /// Most registrations held.
    pub max_registrations: usize,
    /// Most members' nodes in one discovery answer.
    pub max_peers_per_answer: usize,
    /// How often the membership records are pulled again from a member.
    pub follow_interval: Duration,
    /// Bytes a relayed circuit may carry (both ways) before the relay closes it.
    pub relay_max_circuit_bytes: u64,
    /// How long a relayed circuit may last.
    pub relay_max_circuit_duration: Duration,
    /// Most relay reservations, and circuits, at once.
    pub relay_max_reservations: usize,
    pub relay_max_circuits: usize,
    /// Bounds of the peer, strike and ban tables.
    pub tables: TableLimits,
}

impl Default for BootstrapLimits {
    fn default() -> Self {
        BootstrapLimits {
            verify_timeout: Duration::from_secs(30),
            max_registration_ttl_secs: 600,
            max_registrations: 4096,
            max_peers_per_answer: 256,
            follow_interval: Duration::from_secs(15),
            relay_max_circuit_bytes: 256 * 1024 * 1024,
            relay_max_circuit_duration: Duration::from_secs(3600),
            relay_max_reservations: 256,
            relay_max_circuits: 256,
            tables: TableLimits { max_unverified: 64, ..TableLimits::default() },
        }
    }
}

/// How to run a bootstrap server.
#[derive(Clone)]
pub struct BootstrapOptions {
    pub listen: Vec<Multiaddr>,
    /// Public addresses to announce (confirmed for the relay); default: the listen addresses.
    pub external: Vec<Multiaddr>,
    pub max_connections: u32,
    /// The federation it serves.
    pub genesis: Genesis,
    pub transport: TransportKind,
    /// Where the membership records are kept between runs (none: in memory only).
    pub state: Option<PathBuf>,
    pub limits: BootstrapLimits,
    pub clock: Clock,
    /// Refusals and drops by reason (`refused.<reason>`, `dropped.<reason>`), also logged.
    pub counters: Arc<Counters>,
}

impl std::fmt::Debug for BootstrapOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapOptions")
            .field("listen", &self.listen)
            .field("external", &self.external)
            .field("federation", &self.genesis.id().short())
            .field("limits", &self.limits)
            .finish()
    }
}

/// Loads the bootstrap server's key from `path`, creating it (owner-only) the first time, so
/// its peer id — part of the address members configure — stays the same across restarts.
pub fn load_or_create_key(path: &Path) -> Result<SecretKey, keyfile::KeyFileError> {
    if path.exists() {
        return keyfile::read(path, None);
    }
    let key = SecretKey::generate().map_err(|e| keyfile::KeyFileError::Randomness(e.to_string()))?;
    keyfile::write(path, "bootstrap", &key, None)?;
    Ok(key)
}

/// The addresses members configure for a server with `key` listening as given: the external
/// addresses if any, else the listen addresses, each with `/p2p/<peer id>`.
pub fn addresses_of(key: &SecretKey, listen: &[Multiaddr], external: &[Multiaddr]) -> Vec<Multiaddr> {
    let peer_id = identity::keypair(key).public().to_peer_id();
    let base = if external.is_empty() { listen } else { external };
    base.iter().map(|a| a.clone().with(Protocol::P2p(peer_id))).collect()
}

/// Admits peers whose node the followed roster holds for a current member's.
fn members_only(
    roster: Arc<RwLock<Arc<Roster>>>,
    clock: Clock,
) -> impl FnMut(PeerId, &Multiaddr, std::time::Instant) -> bool + Send {
    move |peer, _, _| is_member(&read(&roster), &peer, clock())
}

fn read(roster: &RwLock<Arc<Roster>>) -> Arc<Roster> {
    roster.read().unwrap_or_else(|p| p.into_inner()).clone()
}

fn is_member(roster: &Roster, peer: &PeerId, now: u64) -> bool {
    identity::node_key(peer).is_some_and(|k| roster.node_may_connect(&k, now))
}

fn behaviour(
    key: &libp2p::identity::Keypair,
    options: &BootstrapOptions,
    roster: &Arc<RwLock<Arc<Roster>>>,
) -> BootstrapBehaviour {
    let l = &options.limits;
    let mut relay_config = relay::Config {
        max_reservations: l.relay_max_reservations,
        max_circuits: l.relay_max_circuits,
        max_circuits_per_peer: 8,
        max_circuit_duration: l.relay_max_circuit_duration,
        max_circuit_bytes: l.relay_max_circuit_bytes,
        ..relay::Config::default()
    };
    // Reservations and circuits for members' nodes only.
    relay_config.reservation_rate_limiters.push(Box::new(members_only(roster.clone(), options.clock.clone())));
    relay_config.circuit_src_rate_limiters.push(Box::new(members_only(roster.clone(), options.clock.clone())));
    BootstrapBehaviour {
        limits: connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(options.max_connections))
                .with_max_established_per_peer(Some(4))
                .with_max_pending_incoming(Some(64)),
        ),
        blocked: allow_block_list::Behaviour::default(),
        ping: ping::Behaviour::new(ping::Config::new()),
        sync: request_response::Behaviour::with_codec(
            SyncCodec,
            [(SYNC_PROTOCOL, ProtocolSupport::Outbound)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        ),
        discovery: request_response::Behaviour::with_codec(
            DiscoveryCodec,
            [(DISCOVERY_PROTOCOL, ProtocolSupport::Inbound)],
            // A request waits while its sender is verified.
            request_response::Config::default().with_request_timeout(l.verify_timeout + Duration::from_secs(30)),
        ),
        relay: relay::Behaviour::new(key.public().to_peer_id(), relay_config),
    }
}

fn build_swarm(
    key: &SecretKey,
    options: &BootstrapOptions,
    roster: &Arc<RwLock<Arc<Roster>>>,
) -> Result<Swarm<BootstrapBehaviour>, String> {
    let keypair = identity::keypair(key);
    let idle = |c: libp2p::swarm::Config| c.with_idle_connection_timeout(Duration::from_secs(3600));
    let swarm = match options.transport {
        TransportKind::Tcp => SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .map_err(|e| e.to_string())?
            .with_behaviour(|key| behaviour(key, options, roster))
            .map_err(|e| e.to_string())?
            .with_swarm_config(idle)
            .build(),
        TransportKind::Memory => SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(|key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                Ok(MemoryTransport::default()
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()))
            })
            .map_err(|e| e.to_string())?
            .with_behaviour(|key| behaviour(key, options, roster))
            .map_err(|e| e.to_string())?
            .with_swarm_config(idle)
            .build(),
    };
    Ok(swarm)
}

/// Runs a bootstrap server until `shutdown` resolves. `on_address` is told each address
/// (with `/p2p/<peer id>`) that members should configure, once it listens.
pub async fn run(
    key: &SecretKey,
    options: BootstrapOptions,
    mut on_address: impl FnMut(&Multiaddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let peer_id = identity::keypair(key).public().to_peer_id();
    let mut follower = Follower::new(options.genesis.clone(), options.limits.follow_interval.as_millis() as u64);
    if let Some(path) = &options.state
        && let Ok(bytes) = std::fs::read(path)
    {
        let ctx = VerifyContext::new(options.genesis.id(), (options.clock)());
        let n = follower.load(&bytes, &ctx);
        tracing::info!(records = n, file = %path.display(), "membership records loaded");
    }
    let roster = Arc::new(RwLock::new(follower.roster()));
    let mut swarm = build_swarm(key, &options, &roster)?;
    for addr in &options.listen {
        crate::net::event_loop::probe_port(addr)?;
        swarm.listen_on(addr.clone()).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    }
    for addr in &options.external {
        swarm.add_external_address(addr.clone());
    }
    // External addresses are given out once the server listens, as listen addresses are.
    let mut listening = false;
    swarm.behaviour_mut().relay.set_status(Some(relay::Status::Enable));
    let mut server = Server {
        admission: Admission::new(options.limits.verify_timeout.as_millis() as u64, options.limits.tables, []),
        registry: Registry::new(options.limits.max_registrations, options.limits.max_registration_ttl_secs),
        follower,
        roster,
        swarm,
        options,
        held: HashMap::new(),
        cert_requests: HashMap::new(),
        pulls: HashMap::new(),
        log: LogLimiter::default(),
        counters_logged: (0, Default::default()),
    };
    tracing::info!(federation = %server.options.genesis.name, members_known = server.follower.len(), "bootstrap server started");
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => server.on_tick(),
            event = server.swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    if server.options.external.is_empty() {
                        server.swarm.add_external_address(address.clone());
                        on_address(&address.with(Protocol::P2p(peer_id)));
                    } else if !std::mem::replace(&mut listening, true) {
                        for addr in &server.options.external {
                            on_address(&addr.clone().with(Protocol::P2p(peer_id)));
                        }
                    }
                }
                other => server.on_swarm_event(other),
            }
        }
    }
    server.save();
    tracing::info!("bootstrap server stopped");
    Ok(())
}

struct Server {
    swarm: Swarm<BootstrapBehaviour>,
    options: BootstrapOptions,
    admission: Admission<()>,
    follower: Follower,
    registry: Registry,
    /// The followed roster, shared with the relay's admission check.
    roster: Arc<RwLock<Arc<Roster>>>,
    /// Discovery requests of peers being verified.
    held: HashMap<PeerId, Vec<(ResponseChannel<DiscoveryResponse>, DiscoveryRequest)>>,
    cert_requests: HashMap<OutboundRequestId, PeerId>,
    pulls: HashMap<OutboundRequestId, PeerId>,
    log: LogLimiter,
    /// When the counters were last logged, and what they were.
    counters_logged: (u64, std::collections::BTreeMap<String, u64>),
}

impl Server {
    fn now(&self) -> u64 {
        (self.options.clock)()
    }

    fn judge(&self) -> impl Judge + use<> {
        let roster = self.follower.roster();
        move |peer: &PeerId, now: u64| if is_member(&roster, peer, now) { Standing::Member } else { Standing::Stranger }
    }

    fn count(&self, name: &str) {
        self.options.counters.add(name, 1);
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BootstrapBehaviourEvent>) {
        let now = self.now();
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                let conn = Connection {
                    dialer: endpoint.is_dialer(),
                    relayed: endpoint.is_relayed(),
                    remote: endpoint.get_remote_address().clone(),
                };
                tracing::debug!(peer = %peer_id, "connected");
                let judge = self.judge();
                let actions = self.admission.on_connected(peer_id, conn, &judge, now);
                self.act(actions);
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                let promoted = self.admission.on_disconnected(&peer_id, now);
                self.held.remove(&peer_id);
                self.cert_requests.retain(|_, p| *p != peer_id);
                self.pulls.retain(|_, p| *p != peer_id);
                if self.follower.on_failure(&peer_id) {
                    self.roster_changed();
                }
                self.act(promoted);
            }
            SwarmEvent::IncomingConnectionError { error: libp2p::swarm::ListenError::Denied { cause }, .. } => {
                if let Some(reason) = crate::net::reason::denied(&cause) {
                    self.count(&reason.refused_counter());
                }
            }
            SwarmEvent::Behaviour(BootstrapBehaviourEvent::Discovery(e)) => self.on_discovery(e),
            SwarmEvent::Behaviour(BootstrapBehaviourEvent::Sync(e)) => self.on_sync(e),
            SwarmEvent::Behaviour(BootstrapBehaviourEvent::Relay(e)) => self.on_relay(e),
            _ => {}
        }
    }

    fn on_relay(&mut self, event: relay::Event) {
        match event {
            relay::Event::ReservationReqDenied { src_peer_id, .. } => {
                self.count("refused.relay_reservation");
                let now = self.now();
                if self.log.allow(Reason::NotAMember, now).is_some() {
                    tracing::info!(peer = %src_peer_id, "refused a relay reservation (members' nodes only, within the limits)");
                }
            }
            relay::Event::CircuitReqDenied { src_peer_id, dst_peer_id, .. } => {
                self.count("refused.relay_circuit");
                tracing::debug!(src = %src_peer_id, dst = %dst_peer_id, "refused a relay circuit");
            }
            relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                self.count("relay.reservations");
                tracing::debug!(peer = %src_peer_id, "relay reservation accepted");
            }
            relay::Event::CircuitReqAccepted { src_peer_id, dst_peer_id } => {
                self.count("relay.circuits");
                tracing::info!(src = %src_peer_id, dst = %dst_peer_id, "relaying a connection between members' nodes");
            }
            relay::Event::CircuitClosed { src_peer_id, dst_peer_id, error: Some(e) } => {
                self.count("relay.circuits_cut");
                tracing::debug!(src = %src_peer_id, dst = %dst_peer_id, "relay circuit closed: {e}");
            }
            _ => {}
        }
    }

    fn on_discovery(&mut self, event: request_response::Event<InboundDiscovery, DiscoveryResponse>) {
        use request_response::{Event, Message};
        let Event::Message { peer, message: Message::Request { request, channel, .. }, .. } = event else { return };
        let now = self.now();
        let request = match request {
            Ok(r) => r,
            Err(bad) => {
                tracing::debug!(peer = %peer, "unreadable discovery request: {}", bad.detail);
                let actions = self.admission.on_strike(peer, weight::INVALID, now);
                self.act(actions);
                self.refuse(peer, channel, Reason::BadRequest);
                return;
            }
        };
        let (access, actions) = self.admission.on_request(peer, Ask::Discovery, now);
        self.act(actions);
        match access {
            Access::Serve => self.answer(peer, request, channel),
            Access::Refuse(reason) => self.refuse(peer, channel, reason),
            Access::Hold => {
                let held = self.held.entry(peer).or_default();
                if held.len() >= MAX_HELD_PER_PEER {
                    self.refuse(peer, channel, Reason::Full);
                    return;
                }
                held.push((channel, request));
                // Its node may be new to the roster here: ask a member for the records sooner.
                self.pull(true);
            }
        }
    }

    fn refuse(&mut self, peer: PeerId, channel: ResponseChannel<DiscoveryResponse>, reason: Reason) {
        self.count(&reason.refused_counter());
        let now = self.now();
        match self.log.allow(reason, now) {
            Some(held) => {
                tracing::info!(peer = %peer, reason = %reason, held_back = held, "refused a discovery request")
            }
            None => tracing::debug!(peer = %peer, reason = %reason, "refused a discovery request"),
        }
        let (code, message) = match reason {
            Reason::RateLimited | Reason::Full => (RefusalCode::TooBusy, "too many requests"),
            Reason::WrongFederationRequest => (RefusalCode::WrongFederation, "this server serves another federation"),
            Reason::BadRequest => (RefusalCode::BadRequest, "unreadable request"),
            _ => (RefusalCode::NotAMember, "this server serves members' nodes only"),
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .discovery
            .send_response(channel, DiscoveryResponse::Refused { code, message: message.into() });
    }

    /// Answers a verified member's node.
    fn answer(&mut self, peer: PeerId, request: DiscoveryRequest, channel: ResponseChannel<DiscoveryResponse>) {
        let now = self.now();
        let ours = self.options.genesis.id();
        let response = match request {
            DiscoveryRequest::Register { federation, ttl_secs, addresses: addrs } if federation == ours => {
                match self.registry.register(peer, addresses(&addrs), ttl_secs, now) {
                    Ok(ttl) => {
                        tracing::debug!(peer = %peer, ttl, "registered");
                        DiscoveryResponse::Registered { ttl_secs: ttl }
                    }
                    Err(registry::Full) => return self.refuse(peer, channel, Reason::Full),
                }
            }
            DiscoveryRequest::Discover { federation } if federation.is_none_or(|f| f == ours) => {
                let roster = self.follower.roster();
                let peers = self.registry.peers(
                    &peer,
                    |p| is_member(&roster, p, now),
                    now,
                    self.options.limits.max_peers_per_answer,
                );
                self.count("discovery.answered");
                DiscoveryResponse::Peers {
                    peers: peers.into_iter().map(|(p, a)| (p.to_bytes(), address_bytes(&a))).collect(),
                }
            }
            _ => return self.refuse(peer, channel, Reason::WrongFederationRequest),
        };
        let _ = self.swarm.behaviour_mut().discovery.send_response(channel, response);
    }

    fn on_sync(&mut self, event: request_response::Event<crate::net::codec::InboundRequest, SyncResponse>) {
        use request_response::{Event, Message};
        let now = self.now();
        match event {
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => {
                if self.cert_requests.remove(&request_id).is_some() {
                    let actions = self.admission.on_certificate_answer(peer, certificate_answer(&peer, response), now);
                    self.act(actions);
                } else if self.pulls.remove(&request_id).is_some() {
                    let ctx = VerifyContext::new(self.options.genesis.id(), now);
                    match self.follower.on_response(peer, response, &ctx) {
                        Ok(pulled) => {
                            if let Some(next) = pulled.next {
                                let id = self.swarm.behaviour_mut().sync.send_request(&peer, Ok(next));
                                self.pulls.insert(id, peer);
                            }
                            if pulled.roster_changed {
                                self.roster_changed();
                            }
                        }
                        Err(violation) => {
                            self.count("rejected.membership_records");
                            tracing::warn!(peer = %peer, "bad membership records: {violation}");
                            let actions = self.admission.drop_peer(peer, Reason::SyncViolation, now);
                            self.act(actions);
                        }
                    }
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                tracing::debug!(peer = %peer, "request failed: {error}");
                if self.cert_requests.remove(&request_id).is_some() {
                    // An answer that cannot be read is no certificate; no answer may come later.
                    let unreadable = matches!(&error, request_response::OutboundFailure::Io(e) if crate::net::codec::classify(e).is_some());
                    let answer = if unreadable { CertAnswer::Other } else { CertAnswer::Failed };
                    let actions = self.admission.on_certificate_answer(peer, answer, now);
                    self.act(actions);
                } else if self.pulls.remove(&request_id).is_some() && self.follower.on_failure(&peer) {
                    self.roster_changed();
                }
            }
            _ => {}
        }
    }

    fn act(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::AskCertificate(peer) => {
                    let Some(node) = identity::node_key(&peer) else { continue };
                    let request = SyncRequest::Fetch { author: node, from_seq: 1, to_seq: 1, max_bytes: 65_536 };
                    let id = self.swarm.behaviour_mut().sync.send_request(&peer, Ok(request));
                    self.cert_requests.insert(id, peer);
                }
                Action::CheckCertificate { peer, record } => self.check_certificate(peer, record),
                Action::Admit(peer) => {
                    tracing::debug!(peer = %peer, "verified as a member's node");
                    for (channel, request) in self.held.remove(&peer).unwrap_or_default() {
                        self.answer(peer, request, channel);
                    }
                    self.pull(false);
                }
                Action::Disconnect { peer, reason, ban } => {
                    self.count(&reason.dropped_counter());
                    let now = self.now();
                    match self.log.allow(reason, now) {
                        Some(held) => tracing::info!(peer = %peer, reason = %reason, held_back = held, "disconnected"),
                        None => tracing::debug!(peer = %peer, reason = %reason, "disconnected"),
                    }
                    for (channel, _) in self.held.remove(&peer).unwrap_or_default() {
                        self.refuse(peer, channel, Reason::NotAMember);
                    }
                    if ban {
                        self.swarm.behaviour_mut().blocked.block_peer(peer);
                    }
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                Action::Unblock(peer) => {
                    self.swarm.behaviour_mut().blocked.unblock_peer(peer);
                }
                // Its discovery requests are held until it is verified or dropped (see `held`).
                Action::ReleaseHeld(_) => {}
            }
        }
    }

    /// Verifies a connecting node's certificate (one signature) and, if it makes the node a
    /// current member's, adds it to the followed records.
    fn check_certificate(&mut self, peer: PeerId, record: Vec<u8>) {
        let now = self.now();
        let ctx = VerifyContext::new(self.options.genesis.id(), now);
        let check = match Record::decode(record).and_then(|r| r.verify(&ctx)) {
            Ok(verified) => {
                if self.follower.add_certificate(verified) {
                    self.roster_changed();
                }
                CertCheck::Valid
            }
            Err(RecordError::WrongFederation { .. }) => CertCheck::WrongFederation,
            Err(e) => {
                tracing::debug!(peer = %peer, "invalid certificate: {e}");
                CertCheck::Invalid
            }
        };
        let judge = self.judge();
        let actions = self.admission.on_certificate_checked(peer, check, &judge, now);
        self.act(actions);
    }

    /// Pulls the membership records from a connected member's node, if a pull is due.
    fn pull(&mut self, eager: bool) {
        let members = self.admission.members();
        if members.is_empty() {
            return;
        }
        let peer = members[fastrand::usize(..members.len())];
        let now = self.now();
        if let Some(request) = self.follower.maybe_pull(peer, eager, now) {
            let id = self.swarm.behaviour_mut().sync.send_request(&peer, Ok(request));
            self.pulls.insert(id, peer);
        }
    }

    /// The followed roster changed: share it, forget registrations of non-members, and judge
    /// connected peers again.
    fn roster_changed(&mut self) {
        let roster = self.follower.roster();
        *self.roster.write().unwrap_or_else(|p| p.into_inner()) = roster.clone();
        let now = self.now();
        self.registry.retain(|p| is_member(&roster, p, now));
        tracing::info!(
            members = roster.members().iter().filter(|m| m.is_current()).count(),
            records = self.follower.len(),
            "membership changed"
        );
        let judge = self.judge();
        let actions = self.admission.on_roster_changed(&judge, now);
        self.act(actions);
    }

    fn on_tick(&mut self) {
        let now = self.now();
        let judge = self.judge();
        let actions = self.admission.on_tick(&judge, now);
        self.act(actions);
        self.registry.expire(now);
        self.pull(false);
        self.save();
        if now.saturating_sub(self.counters_logged.0) >= COUNTERS_LOG_MS {
            let counters = self.options.counters.snapshot();
            if counters != self.counters_logged.1 {
                let line: Vec<String> = counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
                tracing::info!(registrations = self.registry.len(), "counters: {}", line.join(" "));
            }
            self.counters_logged = (now, counters);
        }
    }

    /// Keeps the followed records on disk (written to a new file, then renamed over the old).
    fn save(&mut self) {
        let Some(path) = self.options.state.clone() else { return };
        let Some(bytes) = self.follower.take_unsaved() else { return };
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &path)) {
            tracing::warn!(file = %path.display(), "cannot keep the membership records: {e}");
        }
    }
}
