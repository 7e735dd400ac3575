//! The ingest pipeline: records received from the network are decoded, verified and stored on a
//! dedicated thread, in batches, so the swarm task only moves bytes. Jobs are processed in the
//! order they were queued, so a feed's pages are stored in order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use csx_protocol::keys::PublicKey;
use csx_protocol::{NodeKey, Record, RecordError, VerifyContext};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::membership::Membership;
use crate::service::Clock;
use crate::store::{Outcome, Store};
use csx_protocol::body::NodeCert;
use csx_protocol::roster::Standing;
use csx_protocol::{Body, Verified};

/// What became of one received record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Appended,
    Duplicate,
    /// Valid, but ahead of its feed: waiting for the gap to be filled.
    Held {
        author: NodeKey,
        seq: u64,
    },
    /// A second record at a held seq: the author forked. The two records prove it.
    Fork {
        author: NodeKey,
        first: Vec<u8>,
        second: Vec<u8>,
    },
    /// Invalid in anyone's eyes (bad signature, malformed, wrong federation, …).
    Invalid {
        reason: &'static str,
        detail: String,
    },
    /// Validly signed, but its author is not a member in good standing here (unknown, not
    /// admitted, revoked, retired, expired). Another node may know more, so this is counted but
    /// weighs less against the sender.
    NotValid {
        reason: &'static str,
    },
    /// By an organisation endorsed but not yet admitted: held until it is.
    Quarantined,
    /// Valid but refused by the store (wrong prev, forked author, too many waiting).
    Refused {
        reason: &'static str,
    },
}

impl Verdict {
    /// Why a valid record was not taken here — not a member in good standing, quarantined, or
    /// refused by the store — as sync rounds report it (`rounds::Rounds::stored`); `None` for a
    /// record taken, a duplicate, one held, a fork or an invalid record.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Verdict::NotValid { reason } | Verdict::Refused { reason } => Some(reason),
            Verdict::Quarantined => Some("quarantined"),
            _ => None,
        }
    }
}

/// Counts of what the node received and why it refused what it refused, for `csx status`.
#[derive(Debug)]
pub struct Counters {
    inner: Mutex<BTreeMap<String, u64>>,
    /// Signalled whenever records are appended to the store (by ingest or by this node's own
    /// writes): the alert watcher waits on it.
    pub records_stored: tokio::sync::Notify,
    /// Seconds from records being queued for ingest to their verdicts (verified, classified
    /// and stored), per queued batch: the metrics' ingest latency.
    pub ingest_seconds: prometheus_client::metrics::histogram::Histogram,
    /// Records queued for ingest and not yet decided.
    pub ingest_queued: std::sync::atomic::AtomicU64,
    /// Records received by gossip waiting for their verdicts (bounded by the event loop).
    pub gossip_in_flight: std::sync::atomic::AtomicU64,
    /// Microseconds the verifier stage spent decoding and verifying batches (wall time, on
    /// however many cores), and the store stage classifying and storing them. Against the wall
    /// time of a catch-up they tell which stage bounds it (csx-bench reports them).
    pub verify_micros: std::sync::atomic::AtomicU64,
    pub store_micros: std::sync::atomic::AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            inner: Mutex::default(),
            records_stored: tokio::sync::Notify::new(),
            // 0.5 ms to about 16 s.
            ingest_seconds: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16),
            ),
            ingest_queued: std::sync::atomic::AtomicU64::new(0),
            gossip_in_flight: std::sync::atomic::AtomicU64::new(0),
            verify_micros: std::sync::atomic::AtomicU64::new(0),
            store_micros: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Counters {
    pub fn add(&self, name: &str, n: u64) {
        if n == 0 {
            return;
        }
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(name.to_string()).or_default() += n;
    }
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn get(&self, name: &str) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).get(name).copied().unwrap_or(0)
    }
}

/// Where the counters of rejected records go: `rejected.<reason>`.
pub fn rejected_counter(reason: &str) -> String {
    format!("rejected.{reason}")
}

/// A snapshot of the counters in the status reply.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CounterSnapshot(pub BTreeMap<String, u64>);

struct Job {
    records: Vec<Vec<u8>>,
    reply: oneshot::Sender<Vec<Verdict>>,
    queued: std::time::Instant,
}

/// Submits records to the ingest thread.
#[derive(Debug, Clone)]
pub struct IngestHandle {
    tx: mpsc::UnboundedSender<Job>,
    counters: Arc<Counters>,
}

impl IngestHandle {
    /// Queues `records` (in order) and returns where their verdicts will arrive. Queuing never
    /// waits, so the event loop can call it; callers bound how much they queue.
    pub fn enqueue(&self, records: Vec<Vec<u8>>) -> oneshot::Receiver<Vec<Verdict>> {
        let (reply, rx) = oneshot::channel();
        let n = records.len() as u64;
        // If the worker has stopped (shutdown), the receiver reports it by closing.
        if self.tx.send(Job { records, reply, queued: std::time::Instant::now() }).is_ok() {
            self.counters.ingest_queued.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        rx
    }
}

/// A verified batch on its way to the store stage, with where its verdicts go.
struct Stage {
    ctx: VerifyContext,
    checked: Vec<Result<Verified<Record>, RecordError>>,
    replies: Vec<(usize, oneshot::Sender<Vec<Verdict>>, std::time::Instant)>,
}

/// Most records verified and stored as one batch.
const MAX_BATCH: usize = 4096;

/// Starts the ingest thread.
pub fn spawn(
    store: Arc<dyn Store>,
    membership: Arc<Membership>,
    clock: Clock,
    counters: Arc<Counters>,
) -> (IngestHandle, std::thread::JoinHandle<()>) {
    let federation = membership.genesis().id();
    let counters_for_handle = counters.clone();
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    // Two stages, so that verifying one batch (on every core) overlaps storing the one before:
    // the verifier gathers queued jobs into a batch and verifies it; the store stage classifies
    // it against the roster and stores it. At most one verified batch waits between them.
    let (stage_tx, stage_rx) = std::sync::mpsc::sync_channel::<Stage>(1);
    let verify_counters = counters.clone();
    std::thread::Builder::new()
        .name("csx-verify".into())
        .spawn(move || {
            let mut keys = KeyCache::default();
            while let Some(first) = rx.blocking_recv() {
                let mut jobs = vec![first];
                let mut n = jobs[0].records.len();
                while n < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => {
                            n += j.records.len();
                            jobs.push(j);
                        }
                        Err(_) => break,
                    }
                }
                let ctx = VerifyContext::new(federation, clock());
                let mut replies = Vec::with_capacity(jobs.len());
                let mut records = Vec::with_capacity(n);
                for job in jobs {
                    replies.push((job.records.len(), job.reply, job.queued));
                    records.extend(job.records);
                }
                let started = std::time::Instant::now();
                let checked = verify_all(records, &ctx, &mut keys);
                add_micros(&verify_counters.verify_micros, started);
                if stage_tx.send(Stage { ctx, checked, replies }).is_err() {
                    break;
                }
            }
        })
        .expect("the verifier thread starts");
    let join = std::thread::Builder::new()
        .name("csx-ingest".into())
        .spawn(move || {
            let mut keys = KeyCache::default();
            while let Ok(stage) = stage_rx.recv() {
                let started = std::time::Instant::now();
                let verdicts = process(store.as_ref(), &membership, &stage.ctx, &mut keys, &counters, stage.checked);
                add_micros(&counters.store_micros, started);
                if verdicts.iter().any(|v| *v == Verdict::Appended) {
                    counters.records_stored.notify_one();
                }
                let mut it = verdicts.into_iter();
                for (len, reply, queued) in stage.replies {
                    counters.ingest_seconds.observe(queued.elapsed().as_secs_f64());
                    let _ = counters.ingest_queued.fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |q| Some(q.saturating_sub(len as u64)),
                    );
                    let _ = reply.send(it.by_ref().take(len).collect());
                }
            }
            if let Err(e) = store.flush() {
                tracing::error!("flushing the store at shutdown failed: {e}");
            }
        })
        .expect("the ingest thread starts");
    (IngestHandle { tx, counters: counters_for_handle }, join)
}

fn add_micros(total: &std::sync::atomic::AtomicU64, since: std::time::Instant) {
    let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    total.fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
}

/// Decoded public keys of recent authors (point decompression is a fifth of a verification).
#[derive(Default)]
struct KeyCache {
    keys: HashMap<NodeKey, PublicKey>,
}

impl KeyCache {
    fn get(&mut self, author: &NodeKey) -> Result<PublicKey, RecordError> {
        if let Some(k) = self.keys.get(author) {
            return Ok(*k);
        }
        let k = PublicKey::from_bytes(author.as_bytes()).map_err(|_| RecordError::BadAuthorKey)?;
        if self.keys.len() > 100_000 {
            self.keys.clear();
        }
        self.keys.insert(*author, k);
        Ok(k)
    }
}

/// Below this many records a batch is verified on the ingest thread alone.
const PARALLEL_FROM: usize = 256;

/// Decodes and verifies `records` — on every core for large batches — with the same results, in
/// the same order, as verifying them one by one. Every signature is checked singly under the
/// strict rule: batch verification would be faster, but its equation can accept signatures with
/// crafted small-order components that the strict rule refuses, and with random weights, so two
/// nodes could disagree about a record (see docs/PERFORMANCE.md).
fn verify_all(
    records: Vec<Vec<u8>>,
    ctx: &VerifyContext,
    keys: &mut KeyCache,
) -> Vec<Result<Verified<Record>, RecordError>> {
    let decoded: Vec<Result<(Record, PublicKey), RecordError>> =
        records.into_iter().map(|b| Record::decode(b).and_then(|r| keys.get(&r.author()).map(|k| (r, k)))).collect();
    let verify = |d: Result<(Record, PublicKey), RecordError>| d.and_then(|(r, k)| r.verify_with_key(ctx, &k));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads == 1 || decoded.len() < PARALLEL_FROM {
        return decoded.into_iter().map(verify).collect();
    }
    let chunk = decoded.len().div_ceil(threads);
    let mut parts: Vec<Vec<_>> = Vec::with_capacity(threads);
    let mut it = decoded.into_iter();
    loop {
        let part: Vec<_> = it.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    std::thread::scope(|s| {
        let verify = &verify;
        let handles: Vec<_> =
            parts.into_iter().map(|part| s.spawn(move || part.into_iter().map(verify).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a verifier thread panicked")).collect()
    })
}

fn process(
    store: &dyn Store,
    membership: &Membership,
    ctx: &VerifyContext,
    keys: &mut KeyCache,
    counters: &Counters,
    checked: Vec<Result<Verified<Record>, RecordError>>,
) -> Vec<Verdict> {
    let verdicts = store_checked(store, membership, counters, checked);
    // Membership records may have changed the roster: enforce it, and give admitted applicants'
    // quarantined records another pass (repeatedly: one admission can enable another).
    let mut rounds = 0;
    let mut changed = verdicts.iter().any(|(v, kind)| matches!(v, Verdict::Appended) && is_membership(*kind));
    while changed && rounds < 8 {
        rounds += 1;
        changed = false;
        match membership.refresh(store) {
            Ok(Some(enforcement)) => {
                counters.add("truncated", enforcement.truncated);
                for author in enforcement.releasable {
                    match store.take_quarantined(&author) {
                        Ok(held) => {
                            counters.add("released", held.len() as u64);
                            let again = store_batch(store, membership, ctx, keys, counters, held);
                            changed |= again.iter().any(|(v, k)| matches!(v, Verdict::Appended) && is_membership(*k));
                        }
                        Err(e) => tracing::error!("releasing quarantined records failed: {e}"),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!("recomputing the roster failed: {e}"),
        }
    }
    verdicts.into_iter().map(|(v, _)| v).collect()
}

fn is_membership(kind: u16) -> bool {
    crate::membership::MEMBERSHIP_KINDS.iter().any(|k| k.code() as u16 == kind)
}

/// The certificate of `author`: from this batch, the store, or its quarantined records.
fn cert_of(store: &dyn Store, batch: &HashMap<NodeKey, NodeCert>, author: &NodeKey) -> Option<NodeCert> {
    if let Some(c) = batch.get(author) {
        return Some(c.clone());
    }
    let from_record = |r: Record| match r.body() {
        Body::NodeCert(c) => Some(c.clone()),
        _ => None,
    };
    if let Some(c) = store.get_at(author, 1).ok().flatten().and_then(from_record) {
        return Some(c);
    }
    store.quarantined(author).ok()?.into_iter().find_map(|b| Record::decode(b).ok().and_then(from_record))
}

/// Verifies, classifies against the roster and stores one batch. Returns each verdict with the
/// record's kind code.
fn store_batch(
    store: &dyn Store,
    membership: &Membership,
    ctx: &VerifyContext,
    keys: &mut KeyCache,
    counters: &Counters,
    records: Vec<Vec<u8>>,
) -> Vec<(Verdict, u16)> {
    store_checked(store, membership, counters, verify_all(records, ctx, keys))
}

/// Classifies verified records against the roster and stores them (counting and naming the
/// refusals, including records that failed verification).
fn store_checked(
    store: &dyn Store,
    membership: &Membership,
    counters: &Counters,
    checked: Vec<Result<Verified<Record>, RecordError>>,
) -> Vec<(Verdict, u16)> {
    let records_len = checked.len();
    let roster = membership.roster();
    let mut verdicts: Vec<Option<Verdict>> = Vec::with_capacity(records_len);
    let mut kinds = Vec::with_capacity(records_len);
    let mut valid: Vec<Verified<Record>> = Vec::new();
    let mut valid_slots = Vec::new();
    let mut held: Vec<Verified<Record>> = Vec::new();
    let mut held_slots = Vec::new();
    let mut batch_certs: HashMap<NodeKey, NodeCert> = HashMap::new();
    for checked in checked {
        let record = match checked {
            Ok(v) => v,
            Err(e @ RecordError::FromTheFuture { .. }) => {
                // Valid once the receiver's clock reaches it: refused for now, counted, and
                // offered again by a later sync round; not held against the sender.
                let counter = rejected_counter(e.reason());
                counters.add(&counter, 1);
                let n = counters.get(&counter);
                if n.is_power_of_two() {
                    tracing::warn!(refused = n, "refused a record from the future: {e}");
                }
                verdicts.push(Some(Verdict::NotValid { reason: e.reason() }));
                kinds.push(0);
                continue;
            }
            Err(e) => {
                counters.add(&rejected_counter(e.reason()), 1);
                verdicts.push(Some(Verdict::Invalid { reason: e.reason(), detail: e.to_string() }));
                kinds.push(0);
                continue;
            }
        };
        kinds.push(record.header().kind);
        let author = record.author();
        let standing = match (record.seq(), record.body()) {
            (1, Body::NodeCert(c)) => roster.standing_of_cert(c, record.created_at()),
            (seq, _) => match roster.standing(&author, seq, record.created_at()) {
                Standing::UnknownNode => match cert_of(store, &batch_certs, &author) {
                    Some(c) => roster.standing_under(&c, seq, record.created_at()),
                    None => Standing::UnknownNode,
                },
                s => s,
            },
        };
        match standing {
            Standing::Valid | Standing::Applicant => {
                if let Body::NodeCert(c) = record.body() {
                    batch_certs.insert(author, c.clone());
                }
                if standing == Standing::Valid {
                    valid_slots.push(verdicts.len());
                    valid.push(record);
                } else {
                    held_slots.push(verdicts.len());
                    held.push(record);
                }
                verdicts.push(None);
            }
            other => {
                counters.add(&rejected_counter(other.reason()), 1);
                verdicts.push(Some(Verdict::NotValid { reason: other.reason() }));
            }
        }
    }
    counters.add("received", verdicts.len() as u64);
    if !held.is_empty() {
        match store.quarantine(held) {
            Ok(flags) => {
                for (slot, ok) in held_slots.into_iter().zip(flags) {
                    verdicts[slot] = Some(if ok {
                        counters.add("quarantined", 1);
                        Verdict::Quarantined
                    } else {
                        counters.add(&rejected_counter("quarantine_full"), 1);
                        Verdict::Refused { reason: "quarantine_full" }
                    });
                }
            }
            Err(e) => tracing::error!("quarantining records failed: {e}"),
        }
    }
    let authors: Vec<(NodeKey, u64)> = valid.iter().map(|r| (r.author(), r.seq())).collect();
    match store.insert(valid) {
        Ok(report) => {
            counters.add("appended", report.appended() as u64);
            let mut proofs: HashMap<NodeKey, (Vec<u8>, Vec<u8>)> =
                report.forks.into_iter().map(|p| (p.author, (p.first, p.second))).collect();
            for (i, outcome) in report.outcomes.into_iter().enumerate() {
                let (author, seq) = authors[i];
                let v = match outcome {
                    Outcome::Appended => Verdict::Appended,
                    Outcome::Duplicate => {
                        counters.add("duplicate", 1);
                        Verdict::Duplicate
                    }
                    Outcome::Held => {
                        counters.add("held", 1);
                        Verdict::Held { author, seq }
                    }
                    Outcome::Fork => {
                        counters.add("forks_detected", 1);
                        tracing::warn!(author = %author.short(), seq, "fork: the author signed two records at one seq");
                        let (first, second) = proofs.remove(&author).unwrap_or_default();
                        Verdict::Fork { author, first, second }
                    }
                    Outcome::Refused { reason } => {
                        counters.add(&rejected_counter(reason.as_str()), 1);
                        Verdict::Refused { reason: reason.as_str() }
                    }
                };
                verdicts[valid_slots[i]] = Some(v);
            }
        }
        Err(e) => {
            // Nothing of the batch was written (one atomic batch); sync offers it again later.
            tracing::error!(records = valid_slots.len(), "storing received records failed: {e}");
            counters.add(&rejected_counter("store_error"), valid_slots.len() as u64);
            for s in valid_slots {
                verdicts[s] = Some(Verdict::Refused { reason: "store_error" });
            }
        }
    }
    verdicts.into_iter().zip(kinds).map(|(v, k)| (v.unwrap_or(Verdict::Refused { reason: "store_error" }), k)).collect()
}
