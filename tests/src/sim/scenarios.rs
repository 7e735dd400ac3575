//! The scenarios and the figures they measure.

use csx_node::author::Author;
use csx_node::store::{MemStore, Store};
use csx_protocol::keys::SecretKey;
use csx_protocol::sync::{SyncAction, SyncLimits, SyncRequest, SyncResponse, SyncSession, respond};
use csx_protocol::{Record, VerifyContext};
use serde::Serialize;
use serde_json::{Value, json};

use super::SimConfig;
use super::queue::Micros;
use super::world::{EPOCH_MS, Event, FED, Source, World, cert_record, key_seed, rng_sample};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Records published by random honest nodes; how long until every node holds them.
    Propagation,
    /// The same with hostile nodes, beside a run of the same seed without them.
    Hostile,
    /// A 50/50 split while records are published on both sides; convergence after it heals.
    Partition,
    /// 10% of the nodes away while records are published; their catch-up after they return.
    Churn,
    /// Bytes of one sync round between two nodes with `authors` feeds: in step, one record apart.
    SyncBytes,
    /// Clocks off by up to ± `max_skew_ms` (15 minutes unless set): records from the future
    /// are refused by the nodes behind and come by sync once their clocks catch up.
    Skew,
    /// One node back from an outage on a flapping network (20 cuts) while records are
    /// published; how soon it converges after the last cut.
    Flapping,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Propagation,
        Scenario::Hostile,
        Scenario::Partition,
        Scenario::Churn,
        Scenario::SyncBytes,
        Scenario::Skew,
        Scenario::Flapping,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Propagation => "propagation",
            Scenario::Hostile => "hostile",
            Scenario::Partition => "partition",
            Scenario::Churn => "churn",
            Scenario::SyncBytes => "sync-bytes",
            Scenario::Skew => "skew",
            Scenario::Flapping => "flapping",
        }
    }

    pub fn parse(s: &str) -> Result<Scenario, String> {
        Scenario::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL.iter().map(|x| x.name()).collect();
            format!("unknown scenario {s:?}; one of: {}", names.join(", "))
        })
    }
}

/// Runs `scenario`; `authors` is for [`Scenario::SyncBytes`]. The figures as JSON.
pub fn run(scenario: Scenario, cfg: &SimConfig, authors: usize) -> Value {
    match scenario {
        Scenario::Propagation => serde_json::to_value(propagation(cfg)).unwrap_or(Value::Null),
        Scenario::Hostile => {
            let clean = SimConfig { hostile_pct: 0.0, ..cfg.clone() };
            let hostile_pct = if cfg.hostile_pct > 0.0 { cfg.hostile_pct } else { 10.0 };
            let hostile = SimConfig { hostile_pct, ..cfg.clone() };
            json!({ "without_hostile": propagation(&clean), "with_hostile": propagation(&hostile) })
        }
        Scenario::Partition => serde_json::to_value(partition(cfg)).unwrap_or(Value::Null),
        Scenario::Churn => serde_json::to_value(churn(cfg)).unwrap_or(Value::Null),
        Scenario::SyncBytes => serde_json::to_value(sync_bytes(authors, cfg.seed)).unwrap_or(Value::Null),
        Scenario::Skew => {
            let max_skew_ms = if cfg.max_skew_ms > 2_000 { cfg.max_skew_ms } else { 15 * 60 * 1000 };
            serde_json::to_value(skew(&SimConfig { max_skew_ms, ..cfg.clone() })).unwrap_or(Value::Null)
        }
        Scenario::Flapping => serde_json::to_value(flapping(cfg, 20)).unwrap_or(Value::Null),
    }
}

const MS: Micros = 1_000;
const S: Micros = 1_000_000;
/// Time between two records published.
const PUBLISH_GAP: Micros = 250 * MS;

/// The value at quantile `q` (nearest rank) of sorted `v`.
fn quantile(v: &[Micros], q: f64) -> Option<Micros> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

fn ms(us: Option<Micros>) -> Option<f64> {
    us.map(|u| (u as f64 / 1000.0 * 10.0).round() / 10.0)
}

#[derive(Debug, Serialize)]
pub struct Spread {
    pub nodes: usize,
    pub honest_nodes: usize,
    pub records: usize,
    /// Each (node, record) pair: time from publication until the node held the record.
    pub delivery_p50_ms: Option<f64>,
    pub delivery_p99_ms: Option<f64>,
    /// Each record: time until every honest online node held it.
    pub reach_all_p50_ms: Option<f64>,
    pub reach_all_p99_ms: Option<f64>,
    pub reach_all_max_ms: Option<f64>,
    /// (node, record) pairs still missing at the end of the run.
    pub missing: u64,
    pub gossip_messages_per_node_per_record: f64,
    pub gossip_bytes_per_node_per_record: f64,
    pub duplicates_per_node_per_record: f64,
    /// Most connections any node held at once during the run, and the bound.
    pub max_connections_seen: usize,
    pub max_peers: usize,
    pub mesh_min: usize,
    pub mesh_max: usize,
    /// Hostile nodes banned by at least one honest node; honest nodes banned by any.
    pub hostile_banned: usize,
    pub honest_banned: usize,
    pub counters: super::world::Counters,
}

/// Spread of the tracked records among the honest nodes online at the end.
fn spread(w: &World, since: &super::world::Counters) -> Spread {
    let honest: Vec<usize> = (0..w.nodes.len()).filter(|&i| !w.nodes[i].hostile && w.nodes[i].online).collect();
    let mut deliveries = Vec::new();
    let mut reach_all = Vec::new();
    let mut missing = 0;
    for t in w.tracked.values() {
        let mut last = Some(0);
        for &i in &honest {
            match t.delivered[i] {
                Some(at) => {
                    let d = at.saturating_sub(t.published_at);
                    if d > 0 {
                        deliveries.push(d);
                    }
                    last = last.map(|l: Micros| l.max(d));
                }
                None => {
                    missing += 1;
                    last = None;
                }
            }
        }
        if let Some(l) = last {
            reach_all.push(l);
        }
    }
    deliveries.sort_unstable();
    reach_all.sort_unstable();
    let c = &w.counters;
    let per = (w.nodes.len() * w.tracked.len().max(1)) as f64;
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let mesh = w.mesh_counts();
    let honest_mesh: Vec<usize> = honest.iter().map(|&i| mesh[i]).collect();
    let (hostile_banned, honest_banned) = w.ban_figures();
    Spread {
        nodes: w.nodes.len(),
        honest_nodes: honest.len(),
        records: w.tracked.len(),
        delivery_p50_ms: ms(quantile(&deliveries, 0.5)),
        delivery_p99_ms: ms(quantile(&deliveries, 0.99)),
        reach_all_p50_ms: ms(quantile(&reach_all, 0.5)),
        reach_all_p99_ms: ms(quantile(&reach_all, 0.99)),
        reach_all_max_ms: ms(reach_all.last().copied()),
        missing,
        // The records' copies only, not the forged records hostile nodes sent.
        gossip_messages_per_node_per_record: round2(
            ((c.gossip_messages - since.gossip_messages) - (c.forged_sent - since.forged_sent)) as f64 / per,
        ),
        gossip_bytes_per_node_per_record: round2(
            ((c.gossip_bytes - since.gossip_bytes) - (c.forged_bytes - since.forged_bytes)) as f64 / per,
        ),
        duplicates_per_node_per_record: round2((c.gossip_duplicates - since.gossip_duplicates) as f64 / per),
        max_connections_seen: w.max_links_seen,
        max_peers: w.cfg.max_peers,
        mesh_min: honest_mesh.iter().copied().min().unwrap_or(0),
        mesh_max: honest_mesh.iter().copied().max().unwrap_or(0),
        hostile_banned,
        honest_banned,
        counters: c.clone(),
    }
}

/// Publishes `count` records, one every [`PUBLISH_GAP`] from now, in turn by the publishers
/// (optionally only those in `side`).
fn publish_some(w: &mut World, count: usize, side: Option<&[bool]>) {
    let candidates: Vec<u32> = w.publishers.iter().copied().filter(|&i| side.is_none_or(|s| s[i as usize])).collect();
    if candidates.is_empty() {
        return;
    }
    let start = w.q.now();
    for k in 0..count {
        let node = candidates[k % candidates.len()];
        w.q.push(start + k as Micros * PUBLISH_GAP, Event::Publish { node });
    }
}

/// Records spread by gossip (and sync, for what the mesh misses).
pub fn propagation(cfg: &SimConfig) -> Spread {
    spread_within(cfg, 120 * S)
}

/// As [`propagation`], waiting up to `horizon` after the last record for every node to hold
/// every record.
fn spread_within(cfg: &SimConfig, horizon: Micros) -> Spread {
    let mut w = World::new(cfg.clone());
    // Connections and meshes form (and hostile nodes show themselves) before publishing.
    w.run_until(cfg.settle_ms * MS);
    let before = w.counters.clone();
    publish_some(&mut w, cfg.records, None);
    let last = w.q.now() + (cfg.records as Micros - 1) * PUBLISH_GAP;
    w.run_until(last);
    w.run_until_converged(last + horizon, 50 * MS);
    // Let the last deliveries settle so that the counts cover every copy sent.
    w.run_until(w.q.now() + 2 * S);
    spread(&w, &before)
}

#[derive(Debug, Serialize)]
pub struct PartitionFigures {
    pub nodes: usize,
    pub records: usize,
    /// Before the heal: each side held only its own records.
    pub spread_before_heal: bool,
    /// From the heal until every node holds every record.
    pub converged_after_ms: Option<f64>,
    pub sync_rounds_after_heal: u64,
    pub sync_bytes_after_heal: u64,
    pub max_connections_seen: usize,
    pub counters: super::world::Counters,
}

pub fn partition(cfg: &SimConfig) -> PartitionFigures {
    let mut w = World::new(cfg.clone());
    w.run_until(cfg.settle_ms * MS);
    let n = w.nodes.len();
    let left: Vec<usize> = rng_sample(w.rng(), n, n / 2);
    let mut side = vec![false; n];
    for i in left {
        side[i] = true;
    }
    let groups: Vec<u8> = side.iter().map(|&l| if l { 1 } else { 2 }).collect();
    w.handle(Event::Partition { groups });
    let half = cfg.records.div_ceil(2);
    publish_some(&mut w, half, Some(&side));
    let right: Vec<bool> = side.iter().map(|l| !l).collect();
    publish_some(&mut w, cfg.records - half, Some(&right));
    w.run_until(w.q.now() + 30 * S);
    // Each side should hold only its own records now.
    let spread_before_heal = w.tracked.values().all(|t| {
        let on_left = t.delivered.iter().zip(&side).filter(|(h, s)| h.is_some() && **s).count();
        let on_right = t.delivered.iter().zip(&side).filter(|(h, s)| h.is_some() && !**s).count();
        on_left == 0 || on_right == 0
    });
    w.handle(Event::Heal);
    let healed = w.q.now();
    let before = w.counters.clone();
    let done = w.run_until_converged(healed + 600 * S, 100 * MS);
    PartitionFigures {
        nodes: n,
        records: w.tracked.len(),
        spread_before_heal,
        converged_after_ms: ms(done.map(|t| t - healed)),
        sync_rounds_after_heal: w.counters.rounds - before.rounds,
        sync_bytes_after_heal: w.counters.sync_bytes - before.sync_bytes,
        max_connections_seen: w.max_links_seen,
        counters: w.counters.clone(),
    }
}

#[derive(Debug, Serialize)]
pub struct ChurnFigures {
    pub nodes: usize,
    pub away: usize,
    pub records: usize,
    /// Nodes online throughout, 30 s after the records were published.
    pub spread: Spread,
    /// From their return until the returning nodes (and all others) held every record.
    pub caught_up_after_ms: Option<f64>,
}

pub fn churn(cfg: &SimConfig) -> ChurnFigures {
    let mut w = World::new(cfg.clone());
    w.run_until(cfg.settle_ms * MS);
    let n = w.nodes.len();
    let publishers: Vec<u32> = w.publishers.clone();
    let away: Vec<usize> =
        rng_sample(w.rng(), n, n / 10).into_iter().filter(|i| !publishers.contains(&(*i as u32))).collect();
    for &i in &away {
        w.handle(Event::SetOnline { node: i as u32, online: false });
    }
    let before = w.counters.clone();
    publish_some(&mut w, cfg.records, None);
    w.run_until(w.q.now() + 30 * S);
    let spread = spread(&w, &before);
    for &i in &away {
        w.handle(Event::SetOnline { node: i as u32, online: true });
    }
    let back = w.q.now();
    let done = w.run_until_converged(back + 600 * S, 100 * MS);
    ChurnFigures {
        nodes: n,
        away: away.len(),
        records: w.tracked.len(),
        spread,
        caught_up_after_ms: ms(done.map(|t| t - back)),
    }
}

#[derive(Debug, Serialize)]
pub struct FlappingFigures {
    pub nodes: usize,
    pub records: usize,
    /// Times the flapping node's links went down.
    pub cuts: u32,
    /// From the last cut until every node held every record.
    pub converged_after_ms: Option<f64>,
    /// Most records the flapping node held waiting for a gap, and at the end.
    pub max_pending: u64,
    pub pending_at_end: u64,
}

/// The simulator's version of tests/tests/flapping.rs: a node away while the first half of the
/// records is published comes back on a flapping network — its links cut for 0.1–0.6 s every
/// 0.3–1.2 s, `cuts` times, while the rest is published — and still converges, with nothing
/// left waiting for a gap.
pub fn flapping(cfg: &SimConfig, cuts: u32) -> FlappingFigures {
    let mut w = World::new(cfg.clone());
    w.run_until(cfg.settle_ms * MS);
    let node = (0..w.nodes.len() as u32).find(|i| !w.publishers.contains(i) && !w.nodes[*i as usize].hostile);
    let Some(node) = node else {
        return FlappingFigures {
            nodes: w.nodes.len(),
            records: 0,
            cuts: 0,
            converged_after_ms: None,
            max_pending: 0,
            pending_at_end: 0,
        };
    };
    w.handle(Event::SetOnline { node, online: false });
    publish_some(&mut w, cfg.records, None);
    w.run_until(w.q.now() + (cfg.records as Micros / 2) * PUBLISH_GAP);
    w.handle(Event::SetOnline { node, online: true });
    let pending = |w: &World| w.nodes[node as usize].store.stats().map_or(0, |s| s.pending);
    let mut max_pending = 0;
    for _ in 0..cuts {
        let up = w.rng().u64(300..1200) * MS;
        w.run_until(w.q.now() + up);
        max_pending = max_pending.max(pending(&w));
        w.handle(Event::SetOnline { node, online: false });
        let down = w.rng().u64(100..600) * MS;
        w.run_until(w.q.now() + down);
        w.handle(Event::SetOnline { node, online: true });
    }
    let last_cut = w.q.now();
    let last_record = last_cut.max(cfg.settle_ms * MS + cfg.records as Micros * PUBLISH_GAP);
    w.run_until(last_record);
    let done = w.run_until_converged(last_record + 600 * S, 100 * MS);
    max_pending = max_pending.max(pending(&w));
    FlappingFigures {
        nodes: w.nodes.len(),
        records: w.tracked.len(),
        cuts,
        converged_after_ms: ms(done.map(|t| t - last_cut)),
        max_pending,
        pending_at_end: pending(&w),
    }
}

#[derive(Debug, Serialize)]
pub struct SkewFigures {
    pub max_skew_ms: u64,
    pub spread: Spread,
}

pub fn skew(cfg: &SimConfig) -> SkewFigures {
    // A record from up to `max_skew_ms` ahead waits at the nodes as far behind until their
    // clocks are within the protocol's tolerance (10 minutes) of it.
    let horizon = 2 * cfg.max_skew_ms * MS + 120 * S;
    SkewFigures { max_skew_ms: cfg.max_skew_ms, spread: spread_within(cfg, horizon) }
}

#[derive(Debug, Serialize)]
pub struct SyncBytes {
    pub authors: usize,
    /// Request and response bytes (the protocol's encoding) of one round between two nodes
    /// holding the same heads.
    pub in_step_bytes: usize,
    pub in_step_messages: usize,
    /// The same when the initiator lacks one record the responder holds.
    pub one_missing_bytes: usize,
    pub one_missing_messages: usize,
    /// Of which the `Differs` response (the bucket digests).
    pub differs_bytes: usize,
    /// Of which the `Heads` response (the differing bucket's heads).
    pub heads_bytes: usize,
    /// Of which the `Records` response (the record itself).
    pub records_bytes: usize,
    /// The round brought the missing record.
    pub fetched: bool,
}

/// One round from `ask` to `answer`, by the real session and responder; (bytes, messages,
/// bytes per response type, records received).
fn measured_round(ask: &MemStore, answer: &MemStore) -> (usize, usize, Vec<(&'static str, usize)>, u64) {
    let (mut session, first) = SyncSession::start(FED, SyncLimits::default(), &mut ask.heads_index());
    let (mut bytes, mut messages, mut parts) = (0, 0, Vec::new());
    let mut actions = vec![first];
    let ctx = VerifyContext::new(FED, EPOCH_MS + 3_600_000);
    while let Some(a) = actions.pop() {
        match a {
            SyncAction::Send { tag, request } => {
                let req = request.encode();
                bytes += req.len();
                messages += 1;
                let Ok(req) = SyncRequest::decode(&req) else { break };
                let resp = respond(&FED, &req, &mut answer.heads_index(), 1 << 20, &Source(answer)).encode();
                bytes += resp.len();
                messages += 1;
                let len = resp.len();
                let Ok(resp) = SyncResponse::decode(&resp) else { break };
                let kind = match resp {
                    SyncResponse::Differs { .. } => "differs",
                    SyncResponse::Heads { .. } => "heads",
                    SyncResponse::Records { .. } => "records",
                    _ => "other",
                };
                parts.push((kind, len));
                match session.on_response(tag, resp, &mut ask.heads_index()) {
                    Ok(next) => actions.extend(next),
                    Err(_) => break,
                }
            }
            SyncAction::Ingest { records } => {
                let verified: Vec<_> =
                    records.into_iter().filter_map(|b| Record::decode(b).and_then(|r| r.verify(&ctx)).ok()).collect();
                let _ = ask.insert(verified);
                actions.extend(session.on_stored());
            }
            SyncAction::Fork { .. } => {}
        }
    }
    (bytes, messages, parts, session.received)
}

/// Sync round sizes with `authors` feeds of two records each (a certificate and a review).
pub fn sync_bytes(authors: usize, seed: u64) -> SyncBytes {
    let full = MemStore::new(10);
    let lacking = MemStore::new(10);
    let ctx = VerifyContext::new(FED, EPOCH_MS + 3_600_000);
    let org = SecretKey::from_seed(&key_seed(seed, 0x0e9));
    let mut records = Vec::with_capacity(2 * authors);
    for i in 0..authors as u64 {
        let mut a = Author::new(SecretKey::from_seed(&key_seed(seed, 0x5157_0000_0000 + i)), FED, None);
        let cert = cert_record(&org, &a);
        a.advance(std::slice::from_ref(&cert));
        let review = a.sign(vec![super::world::review_body(i)], EPOCH_MS).expect("a valid review signs").remove(0);
        for r in [cert, review] {
            records.push(r.verify(&ctx).expect("a fresh record verifies"));
        }
    }
    full.insert(records.clone()).expect("the memory store takes them");
    let missing = records.pop();
    lacking.insert(records).expect("the memory store takes them");
    let (in_step_bytes, in_step_messages, _, _) = measured_round(&full, &full);
    let (one_missing_bytes, one_missing_messages, parts, received) = measured_round(&lacking, &full);
    let part = |k| parts.iter().filter(|(n, _)| *n == k).map(|(_, b)| b).sum();
    SyncBytes {
        authors,
        in_step_bytes,
        in_step_messages,
        one_missing_bytes,
        one_missing_messages,
        differs_bytes: part("differs"),
        heads_bytes: part("heads"),
        records_bytes: part("records"),
        fetched: received == 1 && missing.is_some_and(|m| lacking.get(&m.id()).ok().flatten().is_some()),
    }
}

/// The figures as a table of (scenario, figure, value) rows.
pub fn table(scenario: &str, v: &Value) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    fn walk(prefix: &str, v: &Value, rows: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&p, x, rows);
                }
            }
            Value::Null => rows.push((prefix.to_string(), "–".into())),
            other => rows.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut flat = Vec::new();
    walk("", v, &mut flat);
    for (k, x) in flat {
        if k.contains("counters.")
            && !k.ends_with("bans")
            && !k.ends_with("forged_stored")
            && !k.ends_with("forged_refused")
        {
            continue;
        }
        rows.push((scenario.to_string(), k, x));
    }
    rows
}
