//! The event loop: the one task that owns the swarm. Everything else talks to it through a
//! [`NetHandle`](super::handle::NetHandle). Work that would hold the swarm up (verifying and
//! storing records, reading pages from the store) runs elsewhere and reports back as
//! [`Internal`] events.
//!
//! The network's decisions are I/O-less state machines: [`Admission`] (who is let in),
//! [`Rounds`] (when to sync with whom), [`Connections`] (whom to stay connected to) and the
//! gossip verdict table (`verdicts`). This file holds the `select!` loop and the translation of
//! swarm events, commands and internal events into their inputs; carrying out what they decide
//! is in `entry` (admission), `sync_rounds` (rounds, and serving peers), `links` (connections),
//! `gossip` (verdicts) and `bootstrap_client` (discovery and relay); `status` answers
//! `csx status`. A peer is served — sync rounds, gossip (gated until then), identify — only once
//! it is verified as a current member's node.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use csx_protocol::sync::{SyncLimits, SyncRequest, SyncResponse};
use csx_protocol::{FederationId, NodeKey};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, identify};
use tokio::sync::{mpsc, oneshot};

use super::admission::{Admission, CertCheck, Connection};
use super::behaviour::{NodeBehaviour, NodeBehaviourEvent, forks_topic, identify_version, topic};
use super::config::NetConfig;
use super::connections::{Connections, ConnectionsConfig};
pub use super::own_feed::OwnFeedGate;
use super::peers::PeerBook;
pub(crate) use super::ports::probe_port;
use super::reason::{LogLimiter, Reason};
use crate::api::{NetStatus, SyncReport};
use crate::ingest::{Counters, IngestHandle, Verdict};
use crate::membership::Membership;
use crate::service::Clock;
use crate::store::Store;

use super::gossip::ProofOutcome;
use super::rounds::{Rounds, RoundsConfig};
use super::sync_rounds::{Session, Waiters};

/// How often the node saves its peer book and redials peers.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);
/// How often admission checks its clock (verification deadlines, certificate retries, bans).
const ADMISSION_TICK: Duration = Duration::from_secs(1);
/// How often the bootstrap policy checks its clock (its retries wait 125 ms and more).
const BOOTSTRAP_TICK: Duration = Duration::from_millis(100);

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
    /// Sync with every connected member's node (and those verified meanwhile; with none, wait for
    /// one); reply when level with all, or when a round failed or kept fetching nothing.
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
pub(super) enum Internal {
    GossipChecked { message_id: gossipsub::MessageId, source: PeerId, verdict: Verdict },
    ProofChecked { message_id: Option<gossipsub::MessageId>, source: PeerId, outcome: ProofOutcome },
    Respond { channel: ResponseChannel<SyncResponse>, response: SyncResponse },
    PageStored { peer: PeerId, generation: u64, verdicts: Vec<Verdict> },
    CertChecked { peer: PeerId, check: CertCheck },
}

/// What the event loop keeps about a peer besides its admission: sync figures.
#[derive(Debug, Default)]
pub(super) struct PeerStats {
    pub(super) last_sync_at: Option<u64>,
    pub(super) in_sync: Option<bool>,
    pub(super) behind: u64,
    pub(super) ahead: u64,
    pub(super) received: u64,
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

#[allow(missing_debug_implementations)]
pub struct EventLoop {
    pub(super) swarm: Swarm<NodeBehaviour>,
    pub(super) ctx: LoopContext,
    commands: mpsc::Receiver<Command>,
    pub(super) internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    pub(super) topic: gossipsub::IdentTopic,
    pub(super) forks_topic: gossipsub::IdentTopic,
    pub(super) admission: Admission<PeerStats>,
    /// Configured bootstrap servers and their addresses.
    pub(super) bootstrap: HashMap<PeerId, Multiaddr>,
    pub(super) book: PeerBook,
    /// Whom the node stays connected to (I/O-less): the bound on members' nodes, rotation.
    pub(super) connections: Connections<PeerId, Vec<Multiaddr>>,
    /// The round policy (I/O-less) and the sessions of the rounds it runs.
    pub(super) rounds: Rounds<PeerId>,
    pub(super) sessions: HashMap<PeerId, Session>,
    pub(super) requests: HashMap<OutboundRequestId, (PeerId, u64, u64)>,
    pub(super) cert_requests: HashMap<OutboundRequestId, PeerId>,
    pub(super) discovery_requests: HashMap<OutboundRequestId, (PeerId, super::bootstrap_policy::Ask)>,
    /// When to register at bootstrap servers, ask them for members, and redial those named.
    pub(super) policy: super::bootstrap_policy::BootstrapPolicy,
    /// Listeners through bootstrap servers' relays, by bootstrap server.
    pub(super) relay_listeners: HashMap<PeerId, libp2p::core::transport::ListenerId>,
    pub(super) waiters: Waiters,
    /// Requests of peers whose certificates are being checked, answered once they are verified
    /// (bounded by admission: a few per peer, `max_unverified` peers).
    pub(super) held: HashMap<PeerId, Vec<(SyncRequest, ResponseChannel<SyncResponse>)>>,
    pub(super) gossip_in_flight: usize,
    /// The catch-up by sync under way (for `csx status` and the log).
    pub(super) catch_up: super::progress::CatchUp,
    pub(super) last_sync_at: Option<u64>,
    /// When `last_sync_at` was last written to the store (so offline answers can say it).
    pub(super) sync_saved_at: u64,
    pub(super) limits: SyncLimits,
    listeners: Vec<libp2p::core::transport::ListenerId>,
    pub(super) roster_version: u64,
    /// Peers refused by command, whatever admission decides.
    pub(super) denied: HashSet<PeerId>,
    pub(super) log: LogLimiter,
}

impl EventLoop {
    pub fn new(swarm: Swarm<NodeBehaviour>, ctx: LoopContext, commands: mpsc::Receiver<Command>) -> EventLoop {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let topic = topic(&ctx.federation);
        let forks_topic = forks_topic(&ctx.federation);
        let book = PeerBook::load(ctx.store.as_ref());
        let bootstrap: HashMap<PeerId, Multiaddr> = ctx
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
        let admission =
            Admission::new(ctx.config.verify_timeout.as_millis() as u64, ctx.config.tables, bootstrap.keys().copied());
        let rounds = Rounds::new(
            RoundsConfig::new(
                ctx.config.sync_interval.as_millis() as u64,
                ctx.config.request_timeout.as_millis() as u64,
            ),
            fastrand::u64(..),
        );
        let mut connections = Connections::new(
            ConnectionsConfig::with_bound(ctx.config.max_peers, ctx.config.rotate_interval.as_millis() as u64),
            bootstrap.keys().copied(),
            fastrand::u64(..),
        );
        // Configured peers first, then remembered ones, most recently seen last (so they win).
        for addr in &ctx.config.peers {
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                connections.heard_of(peer, vec![addr.clone()]);
            }
        }
        for (peer, addrs) in book.peers().into_iter().rev() {
            connections.heard_of(peer, addrs);
        }
        let policy = super::bootstrap_client::policy(bootstrap.keys().copied(), ctx.config.discover_interval);
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
            admission,
            bootstrap,
            book,
            connections,
            rounds,
            sessions: HashMap::new(),
            requests: HashMap::new(),
            cert_requests: HashMap::new(),
            discovery_requests: HashMap::new(),
            policy,
            relay_listeners: HashMap::new(),
            waiters: Waiters::default(),
            held: HashMap::new(),
            gossip_in_flight: 0,
            catch_up: Default::default(),
            last_sync_at,
            sync_saved_at: 0,
            limits,
            listeners: Vec::new(),
            roster_version,
            denied: HashSet::new(),
            log: LogLimiter::default(),
        }
    }

    pub(super) fn now(&self) -> u64 {
        (self.ctx.clock)()
    }

    /// Whether the node has never met a peer (nothing to confirm its own feed against).
    pub fn never_met_a_peer(&self) -> bool {
        self.book.peers().is_empty()
    }

    /// Starts listening and dialling. Errors name the address that could not be used.
    pub fn start(&mut self) -> Result<(), String> {
        for addr in self.ctx.config.listen.clone() {
            probe_port(&addr)?;
            let id = self.swarm.listen_on(addr.clone()).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            self.listeners.push(id);
        }
        for addr in self.ctx.config.external.clone() {
            self.swarm.add_external_address(addr);
        }
        if !self.ctx.config.external.is_empty() {
            // Configured addresses others can use: registration is due at every server.
            let now = self.now();
            self.policy.address_added(now);
        }
        for addr in self.bootstrap.values().cloned().collect::<Vec<_>>() {
            self.dial(addr);
        }
        for addr in self.ctx.config.peers.clone() {
            self.dial(addr);
        }
        tracing::info!(remembered = self.book.peers().len(), "dialling remembered peers");
        self.connections_tick();
        Ok(())
    }

    /// Runs until shut down or until every handle is dropped.
    pub async fn run(mut self) {
        let mut bootstrap_tick = tokio::time::interval(BOOTSTRAP_TICK);
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        let mut admission_tick = tokio::time::interval(ADMISSION_TICK);
        admission_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // The round policy's next timer (stalls, retries, the periodic round), as a deadline
            // that does not move while other events keep the loop busy.
            let wait = self.rounds.next_due().saturating_sub(self.now()).min(1_000);
            let rounds_due = tokio::time::Instant::now() + Duration::from_millis(wait);
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
                _ = tokio::time::sleep_until(rounds_due) => self.rounds_tick(),
                _ = bootstrap_tick.tick() => self.bootstrap_tick(),
                _ = admission_tick.tick() => self.admission_tick(),
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

    pub(super) fn is_denied(&self, peer: &PeerId) -> bool {
        self.denied.contains(peer)
    }

    pub(super) fn is_verified(&self, peer: &PeerId) -> bool {
        self.admission.is_verified(peer)
    }

    pub(super) fn org_of(&self, node: &NodeKey) -> Option<String> {
        self.ctx.membership.roster().org_of(node).map(|(_, ods)| ods.to_string())
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(address = %address.clone().with(Protocol::P2p(*self.swarm.local_peer_id())), "listening");
                if self.ctx.config.external.is_empty() {
                    self.swarm.add_external_address(address);
                    // A bootstrap server may have connected before this node had an address.
                    self.register_everywhere();
                }
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::debug!(address = %address, "reachable at");
                // A new address (e.g. a relay reservation): tell the bootstrap servers.
                self.register_everywhere();
            }
            SwarmEvent::ListenerClosed { listener_id, reason, .. } => self.on_listener_closed(listener_id, reason),
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                let now = self.now();
                let conn = Connection {
                    dialer: endpoint.is_dialer(),
                    relayed: endpoint.is_relayed(),
                    remote: endpoint.get_remote_address().clone(),
                };
                let judge = self.judge();
                let actions = self.admission.on_connected(peer_id, conn, &judge, now);
                if num_established.get() == 1 && self.admission.get(&peer_id).is_some() {
                    let bootstrap = self.admission.is_bootstrap(&peer_id);
                    tracing::info!(peer = %peer_id, bootstrap, "connected");
                    if let Some(s) = self.admission.extra_mut(&peer_id) {
                        s.received = 0;
                    }
                    if bootstrap {
                        self.at_bootstrap(peer_id);
                    }
                }
                self.act(actions);
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. } => {
                let now = self.now();
                let known = self.admission.get(&peer_id).is_some_and(|e| e.connected());
                let verified = self.admission.is_verified(&peer_id);
                let promoted = self.admission.on_disconnected(&peer_id, now);
                self.connections.disconnected(&peer_id, now);
                self.cert_requests.retain(|_, p| *p != peer_id);
                self.bootstrap_peer_lost(peer_id, verified);
                self.held.remove(&peer_id);
                if known {
                    tracing::info!(peer = %peer_id, cause = ?cause, "disconnected");
                }
                self.rounds_gone(peer_id, "the connection closed");
                self.act(promoted);
            }
            SwarmEvent::IncomingConnectionError { error: libp2p::swarm::ListenError::Denied { cause }, .. } => {
                if let Some(reason) = super::reason::denied(&cause) {
                    self.ctx.counters.add(&reason.refused_counter(), 1);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, "could not connect: {error}");
                if let Some(p) = peer_id
                    && !self.swarm.is_connected(&p)
                {
                    let now = self.now();
                    self.admission.dial_failed(p, now);
                    self.connections.dial_failed(&p);
                    self.bootstrap_peer_lost(p, false);
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn maintain(&mut self) {
        self.book.save(self.ctx.store.as_ref());
        let none_up = !self.bootstrap.keys().any(|b| self.swarm.is_connected(b));
        if none_up {
            for (peer, addr) in self.bootstrap.clone() {
                self.dial_peer(peer, vec![addr]);
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
            NodeBehaviourEvent::Discovery(e) => self.on_discovery_event(e),
            NodeBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // Identify runs only with verified peers (it is gated until then).
                if info.protocol_version != identify_version(&self.ctx.federation) {
                    self.drop_peer(peer_id, Reason::OtherFederation, &format!("announces {}", info.protocol_version));
                    return;
                }
                tracing::debug!(peer = %peer_id, addresses = info.listen_addrs.len(), "identified");
                self.admission.note_addresses(&peer_id, info.listen_addrs.clone());
                if self.is_verified(&peer_id) {
                    let now = self.now();
                    self.book.saw(&peer_id, info.listen_addrs.clone(), now);
                    self.connections.heard_of(peer_id, info.listen_addrs);
                }
            }
            _ => {}
        }
    }

    fn on_internal(&mut self, internal: Internal) {
        match internal {
            Internal::GossipChecked { message_id, source, verdict } => {
                self.on_gossip_checked(message_id, source, verdict)
            }
            Internal::ProofChecked { message_id, source, outcome } => {
                self.on_proof_checked(message_id, source, outcome)
            }
            Internal::Respond { channel, response } => {
                if self.swarm.behaviour_mut().sync.send_response(channel, response).is_err() {
                    tracing::debug!("a sync response could not be sent (the peer went away)");
                }
            }
            Internal::PageStored { peer, generation, verdicts } => self.on_page_stored(peer, generation, verdicts),
            Internal::CertChecked { peer, check } => {
                let now = self.now();
                let judge = self.judge();
                let actions = self.admission.on_certificate_checked(peer, check, &judge, now);
                self.act(actions);
            }
        }
    }
}
