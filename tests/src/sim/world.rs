//! The simulated federation: nodes (the real store, sync session and responder, admission,
//! connection and round policies, gossip verdict table), the network model between them, and
//! the handlers of every event. Each node's handlers mirror the event loop's
//! (node/src/net/{entry,links,sync_rounds,gossip}.rs): the same inputs go to the same state
//! machines and their intents are carried out here, over simulated links.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use csx_node::author::Author;
use csx_node::ingest::Verdict;
use csx_node::net::admission::{Access, Action, Admission, Ask, Connection, Standing, TableLimits};
use csx_node::net::connections::{self, Connections, ConnectionsConfig, Keep};
use csx_node::net::guard::weight;
use csx_node::net::identity;
use csx_node::net::reason::Reason;
use csx_node::net::rounds::{self, End, Rounds, RoundsConfig, Trigger};
use csx_node::net::verdicts::{Acceptance, Outcome as GossipOutcome, Strike, verdict, wants_round};
use csx_node::store::{MemStore, Outcome, Store};
use csx_protocol::body::{NodeCert, Review};
use csx_protocol::keys::SecretKey;
use csx_protocol::record::record_id;
use csx_protocol::sync::{
    RefusalCode, SyncAction, SyncEnd, SyncLimits, SyncRequest, SyncResponse, SyncSession, SyncSource, respond,
};
use csx_protocol::{
    Body, FederationId, FinancialYear, Head, NodeKey, Record, RecordError, RecordId, Verified, VerifyContext,
};
use libp2p::{Multiaddr, PeerId};

use super::SimConfig;
use super::queue::{Micros, Queue};

/// The simulated federation's id.
pub const FED: FederationId = FederationId([0x51; 32]);
/// Unix milliseconds at virtual time zero.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
/// Largest page a responder sends (the node's default).
const PAGE_BYTES: u32 = 1 << 20;
/// Gossipsub's heartbeat (node/src/net/behaviour.rs).
const HEARTBEAT_US: Micros = 700_000;
/// How often the event loop runs admission's, the connection policy's and (at the latest) the
/// round policy's timers (`ADMISSION_TICK` in node/src/net/event_loop.rs).
const TICK_US: Micros = 1_000_000;
/// How long a request waits for its response (the node's default `request_timeout`).
const REQUEST_TIMEOUT_US: Micros = 60_000_000;
/// How long a peer has to be verified (the node's default `verify_timeout`).
const VERIFY_TIMEOUT_MS: u64 = 30_000;
/// How long gossipsub remembers a message id to drop duplicates (libp2p's default).
const SEEN_TTL_US: Micros = 60_000_000;
/// Round trips before a new connection carries requests: TCP, then noise and yamux.
const HANDSHAKE_RTTS: u64 = 2;
/// Entries of the shared signature-check cache before it is emptied.
const MAX_CACHED_CHECKS: usize = 1_000_000;
/// Framing a gossipsub RPC adds around a published record, worked out from the encoding (not
/// measured): the message's data and topic fields (3 + 81 bytes: the topic is
/// `/csx/<64 hex>/records/1`), the RPC's publish field (3), its length prefix (2), a yamux frame
/// header (12), noise's length and tag (18): about 120.
pub const GOSSIP_FRAMING: usize = 120;
/// Framing of one request-response message, likewise estimated: the codec's length prefix,
/// yamux and noise framing, and the stream's protocol negotiation (about 64).
pub const RPC_FRAMING: usize = 64;

/// Splits a 64-bit seed into independent values (splitmix64).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A 32-byte key seed from `seed` and `n`.
pub fn key_seed(seed: u64, n: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    for (j, chunk) in s.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(seed ^ mix(n.wrapping_mul(4).wrapping_add(j as u64))).to_le_bytes());
    }
    s
}

/// A message on a simulated link; sizes are the real encoded sizes plus framing.
#[derive(Debug)]
pub enum Msg {
    /// A record pushed on the gossip topic (shared: one allocation however many paths it takes).
    Gossip(Rc<Vec<u8>>),
    Request {
        id: u64,
        bytes: Vec<u8>,
    },
    Response {
        id: u64,
        bytes: Vec<u8>,
    },
}

impl Msg {
    fn wire_bytes(&self) -> usize {
        match self {
            Msg::Gossip(b) => b.len() + GOSSIP_FRAMING,
            Msg::Request { bytes, .. } | Msg::Response { bytes, .. } => bytes.len() + RPC_FRAMING,
        }
    }
}

#[derive(Debug)]
pub enum Event {
    Deliver {
        from: u32,
        to: u32,
        msg: Msg,
    },
    /// A dial from `from` reaches `to` (the handshake's round trips have passed).
    Connect {
        from: u32,
        to: u32,
    },
    Publish {
        node: u32,
    },
    Tick {
        node: u32,
    },
    Heartbeat {
        node: u32,
    },
    RequestTimeout {
        node: u32,
        id: u64,
    },
    Spam {
        node: u32,
    },
    SetOnline {
        node: u32,
        online: bool,
    },
    /// Splits the nodes into the groups given (a node's group by index): links between groups
    /// break and dials between them fail until `Heal`.
    Partition {
        groups: Vec<u8>,
    },
    Heal,
}

/// The session of a round in flight (its bookkeeping is in the node's [`Rounds`]).
struct Session {
    session: SyncSession,
    generation: u64,
}

/// One simulated node: the policy machines of its event loop and its store.
pub struct Node {
    pub key: NodeKey,
    pub peer_id: PeerId,
    addr: Multiaddr,
    author: Author,
    pub store: MemStore,
    admission: Admission<()>,
    connections: Connections<u32, ()>,
    rounds: Rounds<u32>,
    sessions: HashMap<u32, Session>,
    /// Sync requests in flight: request id → (peer, round generation, session tag).
    requests: HashMap<u64, (u32, u64, u64)>,
    /// Connected peers, and whether each is in this node's gossip mesh.
    links: BTreeMap<u32, bool>,
    /// Gossipsub's duplicate cache: message (record) ids seen, with when.
    seen: HashMap<RecordId, Micros>,
    pub hostile: bool,
    pub online: bool,
    skew_ms: i64,
    uplink_free: Micros,
    cpu_free: Micros,
    group: u8,
    spam_seq: u64,
}

/// Counts over a run.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counters {
    pub gossip_messages: u64,
    pub gossip_bytes: u64,
    pub gossip_duplicates: u64,
    pub sync_messages: u64,
    pub sync_bytes: u64,
    pub rounds: u64,
    pub rounds_in_sync: u64,
    pub rounds_fetched: u64,
    pub rounds_failed: u64,
    pub retransmits: u64,
    pub lost_messages: u64,
    pub dials: u64,
    pub dials_failed: u64,
    pub connections_full: u64,
    pub connections_rotated: u64,
    /// Forged records sent (one per peer), and their bytes: part of the gossip counts above.
    pub forged_sent: u64,
    pub forged_bytes: u64,
    pub forged_refused: u64,
    pub forged_stored: u64,
    pub refused_from_the_future: u64,
    pub strikes: u64,
    pub bans: u64,
    pub sync_violations: u64,
    pub signature_checks: u64,
}

/// A record whose spread is measured.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub published_at: Micros,
    /// When each node that holds it stored it (index: node).
    pub delivered: Vec<Option<Micros>>,
}

pub struct World {
    pub cfg: SimConfig,
    pub q: Queue<Event>,
    pub nodes: Vec<Node>,
    rng: fastrand::Rng,
    by_peer: HashMap<PeerId, u32>,
    pub counters: Counters,
    pub tracked: BTreeMap<RecordId, Tracked>,
    next_request: u64,
    published: u64,
    /// Honest nodes that publish the tracked records (their certificates are in every store).
    pub publishers: Vec<u32>,
    /// Ids of the forged records hostile nodes sent.
    forged: HashSet<RecordId>,
    /// Signature checks by record (id and signature): a record's signatures are checked once
    /// for real and the result shared by every node, which is charged the time on its virtual
    /// clock (`verify_us`). The context check (federation, clock) runs per node.
    checked: HashMap<(RecordId, [u8; 64]), Result<Verified<Record>, RecordError>>,
    /// Most connections any node held at once.
    pub max_links_seen: usize,
}

/// The body of simulated record `n`: a review of typical size.
pub fn review_body(n: u64) -> Body {
    Body::Review(Review {
        provider: "0DE".into(),
        service_line: "BI".into(),
        year: FinancialYear(2025),
        quality: Some(1 + (n % 5) as u8),
        timeliness: Some(3),
        responsiveness: None,
        data_accuracy: None,
        flexibility: None,
        value_for_money: Some(4),
        kpi_delivery: None,
        would_recommend: Some((n % 11) as u8),
        still_customer: true,
        reviewer_role: "Head of BI".into(),
        comment: Some(format!("simulated review {n}: dashboards on time, support answers within a day")),
    })
}

/// The certificate (record 1) of `author`, issued by a simulated organisation.
pub fn cert_record(org: &SecretKey, author: &Author) -> Record {
    let cert = NodeCert::issue(org, author.key().node_key(), "0DE", EPOCH_MS + 10 * 365 * 86_400_000)
        .expect("a valid ODS code");
    author.sign(vec![Body::NodeCert(cert)], EPOCH_MS).expect("a valid certificate signs").remove(0)
}

/// Every simulated node is a member's node, and every node knows it (the roster is not simulated).
fn judge(_: &PeerId, _: u64) -> Standing {
    Standing::Member
}

impl World {
    pub fn new(cfg: SimConfig) -> World {
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let n = cfg.nodes;
        let hostile_count = (n as f64 * cfg.hostile_pct / 100.0).round() as usize;
        let mut hostile = vec![false; n];
        for i in rng_sample(&mut rng, n, hostile_count) {
            hostile[i] = true;
        }
        let rounds_config = RoundsConfig::new(cfg.sync_interval_ms, REQUEST_TIMEOUT_US / 1000);
        let connections_config = ConnectionsConfig::with_bound(cfg.max_peers, cfg.rotate_ms);
        let mut nodes = Vec::with_capacity(n);
        let mut by_peer = HashMap::with_capacity(n);
        for (i, hostile) in hostile.into_iter().enumerate() {
            let secret = SecretKey::from_seed(&key_seed(cfg.seed, i as u64));
            let key = secret.node_key();
            let peer_id = identity::peer_id(&key);
            by_peer.insert(peer_id, i as u32);
            let skew_ms =
                if cfg.max_skew_ms == 0 { 0 } else { rng.i64(-(cfg.max_skew_ms as i64)..=cfg.max_skew_ms as i64) };
            let node_seed = mix(cfg.seed ^ mix(0xa11ce ^ i as u64));
            nodes.push(Node {
                key,
                peer_id,
                addr: format!("/memory/{}", i + 1).parse().expect("a memory address"),
                author: Author::new(secret, FED, None),
                store: MemStore::new(1_000),
                admission: Admission::new(VERIFY_TIMEOUT_MS, TableLimits::default(), []),
                connections: Connections::new(connections_config, [], node_seed),
                rounds: Rounds::new(rounds_config, mix(node_seed)),
                sessions: HashMap::new(),
                requests: HashMap::new(),
                links: BTreeMap::new(),
                seen: HashMap::new(),
                hostile,
                online: true,
                skew_ms,
                uplink_free: 0,
                cpu_free: 0,
                group: 0,
                spam_seq: 0,
            });
        }
        let mut w = World {
            cfg,
            q: Queue::default(),
            nodes,
            rng,
            by_peer,
            counters: Counters::default(),
            tracked: BTreeMap::new(),
            next_request: 0,
            published: 0,
            publishers: Vec::new(),
            forged: HashSet::new(),
            checked: HashMap::new(),
            max_links_seen: 0,
        };
        w.seed_publishers();
        // What each node hears of from the bootstrap servers and its peer book: a random
        // sample of the members' nodes (discovery itself is not simulated).
        let known = w.cfg.known_peers.min(n - 1);
        for i in 0..n {
            for j in rng_sample(&mut w.rng, n, known + 1) {
                if j != i {
                    w.nodes[i].connections.heard_of(j as u32, ());
                }
            }
        }
        for i in 0..n as u32 {
            let at = w.rng.u64(0..TICK_US);
            w.q.push(at, Event::Tick { node: i });
            let hb = w.rng.u64(0..HEARTBEAT_US);
            w.q.push(hb, Event::Heartbeat { node: i });
            if w.nodes[i as usize].hostile {
                let at = w.rng.u64(0..w.cfg.spam_interval_ms.max(1) * 1000);
                w.q.push(at, Event::Spam { node: i });
            }
        }
        w
    }

    /// Chooses the honest nodes that publish the records under study and puts their
    /// certificates in every store (base data every member holds before the run).
    fn seed_publishers(&mut self) {
        let honest: Vec<u32> = (0..self.nodes.len() as u32).filter(|&i| !self.nodes[i as usize].hostile).collect();
        // At most half the honest nodes, so that scenarios can find nodes that only receive.
        let count = self.cfg.records.min(honest.len().div_ceil(2)).min(64);
        let picks = rng_sample(&mut self.rng, honest.len(), count);
        let org = SecretKey::from_seed(&key_seed(self.cfg.seed, 0x0e9));
        let ctx = VerifyContext::new(FED, EPOCH_MS);
        let mut certs = Vec::with_capacity(count);
        for p in picks {
            let i = honest[p];
            let node = &mut self.nodes[i as usize];
            let cert = cert_record(&org, &node.author);
            node.author.advance(std::slice::from_ref(&cert));
            certs.push(cert.verify(&ctx).expect("a fresh certificate verifies"));
            self.publishers.push(i);
        }
        for node in &self.nodes {
            node.store.insert(certs.clone()).expect("the memory store takes the certificates");
        }
    }

    fn now_ms(&self) -> u64 {
        self.q.now() / 1000
    }

    /// Node `i`'s wall clock (with its skew), in Unix milliseconds: what it signs and verifies
    /// with. The policies run on virtual time (only differences matter to them).
    fn clock_ms(&self, i: u32) -> u64 {
        let t = EPOCH_MS as i64 + (self.q.now() / 1000) as i64 + self.nodes[i as usize].skew_ms;
        t.max(0) as u64
    }

    /// Per-link latency (fixed per link from the seed), in microseconds.
    fn link_latency(&self, a: u32, b: u32) -> Micros {
        let (x, y) = (a.min(b) as u64, a.max(b) as u64);
        let h = mix(self.cfg.seed ^ mix((x << 32) | y));
        let span = self.cfg.latency_max_ms - self.cfg.latency_min_ms + 1;
        (self.cfg.latency_min_ms + h % span) * 1000
    }

    /// Sends `msg` from `from` to `to`, no earlier than `at`: queued behind what `from` is
    /// already sending (its uplink), then the link's latency with jitter. Links are reliable
    /// streams: a lost packet costs a retransmission timeout, not the message.
    fn send(&mut self, from: u32, to: u32, msg: Msg, at: Micros) {
        let size = msg.wire_bytes() as u64;
        match &msg {
            Msg::Gossip(_) => {
                self.counters.gossip_messages += 1;
                self.counters.gossip_bytes += size;
            }
            _ => {
                self.counters.sync_messages += 1;
                self.counters.sync_bytes += size;
            }
        }
        let node = &mut self.nodes[from as usize];
        let start = at.max(self.q.now()).max(node.uplink_free);
        let tx = size * 1_000_000 / self.cfg.bandwidth_bytes_per_s.max(1);
        node.uplink_free = start + tx;
        let lat = self.link_latency(from, to);
        let jitter = (lat as f64 * self.cfg.jitter_pct / 100.0 * (self.rng.f64() * 2.0 - 1.0)) as i64;
        let mut arrive = (start + tx + lat).saturating_add_signed(jitter);
        let rto = (3 * lat).max(200_000);
        let mut tries = 0;
        while tries < 6 && self.rng.f64() < self.cfg.loss {
            tries += 1;
            self.counters.retransmits += 1;
            arrive += rto << (tries - 1);
        }
        self.q.push(arrive, Event::Deliver { from, to, msg });
    }

    /// Checks a record's signatures (once per record across the federation; see `checked`)
    /// and this node's context (federation, clock), as the ingest pipeline does.
    fn verify(&mut self, node: u32, bytes: &[u8]) -> Result<Verified<Record>, RecordError> {
        let ctx = VerifyContext::new(FED, self.clock_ms(node));
        let id = record_id(bytes);
        let mut sig = [0u8; 64];
        if bytes.len() >= 64 {
            sig.copy_from_slice(&bytes[bytes.len() - 64..]);
        }
        let key = (id, sig);
        let result = match self.checked.get(&key) {
            Some(r) => r.clone(),
            None => {
                self.counters.signature_checks += 1;
                // Signatures only: a context that no record is ahead of.
                let all_time = VerifyContext::new(FED, u64::MAX / 2);
                let r = Record::decode(bytes.to_vec()).and_then(|r| r.verify(&all_time));
                if self.checked.len() >= MAX_CACHED_CHECKS {
                    self.checked.clear();
                }
                self.checked.insert(key, r.clone());
                r
            }
        };
        let v = result?;
        v.check_context(&ctx)?;
        Ok(v)
    }

    /// The ingest path: verify, store, and each record's verdict (as `csx_node::ingest` gives
    /// them; the roster step is not simulated: every author is a member). Records stored count
    /// as delivered at `done_at`.
    fn ingest(&mut self, node: u32, records: &[Vec<u8>], done_at: Micros) -> Vec<Verdict> {
        let mut verdicts: Vec<Option<Verdict>> = Vec::with_capacity(records.len());
        let mut valid = Vec::new();
        let mut slots = Vec::new();
        for bytes in records {
            match self.verify(node, bytes) {
                Ok(v) => {
                    slots.push(verdicts.len());
                    valid.push(v);
                    verdicts.push(None);
                }
                Err(e @ RecordError::FromTheFuture { .. }) => {
                    self.counters.refused_from_the_future += 1;
                    verdicts.push(Some(Verdict::NotValid { reason: e.reason() }));
                }
                Err(e) => {
                    if self.forged.contains(&record_id(bytes)) {
                        self.counters.forged_refused += 1;
                    }
                    verdicts.push(Some(Verdict::Invalid { reason: e.reason(), detail: e.to_string() }));
                }
            }
        }
        if valid.is_empty() {
            return verdicts.into_iter().map(|v| v.expect("every slot is judged")).collect();
        }
        let authors: Vec<(NodeKey, u64, RecordId)> = valid.iter().map(|r| (r.author(), r.seq(), r.id())).collect();
        let report = match self.nodes[node as usize].store.insert(valid) {
            Ok(r) => r,
            Err(_) => {
                for s in slots {
                    verdicts[s] = Some(Verdict::Refused { reason: "store_error" });
                }
                return verdicts.into_iter().map(|v| v.expect("every slot is judged")).collect();
            }
        };
        let mut appended = report.released.clone();
        for (k, outcome) in report.outcomes.into_iter().enumerate() {
            let (author, seq, id) = authors[k];
            let v = match outcome {
                Outcome::Appended => {
                    appended.push(id);
                    Verdict::Appended
                }
                Outcome::Duplicate => Verdict::Duplicate,
                Outcome::Held => Verdict::Held { author, seq },
                Outcome::Fork => Verdict::Fork { author, first: vec![], second: vec![] },
                Outcome::Refused { reason } => Verdict::Refused { reason: reason.as_str() },
            };
            verdicts[slots[k]] = Some(v);
        }
        for id in appended {
            if let Some(t) = self.tracked.get_mut(&id) {
                t.delivered[node as usize].get_or_insert(done_at);
            } else if self.forged.contains(&id) {
                self.counters.forged_stored += 1;
            }
        }
        verdicts.into_iter().map(|v| v.expect("every slot is judged")).collect()
    }

    /// Publishes a new record by `node` (a review), tracked from now on. Gossipsub publishes
    /// to every connected peer (flood publish); the mesh forwards it from there.
    pub fn publish(&mut self, node: u32) -> Option<RecordId> {
        if !self.nodes[node as usize].online || self.nodes[node as usize].hostile {
            return None;
        }
        self.published += 1;
        let now = self.q.now();
        let clock = self.clock_ms(node);
        let record = self.nodes[node as usize].author.sign(vec![review_body(self.published)], clock).ok()?.remove(0);
        self.nodes[node as usize].author.advance(std::slice::from_ref(&record));
        let bytes = record.bytes().to_vec();
        let id = record_id(&bytes);
        self.tracked.insert(id, Tracked { published_at: now, delivered: vec![None; self.nodes.len()] });
        self.nodes[node as usize].seen.insert(id, now);
        let verdict = self.ingest(node, std::slice::from_ref(&bytes), now);
        debug_assert_eq!(verdict, vec![Verdict::Appended], "a node stores its own record");
        let rc = Rc::new(bytes);
        let peers: Vec<u32> = self.nodes[node as usize].links.keys().copied().collect();
        for p in peers {
            self.send(node, p, Msg::Gossip(rc.clone()), now);
        }
        Some(id)
    }

    pub fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, msg } => {
                if !self.nodes[to as usize].online || !self.nodes[to as usize].links.contains_key(&from) {
                    self.counters.lost_messages += 1;
                    return;
                }
                match msg {
                    Msg::Gossip(bytes) => self.on_gossip(from, to, bytes),
                    Msg::Request { id, bytes } => self.on_request(from, to, id, &bytes),
                    Msg::Response { id, bytes } => self.on_response(from, to, id, &bytes),
                }
            }
            Event::Connect { from, to } => self.on_connect(from, to),
            Event::Publish { node } => {
                self.publish(node);
            }
            Event::Tick { node } => {
                self.q.push(self.q.now() + TICK_US, Event::Tick { node });
                self.on_tick(node);
            }
            Event::Heartbeat { node } => {
                self.q.push(self.q.now() + HEARTBEAT_US, Event::Heartbeat { node });
                self.on_heartbeat(node);
            }
            Event::RequestTimeout { node, id } => self.on_request_timeout(node, id),
            Event::Spam { node } => {
                self.q.push(self.q.now() + self.cfg.spam_interval_ms.max(1) * 1000, Event::Spam { node });
                self.on_spam(node);
            }
            Event::SetOnline { node, online } => self.set_online(node, online),
            Event::Partition { groups } => {
                for (n, g) in self.nodes.iter_mut().zip(groups) {
                    n.group = g;
                }
                // Links across the split break (a real node notices by its keep-alive).
                let mut broken = Vec::new();
                for (i, n) in self.nodes.iter().enumerate() {
                    for &j in n.links.keys() {
                        if (i as u32) < j && self.nodes[j as usize].group != n.group {
                            broken.push((i as u32, j));
                        }
                    }
                }
                for (i, j) in broken {
                    self.close_link(i, j, "the network split");
                }
            }
            Event::Heal => {
                for n in &mut self.nodes {
                    n.group = 0;
                }
            }
        }
    }

    // ---- Links: admission (entry.rs) and the connection policy (links.rs) ----

    /// The connection policy's timers and admission's, as `admission_tick` runs them, and the
    /// round policy's (`rounds_tick`); the gossip duplicate cache expires.
    fn on_tick(&mut self, node: u32) {
        if !self.nodes[node as usize].online {
            return;
        }
        let now = self.now_ms();
        let actions = self.nodes[node as usize].admission.on_tick(&judge, now);
        self.act(node, actions);
        self.connections_tick(node);
        let intents = self.nodes[node as usize].rounds.tick(now);
        self.run_rounds(node, intents);
        let horizon = self.q.now().saturating_sub(SEEN_TTL_US);
        self.nodes[node as usize].seen.retain(|_, at| *at >= horizon);
    }

    fn connections_tick(&mut self, node: u32) {
        let now = self.now_ms();
        let n = &mut self.nodes[node as usize];
        let (rounds, links) = (&n.rounds, &n.links);
        let intents = n.connections.tick(now, |p| {
            if rounds.is_partner(p, now) {
                Keep::Busy
            } else if links.get(p).copied().unwrap_or(false) {
                Keep::Mesh
            } else {
                Keep::Free
            }
        });
        self.run_connections(node, intents);
    }

    fn run_connections(&mut self, node: u32, intents: Vec<connections::Intent<u32, ()>>) {
        for intent in intents {
            match intent {
                connections::Intent::Dial { peer, .. } => {
                    if !self.dial(node, peer) {
                        self.nodes[node as usize].connections.dial_failed(&peer);
                    }
                }
                connections::Intent::Disconnect { peer, why } => {
                    match why {
                        connections::Why::Full => self.counters.connections_full += 1,
                        connections::Why::Rotated => self.counters.connections_rotated += 1,
                    }
                    let now = self.now_ms();
                    let pid = self.nodes[peer as usize].peer_id;
                    let actions = self.nodes[node as usize].admission.drop_peer(pid, Reason::ConnectionLimit, now);
                    self.act(node, actions);
                }
            }
        }
    }

    /// Dials `peer` unless it is connected, banned or backing off (as `dial_peer`); the dial
    /// reaches it after the handshake's round trips.
    fn dial(&mut self, node: u32, peer: u32) -> bool {
        let now = self.now_ms();
        let pid = self.nodes[peer as usize].peer_id;
        let n = &self.nodes[node as usize];
        if peer == node || n.links.contains_key(&peer) || !n.admission.may_dial(&pid, now) {
            return false;
        }
        self.counters.dials += 1;
        let rtt = 2 * self.link_latency(node, peer);
        self.q.push(self.q.now() + HANDSHAKE_RTTS * rtt, Event::Connect { from: node, to: peer });
        true
    }

    /// A dial arrives: the connection is up unless the peer is away or across a split; then
    /// each side's admission judges the other (the dialled node first).
    fn on_connect(&mut self, from: u32, to: u32) {
        let now = self.now_ms();
        let (a, b) = (&self.nodes[from as usize], &self.nodes[to as usize]);
        if !a.online {
            return;
        }
        if !b.online || a.group != b.group {
            self.counters.dials_failed += 1;
            let pid = b.peer_id;
            let n = &mut self.nodes[from as usize];
            n.connections.dial_failed(&to);
            n.admission.dial_failed(pid, now);
            return;
        }
        if a.links.contains_key(&to) {
            // Both dialled at once: one connection serves.
            self.nodes[from as usize].connections.dial_failed(&to);
            return;
        }
        self.nodes[from as usize].links.insert(to, false);
        self.nodes[to as usize].links.insert(from, false);
        for (me, other, dialer) in [(to, from, false), (from, to, true)] {
            if !self.nodes[me as usize].links.contains_key(&other) {
                break;
            }
            let pid = self.nodes[other as usize].peer_id;
            let remote = self.nodes[other as usize].addr.clone();
            let conn = Connection { dialer, relayed: false, remote };
            let actions = self.nodes[me as usize].admission.on_connected(pid, conn, &judge, now);
            self.act(me, actions);
        }
        let links = self.nodes[from as usize].links.len().max(self.nodes[to as usize].links.len());
        self.max_links_seen = self.max_links_seen.max(links);
    }

    /// Carries out what admission decided (as `act` in entry.rs).
    fn act(&mut self, node: u32, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Admit(pid) => {
                    if let Some(&peer) = self.by_peer.get(&pid) {
                        self.admit(node, peer);
                    }
                }
                Action::Disconnect { peer, ban, .. } => {
                    if let Some(&j) = self.by_peer.get(&peer) {
                        if ban {
                            self.counters.bans += 1;
                            self.nodes[node as usize].connections.forget(&j);
                        }
                        self.close_link(node, j, "dropped");
                    }
                }
                // Every simulated peer is a member's node the roster knows: admitted at once,
                // with no certificate to ask for or check.
                Action::AskCertificate(_)
                | Action::CheckCertificate { .. }
                | Action::Unblock(_)
                | Action::ReleaseHeld(_) => {}
            }
        }
    }

    /// `peer` is verified (as `admit` in entry.rs): the connection policy keeps it or, full,
    /// turns it away; else a round with it.
    fn admit(&mut self, node: u32, peer: u32) {
        let now = self.now_ms();
        let n = &mut self.nodes[node as usize];
        n.connections.heard_of(peer, ());
        let intents = n.connections.verified(peer, now);
        if !intents.is_empty() {
            return self.run_connections(node, intents);
        }
        let intents = self.nodes[node as usize].rounds.verified(peer, now);
        self.run_rounds(node, intents);
    }

    /// Closes the connection between `i` and `j`; each side forgets the other's rounds.
    fn close_link(&mut self, i: u32, j: u32, why: &str) {
        if self.nodes[i as usize].links.remove(&j).is_none() {
            return;
        }
        self.nodes[j as usize].links.remove(&i);
        let now = self.now_ms();
        for (a, b) in [(i, j), (j, i)] {
            let pid = self.nodes[b as usize].peer_id;
            let n = &mut self.nodes[a as usize];
            let actions = n.admission.on_disconnected(&pid, now);
            n.connections.disconnected(&b, now);
            if n.sessions.remove(&b).is_some() {
                self.counters.rounds_failed += 1;
            }
            let n = &mut self.nodes[a as usize];
            n.requests.retain(|_, (p, _, _)| *p != b);
            let intents = n.rounds.gone(b, why, now);
            self.act(a, actions);
            self.run_rounds(a, intents);
        }
    }

    /// Counts a strike against `peer` at `node`; admission drops (and bans) it when earned.
    fn strike(&mut self, node: u32, peer: u32, w: f64) {
        self.counters.strikes += 1;
        let now = self.now_ms();
        let pid = self.nodes[peer as usize].peer_id;
        let actions = self.nodes[node as usize].admission.on_strike(pid, w, now);
        self.act(node, actions);
    }

    // ---- Gossip (gossip.rs), and the gossipsub mesh (modelled) ----

    fn on_gossip(&mut self, from: u32, to: u32, bytes: Rc<Vec<u8>>) {
        let now = self.q.now();
        let id = record_id(&bytes);
        // Gossipsub drops a message id it has seen before validation.
        if self.nodes[to as usize].seen.insert(id, now).is_some() {
            self.counters.gossip_duplicates += 1;
            return;
        }
        if self.nodes[to as usize].hostile {
            // A hostile node forwards nothing (a black hole in the mesh).
            return;
        }
        let pid = self.nodes[from as usize].peer_id;
        let now_ms = self.now_ms();
        let outcome_verdict;
        let outcome = if !self.nodes[to as usize].admission.is_verified(&pid) {
            GossipOutcome::Unverified
        } else if !self.nodes[to as usize].admission.allow_gossip(pid, now_ms) {
            GossipOutcome::RateLimited
        } else {
            // Verification takes the node's CPU, one record after another.
            let n = &mut self.nodes[to as usize];
            let done = now.max(n.cpu_free) + self.cfg.verify_us;
            n.cpu_free = done;
            outcome_verdict = self.ingest(to, std::slice::from_ref(&*bytes), done).remove(0);
            GossipOutcome::Record(&outcome_verdict)
        };
        let (acceptance, strike) = verdict(outcome);
        let wants = matches!(outcome, GossipOutcome::Record(v) if wants_round(v));
        if acceptance == Acceptance::Accept {
            let done = self.nodes[to as usize].cpu_free;
            let peers: Vec<u32> = self.nodes[to as usize]
                .links
                .iter()
                .filter(|(p, mesh)| **mesh && **p != from)
                .map(|(p, _)| *p)
                .collect();
            for p in peers {
                self.send(to, p, Msg::Gossip(bytes.clone()), done);
            }
        }
        if let Strike::Of { weight, .. } = strike {
            self.strike(to, from, weight);
        }
        if wants && self.nodes[to as usize].links.contains_key(&from) {
            let intents = self.nodes[to as usize].rounds.sync_with(from, Trigger::Gap, now_ms);
            self.run_rounds(to, intents);
        }
    }

    /// Gossipsub's mesh maintenance at each heartbeat: below D_lo, graft connected peers up to
    /// D; above D_hi, prune down to D (grafts and prunes take effect on both sides at once).
    fn on_heartbeat(&mut self, node: u32) {
        if !self.nodes[node as usize].online {
            return;
        }
        let (d, d_lo, d_hi) = (self.cfg.mesh_d, self.cfg.mesh_d_lo, self.cfg.mesh_d_hi);
        let mesh: Vec<u32> = self.nodes[node as usize].links.iter().filter(|(_, m)| **m).map(|(p, _)| *p).collect();
        if mesh.len() < d_lo {
            let mut candidates: Vec<u32> =
                self.nodes[node as usize].links.iter().filter(|(_, m)| !**m).map(|(p, _)| *p).collect();
            self.rng.shuffle(&mut candidates);
            for c in candidates.into_iter().take(d - mesh.len()) {
                self.set_mesh(node, c, true);
            }
        } else if mesh.len() > d_hi {
            let mut mesh = mesh;
            self.rng.shuffle(&mut mesh);
            for c in mesh.into_iter().skip(d) {
                self.set_mesh(node, c, false);
            }
        }
    }

    fn set_mesh(&mut self, a: u32, b: u32, on: bool) {
        if let Some(m) = self.nodes[a as usize].links.get_mut(&b) {
            *m = on;
        }
        if let Some(m) = self.nodes[b as usize].links.get_mut(&a) {
            *m = on;
        }
    }

    fn on_spam(&mut self, node: u32) {
        if !self.nodes[node as usize].online {
            return;
        }
        // A forged record: well formed, claiming this node as its author, with a broken
        // signature, sent to every peer.
        let clock = self.clock_ms(node);
        let now = self.q.now();
        let n = &mut self.nodes[node as usize];
        n.spam_seq += 1;
        // Past its certificate (record 1 must be one), at a seq of its own.
        n.author.set_head(Some(Head { seq: n.spam_seq, id: RecordId([0x5a; 32]) }));
        let Ok(mut signed) = n.author.sign(vec![review_body(1_000_000 + n.spam_seq)], clock) else { return };
        let mut forged = signed.remove(0).bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 0xff;
        self.forged.insert(record_id(&forged));
        let rc = Rc::new(forged);
        let peers: Vec<u32> = n.links.keys().copied().collect();
        for p in peers {
            self.counters.forged_sent += 1;
            self.counters.forged_bytes += (rc.len() + GOSSIP_FRAMING) as u64;
            self.send(node, p, Msg::Gossip(rc.clone()), now);
        }
    }

    fn set_online(&mut self, node: u32, online: bool) {
        if self.nodes[node as usize].online == online {
            return;
        }
        if !online {
            let peers: Vec<u32> = self.nodes[node as usize].links.keys().copied().collect();
            for p in peers {
                self.close_link(node, p, "the peer went away");
            }
        }
        self.nodes[node as usize].online = online;
    }

    // ---- Sync rounds (sync_rounds.rs) ----

    fn run_rounds(&mut self, node: u32, intents: Vec<rounds::Intent<u32>>) {
        for intent in intents {
            match intent {
                rounds::Intent::Start { peer, generation, .. } => self.open_round(node, peer, generation),
                rounds::Intent::Abort { peer, .. } => self.close_session(node, peer),
                rounds::Intent::Reply { .. } => {}
            }
        }
    }

    fn open_round(&mut self, node: u32, peer: u32, generation: u64) {
        let now = self.now_ms();
        let n = &mut self.nodes[node as usize];
        if !n.links.contains_key(&peer) || n.hostile {
            // Hostile nodes start no rounds: they only answer (and lie).
            let intents = n.rounds.failed(peer, "not verified as a member's node", now);
            return self.run_rounds(node, intents);
        }
        let (session, first) = {
            let mut heads = n.store.heads_index();
            SyncSession::start(FED, SyncLimits::default(), &mut heads)
        };
        n.sessions.insert(peer, Session { session, generation });
        self.counters.rounds += 1;
        self.execute(node, peer, generation, vec![first]);
    }

    fn execute(&mut self, node: u32, peer: u32, generation: u64, actions: Vec<SyncAction>) {
        for action in actions {
            match action {
                SyncAction::Send { tag, request } => {
                    self.next_request += 1;
                    let id = self.next_request;
                    self.nodes[node as usize].requests.insert(id, (peer, generation, tag));
                    self.send(node, peer, Msg::Request { id, bytes: request.encode() }, self.q.now());
                    self.q.push(self.q.now() + REQUEST_TIMEOUT_US, Event::RequestTimeout { node, id });
                }
                SyncAction::Ingest { records } => {
                    let now = self.q.now();
                    let verdicts = self.ingest(node, &records, now);
                    self.on_page_stored(node, peer, generation, verdicts);
                }
                // No simulated author forks.
                SyncAction::Fork { .. } => {}
            }
        }
        self.check_round(node, peer);
    }

    fn on_page_stored(&mut self, node: u32, peer: u32, generation: u64, verdicts: Vec<Verdict>) {
        let now = self.now_ms();
        let invalid = verdicts.iter().filter(|v| matches!(v, Verdict::Invalid { .. })).count();
        if invalid > 0 {
            let pid = self.nodes[peer as usize].peer_id;
            let actions = self.nodes[node as usize].admission.drop_peer(pid, Reason::InvalidRecords, now);
            return self.act(node, actions);
        }
        let appended = verdicts.iter().filter(|v| matches!(v, Verdict::Appended)).count() as u64;
        let refused: Vec<&'static str> = verdicts.iter().filter_map(Verdict::refusal).collect();
        let n = &mut self.nodes[node as usize];
        n.rounds.stored(peer, generation, appended, &refused, now);
        let Some(s) = n.sessions.get_mut(&peer).filter(|s| s.generation == generation) else { return };
        let actions = s.session.on_stored();
        self.execute(node, peer, generation, actions);
    }

    /// Ends the round with `peer` if its session is done and everything it fetched is stored.
    fn check_round(&mut self, node: u32, peer: u32) {
        let n = &mut self.nodes[node as usize];
        let Some(s) = n.sessions.get(&peer) else { return };
        let Some(end) = s.session.end() else { return };
        if s.session.unstored() > 0 {
            return;
        }
        let Session { session, generation } = n.sessions.remove(&peer).expect("present: checked above");
        let end = match end {
            SyncEnd::InSync => {
                self.counters.rounds_in_sync += 1;
                End::InSync
            }
            SyncEnd::Fetched => {
                self.counters.rounds_fetched += 1;
                End::Fetched { received: session.received }
            }
        };
        let now = self.now_ms();
        let intents = self.nodes[node as usize].rounds.ended(peer, generation, end, now);
        self.run_rounds(node, intents);
    }

    fn close_session(&mut self, node: u32, peer: u32) {
        let n = &mut self.nodes[node as usize];
        if n.sessions.remove(&peer).is_some() {
            self.counters.rounds_failed += 1;
        }
        n.requests.retain(|_, (p, _, _)| *p != peer);
    }

    fn fail_round(&mut self, node: u32, peer: u32, why: &str) {
        self.close_session(node, peer);
        let now = self.now_ms();
        let intents = self.nodes[node as usize].rounds.failed(peer, why, now);
        self.run_rounds(node, intents);
    }

    /// A peer's sync request (as `serve`): admission decides, the round policy hears that the
    /// peer asked (a round back if its summary differs), the real responder answers.
    fn on_request(&mut self, from: u32, to: u32, id: u64, bytes: &[u8]) {
        let now = self.now_ms();
        let pid = self.nodes[from as usize].peer_id;
        let response = match SyncRequest::decode(bytes) {
            Err(e) => {
                self.strike(to, from, weight::INVALID);
                SyncResponse::Refused { code: RefusalCode::BadRequest, message: e.to_string() }
            }
            Ok(request) if self.nodes[to as usize].hostile => match request {
                // A hostile node claims to hold exactly what the asker holds, and sends
                // nothing it is asked for.
                SyncRequest::Summary { .. } => SyncResponse::InSync,
                _ => SyncResponse::Records { records: vec![] },
            },
            Ok(request) => {
                let (access, actions) = self.nodes[to as usize].admission.on_request(pid, Ask::Sync, now);
                self.act(to, actions);
                match access {
                    Access::Serve => {
                        let n = &self.nodes[to as usize];
                        let differs = matches!(&request, SyncRequest::Summary { root, .. }
                            if *root != n.store.heads_index().root());
                        let response = {
                            let mut heads = n.store.heads_index();
                            respond(&FED, &request, &mut heads, PAGE_BYTES, &Source(&n.store))
                        };
                        let intents = self.nodes[to as usize].rounds.asked_by(from, differs, now);
                        self.run_rounds(to, intents);
                        response
                    }
                    Access::Refuse(Reason::RateLimited) => {
                        SyncResponse::Refused { code: RefusalCode::TooBusy, message: "too many requests".into() }
                    }
                    Access::Refuse(_) | Access::Hold => SyncResponse::Refused {
                        code: RefusalCode::NotAMember,
                        message: "this node serves members' nodes only".into(),
                    },
                }
            }
        };
        if self.nodes[to as usize].links.contains_key(&from) {
            self.send(to, from, Msg::Response { id, bytes: response.encode() }, self.q.now());
        }
    }

    fn on_response(&mut self, from: u32, to: u32, id: u64, bytes: &[u8]) {
        let Some((peer, generation, tag)) = self.nodes[to as usize].requests.remove(&id) else { return };
        debug_assert_eq!(peer, from);
        let now = self.now_ms();
        let response = match SyncResponse::decode(bytes) {
            Ok(r) => r,
            Err(_) => {
                self.strike(to, from, weight::INVALID);
                return self.fail_round(to, from, "an unreadable sync response");
            }
        };
        let n = &mut self.nodes[to as usize];
        if let SyncResponse::Refused { code: RefusalCode::NotAMember, .. } = &response {
            n.rounds.refused_by(from);
        }
        n.rounds.progressed(from, generation, now);
        let Some(s) = n.sessions.get_mut(&from).filter(|s| s.generation == generation) else { return };
        let result = {
            let mut heads = n.store.heads_index();
            s.session.on_response(tag, response, &mut heads)
        };
        match result {
            Ok(actions) => self.execute(to, from, generation, actions),
            Err(_) => {
                self.counters.sync_violations += 1;
                let pid = self.nodes[from as usize].peer_id;
                let actions = self.nodes[to as usize].admission.drop_peer(pid, Reason::SyncViolation, now);
                self.act(to, actions);
            }
        }
    }

    fn on_request_timeout(&mut self, node: u32, id: u64) {
        let n = &mut self.nodes[node as usize];
        let Some((peer, generation, tag)) = n.requests.remove(&id) else { return };
        if let Some(s) = n.sessions.get_mut(&peer).filter(|s| s.generation == generation) {
            s.session.on_failure(tag);
        }
        self.fail_round(node, peer, "a sync request timed out");
    }

    // ---- Running ----

    /// Runs events until `until` (virtual microseconds).
    pub fn run_until(&mut self, until: Micros) {
        while let Some(e) = self.q.pop_until(until) {
            self.handle(e);
        }
    }

    /// Runs until every honest online node holds every tracked record, or `until`; checks
    /// every `check_every`. Returns when it happened.
    pub fn run_until_converged(&mut self, until: Micros, check_every: Micros) -> Option<Micros> {
        loop {
            if self.converged() {
                return Some(self.q.now());
            }
            if self.q.now() >= until {
                return None;
            }
            let next = (self.q.now() + check_every).min(until);
            self.run_until(next);
        }
    }

    /// Every honest online node holds every tracked record.
    pub fn converged(&self) -> bool {
        self.tracked
            .values()
            .all(|t| self.nodes.iter().zip(&t.delivered).all(|(n, d)| n.hostile || !n.online || d.is_some()))
    }

    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    /// Connections of each node now.
    pub fn connection_counts(&self) -> Vec<usize> {
        self.nodes.iter().map(|n| n.links.len()).collect()
    }

    /// Gossip mesh peers of each node now.
    pub fn mesh_counts(&self) -> Vec<usize> {
        self.nodes.iter().map(|n| n.links.values().filter(|m| **m).count()).collect()
    }

    /// Hostile nodes banned by at least one honest node, and honest nodes banned by any.
    pub fn ban_figures(&self) -> (usize, usize) {
        let now = self.now_ms();
        let mut banned = BTreeSet::new();
        for n in self.nodes.iter().filter(|n| !n.hostile) {
            for (pid, _, _) in n.admission.bans(now) {
                if let Some(&j) = self.by_peer.get(&pid) {
                    banned.insert(j);
                }
            }
        }
        let hostile = banned.iter().filter(|&&j| self.nodes[j as usize].hostile).count();
        (hostile, banned.len() - hostile)
    }
}

/// `count` distinct indexes below `n`, chosen with `rng`.
pub fn rng_sample(rng: &mut fastrand::Rng, n: usize, count: usize) -> Vec<usize> {
    let count = count.min(n);
    if count * 4 < n {
        // Few of many: draw until distinct (no n-sized allocation per node at 10,000 nodes).
        let mut picked = BTreeSet::new();
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let i = rng.usize(0..n);
            if picked.insert(i) {
                out.push(i);
            }
        }
        return out;
    }
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..count {
        let j = rng.usize(i..n);
        all.swap(i, j);
    }
    all.truncate(count);
    all
}

/// What a responder reads: its store (as the node's `StoreSource`; no membership records are
/// simulated).
pub struct Source<'a>(pub &'a MemStore);

impl SyncSource for Source<'_> {
    fn feed(&self, author: &NodeKey, from: u64, to: u64, max_bytes: usize) -> Vec<Vec<u8>> {
        let count = to.saturating_sub(from).saturating_add(1).min(SyncLimits::default().page_records) as usize;
        self.0.feed_bytes(author, from, count, max_bytes).unwrap_or_default()
    }

    fn fork_proof(&self, author: &NodeKey) -> Option<(Vec<u8>, Vec<u8>)> {
        self.0.fork_proof(author).ok().flatten().map(|p| (p.first, p.second))
    }

    fn membership(&self) -> Vec<(RecordId, Vec<u8>)> {
        vec![]
    }
}
