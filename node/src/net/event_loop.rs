//! The event loop: the one task that owns the swarm. Everything else talks to it through a
//! [`NetHandle`](super::handle::NetHandle). Work that would hold the swarm up (verifying and
//! storing records, reading pages from the store) runs elsewhere and reports back as
//! [`Internal`] events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use csx_protocol::sync::{SyncAction, SyncEnd, SyncLimits, SyncRequest, SyncResponse, SyncSession, respond};
use csx_protocol::{FederationId, NodeKey};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, identify, rendezvous};
use tokio::sync::{mpsc, oneshot};

use super::behaviour::{NodeBehaviour, NodeBehaviourEvent, identify_version, topic};
use super::config::NetConfig;
use super::peers::PeerBook;
use crate::api::{NetStatus, PeerInfo, PeerSync, SyncReport};
use crate::ingest::{Counters, IngestHandle, Verdict};
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
/// How often the node saves its peer book and redials peers when it has few.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(10);

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
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Results of work done off the event loop.
enum Internal {
    GossipChecked { message_id: gossipsub::MessageId, source: PeerId, verdict: Verdict },
    Respond { channel: ResponseChannel<SyncResponse>, response: SyncResponse },
    PageStored { peer: PeerId, generation: u64, verdicts: Vec<Verdict> },
}

#[derive(Debug, Default)]
struct Peer {
    bootstrap: bool,
    connected: bool,
    connected_since: Option<u64>,
    addresses: Vec<Multiaddr>,
    node_key: Option<NodeKey>,
    last_sync_at: Option<u64>,
    in_sync: Option<bool>,
    behind: u64,
    ahead: u64,
    received: u64,
}

struct Round {
    session: SyncSession,
    generation: u64,
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
    pub store: Arc<dyn Store>,
    pub ingest: IngestHandle,
    pub counters: Arc<Counters>,
    pub clock: Clock,
    pub config: NetConfig,
    /// ODS code of a node key's organisation, when known (for status displays).
    pub org_of: OrgLookup,
}

#[allow(missing_debug_implementations)]
pub struct EventLoop {
    swarm: Swarm<NodeBehaviour>,
    ctx: LoopContext,
    commands: mpsc::Receiver<Command>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    topic: gossipsub::IdentTopic,
    peers: HashMap<PeerId, Peer>,
    bootstrap: HashMap<PeerId, Multiaddr>,
    book: PeerBook,
    rounds: HashMap<PeerId, Round>,
    requests: HashMap<OutboundRequestId, (PeerId, u64, u64)>,
    waiters: Vec<Waiter>,
    generation: u64,
    gossip_in_flight: usize,
    last_sync_at: Option<u64>,
    limits: SyncLimits,
    listeners: Vec<libp2p::core::transport::ListenerId>,
}

impl EventLoop {
    pub fn new(swarm: Swarm<NodeBehaviour>, ctx: LoopContext, commands: mpsc::Receiver<Command>) -> EventLoop {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let topic = topic(&ctx.federation);
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
        EventLoop {
            swarm,
            ctx,
            commands,
            internal_tx,
            internal_rx,
            topic,
            peers: HashMap::new(),
            bootstrap,
            book,
            rounds: HashMap::new(),
            requests: HashMap::new(),
            waiters: Vec::new(),
            generation: 0,
            gossip_in_flight: 0,
            last_sync_at: None,
            limits,
            listeners: Vec::new(),
        }
    }

    fn now(&self) -> u64 {
        (self.ctx.clock)()
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
        for (peer, addrs) in self.book.peers().into_iter().take(TARGET_PEERS * 2) {
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
        if peer == *self.swarm.local_peer_id() || self.swarm.is_connected(&peer) {
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
                Some(internal) = self.internal_rx.recv() => self.on_internal(internal),
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
            Command::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    fn is_member_peer(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.connected && !p.bootstrap)
    }

    fn status(&self) -> NetStatus {
        let mut peers: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, p)| PeerInfo {
                peer_id: id.to_string(),
                node_key: p.node_key,
                org: p.node_key.as_ref().and_then(|k| (self.ctx.org_of)(k)),
                bootstrap: p.bootstrap,
                connected: p.connected,
                addresses: p.addresses.iter().map(|a| a.to_string()).collect(),
                connected_since: p.connected_since,
                last_sync_at: p.last_sync_at,
                in_sync: p.in_sync,
                behind: p.behind,
                ahead: p.ahead,
                received: p.received,
            })
            .collect();
        peers.sort_by(|a, b| (b.connected, &a.org, &a.peer_id).cmp(&(a.connected, &b.org, &b.peer_id)));
        NetStatus {
            peer_id: self.swarm.local_peer_id().to_string(),
            listen: self.swarm.listeners().map(|a| a.to_string()).collect(),
            external: self.swarm.external_addresses().map(|a| a.to_string()).collect(),
            peers,
            last_sync_at: self.last_sync_at,
            counters: self.ctx.counters.snapshot(),
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
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                let now = self.now();
                let is_bootstrap = self.bootstrap.contains_key(&peer_id);
                let p = self.peers.entry(peer_id).or_default();
                p.bootstrap |= is_bootstrap;
                p.node_key = super::identity::node_key(&peer_id);
                if endpoint.is_dialer() && !endpoint.is_relayed() {
                    let addr = endpoint.get_remote_address().clone();
                    if !p.addresses.contains(&addr) {
                        p.addresses.push(addr.clone());
                    }
                    if !is_bootstrap {
                        self.book.saw(&peer_id, [addr], now);
                    }
                }
                if num_established.get() == 1 {
                    p.connected = true;
                    p.connected_since = Some(now);
                    p.received = 0;
                    tracing::info!(peer = %peer_id, bootstrap = is_bootstrap, "connected");
                    if is_bootstrap {
                        self.at_bootstrap(peer_id);
                    } else {
                        self.start_round(peer_id);
                    }
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. } => {
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.connected = false;
                    p.connected_since = None;
                }
                tracing::info!(peer = %peer_id, cause = ?cause, "disconnected");
                self.abort_round(peer_id, "the connection closed");
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
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, "could not connect: {error}");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
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
        self.book.save(self.ctx.store.as_ref());
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
                self.on_gossip(propagation_source, message_id, message.data)
            }
            NodeBehaviourEvent::Sync(e) => self.on_sync_event(e),
            NodeBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let bootstrap = self.bootstrap.contains_key(&peer_id);
                if !bootstrap && info.protocol_version != identify_version(&self.ctx.federation) {
                    tracing::info!(peer = %peer_id, version = %info.protocol_version, "peer is not of this federation; disconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    self.book.forget(&peer_id);
                    return;
                }
                if !bootstrap {
                    let now = self.now();
                    let addrs: Vec<Multiaddr> = info.listen_addrs.clone();
                    if let Some(p) = self.peers.get_mut(&peer_id) {
                        for a in &addrs {
                            if !p.addresses.contains(a) {
                                p.addresses.push(a.clone());
                            }
                        }
                    }
                    self.book.saw(&peer_id, addrs, now);
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

    fn on_gossip(&mut self, source: PeerId, message_id: gossipsub::MessageId, data: Vec<u8>) {
        if self.gossip_in_flight >= MAX_GOSSIP_IN_FLIGHT {
            self.ctx.counters.add("gossip_overflow", 1);
            self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                &message_id,
                &source,
                gossipsub::MessageAcceptance::Ignore,
            );
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

    fn on_internal(&mut self, internal: Internal) {
        match internal {
            Internal::GossipChecked { message_id, source, verdict } => {
                self.gossip_in_flight = self.gossip_in_flight.saturating_sub(1);
                use gossipsub::MessageAcceptance::*;
                let acceptance = match &verdict {
                    Verdict::Appended => Accept,
                    // Valid and signed; we lack its predecessors, which a sync round fetches.
                    Verdict::Held { .. } => Accept,
                    Verdict::Duplicate | Verdict::Refused { .. } | Verdict::Fork { .. } => Ignore,
                    Verdict::Invalid { reason, detail } => {
                        tracing::debug!(peer = %source, reason, "rejected gossiped record: {detail}");
                        Reject
                    }
                };
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&message_id, &source, acceptance);
                if matches!(verdict, Verdict::Held { .. })
                    && self.is_member_peer(&source)
                    && !self.rounds.contains_key(&source)
                {
                    self.start_round(source);
                }
            }
            Internal::Respond { channel, response } => {
                if self.swarm.behaviour_mut().sync.send_response(channel, response).is_err() {
                    tracing::debug!("a sync response could not be sent (the peer went away)");
                }
            }
            Internal::PageStored { peer, generation, verdicts } => self.on_page_stored(peer, generation, verdicts),
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                self.serve(peer, request, channel)
            }
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => {
                if let Some((p, generation, tag)) = self.requests.remove(&request_id) {
                    debug_assert_eq!(p, peer);
                    self.on_sync_response(peer, generation, tag, response);
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                if let Some((_, generation, tag)) = self.requests.remove(&request_id) {
                    tracing::debug!(peer = %peer, "sync request failed: {error}");
                    if let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.generation == generation) {
                        round.session.on_failure(tag);
                    }
                    self.fail_round(peer, format!("a sync request failed: {error}"));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                if let request_response::InboundFailure::Io(e) = &error
                    && e.kind() == std::io::ErrorKind::InvalidData
                {
                    self.ctx.counters.add("rejected.malformed_sync_request", 1);
                }
                tracing::debug!(peer = %peer, "inbound sync request failed: {error}");
            }
            _ => {}
        }
    }

    /// Answers a sync request off the event loop (it reads the store).
    fn serve(&mut self, peer: PeerId, request: SyncRequest, channel: ResponseChannel<SyncResponse>) {
        if self.peers.get(&peer).is_some_and(|p| p.bootstrap) {
            return;
        }
        let store = self.ctx.store.clone();
        let federation = self.ctx.federation;
        let max_page = self.ctx.config.page_bytes;
        let max_records = self.ctx.config.page_records as usize;
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let response = {
                let mut heads = store.heads_index();
                respond(&federation, &request, &mut heads, max_page, |author, from, to, max_bytes| {
                    let count = ((to - from + 1) as usize).min(max_records);
                    store.feed_bytes(author, from, count, max_bytes).unwrap_or_else(|e| {
                        tracing::error!("reading a feed to serve a peer failed: {e}");
                        vec![]
                    })
                })
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
        let (session, first) = {
            let mut heads = self.ctx.store.heads_index();
            SyncSession::start(self.ctx.federation, self.limits, &mut heads)
        };
        self.rounds.insert(peer, Round { session, generation });
        self.execute(peer, generation, vec![first]);
    }

    fn execute(&mut self, peer: PeerId, generation: u64, actions: Vec<SyncAction>) {
        for action in actions {
            match action {
                SyncAction::Send { tag, request } => {
                    let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
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
                tracing::warn!(peer = %peer, "peer broke the sync protocol: {violation}; disconnecting");
                self.fail_round(peer, violation.to_string());
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn on_page_stored(&mut self, peer: PeerId, generation: u64, verdicts: Vec<Verdict>) {
        let invalid = verdicts.iter().filter(|v| matches!(v, Verdict::Invalid { .. })).count();
        let appended = verdicts.iter().filter(|v| matches!(v, Verdict::Appended)).count() as u64;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.received += appended;
        }
        if invalid > 0 {
            tracing::warn!(peer = %peer, invalid, "peer sent invalid records by sync; disconnecting");
            self.fail_round(peer, format!("sent {invalid} invalid records"));
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.generation == generation) else { return };
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
        tracing::debug!(peer = %peer, ?end, received = s.received, "sync round ended");
        match end {
            SyncEnd::InSync => self.resolve_waiters(peer, true, None),
            // Something was fetched (or the peer lacked what it advertised): confirm with a new
            // round, unless nothing arrived, which would only repeat the same round.
            SyncEnd::Fetched if s.received > 0 => self.start_round(peer),
            SyncEnd::Fetched => {
                self.resolve_waiters(peer, false, Some("the peer did not send what it advertised".into()))
            }
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
            self.peers.iter().filter(|(_, p)| p.connected && !p.bootstrap).map(|(id, _)| *id).collect();
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
        let org = self.peers.get(&peer).and_then(|p| p.node_key).and_then(|k| (self.ctx.org_of)(&k));
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
