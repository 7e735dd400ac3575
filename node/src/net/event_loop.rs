//! The event loop: the one task that owns the swarm. Everything else talks to it through a
//! [`NetHandle`](super::handle::NetHandle). Work that would hold the swarm up (verifying and
//! storing records, reading pages from the store) runs elsewhere and reports back as
//! [`Internal`] events.
//!
//! Who is let in is decided by [`Admission`] (I/O-less); this loop feeds it the swarm's events
//! and carries out its [`Action`]s. A peer is served — sync rounds, gossip (gated until then),
//! identify — only once it is verified as a current member's node. The rest of the loop is in
//! `sync_rounds` (serving and pulling), `gossip` and `bootstrap_client` (discovery and relay).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use csx_protocol::roster::Roster;
use csx_protocol::sync::{SyncLimits, SyncRequest, SyncResponse};
use csx_protocol::{FederationId, NodeKey, Record};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, identify};
use tokio::sync::{Notify, mpsc, oneshot};

use super::admission::{Action, Admission, CertAnswer, CertCheck, Connection, Judge, Standing};
use super::behaviour::{NodeBehaviour, NodeBehaviourEvent, forks_topic, identify_version, topic};
use super::config::NetConfig;
use super::peers::PeerBook;
use super::reason::{LogLimiter, Reason};
use crate::api::{NetStatus, PeerInfo, SyncReport};
use crate::ingest::{Counters, IngestHandle, Verdict};
use crate::membership::Membership;
use crate::service::Clock;
use crate::store::Store;

use super::gossip::ProofOutcome;
use super::sync_rounds::{Round, Waiter};

/// Connections to members the node keeps trying to have.
const TARGET_PEERS: usize = 8;
/// How often the node saves its peer book and redials peers.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);
/// How often admission checks its clock (verification deadlines, certificate retries, bans).
const ADMISSION_TICK: Duration = Duration::from_secs(1);
/// How often the bootstrap policy checks its clock (its retries wait 125 ms and more).
const BOOTSTRAP_TICK: Duration = Duration::from_millis(100);

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
    GossipChecked {
        message_id: gossipsub::MessageId,
        source: PeerId,
        verdict: Verdict,
    },
    ProofChecked {
        message_id: Option<gossipsub::MessageId>,
        source: PeerId,
        outcome: ProofOutcome,
    },
    Respond {
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    PageStored {
        peer: PeerId,
        generation: u64,
        verdicts: Vec<Verdict>,
    },
    CertChecked {
        peer: PeerId,
        check: CertCheck,
    },
    /// Start another round with a peer a `csx sync` waits on.
    Resync {
        peer: PeerId,
    },
}

/// What the event loop keeps about a peer besides its admission: sync figures.
#[derive(Debug, Default)]
pub(super) struct PeerStats {
    pub(super) last_sync_at: Option<u64>,
    pub(super) in_sync: Option<bool>,
    pub(super) behind: u64,
    pub(super) ahead: u64,
    pub(super) received: u64,
    /// Our last round was refused because the peer had not verified us yet: start another
    /// as soon as it shows it has.
    pub(super) refused_us: bool,
    /// When this node last started a round with it (a peer's differing summary starts one
    /// back at most every [`super::sync_rounds::PULL_BACK_MS`]).
    pub(super) round_started_at: Option<u64>,
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
    pub(super) rounds: HashMap<PeerId, Round>,
    pub(super) requests: HashMap<OutboundRequestId, (PeerId, u64, u64)>,
    cert_requests: HashMap<OutboundRequestId, PeerId>,
    pub(super) discovery_requests: HashMap<OutboundRequestId, (PeerId, super::bootstrap_policy::Ask)>,
    /// When to register at bootstrap servers, ask them for members, and redial those named.
    pub(super) policy: super::bootstrap_policy::BootstrapPolicy,
    /// Listeners through bootstrap servers' relays, by bootstrap server.
    pub(super) relay_listeners: HashMap<PeerId, libp2p::core::transport::ListenerId>,
    pub(super) waiters: Vec<Waiter>,
    /// Requests of peers whose certificates are being checked, answered once they are verified
    /// (bounded by admission: a few per peer, `max_unverified` peers).
    pub(super) held: HashMap<PeerId, Vec<(SyncRequest, ResponseChannel<SyncResponse>)>>,
    /// Per connected member's node: rounds in a row that fetched nothing new.
    pub(super) idle_rounds: HashMap<PeerId, u32>,
    pub(super) generation: u64,
    pub(super) gossip_in_flight: usize,
    /// The catch-up by sync under way (for `csx status` and the log).
    pub(super) catch_up: super::progress::CatchUp,
    pub(super) last_sync_at: Option<u64>,
    /// When `last_sync_at` was last written to the store (so offline answers can say it).
    pub(super) sync_saved_at: u64,
    pub(super) limits: SyncLimits,
    listeners: Vec<libp2p::core::transport::ListenerId>,
    roster_version: u64,
    /// Peers refused by command, whatever admission decides.
    denied: HashSet<PeerId>,
    log: LogLimiter,
}

/// Fails if `addr`'s TCP port is taken. libp2p's TCP transport sets `SO_REUSEPORT` on its
/// listeners, so two nodes could otherwise both listen on one port and the kernel would split
/// inbound connections between them; a plain bind (without it) fails while any socket listens.
pub(crate) fn probe_port(addr: &Multiaddr) -> Result<(), String> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else { return Ok(()) };
    if port == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind((ip, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "cannot listen on {addr}: port {port} is in use (another csx daemon, or another program, listens on it)"
        )),
        Err(e) => Err(format!("cannot listen on {addr}: {e}")),
    }
}

/// Judges peers by this node's roster (and its quarantine, for applicants).
struct NodeJudge {
    roster: Arc<Roster>,
    store: Arc<dyn Store>,
}

impl Judge for NodeJudge {
    fn standing(&self, peer: &PeerId, now: u64) -> Standing {
        let Some(node) = super::identity::node_key(peer) else { return Standing::Stranger };
        if self.roster.node_may_connect(&node, now) {
            return Standing::Member;
        }
        // An endorsed organisation's node: its certificate waits in quarantine.
        let applicant = self.store.quarantined(&node).ok().into_iter().flatten().any(|b| {
            Record::decode(b).ok().is_some_and(|r| match r.body() {
                csx_protocol::Body::NodeCert(c) => self.roster.is_applicant(&c.org_key),
                _ => false,
            })
        });
        if applicant { Standing::Applicant } else { Standing::Stranger }
    }
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
            rounds: HashMap::new(),
            requests: HashMap::new(),
            cert_requests: HashMap::new(),
            discovery_requests: HashMap::new(),
            policy,
            relay_listeners: HashMap::new(),
            waiters: Vec::new(),
            idle_rounds: HashMap::new(),
            held: HashMap::new(),
            generation: 0,
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

    fn judge(&self) -> NodeJudge {
        NodeJudge { roster: self.ctx.membership.roster(), store: self.ctx.store.clone() }
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
        for addr in self.bootstrap.values().cloned().collect::<Vec<_>>() {
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

    /// Dials `peer` unless it is connected, banned, denied or backing off.
    pub(super) fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let now = self.now();
        if peer == *self.swarm.local_peer_id()
            || self.swarm.is_connected(&peer)
            || !self.admission.may_dial(&peer, now)
            || self.denied.contains(&peer)
        {
            return;
        }
        tracing::debug!(peer = %peer, addresses = addrs.len(), "dialling");
        use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
        let opts = DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::DisconnectedAndNotDialing).build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(peer = %peer, "dial failed: {e}");
        }
    }

    /// Runs until shut down or until every handle is dropped.
    pub async fn run(mut self) {
        let mut sync_tick = tokio::time::interval(self.ctx.config.sync_interval);
        let mut bootstrap_tick = tokio::time::interval(BOOTSTRAP_TICK);
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        let mut admission_tick = tokio::time::interval(ADMISSION_TICK);
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        admission_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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

    fn status(&self) -> NetStatus {
        let now = self.now();
        let mut peers: Vec<PeerInfo> = self
            .admission
            .iter()
            .map(|(id, e)| {
                let node_key = super::identity::node_key(id);
                PeerInfo {
                    peer_id: id.to_string(),
                    org: node_key.as_ref().and_then(|k| self.org_of(k)),
                    node_key,
                    bootstrap: e.bootstrap,
                    connected: e.connected(),
                    verified: e.verified(),
                    addresses: e.addresses.iter().map(|a| a.to_string()).collect(),
                    connected_since: e.link.as_ref().map(|l| l.since),
                    last_sync_at: e.extra.last_sync_at,
                    in_sync: e.extra.in_sync,
                    behind: e.extra.behind,
                    ahead: e.extra.ahead,
                    received: e.extra.received,
                    strikes: self.admission.strikes(id, now),
                    banned: self.admission.banned(id, now).map(|r| r.as_str().to_string()),
                }
            })
            .collect();
        for (id, _, reason) in self.admission.bans(now) {
            if self.admission.get(&id).is_none() {
                peers.push(PeerInfo {
                    peer_id: id.to_string(),
                    node_key: super::identity::node_key(&id),
                    banned: Some(reason.as_str().to_string()),
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
            tables: self.admission.sizes(),
            progress: self.catch_up.progress(self.sync_remaining(), now),
        }
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
                        s.refused_us = false;
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
                self.cert_requests.retain(|_, p| *p != peer_id);
                self.idle_rounds.remove(&peer_id);
                self.bootstrap_peer_lost(peer_id, verified);
                self.held.remove(&peer_id);
                if known {
                    tracing::info!(peer = %peer_id, cause = ?cause, "disconnected");
                }
                self.abort_round(peer_id, "the connection closed");
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
                    self.bootstrap_peer_lost(p, false);
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    /// Carries out what admission decided.
    pub(super) fn act(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::AskCertificate(peer) => self.request_cert(peer),
                Action::CheckCertificate { peer, record } => self.check_cert(peer, record),
                Action::Admit(peer) => self.admit(peer),
                Action::Disconnect { peer, reason, ban } => self.disconnect(peer, reason, ban),
                Action::Unblock(peer) => self.unblock(peer),
                Action::ReleaseHeld(peer) => self.refuse_held(peer),
            }
        }
    }

    /// Asks `peer` for its certificate (record 1 of its feed).
    fn request_cert(&mut self, peer: PeerId) {
        let Some(node) = super::identity::node_key(&peer) else { return };
        let request =
            csx_protocol::sync::SyncRequest::Fetch { author: node, from_seq: 1, to_seq: 1, max_bytes: 65_536 };
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, Ok(request));
        self.cert_requests.insert(id, peer);
    }

    /// Verifies a peer's certificate through the ingest pipeline (stored if it is a member's
    /// or an applicant's, refused by name otherwise) and reports back.
    fn check_cert(&mut self, peer: PeerId, record: Vec<u8>) {
        let verdicts = self.ctx.ingest.enqueue(vec![record]);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let check = match verdicts.await.ok().and_then(|mut v| v.pop()) {
                Some(Verdict::Invalid { reason: "wrong_federation", .. }) => CertCheck::WrongFederation,
                Some(Verdict::Invalid { .. }) | None => CertCheck::Invalid,
                Some(_) => CertCheck::Valid,
            };
            let _ = tx.send(Internal::CertChecked { peer, check });
        });
    }

    /// A peer's answer to "send me your certificate".
    pub(super) fn on_cert(&mut self, peer: PeerId, answer: CertAnswer) {
        let now = self.now();
        let actions = self.admission.on_certificate_answer(peer, answer, now);
        self.act(actions);
    }

    /// Takes the answer to a certificate request, if `id` was one.
    pub(super) fn take_cert_request(&mut self, id: &OutboundRequestId) -> Option<PeerId> {
        self.cert_requests.remove(id)
    }

    /// `peer` is verified: open gossip and identify to it, remember it, sync with it.
    fn admit(&mut self, peer: PeerId) {
        tracing::debug!(peer = %peer, "verified as a member's node");
        self.policy.verified(&peer);
        self.swarm.behaviour_mut().gossipsub.open(peer);
        self.swarm.behaviour_mut().identify.open(peer);
        // Remember members' nodes, so this node finds them again without a bootstrap server.
        let now = self.now();
        let addrs = self.admission.get(&peer).map(|e| e.addresses.clone()).unwrap_or_default();
        self.book.saw(&peer, addrs, now);
        self.serve_held(peer);
        self.join_waiters(peer);
        self.start_round(peer);
    }

    fn disconnect(&mut self, peer: PeerId, reason: Reason, ban: bool) {
        self.ctx.counters.add(&reason.dropped_counter(), 1);
        self.refuse_held(peer);
        self.log_refusal(peer, reason, "disconnected");
        if ban {
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            self.book.forget(&peer);
        }
        let _ = self.swarm.disconnect_peer_id(peer);
        self.fail_round(peer, format!("dropped: {reason}"));
    }

    /// Logs a refusal or a drop: one line per reason every few seconds at the normal level
    /// (with how many were held back), the rest at `debug`.
    pub(super) fn log_refusal(&mut self, peer: PeerId, reason: Reason, what: &str) {
        let now = self.now();
        let serious = matches!(
            reason,
            Reason::Misbehaving
                | Reason::SyncViolation
                | Reason::InvalidRecords
                | Reason::BadCertificate
                | Reason::NoLongerAMember
        );
        match self.log.allow(reason, now) {
            Some(held) if serious => tracing::warn!(peer = %peer, reason = %reason, held_back = held, "{what}"),
            Some(held) => tracing::info!(peer = %peer, reason = %reason, held_back = held, "{what}"),
            None => tracing::debug!(peer = %peer, reason = %reason, "{what}"),
        }
    }

    /// Drops `peer` for breaking the protocol (banned; see [`Reason::bans`]).
    pub(super) fn drop_peer(&mut self, peer: PeerId, reason: Reason, why: &str) {
        tracing::debug!(peer = %peer, reason = %reason, "dropping peer: {why}");
        let now = self.now();
        let actions = self.admission.drop_peer(peer, reason, now);
        self.act(actions);
    }

    /// Counts a strike against `peer`, dropping it when it has earned a ban.
    pub(super) fn strike(&mut self, peer: PeerId, weight: f64, reason: &'static str) {
        tracing::debug!(peer = %peer, reason, weight, "strike");
        let now = self.now();
        let actions = self.admission.on_strike(peer, weight, now);
        self.act(actions);
    }

    /// Lifts the connection block on `peer` unless it is denied by command.
    fn unblock(&mut self, peer: PeerId) {
        if !self.denied.contains(&peer) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
    }

    /// Re-examines every connected peer when the roster has changed.
    fn check_roster(&mut self) {
        let v = self.ctx.membership.version();
        if v == self.roster_version {
            return;
        }
        self.roster_version = v;
        let now = self.now();
        let judge = self.judge();
        let actions = self.admission.on_roster_changed(&judge, now);
        self.act(actions);
    }

    fn admission_tick(&mut self) {
        let now = self.now();
        self.catch_up.tick(!self.rounds.is_empty(), self.sync_remaining(), now);
        self.check_roster();
        let now = self.now();
        let judge = self.judge();
        let actions = self.admission.on_tick(&judge, now);
        self.act(actions);
    }

    fn maintain(&mut self) {
        self.book.save(self.ctx.store.as_ref());
        let members = self.admission.members().len();
        if members < TARGET_PEERS {
            for (peer, addrs) in self.book.peers().into_iter().take(TARGET_PEERS * 2) {
                self.dial_peer(peer, addrs);
            }
            // Configured peers are the operator's choice: try them again too (with backoff).
            for addr in self.ctx.config.peers.clone() {
                if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                    self.dial_peer(peer, vec![addr]);
                }
            }
        }
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
                self.admission.note_addresses(&peer_id, info.listen_addrs.clone());
                if self.is_verified(&peer_id) {
                    let now = self.now();
                    self.book.saw(&peer_id, info.listen_addrs, now);
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
            Internal::Resync { peer } => self.resync(peer),
            Internal::CertChecked { peer, check } => {
                let now = self.now();
                let judge = self.judge();
                let actions = self.admission.on_certificate_checked(peer, check, &judge, now);
                self.act(actions);
            }
        }
    }
}
