//! The event loop: the one task that owns the swarm. Everything else talks to it through a
//! [`NetHandle`](super::handle::NetHandle). Work that would hold the swarm up (verifying and
//! storing records, reading pages from the store) runs elsewhere and reports back as
//! [`Internal`] events.
//!
//! Members only: a peer is served (gossip, sync pages) only once its node key is known to be
//! certified by a current member. Until then it is graylisted in gossipsub and refused sync
//! service, except for this node's own certificate; the node asks it for its certificate and
//! pulls from it (everything received is verified against the roster anyway). A peer that is not
//! a member within `verify_timeout` is disconnected (and banned for a while, unless its
//! organisation has been endorsed and awaits admission); so is one whose organisation is
//! revoked or node retired, and one that misbehaves (see [`super::guard`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use csx_protocol::sync::{
    RefusalCode, SyncAction, SyncEnd, SyncLimits, SyncRequest, SyncResponse, SyncSession, SyncSource, respond,
};
use csx_protocol::{FederationId, NodeKey, Record, VerifyContext};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, identify, rendezvous};
use tokio::sync::{Notify, mpsc, oneshot};

use super::behaviour::{NodeBehaviour, NodeBehaviourEvent, forks_topic, identify_version, topic};
use super::config::NetConfig;
use super::guard::{Guard, Limit, weight};
use super::peers::PeerBook;
use crate::api::{NetStatus, PeerInfo, PeerSync, SyncReport};
use crate::ingest::{Counters, IngestHandle, Verdict, rejected_counter};
use crate::membership::Membership;
use crate::service::Clock;
use crate::store::Store;

/// Rendezvous namespace of a federation at bootstrap servers.
pub fn namespace(federation: &FederationId) -> rendezvous::Namespace {
    rendezvous::Namespace::new(format!("csx-{}", federation.to_hex())).expect("71 bytes is under the 255 limit")
}

/// Most gossip messages waiting for verification; beyond it new ones are ignored (sync will
/// bring them), so a flood cannot grow memory without bound.
const MAX_GOSSIP_IN_FLIGHT: usize = 20_000;
/// Connections to members the node keeps trying to have.
const TARGET_PEERS: usize = 8;
/// How often the node saves its peer book, redials peers, and checks unverified peers.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);
/// The gossipsub application score of an unverified peer: far below the graylist threshold, so
/// nothing is sent to it and nothing from it is processed.
const UNVERIFIED_SCORE: f64 = -100.0;

/// Whether this node's own feed has been confirmed by a peer since it started. A node restored
/// from a backup may hold less of its own feed than its peers; signing more before learning
/// what they hold would fork its feed, so publishing waits for this.
#[derive(Debug, Default)]
pub struct OwnFeedGate {
    confirmed: AtomicBool,
    notify: Notify,
}

impl OwnFeedGate {
    pub fn new(confirmed: bool) -> Self {
        OwnFeedGate { confirmed: AtomicBool::new(confirmed), notify: Notify::new() }
    }
    pub fn confirm(&self) {
        if !self.confirmed.swap(true, Ordering::AcqRel) {
            tracing::info!("own feed confirmed by a peer; publishing enabled");
        }
        self.notify.notify_waiters();
    }
    pub fn is_confirmed(&self) -> bool {
        self.confirmed.load(Ordering::Acquire)
    }
    /// Waits up to `timeout` for confirmation; returns whether it is confirmed.
    pub async fn wait(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if self.is_confirmed() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_confirmed();
            }
        }
    }
}

/// Requests to the event loop.
#[derive(Debug)]
pub enum Command {
    /// Gossip these records (already stored).
    Publish {
        records: Vec<Vec<u8>>,
    },
    Status {
        reply: oneshot::Sender<NetStatus>,
    },
    /// Sync with every connected member; reply when level with all (or a round failed).
    Sync {
        reply: oneshot::Sender<SyncReport>,
    },
    Dial {
        addr: Multiaddr,
    },
    /// Refuse (or allow again) all connections with these peers.
    Deny {
        peers: Vec<PeerId>,
        deny: bool,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Results of work done off the event loop.
enum Internal {
    GossipChecked { message_id: gossipsub::MessageId, source: PeerId, verdict: Verdict },
    ProofChecked { message_id: Option<gossipsub::MessageId>, source: PeerId, outcome: ProofOutcome },
    Respond { channel: ResponseChannel<SyncResponse>, response: SyncResponse },
    PageStored { peer: PeerId, generation: u64, verdicts: Vec<Verdict> },
    CertChecked { peer: PeerId },
}

enum ProofOutcome {
    New { first: Vec<u8>, second: Vec<u8> },
    Known,
    Invalid(String),
}

#[derive(Debug, Default)]
struct Peer {
    bootstrap: bool,
    connected: bool,
    connected_since: Option<u64>,
    addresses: Vec<Multiaddr>,
    node_key: Option<NodeKey>,
    /// Known to be a current member's node: served.
    verified: bool,
    last_sync_at: Option<u64>,
    in_sync: Option<bool>,
    behind: u64,
    ahead: u64,
    received: u64,
}

struct Round {
    session: SyncSession,
    generation: u64,
    /// Records of this round that were new here (not refused, not already held).
    appended: u64,
}

struct Waiter {
    pending: HashSet<PeerId>,
    results: Vec<PeerSync>,
    reply: oneshot::Sender<SyncReport>,
}

/// Finds the ODS code of a node key's organisation.
pub type OrgLookup = Arc<dyn Fn(&NodeKey) -> Option<String> + Send + Sync>;

/// The context the event loop works in.
#[allow(missing_debug_implementations)] // holds closures and the swarm
pub struct LoopContext {
    pub federation: FederationId,
    pub own_node: NodeKey,
    pub store: Arc<dyn Store>,
    pub membership: Arc<Membership>,
    pub ingest: IngestHandle,
    pub counters: Arc<Counters>,
    pub clock: Clock,
    pub config: NetConfig,
    pub own_feed: Arc<OwnFeedGate>,
}

/// How often the time of the last completed sync round is written to the store, at most.
const SYNC_SAVE_INTERVAL_MS: u64 = 5_000;

#[allow(missing_debug_implementations)]
pub struct EventLoop {
    swarm: Swarm<NodeBehaviour>,
    ctx: LoopContext,
    commands: mpsc::Receiver<Command>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    topic: gossipsub::IdentTopic,
    forks_topic: gossipsub::IdentTopic,
    peers: HashMap<PeerId, Peer>,
    bootstrap: HashMap<PeerId, Multiaddr>,
    book: PeerBook,
    rounds: HashMap<PeerId, Round>,
    requests: HashMap<OutboundRequestId, (PeerId, u64, u64)>,
    cert_requests: HashMap<OutboundRequestId, PeerId>,
    waiters: Vec<Waiter>,
    generation: u64,
    gossip_in_flight: usize,
    last_sync_at: Option<u64>,
    /// When `last_sync_at` was last written to the store (so offline answers can say it).
    sync_saved_at: u64,
    limits: SyncLimits,
    listeners: Vec<libp2p::core::transport::ListenerId>,
    guard: Guard,
    roster_version: u64,
    /// Peers refused by command, whatever the guard decides.
    denied: HashSet<PeerId>,
}

impl EventLoop {
    pub fn new(swarm: Swarm<NodeBehaviour>, ctx: LoopContext, commands: mpsc::Receiver<Command>) -> EventLoop {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let topic = topic(&ctx.federation);
        let forks_topic = forks_topic(&ctx.federation);
        let book = PeerBook::load(ctx.store.as_ref());
        let bootstrap = ctx
            .config
            .bootstrap
            .iter()
            .filter_map(|a| match a.iter().last() {
                Some(Protocol::P2p(p)) => Some((p, a.clone())),
                _ => {
                    tracing::warn!(address = %a, "bootstrap address has no /p2p/<peer id> part; ignored");
                    None
                }
            })
            .collect();
        let limits = SyncLimits {
            page_records: ctx.config.page_records,
            page_bytes: ctx.config.page_bytes,
            ..SyncLimits::default()
        };
        let roster_version = ctx.membership.version();
        let last_sync_at = crate::query::last_sync_at(ctx.store.as_ref()).ok().flatten();
        EventLoop {
            swarm,
            ctx,
            commands,
            internal_tx,
            internal_rx,
            topic,
            forks_topic,
            peers: HashMap::new(),
            bootstrap,
            book,
            rounds: HashMap::new(),
            requests: HashMap::new(),
            cert_requests: HashMap::new(),
            waiters: Vec::new(),
            generation: 0,
            gossip_in_flight: 0,
            last_sync_at,
            sync_saved_at: 0,
            limits,
            listeners: Vec::new(),
            guard: Guard::default(),
            roster_version,
            denied: HashSet::new(),
        }
    }

    fn now(&self) -> u64 {
        (self.ctx.clock)()
    }

    /// Whether the node has never met a peer (nothing to confirm its own feed against).
    pub fn never_met_a_peer(&self) -> bool {
        self.book.peers().is_empty()
    }

    /// Starts listening and dialling. Errors name the address that could not be used.
    pub fn start(&mut self) -> Result<(), String> {
        for addr in self.ctx.config.listen.clone() {
            let id = self.swarm.listen_on(addr.clone()).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            self.listeners.push(id);
        }
        for addr in self.ctx.config.external.clone() {
            self.swarm.add_external_address(addr);
        }
        for (peer, addr) in self.bootstrap.clone() {
            self.peers.entry(peer).or_default().bootstrap = true;
            self.dial(addr);
        }
        for addr in self.ctx.config.peers.clone() {
            self.dial(addr);
        }
        let remembered = self.book.peers();
        tracing::info!(remembered = remembered.len(), "dialling remembered peers");
        for (peer, addrs) in remembered.into_iter().take(TARGET_PEERS * 2) {
            self.dial_peer(peer, addrs);
        }
        Ok(())
    }

    fn dial(&mut self, addr: Multiaddr) {
        if let Err(e) = self.swarm.dial(addr.clone()) {
            tracing::debug!(address = %addr, "dial failed: {e}");
        }
    }

    fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        tracing::debug!(peer = %peer, addresses = addrs.len(), "dialling");
        if peer == *self.swarm.local_peer_id()
            || self.swarm.is_connected(&peer)
            || self.guard.banned(&peer, self.now()).is_some()
            || self.denied.contains(&peer)
        {
            return;
        }
        use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
        let opts = DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::DisconnectedAndNotDialing).build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(peer = %peer, "dial failed: {e}");
        }
    }

    /// Runs until shut down or until every handle is dropped.
    pub async fn run(mut self) {
        let mut sync_tick = tokio::time::interval(self.ctx.config.sync_interval);
        let mut discover_tick = tokio::time::interval(self.ctx.config.discover_interval);
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.book.save(self.ctx.store.as_ref());
                        let _ = reply.send(());
                        break;
                    }
                    Some(c) => self.on_command(c),
                    None => break,
                },
                Some(internal) = self.internal_rx.recv() => {
                    self.on_internal(internal);
                    self.check_roster();
                }
                _ = sync_tick.tick() => self.sync_random_peer(),
                _ = discover_tick.tick() => self.discover(),
                _ = maintenance.tick() => self.maintain(),
            }
        }
        self.book.save(self.ctx.store.as_ref());
        // Close listeners explicitly: the memory transport frees a port only this way.
        for id in std::mem::take(&mut self.listeners) {
            self.swarm.remove_listener(id);
        }
        tracing::info!("network stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { records } => {
                for bytes in records {
                    match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes) {
                        Ok(_) => {}
                        Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                            tracing::debug!("no peer to gossip to yet; sync will deliver the record")
                        }
                        Err(e) => tracing::warn!("gossip publish failed ({e}); sync will deliver the record"),
                    }
                }
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Sync { reply } => self.sync_all(reply),
            Command::Dial { addr } => self.dial(addr),
            Command::Deny { peers, deny } => {
                for peer in peers {
                    if deny {
                        tracing::info!(peer = %peer, "refusing all connections with this peer");
                        self.denied.insert(peer);
                        self.swarm.behaviour_mut().blocked.block_peer(peer);
                        let _ = self.swarm.disconnect_peer_id(peer);
                        self.fail_round(peer, "connections with this peer are refused".into());
                    } else if self.denied.remove(&peer) {
                        tracing::info!(peer = %peer, "allowing connections with this peer again");
                        self.unblock(peer);
                    }
                }
            }
            Command::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    fn is_member_peer(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.connected && !p.bootstrap)
    }

    fn is_verified(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.connected && p.verified)
    }

    fn org_of(&self, node: &NodeKey) -> Option<String> {
        self.ctx.membership.roster().org_of(node).map(|(_, ods)| ods.to_string())
    }

    fn status(&self) -> NetStatus {
        let now = self.now();
        let mut peers: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, p)| PeerInfo {
                peer_id: id.to_string(),
                node_key: p.node_key,
                org: p.node_key.as_ref().and_then(|k| self.org_of(k)),
                bootstrap: p.bootstrap,
                connected: p.connected,
                verified: p.verified,
                addresses: p.addresses.iter().map(|a| a.to_string()).collect(),
                connected_since: p.connected_since,
                last_sync_at: p.last_sync_at,
                in_sync: p.in_sync,
                behind: p.behind,
                ahead: p.ahead,
                received: p.received,
                strikes: self.guard.strikes(id, now),
                banned: self.guard.banned(id, now).map(str::to_string),
            })
            .collect();
        for (id, _, reason) in self.guard.bans(now) {
            if !self.peers.contains_key(&id) {
                peers.push(PeerInfo {
                    peer_id: id.to_string(),
                    node_key: super::identity::node_key(&id),
                    banned: Some(reason.to_string()),
                    ..PeerInfo::default()
                });
            }
        }
        peers.sort_by(|a, b| (b.connected, &a.org, &a.peer_id).cmp(&(a.connected, &b.org, &b.peer_id)));
        NetStatus {
            peer_id: self.swarm.local_peer_id().to_string(),
            listen: self.swarm.listeners().map(|a| a.to_string()).collect(),
            external: self.swarm.external_addresses().map(|a| a.to_string()).collect(),
            peers,
            last_sync_at: self.last_sync_at,
            counters: self.ctx.counters.snapshot(),
            own_feed_confirmed: self.ctx.own_feed.is_confirmed(),
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(address = %address.clone().with(Protocol::P2p(*self.swarm.local_peer_id())), "listening");
                if self.ctx.config.external.is_empty() {
                    self.swarm.add_external_address(address);
                }
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::debug!(address = %address, "reachable at");
                // A new address (e.g. a relay reservation): tell the bootstrap servers.
                let connected: Vec<PeerId> =
                    self.bootstrap.keys().filter(|b| self.swarm.is_connected(b)).copied().collect();
                for b in connected {
                    self.register(b);
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                let now = self.now();
                if let Some(reason) = self.guard.banned(&peer_id, now) {
                    tracing::debug!(peer = %peer_id, reason, "refusing a banned peer");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let is_bootstrap = self.bootstrap.contains_key(&peer_id);
                let p = self.peers.entry(peer_id).or_default();
                p.bootstrap |= is_bootstrap;
                p.node_key = super::identity::node_key(&peer_id);
                if endpoint.is_dialer() && !endpoint.is_relayed() {
                    let addr = endpoint.get_remote_address().clone();
                    if !p.addresses.contains(&addr) {
                        p.addresses.push(addr.clone());
                    }
                }
                if num_established.get() == 1 {
                    p.connected = true;
                    p.connected_since = Some(now);
                    p.received = 0;
                    p.verified = false;
                    tracing::info!(peer = %peer_id, bootstrap = is_bootstrap, "connected");
                    if is_bootstrap {
                        self.at_bootstrap(peer_id);
                    } else {
                        self.verify(peer_id);
                        self.start_round(peer_id);
                    }
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. } => {
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.connected = false;
                    p.connected_since = None;
                    p.verified = false;
                }
                self.guard.disconnected(&peer_id);
                tracing::info!(peer = %peer_id, cause = ?cause, "disconnected");
                self.abort_round(peer_id, "the connection closed");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, "could not connect: {error}");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    /// Starts checking that `peer` is a current member's node: promote it now if the roster
    /// already says so; otherwise graylist it and ask for its certificate.
    fn verify(&mut self, peer: PeerId) {
        if self.promote_if_member(peer) {
            return;
        }
        self.swarm.behaviour_mut().gossipsub.set_application_score(&peer, UNVERIFIED_SCORE);
        if super::identity::node_key(&peer).is_none() {
            self.drop_peer(peer, "not_a_member", "its identity is not an ed25519 node key");
            return;
        }
        self.request_cert(peer);
    }

    /// Asks `peer` for its certificate (record 1 of its feed).
    fn request_cert(&mut self, peer: PeerId) {
        let Some(node) = super::identity::node_key(&peer) else { return };
        let request = SyncRequest::Fetch { author: node, from_seq: 1, to_seq: 1, max_bytes: 65_536 };
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, Ok(request));
        self.cert_requests.insert(id, peer);
    }

    /// Marks `peer` verified if the roster says its node may connect; returns whether it is.
    fn promote_if_member(&mut self, peer: PeerId) -> bool {
        let Some(node) = super::identity::node_key(&peer) else { return false };
        if !self.ctx.membership.roster().node_may_connect(&node, self.now()) {
            return false;
        }
        let newly = self.peers.get_mut(&peer).map(|p| !std::mem::replace(&mut p.verified, true)).unwrap_or(false);
        if newly {
            self.swarm.behaviour_mut().gossipsub.set_application_score(&peer, 0.0);
            tracing::debug!(peer = %peer, "verified as a member's node");
            // Remember members' nodes, so this node finds them again without a bootstrap server.
            let now = self.now();
            let addrs = self.peers.get(&peer).map(|p| p.addresses.clone()).unwrap_or_default();
            self.book.saw(&peer, addrs, now);
        }
        true
    }

    /// Whether `peer`'s node is certified by an organisation endorsed but not yet admitted (its
    /// certificate is held in quarantine).
    fn is_applicants_node(&self, peer: &PeerId) -> bool {
        let Some(node) = super::identity::node_key(peer) else { return false };
        let roster = self.ctx.membership.roster();
        self.ctx.store.quarantined(&node).ok().into_iter().flatten().any(|b| {
            Record::decode(b).ok().is_some_and(|r| match r.body() {
                csx_protocol::Body::NodeCert(c) => roster.is_applicant(&c.org_key),
                _ => false,
            })
        })
    }

    /// Re-examines every connected peer when the roster has changed.
    fn check_roster(&mut self) {
        let v = self.ctx.membership.version();
        if v == self.roster_version {
            return;
        }
        self.roster_version = v;
        // Membership changed: peers turned away for not being members get another chance (they
        // are verified afresh when they reconnect), so a newly admitted node is not kept out.
        let now = self.now();
        for (peer, _, reason) in self.guard.bans(now) {
            if reason == "not_a_member" {
                self.guard.unban(&peer);
                self.unblock(peer);
            }
        }
        let connected: Vec<(PeerId, bool)> =
            self.peers.iter().filter(|(_, p)| p.connected && !p.bootstrap).map(|(id, p)| (*id, p.verified)).collect();
        for (peer, was_verified) in connected {
            let ok = self.promote_if_member(peer);
            if was_verified && !ok {
                self.drop_peer(
                    peer,
                    "no_longer_a_member",
                    "its organisation was revoked or its node retired or expired",
                );
            }
        }
    }

    /// Disconnects `peer` and bans it for a while.
    fn drop_peer(&mut self, peer: PeerId, reason: &'static str, why: &str) {
        let now = self.now();
        tracing::warn!(peer = %peer, reason, "dropping peer: {why}");
        self.ctx.counters.add(&format!("dropped.{reason}"), 1);
        self.guard.ban(peer, reason, now);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.book.forget(&peer);
        self.fail_round(peer, format!("dropped: {why}"));
    }

    /// Lifts the connection block on `peer` unless it is denied by command.
    fn unblock(&mut self, peer: PeerId) {
        if !self.denied.contains(&peer) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
    }

    /// Counts a strike against `peer`, banning it when it has earned one.
    fn strike(&mut self, peer: PeerId, weight: f64, reason: &'static str) {
        if self.peers.get(&peer).is_some_and(|p| p.bootstrap) {
            return;
        }
        let now = self.now();
        if self.guard.strike(peer, weight, now) {
            self.drop_peer(peer, "misbehaving", &format!("too many refused messages (last: {reason})"));
        }
    }

    /// Registers this node's addresses at `bootstrap` (once it has an address others can use).
    fn register(&mut self, bootstrap: PeerId) {
        if self.swarm.external_addresses().next().is_none() {
            return;
        }
        let ns = namespace(&self.ctx.federation);
        if let Err(e) = self.swarm.behaviour_mut().rendezvous.register(ns, bootstrap, None) {
            tracing::warn!(bootstrap = %bootstrap, "could not register at the bootstrap server: {e}");
        }
    }

    fn at_bootstrap(&mut self, bootstrap: PeerId) {
        let ns = namespace(&self.ctx.federation);
        self.register(bootstrap);
        self.swarm.behaviour_mut().rendezvous.discover(Some(ns), None, None, bootstrap);
        if self.ctx.config.relay
            && let Some(addr) = self.bootstrap.get(&bootstrap).cloned()
            && let Err(e) = self.swarm.listen_on(addr.with(Protocol::P2pCircuit))
        {
            tracing::warn!("cannot listen through the relay of {bootstrap}: {e}");
        }
    }

    fn discover(&mut self) {
        let ns = namespace(&self.ctx.federation);
        let connected: Vec<PeerId> = self.bootstrap.keys().filter(|p| self.swarm.is_connected(p)).copied().collect();
        for b in connected {
            self.swarm.behaviour_mut().rendezvous.discover(Some(ns.clone()), None, None, b);
        }
    }

    fn maintain(&mut self) {
        let now = self.now();
        self.book.save(self.ctx.store.as_ref());
        for peer in self.guard.expired(now) {
            self.unblock(peer);
        }
        self.check_roster();
        // Peers that have not shown they are members' nodes in time are dropped.
        let overdue: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.connected
                    && !p.bootstrap
                    && !p.verified
                    && p.connected_since
                        .is_some_and(|t| now.saturating_sub(t) > self.ctx.config.verify_timeout.as_millis() as u64)
            })
            .map(|(id, _)| *id)
            .collect();
        for peer in overdue {
            if self.promote_if_member(peer) {
                continue;
            }
            if self.is_applicants_node(&peer) {
                // Endorsed but not yet admitted: let it try again later, without a ban.
                tracing::info!(peer = %peer, "an applicant's node connected before admission; disconnecting");
                self.ctx.counters.add("dropped.applicant", 1);
                let _ = self.swarm.disconnect_peer_id(peer);
            } else {
                self.drop_peer(peer, "not_a_member", "its node is not certified by a current member");
            }
        }
        let members = self.peers.values().filter(|p| p.connected && !p.bootstrap).count();
        if members < TARGET_PEERS {
            for (peer, addrs) in self.book.peers().into_iter().take(TARGET_PEERS * 2) {
                self.dial_peer(peer, addrs);
            }
        }
        let none_up = !self.bootstrap.keys().any(|b| self.swarm.is_connected(b));
        if none_up {
            for addr in self.bootstrap.values().cloned().collect::<Vec<_>>() {
                self.dial(addr);
            }
        }
    }

    fn on_behaviour_event(&mut self, event: NodeBehaviourEvent) {
        match event {
            NodeBehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                if message.topic == self.forks_topic.hash() {
                    self.on_gossiped_proof(propagation_source, message_id, message.data)
                } else {
                    self.on_gossip(propagation_source, message_id, message.data)
                }
            }
            NodeBehaviourEvent::Sync(e) => self.on_sync_event(e),
            NodeBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let bootstrap = self.bootstrap.contains_key(&peer_id);
                if !bootstrap && info.protocol_version != identify_version(&self.ctx.federation) {
                    tracing::info!(peer = %peer_id, version = %info.protocol_version, "peer is not of this federation; disconnecting");
                    self.ctx.counters.add("dropped.other_federation", 1);
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    self.book.forget(&peer_id);
                    return;
                }
                if !bootstrap {
                    let addrs: Vec<Multiaddr> = info.listen_addrs.clone();
                    if let Some(p) = self.peers.get_mut(&peer_id) {
                        for a in &addrs {
                            if !p.addresses.contains(a) {
                                p.addresses.push(a.clone());
                            }
                        }
                    }
                    if self.is_verified(&peer_id) {
                        let now = self.now();
                        self.book.saw(&peer_id, addrs, now);
                    }
                }
            }
            NodeBehaviourEvent::Rendezvous(rendezvous::client::Event::Discovered { registrations, .. }) => {
                let me = *self.swarm.local_peer_id();
                for reg in registrations {
                    let peer = reg.record.peer_id();
                    if peer == me {
                        continue;
                    }
                    let addrs = reg.record.addresses().to_vec();
                    for a in &addrs {
                        self.swarm.add_peer_address(peer, a.clone());
                    }
                    self.dial_peer(peer, addrs);
                }
            }
            NodeBehaviourEvent::Rendezvous(rendezvous::client::Event::Registered { rendezvous_node, .. }) => {
                tracing::debug!(bootstrap = %rendezvous_node, "registered at bootstrap server");
                // Discover again now that we are registered: of two nodes registering at about
                // the same time, the later one to register then finds the earlier one, instead
                // of both waiting for the next discovery round.
                let ns = namespace(&self.ctx.federation);
                self.swarm.behaviour_mut().rendezvous.discover(Some(ns), None, None, rendezvous_node);
            }
            NodeBehaviourEvent::Rendezvous(rendezvous::client::Event::RegisterFailed {
                rendezvous_node,
                error,
                ..
            }) => {
                tracing::warn!(bootstrap = %rendezvous_node, "registration refused: {error:?}");
            }
            _ => {}
        }
    }

    fn report(&mut self, message_id: &gossipsub::MessageId, source: &PeerId, acceptance: gossipsub::MessageAcceptance) {
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(message_id, source, acceptance);
    }

    fn on_gossip(&mut self, source: PeerId, message_id: gossipsub::MessageId, data: Vec<u8>) {
        let now = self.now();
        if !self.is_verified(&source) {
            self.ctx.counters.add("rejected.unverified_peer", 1);
            self.report(&message_id, &source, gossipsub::MessageAcceptance::Ignore);
            return;
        }
        if !self.guard.allow(source, Limit::Gossip, now) {
            self.ctx.counters.add("rejected.rate_limited", 1);
            self.report(&message_id, &source, gossipsub::MessageAcceptance::Ignore);
            self.strike(source, weight::FLOOD, "rate_limited");
            return;
        }
        if self.gossip_in_flight >= MAX_GOSSIP_IN_FLIGHT {
            self.ctx.counters.add("gossip_overflow", 1);
            self.report(&message_id, &source, gossipsub::MessageAcceptance::Ignore);
            return;
        }
        self.gossip_in_flight += 1;
        let verdict = self.ctx.ingest.enqueue(vec![data]);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let verdict = match verdict.await {
                Ok(mut v) if !v.is_empty() => v.remove(0),
                _ => Verdict::Refused { reason: "shutting_down" },
            };
            let _ = tx.send(Internal::GossipChecked { message_id, source, verdict });
        });
    }

    /// A fork proof on the forks topic: `len u32 ‖ first ‖ second`.
    fn on_gossiped_proof(&mut self, source: PeerId, message_id: gossipsub::MessageId, data: Vec<u8>) {
        if !self.is_verified(&source) {
            self.report(&message_id, &source, gossipsub::MessageAcceptance::Ignore);
            return;
        }
        let split = (data.len() >= 4)
            .then(|| u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize)
            .filter(|n| 4 + n <= data.len());
        let Some(n) = split else {
            self.ctx.counters.add("rejected.malformed_fork_proof", 1);
            self.report(&message_id, &source, gossipsub::MessageAcceptance::Reject);
            self.strike(source, weight::INVALID, "malformed_fork_proof");
            return;
        };
        let (first, second) = (data[4..4 + n].to_vec(), data[4 + n..].to_vec());
        self.check_proof(Some(message_id), source, first, second);
    }

    /// Verifies a fork proof off the event loop and keeps it.
    fn check_proof(
        &mut self,
        message_id: Option<gossipsub::MessageId>,
        source: PeerId,
        first: Vec<u8>,
        second: Vec<u8>,
    ) {
        let store = self.ctx.store.clone();
        let ctx = VerifyContext::new(self.ctx.federation, self.now());
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let verified = |b: &[u8]| Record::decode(b.to_vec()).and_then(|r| r.verify(&ctx));
            let outcome = match (verified(&first), verified(&second)) {
                (Ok(a), Ok(b)) if a.author() == b.author() && a.seq() == b.seq() && a.id() != b.id() => {
                    match store.add_fork_proof(a, b) {
                        Ok(true) => ProofOutcome::New { first, second },
                        Ok(false) => ProofOutcome::Known,
                        Err(e) => ProofOutcome::Invalid(format!("could not store it: {e}")),
                    }
                }
                (Ok(_), Ok(_)) => ProofOutcome::Invalid("the two records are not one author's at one seq".into()),
                (Err(e), _) | (_, Err(e)) => ProofOutcome::Invalid(e.to_string()),
            };
            let _ = tx.send(Internal::ProofChecked { message_id, source, outcome });
        });
    }

    fn publish_proof(&mut self, first: &[u8], second: &[u8]) {
        let mut msg = Vec::with_capacity(4 + first.len() + second.len());
        msg.extend_from_slice(&(first.len() as u32).to_be_bytes());
        msg.extend_from_slice(first);
        msg.extend_from_slice(second);
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(self.forks_topic.clone(), msg) {
            tracing::debug!("fork proof not gossiped ({e}); sync carries it");
        }
    }

    fn on_internal(&mut self, internal: Internal) {
        match internal {
            Internal::GossipChecked { message_id, source, verdict } => {
                self.gossip_in_flight = self.gossip_in_flight.saturating_sub(1);
                use gossipsub::MessageAcceptance::*;
                let acceptance = match &verdict {
                    Verdict::Appended => Accept,
                    // Valid and signed; we lack its predecessors, which a sync round fetches.
                    Verdict::Held { .. } => Accept,
                    Verdict::Duplicate | Verdict::Refused { .. } | Verdict::Quarantined => Ignore,
                    Verdict::Fork { .. } => Ignore,
                    Verdict::NotValid { reason } => {
                        tracing::debug!(peer = %source, reason, "ignored gossiped record");
                        self.strike(source, weight::NOT_VALID, reason);
                        Ignore
                    }
                    Verdict::Invalid { reason, detail } => {
                        tracing::debug!(peer = %source, reason, "rejected gossiped record: {detail}");
                        self.strike(source, weight::INVALID, reason);
                        Reject
                    }
                };
                self.report(&message_id, &source, acceptance);
                if let Verdict::Fork { first, second, .. } = &verdict {
                    self.publish_proof(first, second);
                }
                if matches!(verdict, Verdict::Held { .. }) && self.is_verified(&source) {
                    self.start_round(source);
                }
            }
            Internal::ProofChecked { message_id, source, outcome } => {
                let acceptance = match outcome {
                    ProofOutcome::New { first, second } => {
                        self.ctx.counters.add("forks_learned", 1);
                        tracing::warn!(peer = %source, "learned of a fork; the author's feed is frozen");
                        if message_id.is_none() {
                            self.publish_proof(&first, &second);
                        }
                        gossipsub::MessageAcceptance::Accept
                    }
                    ProofOutcome::Known => gossipsub::MessageAcceptance::Ignore,
                    ProofOutcome::Invalid(why) => {
                        self.ctx.counters.add("rejected.bad_fork_proof", 1);
                        tracing::warn!(peer = %source, "invalid fork proof: {why}");
                        self.strike(source, weight::INVALID, "bad_fork_proof");
                        gossipsub::MessageAcceptance::Reject
                    }
                };
                if let Some(id) = message_id {
                    self.report(&id, &source, acceptance);
                }
            }
            Internal::Respond { channel, response } => {
                if self.swarm.behaviour_mut().sync.send_response(channel, response).is_err() {
                    tracing::debug!("a sync response could not be sent (the peer went away)");
                }
            }
            Internal::PageStored { peer, generation, verdicts } => self.on_page_stored(peer, generation, verdicts),
            Internal::CertChecked { peer } => {
                if !self.promote_if_member(peer) {
                    // Not (yet) a member here; it stays graylisted until it is, or until its time runs out.
                    tracing::debug!(peer = %peer, "peer's certificate does not show a current member yet");
                }
            }
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<super::codec::InboundRequest, SyncResponse>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request: Ok(request), channel, .. }, .. } => {
                self.serve(peer, request, channel)
            }
            Event::Message { peer, message: Message::Request { request: Err(bad), channel, .. }, .. } => {
                tracing::debug!(peer = %peer, kind = bad.kind, "unreadable sync request: {}", bad.detail);
                self.ctx.counters.add(&rejected_counter(&format!("{}_sync_request", bad.kind)), 1);
                self.strike(peer, weight::INVALID, "bad_sync_request");
                let response = SyncResponse::Refused { code: RefusalCode::BadRequest, message: bad.detail };
                let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            }
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => {
                if let Some(p) = self.cert_requests.remove(&request_id) {
                    self.on_cert(p, response);
                } else if let Some((p, generation, tag)) = self.requests.remove(&request_id) {
                    debug_assert_eq!(p, peer);
                    self.on_sync_response(peer, generation, tag, response);
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                self.cert_requests.remove(&request_id);
                if let request_response::OutboundFailure::Io(e) = &error
                    && let Some(kind) = super::codec::classify(e)
                {
                    self.ctx.counters.add(&rejected_counter(&format!("{kind}_sync_response")), 1);
                    self.strike(peer, weight::INVALID, "bad_sync_response");
                }
                if let Some((_, generation, tag)) = self.requests.remove(&request_id) {
                    tracing::debug!(peer = %peer, "sync request failed: {error}");
                    if let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.generation == generation) {
                        round.session.on_failure(tag);
                    }
                    self.fail_round(peer, format!("a sync request failed: {error}"));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %peer, "inbound sync request failed: {error}");
            }
            _ => {}
        }
    }

    /// A peer's answer to "send me your certificate".
    fn on_cert(&mut self, peer: PeerId, response: SyncResponse) {
        let node = super::identity::node_key(&peer);
        match response {
            SyncResponse::Records { records }
                if records.len() == 1
                    && csx_protocol::Header::parse(&records[0]).is_ok_and(|h| Some(h.author) == node && h.seq == 1) =>
            {
                let verdicts = self.ctx.ingest.enqueue(records);
                let tx = self.internal_tx.clone();
                tokio::spawn(async move {
                    let _ = verdicts.await;
                    let _ = tx.send(Internal::CertChecked { peer });
                });
            }
            _ => {
                self.ctx.counters.add(&rejected_counter("no_certificate"), 1);
                tracing::debug!(peer = %peer, "peer did not send its certificate");
            }
        }
    }

    /// Answers a sync request off the event loop (it reads the store).
    fn serve(&mut self, peer: PeerId, request: SyncRequest, channel: ResponseChannel<SyncResponse>) {
        let now = self.now();
        if self.peers.get(&peer).is_some_and(|p| p.bootstrap) {
            return;
        }
        if !self.guard.allow(peer, Limit::SyncRequest, now) {
            self.ctx.counters.add("rejected.rate_limited", 1);
            self.strike(peer, weight::FLOOD, "rate_limited");
            let response = SyncResponse::Refused { code: RefusalCode::TooBusy, message: "too many requests".into() };
            let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            return;
        }
        let own_cert =
            matches!(request, SyncRequest::Fetch { author, from_seq: 1, to_seq: 1, .. } if author == self.ctx.own_node);
        if !self.is_verified(&peer) && !own_cert {
            self.ctx.counters.add("refused.not_a_member", 1);
            let response = SyncResponse::Refused {
                code: RefusalCode::NotAMember,
                message: "this node serves members' nodes only".into(),
            };
            let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            return;
        }
        let store = self.ctx.store.clone();
        let federation = self.ctx.federation;
        let max_page = self.ctx.config.page_bytes;
        let max_records = self.ctx.config.page_records as usize;
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let source = StoreSource { store: store.as_ref(), max_records };
            let response = {
                let mut heads = store.heads_index();
                respond(&federation, &request, &mut heads, max_page, &source)
            };
            let _ = tx.send(Internal::Respond { channel, response });
        });
    }

    fn start_round(&mut self, peer: PeerId) {
        if self.rounds.contains_key(&peer) || !self.is_member_peer(&peer) {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let (mut session, first) = {
            let mut heads = self.ctx.store.heads_index();
            SyncSession::start(self.ctx.federation, self.limits, &mut heads)
        };
        session.watch(self.ctx.own_node);
        self.rounds.insert(peer, Round { session, generation, appended: 0 });
        self.execute(peer, generation, vec![first]);
    }

    fn execute(&mut self, peer: PeerId, generation: u64, actions: Vec<SyncAction>) {
        for action in actions {
            match action {
                SyncAction::Send { tag, request } => {
                    let id = self.swarm.behaviour_mut().sync.send_request(&peer, Ok(request));
                    self.requests.insert(id, (peer, generation, tag));
                }
                SyncAction::Ingest { records } => {
                    let verdicts = self.ctx.ingest.enqueue(records);
                    let tx = self.internal_tx.clone();
                    tokio::spawn(async move {
                        let verdicts = verdicts.await.unwrap_or_default();
                        let _ = tx.send(Internal::PageStored { peer, generation, verdicts });
                    });
                }
                SyncAction::Fork { first, second } => self.check_proof(None, peer, first, second),
            }
        }
        self.check_round(peer);
    }

    fn on_sync_response(&mut self, peer: PeerId, generation: u64, tag: u64, response: SyncResponse) {
        let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.generation == generation) else { return };
        let result = {
            let mut heads = self.ctx.store.heads_index();
            round.session.on_response(tag, response, &mut heads)
        };
        match result {
            Ok(actions) => self.execute(peer, generation, actions),
            Err(violation) => {
                self.ctx.counters.add("rejected.sync_violation", 1);
                self.drop_peer(peer, "sync_violation", &violation.to_string());
            }
        }
    }

    fn on_page_stored(&mut self, peer: PeerId, generation: u64, verdicts: Vec<Verdict>) {
        let invalid = verdicts.iter().filter(|v| matches!(v, Verdict::Invalid { .. })).count();
        let appended = verdicts.iter().filter(|v| matches!(v, Verdict::Appended)).count() as u64;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.received += appended;
        }
        for v in &verdicts {
            if let Verdict::Fork { first, second, .. } = v {
                self.publish_proof(first, second);
            }
        }
        if invalid > 0 {
            self.drop_peer(peer, "invalid_records", &format!("sent {invalid} invalid records by sync"));
            return;
        }
        let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.generation == generation) else { return };
        round.appended += appended;
        let actions = round.session.on_stored();
        self.execute(peer, generation, actions);
    }

    /// Ends the round with `peer` if its session is done and everything it fetched is stored.
    fn check_round(&mut self, peer: PeerId) {
        let Some(round) = self.rounds.get(&peer) else { return };
        let Some(end) = round.session.end() else { return };
        if round.session.unstored() > 0 {
            return;
        }
        let round = self.rounds.remove(&peer).expect("present");
        let now = self.now();
        self.last_sync_at = Some(now);
        if now.saturating_sub(self.sync_saved_at) >= SYNC_SAVE_INTERVAL_MS {
            self.sync_saved_at = now;
            if let Err(e) = self.ctx.store.meta_put(crate::query::LAST_SYNC_META, &now.to_be_bytes()) {
                tracing::warn!("cannot record the time of the last sync: {e}");
            }
        }
        let s = &round.session;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.last_sync_at = Some(now);
            p.in_sync = Some(end == SyncEnd::InSync);
            if end == SyncEnd::InSync {
                p.behind = 0;
                p.ahead = 0;
            } else {
                p.behind = s.behind;
                p.ahead = s.ahead;
            }
        }
        // The peer holds no more of our own feed than we do: it is safe to sign more.
        if self.is_verified(&peer)
            && let Some(theirs) = s.watched_head()
        {
            let ours = self.ctx.store.head(&self.ctx.own_node).ok().flatten();
            if theirs.is_none_or(|t| ours.is_some_and(|o| t.seq <= o.seq)) {
                self.ctx.own_feed.confirm();
            }
        }
        tracing::debug!(peer = %peer, ?end, received = s.received, "sync round ended");
        match end {
            SyncEnd::InSync => self.resolve_waiters(peer, true, None),
            // Something new was stored: confirm with a new round.
            SyncEnd::Fetched if round.appended > 0 => self.start_round(peer),
            // Nothing new: the peer holds records this node refuses (its view of the membership
            // differs), or did not send what it advertised. Repeating now would only loop.
            SyncEnd::Fetched => self.resolve_waiters(
                peer,
                false,
                Some(format!(
                    "the peer holds {} records this node did not take (see the refused counters)",
                    s.received.max(1)
                )),
            ),
        }
    }

    fn fail_round(&mut self, peer: PeerId, reason: String) {
        self.rounds.remove(&peer);
        self.requests.retain(|_, (p, _, _)| *p != peer);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.in_sync = Some(false);
        }
        self.resolve_waiters(peer, false, Some(reason));
    }

    fn abort_round(&mut self, peer: PeerId, reason: &str) {
        if self.rounds.contains_key(&peer) || self.waiters.iter().any(|w| w.pending.contains(&peer)) {
            self.fail_round(peer, reason.to_string());
        }
    }

    fn sync_random_peer(&mut self) {
        let candidates: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| p.connected && !p.bootstrap && !self.rounds.contains_key(id))
            .map(|(id, _)| *id)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let pick = candidates[fastrand::usize(..candidates.len())];
        self.start_round(pick);
    }

    fn sync_all(&mut self, reply: oneshot::Sender<SyncReport>) {
        let members: Vec<PeerId> =
            self.peers.iter().filter(|(_, p)| p.connected && p.verified).map(|(id, _)| *id).collect();
        if members.is_empty() {
            let _ = reply.send(SyncReport { level: false, peers: vec![], heads_digest: self.digest() });
            return;
        }
        self.waiters.push(Waiter { pending: members.iter().copied().collect(), results: vec![], reply });
        for peer in members {
            self.start_round(peer);
        }
    }

    fn digest(&self) -> String {
        hex::encode(self.ctx.store.heads_index().root())
    }

    fn resolve_waiters(&mut self, peer: PeerId, in_sync: bool, error: Option<String>) {
        let org = self.peers.get(&peer).and_then(|p| p.node_key).and_then(|k| self.org_of(&k));
        let received = self.peers.get(&peer).map_or(0, |p| p.received);
        let mut done = Vec::new();
        for (i, w) in self.waiters.iter_mut().enumerate() {
            if w.pending.remove(&peer) {
                w.results.push(PeerSync {
                    peer_id: peer.to_string(),
                    org: org.clone(),
                    in_sync,
                    received,
                    error: error.clone(),
                });
                if w.pending.is_empty() {
                    done.push(i);
                }
            }
        }
        let digest = if done.is_empty() { String::new() } else { self.digest() };
        for i in done.into_iter().rev() {
            let w = self.waiters.remove(i);
            let level = w.results.iter().all(|r| r.in_sync);
            let _ = w.reply.send(SyncReport { level, peers: w.results, heads_digest: digest.clone() });
        }
    }
}

/// Serves sync pages and fork proofs from the store.
struct StoreSource<'a> {
    store: &'a dyn Store,
    max_records: usize,
}

impl SyncSource for StoreSource<'_> {
    fn feed(&self, author: &NodeKey, from: u64, to: u64, max_bytes: usize) -> Vec<Vec<u8>> {
        let count = ((to - from + 1) as usize).min(self.max_records);
        self.store.feed_bytes(author, from, count, max_bytes).unwrap_or_else(|e| {
            tracing::error!("reading a feed to serve a peer failed: {e}");
            vec![]
        })
    }

    fn fork_proof(&self, author: &NodeKey) -> Option<(Vec<u8>, Vec<u8>)> {
        self.store.fork_proof(author).ok().flatten().map(|p| (p.first, p.second))
    }
}
