//! The ingest pipeline: records received from the network are decoded, verified and stored on a
//! dedicated thread, in batches, so the swarm task only moves bytes. Jobs are processed in the
//! order they were queued, so a feed's pages are stored in order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use csx_protocol::keys::PublicKey;
use csx_protocol::{NodeKey, Record, RecordError, VerifyContext};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::service::Clock;
use crate::store::{Outcome, Store};

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
    /// A second record at a held seq: the author forked.
    Fork {
        author: NodeKey,
    },
    /// Invalid (bad signature, malformed, wrong federation, …): the sender should be penalised.
    Invalid {
        reason: &'static str,
        detail: String,
    },
    /// Valid but refused by the store (wrong prev, forked author, too many waiting).
    Refused {
        reason: &'static str,
    },
}

/// Counts of what the node received and why it refused what it refused, for `csx status`.
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<BTreeMap<String, u64>>,
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
}

/// Submits records to the ingest thread.
#[derive(Debug, Clone)]
pub struct IngestHandle {
    tx: mpsc::UnboundedSender<Job>,
}

impl IngestHandle {
    /// Queues `records` (in order) and returns where their verdicts will arrive. Queuing never
    /// waits, so the event loop can call it; callers bound how much they queue.
    pub fn enqueue(&self, records: Vec<Vec<u8>>) -> oneshot::Receiver<Vec<Verdict>> {
        let (reply, rx) = oneshot::channel();
        // If the worker has stopped (shutdown), the receiver reports it by closing.
        let _ = self.tx.send(Job { records, reply });
        rx
    }
}

/// Most records verified and stored as one batch.
const MAX_BATCH: usize = 4096;

/// Starts the ingest thread.
pub fn spawn(
    store: Arc<dyn Store>,
    federation: csx_protocol::FederationId,
    clock: Clock,
    counters: Arc<Counters>,
) -> (IngestHandle, std::thread::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let join = std::thread::Builder::new()
        .name("csx-ingest".into())
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
                    replies.push((job.records.len(), job.reply));
                    records.extend(job.records);
                }
                let verdicts = process(store.as_ref(), &ctx, &mut keys, &counters, records);
                let mut it = verdicts.into_iter();
                for (len, reply) in replies {
                    let _ = reply.send(it.by_ref().take(len).collect());
                }
            }
            if let Err(e) = store.flush() {
                tracing::error!("flushing the store at shutdown failed: {e}");
            }
        })
        .expect("the ingest thread starts");
    (IngestHandle { tx }, join)
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

fn process(
    store: &dyn Store,
    ctx: &VerifyContext,
    keys: &mut KeyCache,
    counters: &Counters,
    records: Vec<Vec<u8>>,
) -> Vec<Verdict> {
    let mut verdicts: Vec<Option<Verdict>> = Vec::new();
    let mut verified = Vec::new();
    let mut slots = Vec::new();
    for bytes in records {
        let checked =
            Record::decode(bytes).and_then(|r| keys.get(&r.author()).and_then(|k| r.verify_with_key(ctx, &k)));
        match checked {
            Ok(v) => {
                slots.push(verdicts.len());
                verdicts.push(None);
                verified.push(v);
            }
            Err(e) => {
                counters.add(&rejected_counter(e.reason()), 1);
                verdicts.push(Some(Verdict::Invalid { reason: e.reason(), detail: e.to_string() }));
            }
        }
    }
    counters.add("received", verdicts.len() as u64);
    let authors: Vec<(NodeKey, u64)> = verified.iter().map(|r| (r.author(), r.seq())).collect();
    match store.insert(verified) {
        Ok(report) => {
            counters.add("appended", report.appended() as u64);
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
                        Verdict::Fork { author }
                    }
                    Outcome::Refused { reason } => {
                        counters.add(&rejected_counter(reason.as_str()), 1);
                        Verdict::Refused { reason: reason.as_str() }
                    }
                };
                verdicts[slots[i]] = Some(v);
            }
        }
        Err(e) => {
            tracing::error!("storing received records failed: {e}");
            for s in slots {
                verdicts[s] = Some(Verdict::Refused { reason: "store_error" });
            }
        }
    }
    verdicts.into_iter().map(|v| v.unwrap_or(Verdict::Refused { reason: "store_error" })).collect()
}
