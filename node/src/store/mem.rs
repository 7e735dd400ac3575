//! An in-memory [`Store`]: the same rules as [`super::SledStore`] (feeds placed by
//! [`csx_protocol::feed::place`], waiting records, forks, quarantine, the same index key layout
//! so scans come out in the same order), kept in ordered maps and lost when dropped.
//!
//! For the network simulator (`csx-tests`, `tests/src/sim/`), which runs thousands of nodes in
//! one process, and for tests that need a store without a directory. Nothing here touches a
//! disk, so no call can fail with an I/O error; `flush` does nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, RwLock};

use csx_protocol::feed::{Placement, place};
use csx_protocol::record::record_id;
use csx_protocol::sync::HeadsIndex;
use csx_protocol::{Head, Kind, NodeKey, Record, RecordId, Verified};

use super::keys;
use super::{ForkProof, InsertReport, Outcome, Records, Refusal, Scan, Store, StoreError, StoreStats};

/// Most quarantined records in all, as in the sled store.
const MAX_QUARANTINE: usize = 100_000;

/// A [`Store`] held in memory.
pub struct MemStore {
    max_pending_per_author: usize,
    /// Serialises writers, so that the heads index is updated in the order of the writes
    /// without holding `state` while taking `heads` (readers may hold `heads`, then read).
    writer: Mutex<()>,
    state: RwLock<State>,
    heads: Mutex<HeadsIndex>,
}

impl std::fmt::Debug for MemStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let records = self.read().map(|s| s.feeds.len()).unwrap_or(0);
        f.debug_struct("MemStore").field("records", &records).finish()
    }
}

#[derive(Default)]
struct State {
    feeds: BTreeMap<(NodeKey, u64), Record>,
    ids: BTreeMap<RecordId, (NodeKey, u64)>,
    heads: BTreeMap<NodeKey, Head>,
    pending: BTreeMap<(NodeKey, u64), Record>,
    pending_counts: HashMap<NodeKey, usize>,
    forks: BTreeMap<NodeKey, ForkProof>,
    quarantine: BTreeMap<(NodeKey, u64), Vec<u8>>,
    /// `K` entries of the sled layout: key → tags.
    kinds: BTreeMap<Vec<u8>, Vec<u8>>,
    /// `R` entries of the sled layout.
    refs: BTreeSet<Vec<u8>>,
    /// `C` entries of the sled layout: key → (created_at, id, seq).
    current: BTreeMap<Vec<u8>, (u64, RecordId, u64)>,
    meta: BTreeMap<String, Vec<u8>>,
    record_bytes: u64,
    /// Forks counted as the sled store counts them (one per proof kept).
    fork_count: u64,
}

/// The entries of `map` whose keys start with `prefix`, in key order.
fn with_prefix<'m, V>(map: &'m BTreeMap<Vec<u8>, V>, prefix: &[u8]) -> impl Iterator<Item = (&'m Vec<u8>, &'m V)> {
    let prefix = prefix.to_vec();
    map.range(prefix.clone()..).take_while(move |(k, _)| k.starts_with(&prefix))
}

fn feed_range<'m, V>(
    map: &'m BTreeMap<(NodeKey, u64), V>,
    author: &NodeKey,
    from: u64,
) -> std::collections::btree_map::Range<'m, (NodeKey, u64), V> {
    map.range((*author, from)..=(*author, u64::MAX))
}

impl State {
    fn index_entries(record: &Record) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
        let p = keys::pos(&record.author(), record.seq());
        let kind = record.header().kind;
        let body = record.body();
        let k = keys::kind(kind, record.created_at(), &p);
        let tags = keys::tags(body.service_line(), &body.providers());
        let refs = body.refers_to().iter().map(|t| keys::refs(t, kind, &p)).collect();
        (k, tags, refs)
    }

    fn note_latest(&mut self, record: &Record) {
        let Some(thing) = record.body().supersedes() else { return };
        let key = keys::current(record.header().kind, &thing, &record.author());
        let this = (record.created_at(), record.seq());
        if self.current.get(&key).is_none_or(|(at, _, seq)| (*at, *seq) < this) {
            self.current.insert(key, (this.0, record.id(), this.1));
        }
    }

    fn append(&mut self, record: &Record, touched: &mut HashMap<NodeKey, Option<Head>>) {
        let (author, seq, id) = (record.author(), record.seq(), record.id());
        let (k, tags, refs) = Self::index_entries(record);
        self.kinds.insert(k, tags);
        self.refs.extend(refs);
        self.note_latest(record);
        self.record_bytes += record.bytes().len() as u64;
        self.ids.insert(id, (author, seq));
        self.feeds.insert((author, seq), record.clone());
        let head = Head { seq, id };
        self.heads.insert(author, head);
        touched.insert(author, Some(head));
    }

    fn record_fork(&mut self, author: NodeKey, seq: u64, first: Vec<u8>, second: Vec<u8>, report: &mut InsertReport) {
        let proof = ForkProof { author, seq, first, second };
        self.forks.insert(author, proof.clone());
        self.fork_count += 1;
        report.forks.push(proof);
    }

    fn hold(&mut self, record: &Record, max_pending: usize, report: &mut InsertReport) -> Outcome {
        let author = record.author();
        if let Some(existing) = self.pending.get(&(author, record.seq())) {
            if existing.id() == record.id() {
                return Outcome::Duplicate;
            }
            let first = existing.bytes().to_vec();
            self.record_fork(author, record.seq(), first, record.bytes().to_vec(), report);
            return Outcome::Fork;
        }
        let count = self.pending_counts.entry(author).or_default();
        if *count >= max_pending {
            return Outcome::Refused { reason: Refusal::PendingFull };
        }
        *count += 1;
        self.pending.insert((author, record.seq()), record.clone());
        Outcome::Held
    }

    /// Appends waiting records that now follow the head, for as long as they chain.
    fn release(&mut self, author: NodeKey, touched: &mut HashMap<NodeKey, Option<Head>>, report: &mut InsertReport) {
        loop {
            let Some(head) = self.heads.get(&author).copied() else { return };
            let Some(record) = self.pending.remove(&(author, head.seq + 1)) else { return };
            if let Some(n) = self.pending_counts.get_mut(&author) {
                *n = n.saturating_sub(1);
            }
            if record.prev() != Some(head.id) {
                // Names another predecessor: it can never be placed (as in the sled store).
                return;
            }
            self.append(&record, touched);
            report.released.push(record.id());
        }
    }

    fn offer(
        &mut self,
        record: &Record,
        max_pending: usize,
        touched: &mut HashMap<NodeKey, Option<Head>>,
        report: &mut InsertReport,
    ) -> Outcome {
        let author = record.author();
        if self.forks.contains_key(&author) {
            return Outcome::Refused { reason: Refusal::ForkedAuthor };
        }
        let head = self.heads.get(&author).copied();
        if record.seq() != head.map_or(1, |h| h.seq + 1) && self.ids.contains_key(&record.id()) {
            return Outcome::Duplicate;
        }
        let held = match head {
            Some(h) if record.seq() <= h.seq => {
                self.feeds.get(&(author, record.seq())).map(|r| (r.id(), r.bytes().to_vec()))
            }
            _ => None,
        };
        match place(head, held.as_ref().map(|(id, _)| *id), record.seq(), record.prev(), record.id()) {
            Placement::Duplicate => Outcome::Duplicate,
            Placement::Fork { .. } => {
                let first = held.map(|(_, bytes)| bytes).unwrap_or_default();
                self.record_fork(author, record.seq(), first, record.bytes().to_vec(), report);
                Outcome::Fork
            }
            Placement::WrongPrev { .. } => Outcome::Refused { reason: Refusal::WrongPrev },
            Placement::Ahead => self.hold(record, max_pending, report),
            Placement::Append => {
                self.append(record, touched);
                self.release(author, touched, report);
                Outcome::Appended
            }
        }
    }

    /// The latest record by `record`'s author of the same thing before it, leaving out what
    /// `skip` names (see [`Store::latest`]).
    fn latest_before(&self, record: &Record, skip: &dyn Fn(&RecordId) -> bool) -> Option<Record> {
        let thing = record.body().supersedes()?;
        let this = (record.created_at(), record.seq());
        feed_range(&self.feeds, &record.author(), 1)
            .map(|(_, r)| r)
            .filter(|r| {
                r.header().kind == record.header().kind
                    && (r.created_at(), r.seq()) < this
                    && r.body().supersedes().as_ref() == Some(&thing)
                    && !skip(&r.id())
            })
            .max_by_key(|r| (r.created_at(), r.seq()))
            .cloned()
    }
}

fn poisoned() -> StoreError {
    StoreError::corrupt("the in-memory store's lock is poisoned (a writer panicked)")
}

impl MemStore {
    /// An empty store; `max_pending_per_author` bounds the records one author may have waiting
    /// for a gap (and, as in the sled store, in quarantine).
    pub fn new(max_pending_per_author: usize) -> MemStore {
        MemStore {
            max_pending_per_author,
            writer: Mutex::new(()),
            state: RwLock::new(State::default()),
            heads: Mutex::new(HeadsIndex::default()),
        }
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, State>, StoreError> {
        self.state.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<(MutexGuard<'_, ()>, std::sync::RwLockWriteGuard<'_, State>), StoreError> {
        let w = self.writer.lock().map_err(|_| poisoned())?;
        Ok((w, self.state.write().map_err(|_| poisoned())?))
    }
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore::new(super::StoreConfig::default().max_pending_per_author)
    }
}

impl Store for MemStore {
    fn insert(&self, records: Vec<Verified<Record>>) -> Result<InsertReport, StoreError> {
        let (_writer, mut state) = self.write()?;
        let mut report = InsertReport::default();
        let mut touched = HashMap::new();
        for record in &records {
            let o = state.offer(record, self.max_pending_per_author, &mut touched, &mut report);
            report.outcomes.push(o);
        }
        drop(state);
        let mut index = self.heads_index();
        for (author, head) in touched {
            if let Some(h) = head {
                index.set(author, h);
            }
        }
        for proof in &report.forks {
            index.mark_forked(proof.author);
        }
        Ok(report)
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        let s = self.read()?;
        Ok(s.ids.get(id).and_then(|p| s.feeds.get(p)).cloned())
    }

    fn get_at(&self, author: &NodeKey, seq: u64) -> Result<Option<Record>, StoreError> {
        Ok(self.read()?.feeds.get(&(*author, seq)).cloned())
    }

    fn locate(&self, id: &RecordId) -> Result<Option<(NodeKey, u64)>, StoreError> {
        Ok(self.read()?.ids.get(id).copied())
    }

    fn ids_with_prefix(&self, hex_prefix: &str, limit: usize) -> Result<Vec<RecordId>, StoreError> {
        let prefix = hex_prefix.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || prefix.len() > 64 {
            return Ok(vec![]);
        }
        let whole = hex::decode(&prefix[..prefix.len() - prefix.len() % 2]).unwrap_or_default();
        let mut lo = [0u8; 32];
        lo[..whole.len()].copy_from_slice(&whole);
        let s = self.read()?;
        Ok(s.ids
            .range(RecordId(lo)..)
            .map(|(id, _)| *id)
            .take_while(|id| id.as_bytes().starts_with(&whole))
            .filter(|id| id.to_hex().starts_with(&prefix))
            .take(limit)
            .collect())
    }

    fn head(&self, author: &NodeKey) -> Result<Option<Head>, StoreError> {
        Ok(self.read()?.heads.get(author).copied())
    }

    fn heads(&self) -> Result<Vec<(NodeKey, Head)>, StoreError> {
        Ok(self.read()?.heads.iter().map(|(a, h)| (*a, *h)).collect())
    }

    fn feed_bytes(
        &self,
        author: &NodeKey,
        from_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let s = self.read()?;
        let records = feed_range(&s.feeds, author, from_seq.max(1)).map(|(_, r)| Ok::<_, StoreError>(r.bytes()));
        super::feed_page(records, max_count, max_bytes)
    }

    fn scan(&self, scan: Scan<'_>, newest_first: bool) -> Records<'_> {
        let s = match self.read() {
            Ok(s) => s,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let code = |k: Kind| k.code() as u16;
        let kinds = |kind: Option<Kind>| kind.map_or_else(|| vec![keys::KIND], |k| keys::kind_prefix(code(k)));
        let positions: Vec<(NodeKey, u64)> = match scan {
            Scan::Author(author) => feed_range(&s.feeds, &author, 1).map(|(p, _)| *p).collect(),
            Scan::RefersTo { id, kind } => {
                let prefix = keys::refs_prefix(&id, kind.map(code));
                let prefix = prefix.as_slice();
                s.refs
                    .range(prefix.to_vec()..)
                    .take_while(|k| k.starts_with(prefix))
                    .filter_map(|k| keys::pos_suffix(k))
                    .collect()
            }
            other => {
                let (prefix, line, provider) = match other {
                    Scan::Kind(k) => (keys::kind_prefix(code(k)), None, None),
                    Scan::ServiceLine { code: c, kind } => (kinds(kind), Some(c), None),
                    Scan::Provider { code: c, kind } => (kinds(kind), None, Some(c)),
                    Scan::Author(_) | Scan::RefersTo { .. } => unreachable!("handled above"),
                };
                with_prefix(&s.kinds, &prefix)
                    .filter(|(_, tags)| {
                        (line.is_none() && provider.is_none()) || keys::tags_match(tags, line, provider)
                    })
                    .filter_map(|(k, _)| keys::pos_suffix(k))
                    .collect()
            }
        };
        let mut out: Vec<Result<Record, StoreError>> = positions
            .into_iter()
            .map(|p| {
                s.feeds.get(&p).cloned().ok_or_else(|| {
                    StoreError::corrupt(format!("index names {}#{} but the feed lacks it", p.0.short(), p.1))
                })
            })
            .collect();
        if newest_first {
            out.reverse();
        }
        Box::new(out.into_iter())
    }

    fn latest(&self, kind: Kind, skip: &dyn Fn(&RecordId) -> bool) -> Result<Vec<Record>, StoreError> {
        let s = self.read()?;
        let mut out = Vec::new();
        for (k, (_, id, seq)) in with_prefix(&s.current, &keys::current_prefix(kind.code() as u16)) {
            let author = keys::current_author(k).ok_or_else(|| StoreError::corrupt("latest-record index entry"))?;
            let record =
                s.feeds.get(&(author, *seq)).ok_or_else(|| StoreError::corrupt("latest-record index entry"))?;
            if !skip(id) {
                out.push(record.clone());
            } else if let Some(earlier) = s.latest_before(record, skip) {
                out.push(earlier);
            }
        }
        Ok(out)
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let s = self.read()?;
        Ok(StoreStats {
            records: s.feeds.len() as u64,
            feeds: s.heads.len() as u64,
            pending: s.pending.len() as u64,
            quarantined: s.quarantine.len() as u64,
            forks: s.fork_count,
            record_bytes: s.record_bytes,
        })
    }

    fn count_kind(&self, kind: u16) -> Result<u64, StoreError> {
        Ok(with_prefix(&self.read()?.kinds, &keys::kind_prefix(kind)).count() as u64)
    }

    fn forks(&self) -> Result<Vec<ForkProof>, StoreError> {
        Ok(self.read()?.forks.values().cloned().collect())
    }

    fn pending_seqs(&self, author: &NodeKey) -> Result<Vec<u64>, StoreError> {
        Ok(feed_range(&self.read()?.pending, author, 0).map(|((_, s), _)| *s).collect())
    }

    fn add_fork_proof(&self, first: Verified<Record>, second: Verified<Record>) -> Result<bool, StoreError> {
        let author = first.author();
        if second.author() != author || second.seq() != first.seq() || second.id() == first.id() {
            return Err(StoreError::corrupt("add_fork_proof given two records that are not a fork"));
        }
        let (_writer, mut state) = self.write()?;
        if state.forks.contains_key(&author) {
            return Ok(false);
        }
        let seq = second.seq();
        let (a, b) = (first.into_inner().into_bytes(), second.into_inner().into_bytes());
        state.forks.insert(author, ForkProof { author, seq, first: a, second: b });
        state.fork_count += 1;
        drop(state);
        self.heads_index().mark_forked(author);
        Ok(true)
    }

    fn fork_proof(&self, author: &NodeKey) -> Result<Option<ForkProof>, StoreError> {
        Ok(self.read()?.forks.get(author).cloned())
    }

    fn quarantine(&self, records: Vec<Verified<Record>>) -> Result<Vec<bool>, StoreError> {
        let (_writer, mut state) = self.write()?;
        let mut per_author: HashMap<NodeKey, usize> = HashMap::new();
        let mut held = Vec::with_capacity(records.len());
        for r in records {
            let author = r.author();
            let n = *per_author.entry(author).or_insert_with(|| feed_range(&state.quarantine, &author, 0).count());
            if n >= self.max_pending_per_author || state.quarantine.len() >= MAX_QUARANTINE {
                held.push(false);
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = state.quarantine.entry((author, r.seq())) {
                e.insert(r.bytes().to_vec());
                per_author.insert(author, n + 1);
            }
            held.push(true);
        }
        Ok(held)
    }

    fn quarantined_authors(&self) -> Result<Vec<NodeKey>, StoreError> {
        let s = self.read()?;
        let mut out: Vec<NodeKey> = Vec::new();
        for (author, _) in s.quarantine.keys() {
            if out.last() != Some(author) {
                out.push(*author);
            }
        }
        Ok(out)
    }

    fn quarantined(&self, author: &NodeKey) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(feed_range(&self.read()?.quarantine, author, 0).map(|(_, v)| v.clone()).collect())
    }

    fn take_quarantined(&self, author: &NodeKey) -> Result<Vec<Vec<u8>>, StoreError> {
        let (_writer, mut state) = self.write()?;
        let seqs: Vec<u64> = feed_range(&state.quarantine, author, 0).map(|((_, s), _)| *s).collect();
        Ok(seqs.into_iter().filter_map(|s| state.quarantine.remove(&(*author, s))).collect())
    }

    fn truncate_feed(&self, author: &NodeKey, keep_through: u64) -> Result<u64, StoreError> {
        let (_writer, mut guard) = self.write()?;
        let state = &mut *guard;
        let doomed: Vec<u64> =
            feed_range(&state.feeds, author, keep_through.saturating_add(1)).map(|((_, s), _)| *s).collect();
        let mut stale = HashSet::new();
        for seq in &doomed {
            let Some(record) = state.feeds.remove(&(*author, *seq)) else { continue };
            state.ids.remove(&record.id());
            let (k, _, refs) = State::index_entries(&record);
            state.kinds.remove(&k);
            for r in refs {
                state.refs.remove(&r);
            }
            if let Some(thing) = record.body().supersedes() {
                let key = keys::current(record.header().kind, &thing, author);
                state.current.remove(&key);
                stale.insert(key);
            }
            state.record_bytes = state.record_bytes.saturating_sub(record.bytes().len() as u64);
        }
        // Latest-record entries that named a removed record now name the latest one kept.
        if !stale.is_empty() {
            let kept: Vec<Record> = feed_range(&state.feeds, author, 1).map(|(_, r)| r.clone()).collect();
            for record in kept {
                if let Some(thing) = record.body().supersedes()
                    && stale.contains(&keys::current(record.header().kind, &thing, author))
                {
                    state.note_latest(&record);
                }
            }
        }
        let waiting: Vec<u64> =
            feed_range(&state.pending, author, keep_through.saturating_add(1)).map(|((_, s), _)| *s).collect();
        for seq in &waiting {
            state.pending.remove(&(*author, *seq));
        }
        if let Some(n) = state.pending_counts.get_mut(author) {
            *n = n.saturating_sub(waiting.len());
        }
        let quarantined: Vec<u64> =
            feed_range(&state.quarantine, author, keep_through.saturating_add(1)).map(|((_, s), _)| *s).collect();
        for seq in &quarantined {
            state.quarantine.remove(&(*author, *seq));
        }
        if doomed.is_empty() && waiting.is_empty() && quarantined.is_empty() {
            return Ok(0);
        }
        let new_head = if keep_through == 0 {
            state.heads.remove(author);
            None
        } else {
            match state.feeds.get(&(*author, keep_through)) {
                Some(r) => {
                    let h = Head { seq: keep_through, id: record_id(r.bytes()) };
                    state.heads.insert(*author, h);
                    Some(h)
                }
                None => state.heads.get(author).copied(),
            }
        };
        drop(guard);
        let mut index = self.heads_index();
        match new_head {
            Some(h) => index.set(*author, h),
            None => index.remove(author),
        }
        Ok(doomed.len() as u64)
    }

    fn heads_index(&self) -> MutexGuard<'_, HeadsIndex> {
        self.heads.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read()?.meta.get(name).cloned())
    }

    fn meta_put(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let (_writer, mut state) = self.write()?;
        state.meta.insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    fn meta_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.read()?.meta.keys().cloned().collect())
    }
}
