//! The sled implementation of [`Store`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use csx_protocol::feed::{Placement, place};
use csx_protocol::record::record_id;
use csx_protocol::sync::HeadsIndex;
use csx_protocol::{Head, Kind, NodeKey, Record, RecordId, Verified};

use super::ids::{self, Runs};
use super::keys::{self, Pos};
use super::{
    ForkProof, InsertReport, OLDEST_MIGRATABLE, Outcome, Records, Refusal, SCHEMA_VERSION, Scan, Store, StoreError,
    StoreStats,
};

/// Tunables of the sled store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// sled's page cache. sled's default (1 GiB) is far too big for a daemon beside other work.
    pub cache_bytes: u64,
    /// Most records one author may have waiting for a missing predecessor.
    pub max_pending_per_author: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { cache_bytes: 64 * 1024 * 1024, max_pending_per_author: 10_000 }
    }
}

/// A [`Store`] in a sled database directory.
pub struct SledStore {
    path: PathBuf,
    tree: sled::Db,
    config: StoreConfig,
    /// Serialises writers (feeds are read-modify-write); readers never take it.
    writer: Mutex<WriterState>,
    /// Every feed's head, kept in step with the `H` keys.
    heads: Mutex<HeadsIndex>,
    /// The directory of the id index's runs, kept in step with its metadata entry; changed only
    /// under `writer`.
    ids: Mutex<Runs>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").field("path", &self.path).finish()
    }
}

#[derive(Default)]
struct WriterState {
    /// Records waiting per author (loaded at open, kept in step with the `P` keys).
    pending: HashMap<NodeKey, usize>,
}

const COUNTERS: [&str; 5] = ["records", "feeds", "pending", "forks", "record_bytes"];
/// How long opening the store retries a lock that may be this process's own, just released.
const OWN_LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// Most quarantined records in all (per author: `max_pending_per_author`).
const MAX_QUARANTINE: usize = 100_000;

impl SledStore {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path, config: StoreConfig) -> Result<SledStore, StoreError> {
        let open = || sled::Config::new().path(path).cache_capacity(config.cache_bytes).open();
        // sled releases its file lock only when the last piece of a closed database is reclaimed,
        // which its epoch-based collector may defer for a moment after the handle is dropped: a
        // process that closes its store and opens it again at once (a test, `csx restore`, an
        // offline command followed by the daemon) would see its own lock. Retry briefly; another
        // process holding the store still gets `Locked` after the grace period.
        let deadline = std::time::Instant::now() + OWN_LOCK_GRACE;
        let tree = loop {
            let opened = match open() {
                Err(sled::Error::Corruption { .. }) if remove_incomplete_snapshots(path) > 0 => open(),
                other => other,
            }
            .map_err(|e| open_error(path, e));
            match opened {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => break other?,
            }
        };
        let store = SledStore {
            path: path.to_path_buf(),
            tree,
            config,
            writer: Mutex::new(WriterState::default()),
            heads: Mutex::new(HeadsIndex::default()),
            ids: Mutex::new(Runs::default()),
        };
        store.check_schema()?;
        *store.ids.lock().map_err(|_| StoreError::corrupt("id index lock poisoned"))? = Runs::load(&store.tree)?;
        store.load_pending_counts()?;
        let mut heads = HeadsIndex::from_heads(store.heads()?);
        for proof in store.forks()? {
            heads.mark_forked(proof.author);
        }
        *store.heads.lock().map_err(|_| StoreError::corrupt("heads lock poisoned"))? = heads;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let key = keys::meta("schema");
        match self.tree.get(&key)? {
            None if self.tree.is_empty() => {
                self.tree.insert(key, &SCHEMA_VERSION.to_be_bytes())?;
                self.tree.flush()?;
                Ok(())
            }
            None => Err(StoreError::corrupt("schema version missing from a non-empty store")),
            Some(v) => {
                let found =
                    u32::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::corrupt("schema version entry"))?);
                if found == SCHEMA_VERSION {
                    return Ok(());
                }
                if (OLDEST_MIGRATABLE..SCHEMA_VERSION).contains(&found) {
                    return self.migrate(found);
                }
                let hint = if found > SCHEMA_VERSION {
                    "it was written by a newer csx: upgrade csx to open it"
                } else {
                    "no migration exists from that version: move the store aside and resync from peers"
                };
                Err(StoreError::Schema { path: self.path.clone(), found, supported: SCHEMA_VERSION, hint })
            }
        }
    }

    /// Brings a store of layout `from` up to [`SCHEMA_VERSION`], one step at a time. Each step is
    /// safe to interrupt: the version is written only after the step's changes are on disk, and a
    /// step run again does no harm.
    fn migrate(&self, from: u32) -> Result<(), StoreError> {
        let key = keys::meta("schema");
        for version in from..SCHEMA_VERSION {
            match version {
                // 1 → 2: the index by time is gone; delete its entries.
                1 => {
                    let removed = self.remove_prefixes(&[keys::OLD_TIME])?;
                    self.tree.flush()?;
                    tracing::info!(store = %self.path.display(), removed, "migrated the store from layout 1 to 2: removed the index by time");
                }
                // 2 → 3: tag the kind index with each record's line and providers, then delete the
                // indexes by line and provider (the index of latest records is written by 3 → 4).
                2 => {
                    let (mut from, mut records) = (vec![keys::FEED], 0u64);
                    loop {
                        let mut batch = sled::Batch::default();
                        let mut last = None;
                        for item in self.tree.range(from.as_slice()..).take(10_000) {
                            let (k, v) = item?;
                            if k.first() != Some(&keys::FEED) {
                                break;
                            }
                            let record = Self::decode(&v)?;
                            for (ik, iv) in index_entries(&record) {
                                batch.insert(ik, iv);
                            }
                            records += 1;
                            last = Some(k);
                        }
                        let Some(last) = last else { break };
                        self.tree.apply_batch(batch)?;
                        from = [last.as_ref(), &[0]].concat();
                    }
                    let removed = self.remove_prefixes(&[keys::OLD_LINE, keys::OLD_PROVIDER])?;
                    self.tree.flush()?;
                    tracing::info!(store = %self.path.display(), records, removed, "migrated the store from layout 2 to 3: one tagged index entry per record");
                }
                // 3 → 4: the index of latest prices and reviews is keyed by contract reference too
                // and ordered by (created_at, seq): delete it and write it again from the kind index.
                3 => {
                    let removed = self.remove_prefixes(&[keys::CURRENT])?;
                    let mut records = 0u64;
                    for kind in [Kind::Price, Kind::Review] {
                        let code = kind.code() as u16;
                        let end = keys::kind_prefix(code + 1);
                        let mut from = keys::kind_prefix(code);
                        loop {
                            // What this batch has made latest; read back from the tree once applied.
                            let mut latest: Latest = HashMap::new();
                            let mut batch = sled::Batch::default();
                            let mut last = None;
                            for item in self.tree.range(from.as_slice()..end.as_slice()).take(10_000) {
                                let (k, _) = item?;
                                let pos = keys::pos_suffix(&k).ok_or_else(|| StoreError::corrupt("kind index key"))?;
                                note_latest(&self.tree, &mut latest, &mut batch, &self.record_at_pos(pos)?)?;
                                records += 1;
                                last = Some(k);
                            }
                            let Some(last) = last else { break };
                            self.tree.apply_batch(batch)?;
                            from = [last.as_ref(), &[0]].concat();
                        }
                    }
                    self.tree.flush()?;
                    tracing::info!(store = %self.path.display(), records, removed, "migrated the store from layout 3 to 4: the index of latest prices and reviews tells contracts apart and follows the feed order");
                }
                // 4 → 5: the id index becomes sorted runs (`ids.rs`) and each kind's records are
                // counted: write both again from the feeds and the kind index.
                4 => {
                    let removed = self.remove_prefixes(&[keys::OLD_ID, keys::ID_RUN])?;
                    self.tree.remove(keys::meta(ids::DIRECTORY))?;
                    let (mut from, mut records) = (vec![keys::FEED], 0u64);
                    let (mut runs, mut entries) = (Runs::default(), Vec::new());
                    loop {
                        let mut last = None;
                        for item in self.tree.range(from.as_slice()..).take(10_000) {
                            let (k, v) = item?;
                            if k.first() != Some(&keys::FEED) {
                                break;
                            }
                            let (author, seq) =
                                keys::split_pos(&k[1..]).ok_or_else(|| StoreError::corrupt("feed key"))?;
                            entries.push(ids::entry(&record_id(&v), &author, seq));
                            records += 1;
                            last = Some(k);
                        }
                        // Runs of the top size class, so that nothing is merged again.
                        if last.is_none() || entries.len() >= ids::FANOUT.pow(u32::from(ids::TOP)) {
                            let mut batch = sled::Batch::default();
                            entries.sort_unstable();
                            if !entries.is_empty() {
                                runs.write_run(&mut batch, &entries);
                            }
                            self.tree.apply_batch(batch)?;
                            entries.clear();
                        }
                        let Some(last) = last else { break };
                        from = [last.as_ref(), &[0]].concat();
                    }
                    let mut counts: HashMap<u16, u64> = HashMap::new();
                    for item in self.tree.scan_prefix([keys::KIND]).keys() {
                        let k = item?;
                        let code = k.get(1..3).ok_or_else(|| StoreError::corrupt("kind index key"))?;
                        *counts.entry(u16::from_be_bytes([code[0], code[1]])).or_default() += 1;
                    }
                    let mut batch = sled::Batch::default();
                    for item in self.tree.scan_prefix(keys::meta(keys::KIND_COUNT)).keys() {
                        batch.remove(item?);
                    }
                    for (code, n) in &counts {
                        batch.insert(keys::meta(&keys::kind_count(*code)), &n.to_be_bytes());
                    }
                    self.tree.apply_batch(batch)?;
                    self.tree.flush()?;
                    tracing::info!(store = %self.path.display(), records, removed, runs = runs.runs.len(), kinds = counts.len(), "migrated the store from layout 4 to 5: the id index in sorted runs and counts per kind");
                }
                other => return Err(StoreError::corrupt(format!("no migration step from layout {other}"))),
            }
            self.tree.insert(&key, &(version + 1).to_be_bytes())?;
            self.tree.flush()?;
        }
        Ok(())
    }

    /// Deletes every entry whose key starts with one of `prefixes`, 10,000 to a batch. Returns
    /// how many.
    fn remove_prefixes(&self, prefixes: &[u8]) -> Result<u64, StoreError> {
        let mut removed = 0u64;
        for prefix in prefixes {
            loop {
                let mut batch = sled::Batch::default();
                let mut n = 0;
                for item in self.tree.scan_prefix([*prefix]).keys().take(10_000) {
                    batch.remove(item?);
                    n += 1;
                }
                if n == 0 {
                    break;
                }
                self.tree.apply_batch(batch)?;
                removed += n;
            }
        }
        Ok(removed)
    }

    fn load_pending_counts(&self) -> Result<(), StoreError> {
        let mut state = self.writer.lock().map_err(|_| StoreError::corrupt("writer lock poisoned"))?;
        for item in self.tree.scan_prefix([keys::PENDING]) {
            let (k, _) = item?;
            let (author, _) = keys::split_pos(&k[1..]).ok_or_else(|| StoreError::corrupt("pending key"))?;
            *state.pending.entry(author).or_default() += 1;
        }
        Ok(())
    }

    fn counter(&self, name: &str) -> Result<u64, StoreError> {
        Ok(match self.tree.get(keys::meta(name))? {
            Some(v) => {
                u64::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::corrupt(format!("counter {name}")))?)
            }
            None => 0,
        })
    }

    fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
        Record::decode(bytes.to_vec()).map_err(|e| StoreError::corrupt(format!("stored record does not decode: {e}")))
    }

    fn record_at_pos(&self, pos: (NodeKey, u64)) -> Result<Record, StoreError> {
        let bytes = self.tree.get(keys::feed(&pos.0, pos.1))?.ok_or_else(|| {
            StoreError::corrupt(format!("index names {}#{} but the feed lacks it", pos.0.short(), pos.1))
        })?;
        Self::decode(&bytes)
    }

    /// Where the record `id` is, and its bytes (see [`find`]). A writer may merge runs while this
    /// reads them: if the directory changed meanwhile and nothing was found, look again.
    fn find(&self, id: &RecordId) -> Result<Option<(NodeKey, u64, sled::IVec)>, StoreError> {
        loop {
            let runs = self.runs()?;
            let found = find(&self.tree, &runs, id)?;
            if found.is_some() || self.runs()?.next == runs.next {
                return Ok(found);
            }
        }
    }

    fn runs(&self) -> Result<Runs, StoreError> {
        Ok(self.ids.lock().map_err(|_| StoreError::corrupt("id index lock poisoned"))?.clone())
    }

    /// The latest record by `record`'s author of the same thing (see [`Store::latest`]) before
    /// it, leaving out what `skip` names. Walks the kind index back in time from `record`: only
    /// needed where a latest record was withdrawn.
    fn latest_before(&self, record: &Record, skip: &dyn Fn(&RecordId) -> bool) -> Result<Option<Record>, StoreError> {
        let Some(thing) = record.body().supersedes() else { return Ok(None) };
        let (kind, author) = (record.header().kind, record.author());
        let this = (record.created_at(), record.seq());
        let end = keys::kind(kind, this.0.saturating_add(1), &[0; 40]);
        let mut best: Option<Record> = None;
        for item in self.tree.range(keys::kind_prefix(kind)..end).rev() {
            let (k, tags) = item?;
            let bad = || StoreError::corrupt("kind index key");
            let at = u64::from_be_bytes(k.get(3..11).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
            // Ordered by time: once past the best one's time, nothing older can beat it.
            if best.as_ref().is_some_and(|b| at < b.created_at()) {
                break;
            }
            let (a, seq) = keys::pos_suffix(&k).ok_or_else(bad)?;
            if a != author || !keys::tags_match(&tags, Some(thing.service_line), Some(thing.provider)) {
                continue;
            }
            let candidate = self.record_at_pos((a, seq))?;
            let order = (candidate.created_at(), candidate.seq());
            if order < this
                && candidate.body().supersedes().as_ref() == Some(&thing)
                && !skip(&candidate.id())
                && best.as_ref().is_none_or(|b| (b.created_at(), b.seq()) < order)
            {
                best = Some(candidate);
            }
        }
        Ok(best)
    }

    /// The path this store was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Where the record `id` is, and its bytes: the id index's entries with its short id name
/// candidate places by short author and seq; the one whose record hashes to `id` is it.
fn find(tree: &sled::Db, runs: &Runs, id: &RecordId) -> Result<Option<(NodeKey, u64, sled::IVec)>, StoreError> {
    for e in runs.candidates(tree, id)? {
        let (short_author, seq) = ids::place(&e);
        if let Some(found) = at_short(tree, short_author, seq, |bytes| record_id(bytes) == *id)? {
            return Ok(Some((found.0, seq, found.1)));
        }
    }
    Ok(None)
}

/// The record at `seq` of the author whose key starts with `short_author` (normally one) for
/// which `wanted` holds, with that author.
fn at_short(
    tree: &sled::Db,
    short_author: &[u8],
    seq: u64,
    wanted: impl Fn(&[u8]) -> bool,
) -> Result<Option<(NodeKey, sled::IVec)>, StoreError> {
    for item in tree.scan_prefix(keys::head_prefix(short_author)).keys() {
        let k = item?;
        let author =
            NodeKey(k.get(1..33).and_then(|a| a.try_into().ok()).ok_or_else(|| StoreError::corrupt("head key"))?);
        if let Some(bytes) = tree.get(keys::feed(&author, seq))?
            && wanted(&bytes)
        {
            return Ok(Some((author, bytes)));
        }
    }
    Ok(None)
}

/// The secondary index entries of `record` (all but the feed, id, head and latest-record
/// entries), as (key, value).
fn index_entries(record: &Record) -> Vec<(Vec<u8>, Vec<u8>)> {
    let p: Pos = keys::pos(&record.author(), record.seq());
    let kind = record.header().kind;
    let body = record.body();
    // One entry by kind and time, tagged with the line and providers, serves scans by kind, line
    // and provider: each sled entry costs about as much to write as the record itself
    // (docs/PERFORMANCE.md). Only the few kinds that refer to a record add a second.
    let mut out = vec![(keys::kind(kind, record.created_at(), &p), keys::tags(body.service_line(), &body.providers()))];
    for target in body.refers_to() {
        out.push((keys::refs(&target, kind, &p), Vec::new()));
    }
    out
}

/// The latest record per (author, thing), as far as this batch has seen: `C` entries read from
/// the tree once, then kept here, as (created_at, seq).
type Latest = HashMap<Vec<u8>, Option<(u64, u64)>>;

/// Makes `record` the latest of what it supersedes (see [`csx_protocol::Body::supersedes`]) if it
/// is later, by (created_at, seq), than the one held: the order queries use (docs/QUERIES.md,
/// "Supersession"). Within one author's feed the seq is the order records were written in, so
/// the rows of one import, which share a write time, keep the file's order.
fn note_latest(tree: &sled::Db, seen: &mut Latest, batch: &mut sled::Batch, record: &Record) -> Result<(), StoreError> {
    let Some(thing) = record.body().supersedes() else { return Ok(()) };
    let key = keys::current(record.header().kind, &thing, &record.author());
    let held = match seen.get(&key) {
        Some(h) => *h,
        None => match tree.get(&key)? {
            Some(v) => {
                let (at, _, seq) = keys::split_current_value(&v).ok_or_else(|| StoreError::corrupt("latest entry"))?;
                Some((at, seq))
            }
            None => None,
        },
    };
    let this = (record.created_at(), record.seq());
    if held.is_none_or(|h| h < this) {
        batch.insert(key.as_slice(), &keys::current_value(this.0, &record.id(), this.1)[..]);
        seen.insert(key, Some(this));
    } else {
        seen.insert(key, held);
    }
    Ok(())
}

fn decode_head(v: &[u8]) -> Result<Head, StoreError> {
    if v.len() != 40 {
        return Err(StoreError::corrupt("head entry"));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&v[..8]);
    let mut id = [0u8; 32];
    id.copy_from_slice(&v[8..]);
    Ok(Head { seq: u64::from_be_bytes(seq), id: RecordId(id) })
}

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    use std::io::ErrorKind as K;
    let path = path.to_path_buf();
    let (problem, hint) = match &e {
        sled::Error::Io(io) if io.kind() == K::WouldBlock || io.to_string().contains("lock") => {
            return StoreError::Locked { path };
        }
        sled::Error::Io(io) => match io.kind() {
            K::StorageFull | K::QuotaExceeded => (
                format!("its disk is full ({io})"),
                "free space on that disk and try again; nothing stored has been lost",
            ),
            K::PermissionDenied | K::ReadOnlyFilesystem => (
                format!("it cannot be written ({io})"),
                "csx needs to write to its store even to read it: make the directory writable by this user and the filesystem read-write",
            ),
            _ => (format!("I/O error ({io})"), "check the disk and the directory, then try again"),
        },
        sled::Error::Corruption { .. } => (
            "its files are damaged (sled found corrupted data)".to_string(),
            "nothing was changed; restore the store directory from a backup, or move it aside and start the daemon to fetch every record again from peers (see docs/OPERATIONS.md, \"A damaged store\")",
        ),
        other => (other.to_string(), "see docs/OPERATIONS.md"),
    };
    StoreError::Open { path, problem, hint }
}

/// Removes snapshot files sled left half-written (`snap.*.generating`): it writes a snapshot under
/// that name and renames it when complete, but a write that fails (a full disk) leaves the file
/// behind, and sled 0.34 then refuses to open the store as corrupted (sled issue #1527). Such a
/// file is never the store's state, so removing it loses nothing. Returns how many were removed.
fn remove_incomplete_snapshots(path: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::warn!(file = %entry.path().display(), "removed a snapshot file sled left incomplete");
                    removed += 1;
                }
                Err(e) => tracing::warn!(file = %entry.path().display(), "cannot remove an incomplete snapshot: {e}"),
            }
        }
    }
    removed
}

/// One atomic batch of writes, with an overlay so later records in the batch see earlier ones.
struct Tx<'a> {
    tree: &'a sled::Db,
    max_pending: usize,
    pending_counts: &'a mut HashMap<NodeKey, usize>,
    batch: sled::Batch,
    heads: HashMap<NodeKey, Option<Head>>,
    new_ids: HashSet<RecordId>,
    /// Records appended in this batch, by place (not yet readable from the tree).
    appended: HashMap<(NodeKey, u64), Vec<u8>>,
    pending: HashMap<(NodeKey, u64), Option<Vec<u8>>>,
    forked: HashMap<NodeKey, bool>,
    latest: Latest,
    delta: [i64; 5],
    /// Records appended per kind.
    kinds: HashMap<u16, u64>,
    /// The id index as of the start of this batch, and the entries this batch adds to it.
    runs: Runs,
    id_entries: Vec<ids::Entry>,
    report: InsertReport,
}

impl<'a> Tx<'a> {
    fn head(&mut self, author: &NodeKey) -> Result<Option<Head>, StoreError> {
        if let Some(h) = self.heads.get(author) {
            return Ok(*h);
        }
        let h = self.tree.get(keys::head(author))?.map(|v| decode_head(&v)).transpose()?;
        self.heads.insert(*author, h);
        Ok(h)
    }

    fn is_forked(&mut self, author: &NodeKey) -> Result<bool, StoreError> {
        if let Some(f) = self.forked.get(author) {
            return Ok(*f);
        }
        let f = self.tree.contains_key(keys::fork(author))?;
        self.forked.insert(*author, f);
        Ok(f)
    }

    fn has_id(&self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self.new_ids.contains(id) || find(self.tree, &self.runs, id)?.is_some())
    }

    fn pending_get(&self, author: &NodeKey, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.pending.get(&(*author, seq)) {
            return Ok(v.clone());
        }
        Ok(self.tree.get(keys::pending(author, seq))?.map(|v| v.to_vec()))
    }

    fn pending_remove(&mut self, author: &NodeKey, seq: u64) {
        self.batch.remove(keys::pending(author, seq));
        self.pending.insert((*author, seq), None);
        if let Some(n) = self.pending_counts.get_mut(author) {
            *n = n.saturating_sub(1);
        }
        self.delta[2] -= 1;
    }

    fn offer(&mut self, record: &Record) -> Result<Outcome, StoreError> {
        let author = record.author();
        if self.is_forked(&author)? {
            return Ok(Outcome::Refused { reason: Refusal::ForkedAuthor });
        }
        let head = self.head(&author)?;
        // The next record of a feed cannot be held yet (ids are hashes over author and seq, and
        // the feed stops at its head): only other seqs need the id lookup.
        if record.seq() != head.map_or(1, |h| h.seq + 1) && self.has_id(&record.id())? {
            return Ok(Outcome::Duplicate);
        }
        let held = match head {
            Some(h) if record.seq() <= h.seq => Some(self.held_id(&author, record.seq())?),
            _ => None,
        };
        match place(head, held.as_ref().map(|(id, _)| *id), record.seq(), record.prev(), record.id()) {
            Placement::Duplicate => Ok(Outcome::Duplicate),
            Placement::Fork { .. } => {
                let first = held.map(|(_, bytes)| bytes).unwrap_or_default();
                self.record_fork(author, record.seq(), first, record.bytes().to_vec());
                Ok(Outcome::Fork)
            }
            Placement::WrongPrev { .. } => Ok(Outcome::Refused { reason: Refusal::WrongPrev }),
            Placement::Ahead => self.hold(record),
            Placement::Append => {
                self.append(record)?;
                self.release(author)?;
                Ok(Outcome::Appended)
            }
        }
    }

    /// The id and bytes of the record held at `seq` (at or below the head).
    fn held_id(&self, author: &NodeKey, seq: u64) -> Result<(RecordId, Vec<u8>), StoreError> {
        let bytes = match self.appended.get(&(*author, seq)) {
            Some(b) => Some(b.clone()),
            None => self.tree.get(keys::feed(author, seq))?.map(|v| v.to_vec()),
        };
        let bytes = bytes
            .ok_or_else(|| StoreError::corrupt(format!("feed {} lacks seq {seq} below its head", author.short())))?;
        Ok((record_id(&bytes), bytes))
    }

    fn hold(&mut self, record: &Record) -> Result<Outcome, StoreError> {
        let author = record.author();
        if let Some(existing) = self.pending_get(&author, record.seq())? {
            if record_id(&existing) == record.id() {
                return Ok(Outcome::Duplicate);
            }
            self.record_fork(author, record.seq(), existing, record.bytes().to_vec());
            return Ok(Outcome::Fork);
        }
        let count = self.pending_counts.entry(author).or_default();
        if *count >= self.max_pending {
            return Ok(Outcome::Refused { reason: Refusal::PendingFull });
        }
        *count += 1;
        self.delta[2] += 1;
        self.batch.insert(keys::pending(&author, record.seq()), record.bytes());
        self.pending.insert((author, record.seq()), Some(record.bytes().to_vec()));
        Ok(Outcome::Held)
    }

    fn record_fork(&mut self, author: NodeKey, seq: u64, first: Vec<u8>, second: Vec<u8>) {
        let mut v = Vec::with_capacity(4 + first.len() + second.len());
        v.extend_from_slice(&(first.len() as u32).to_be_bytes());
        v.extend_from_slice(&first);
        v.extend_from_slice(&second);
        self.batch.insert(keys::fork(&author), v);
        self.forked.insert(author, true);
        self.delta[3] += 1;
        self.report.forks.push(ForkProof { author, seq, first, second });
    }

    fn append(&mut self, record: &Record) -> Result<(), StoreError> {
        let author = record.author();
        let seq = record.seq();
        let id = record.id();
        self.batch.insert(keys::feed(&author, seq), record.bytes());
        self.id_entries.push(ids::entry(&id, &author, seq));
        *self.kinds.entry(record.header().kind).or_default() += 1;
        let mut head = Vec::with_capacity(40);
        head.extend_from_slice(&seq.to_be_bytes());
        head.extend_from_slice(id.as_bytes());
        self.batch.insert(keys::head(&author), head);
        for (k, v) in index_entries(record) {
            self.batch.insert(k, v);
        }
        note_latest(self.tree, &mut self.latest, &mut self.batch, record)?;
        if seq == 1 {
            self.delta[1] += 1;
        }
        self.delta[0] += 1;
        self.delta[4] += record.bytes().len() as i64;
        self.heads.insert(author, Some(Head { seq, id }));
        self.new_ids.insert(id);
        self.appended.insert((author, seq), record.bytes().to_vec());
        Ok(())
    }

    /// Appends waiting records that now follow the head, for as long as they chain.
    fn release(&mut self, author: NodeKey) -> Result<(), StoreError> {
        loop {
            // The counts of waiting records are kept for every author: skip the lookup when none wait.
            if self.pending_counts.get(&author).copied().unwrap_or(0) == 0 {
                return Ok(());
            }
            let Some(head) = self.head(&author)? else { return Ok(()) };
            let Some(bytes) = self.pending_get(&author, head.seq + 1)? else {
                return Ok(());
            };
            self.pending_remove(&author, head.seq + 1);
            let record = SledStore::decode(&bytes)?;
            if record.prev() != Some(head.id) {
                // It names another predecessor: it can never be placed. Without the other
                // record there is no proof of a fork, so it is simply dropped.
                tracing::debug!(author = %author.short(), seq = head.seq + 1, "dropped a waiting record with the wrong prev");
                return Ok(());
            }
            self.append(&record)?;
            self.report.released.push(record.id());
        }
    }

    fn commit(mut self, store: &SledStore) -> Result<InsertReport, StoreError> {
        for (i, name) in COUNTERS.iter().enumerate() {
            if self.delta[i] != 0 {
                let v = (store.counter(name)? as i64 + self.delta[i]).max(0) as u64;
                self.batch.insert(keys::meta(name), &v.to_be_bytes());
            }
        }
        for (code, n) in &self.kinds {
            let name = keys::kind_count(*code);
            self.batch.insert(keys::meta(&name), &(store.counter(&name)? + n).to_be_bytes());
        }
        let runs = self.runs.add(self.tree, &mut self.batch, std::mem::take(&mut self.id_entries))?;
        self.tree.apply_batch(self.batch)?;
        *store.ids.lock().map_err(|_| StoreError::corrupt("id index lock poisoned"))? = runs;
        let mut index = store.heads.lock().map_err(|_| StoreError::corrupt("heads lock poisoned"))?;
        for (author, head) in self.heads {
            if let Some(h) = head {
                index.set(author, h);
            }
        }
        for proof in &self.report.forks {
            index.mark_forked(proof.author);
        }
        Ok(self.report)
    }
}

impl Store for SledStore {
    fn insert(&self, records: Vec<Verified<Record>>) -> Result<InsertReport, StoreError> {
        let mut state = self.writer.lock().map_err(|_| StoreError::corrupt("writer lock poisoned"))?;
        let snapshot = state.pending.clone();
        let mut tx = Tx {
            tree: &self.tree,
            max_pending: self.config.max_pending_per_author,
            pending_counts: &mut state.pending,
            batch: sled::Batch::default(),
            heads: HashMap::new(),
            new_ids: HashSet::new(),
            appended: HashMap::new(),
            pending: HashMap::new(),
            forked: HashMap::new(),
            latest: HashMap::new(),
            delta: [0; 5],
            kinds: HashMap::new(),
            runs: self.runs()?,
            id_entries: Vec::new(),
            report: InsertReport::default(),
        };
        let mut result = Ok(());
        for record in &records {
            match tx.offer(record) {
                Ok(o) => tx.report.outcomes.push(o),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let committed = result.and_then(|()| tx.commit(self));
        if committed.is_err() {
            // Nothing was written: put the in-memory counts back as they were.
            state.pending = snapshot;
        }
        committed
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush()?;
        Ok(())
    }

    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        self.find(id)?.map(|(_, _, bytes)| Self::decode(&bytes)).transpose()
    }

    fn locate(&self, id: &RecordId) -> Result<Option<(NodeKey, u64)>, StoreError> {
        Ok(self.find(id)?.map(|(author, seq, _)| (author, seq)))
    }

    fn get_at(&self, author: &NodeKey, seq: u64) -> Result<Option<Record>, StoreError> {
        self.tree.get(keys::feed(author, seq))?.map(|b| Self::decode(&b)).transpose()
    }

    fn ids_with_prefix(&self, hex_prefix: &str, limit: usize) -> Result<Vec<RecordId>, StoreError> {
        let prefix = hex_prefix.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || prefix.len() > 64 {
            return Ok(vec![]);
        }
        // The index holds the first `ids::SHORT` bytes of each id: find the entries whose short
        // id starts with the prefix, then read their records for the whole ids.
        let short = &prefix[..prefix.len().min(2 * ids::SHORT)];
        let whole =
            hex::decode(&short[..short.len() - short.len() % 2]).map_err(|_| StoreError::corrupt("hex prefix"))?;
        let (mut lo, mut hi) = (whole.clone(), whole);
        if short.len() % 2 == 1 {
            let nibble =
                u8::from_str_radix(&short[short.len() - 1..], 16).map_err(|_| StoreError::corrupt("hex prefix"))?;
            lo.push(nibble << 4);
            hi.push(nibble << 4 | 0xf);
        }
        let mut out = vec![];
        for e in self.runs()?.within(&self.tree, &lo, &hi, usize::MAX)? {
            let (short_author, seq) = ids::place(&e);
            let found =
                at_short(&self.tree, short_author, seq, |bytes| record_id(bytes).to_hex().starts_with(&prefix))?;
            if let Some((_, bytes)) = found {
                out.push(record_id(&bytes));
            }
        }
        // Runs are read one after another: sort as one index would have.
        out.sort();
        out.dedup();
        out.truncate(limit);
        Ok(out)
    }

    fn head(&self, author: &NodeKey) -> Result<Option<Head>, StoreError> {
        self.tree.get(keys::head(author))?.map(|v| decode_head(&v)).transpose()
    }

    fn heads(&self) -> Result<Vec<(NodeKey, Head)>, StoreError> {
        self.tree
            .scan_prefix([keys::HEAD])
            .map(|item| {
                let (k, v) = item?;
                if k.len() != 33 {
                    return Err(StoreError::corrupt("head key"));
                }
                let mut a = [0u8; 32];
                a.copy_from_slice(&k[1..]);
                Ok((NodeKey(a), decode_head(&v)?))
            })
            .collect()
    }

    fn feed_bytes(
        &self,
        author: &NodeKey,
        from_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let start = keys::feed(author, from_seq.max(1));
        let end = keys::feed(author, u64::MAX);
        let values = self.tree.range(start..=end).map(|item| item.map(|(_, v)| v).map_err(StoreError::from));
        super::feed_page(values, max_count, max_bytes)
    }

    fn scan(&self, scan: Scan<'_>, newest_first: bool) -> Records<'_> {
        let code = |k: csx_protocol::Kind| k.code() as u16;
        let kinds =
            |kind: Option<csx_protocol::Kind>| kind.map_or_else(|| vec![keys::KIND], |k| keys::kind_prefix(code(k)));
        // Scans by line or provider read the tags of the kind index (no records are read to
        // pass over the ones that do not match).
        let (prefix, line, provider) = match scan {
            Scan::Kind(k) => (keys::kind_prefix(code(k)), None, None),
            Scan::ServiceLine { code: c, kind } => (kinds(kind), Some(c), None),
            Scan::Provider { code: c, kind } => (kinds(kind), None, Some(c)),
            Scan::RefersTo { id, kind } => (keys::refs_prefix(&id, kind.map(code)), None, None),
            Scan::Author(author) => {
                let iter = self.tree.scan_prefix(keys::feed_prefix(&author));
                let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + Send> =
                    if newest_first { Box::new(iter.rev()) } else { Box::new(iter) };
                return Box::new(iter.map(|item| Self::decode(&item?.1)));
            }
        };
        let iter = self.tree.scan_prefix(prefix);
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + Send> =
            if newest_first { Box::new(iter.rev()) } else { Box::new(iter) };
        let (line, provider) = (line.map(str::to_owned), provider.map(str::to_owned));
        let wanted = move |item: &sled::Result<(sled::IVec, sled::IVec)>| match item {
            Ok((_, tags)) if line.is_some() || provider.is_some() => {
                keys::tags_match(tags, line.as_deref(), provider.as_deref())
            }
            _ => true,
        };
        Box::new(iter.filter(wanted).map(move |item| {
            let (k, _) = item?;
            let pos = keys::pos_suffix(&k).ok_or_else(|| StoreError::corrupt("index key"))?;
            self.record_at_pos(pos)
        }))
    }

    fn latest(&self, kind: Kind, skip: &dyn Fn(&RecordId) -> bool) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(keys::current_prefix(kind.code() as u16)) {
            let (k, v) = item?;
            let bad = || StoreError::corrupt("latest-record index entry");
            let (_, id, seq) = keys::split_current_value(&v).ok_or_else(bad)?;
            let author = keys::current_author(&k).ok_or_else(bad)?;
            let record = self.record_at_pos((author, seq))?;
            if !skip(&id) {
                out.push(record);
            } else if let Some(earlier) = self.latest_before(&record, skip)? {
                out.push(earlier);
            }
        }
        Ok(out)
    }

    fn count_kind(&self, kind: u16) -> Result<u64, StoreError> {
        self.counter(&keys::kind_count(kind))
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        Ok(StoreStats {
            records: self.counter("records")?,
            feeds: self.counter("feeds")?,
            pending: self.counter("pending")?,
            forks: self.counter("forks")?,
            record_bytes: self.counter("record_bytes")?,
            quarantined: self.counter("quarantined")?,
        })
    }

    fn forks(&self) -> Result<Vec<ForkProof>, StoreError> {
        self.tree
            .scan_prefix([keys::FORK])
            .map(|item| {
                let (k, v) = item?;
                let bad = || StoreError::corrupt("fork proof");
                if k.len() != 33 || v.len() < 4 {
                    return Err(bad());
                }
                let n = u32::from_be_bytes(v[..4].try_into().map_err(|_| bad())?) as usize;
                let first = v.get(4..4 + n).ok_or_else(bad)?.to_vec();
                let second = v.get(4 + n..).ok_or_else(bad)?.to_vec();
                let seq = Record::decode(second.clone()).map(|r| r.seq()).map_err(|_| bad())?;
                let mut a = [0u8; 32];
                a.copy_from_slice(&k[1..]);
                Ok(ForkProof { author: NodeKey(a), seq, first, second })
            })
            .collect()
    }

    fn pending_seqs(&self, author: &NodeKey) -> Result<Vec<u64>, StoreError> {
        self.tree
            .scan_prefix(keys::pending_prefix(author))
            .map(|item| {
                let (k, _) = item?;
                keys::split_pos(&k[1..]).map(|(_, s)| s).ok_or_else(|| StoreError::corrupt("pending key"))
            })
            .collect()
    }

    fn add_fork_proof(&self, first: Verified<Record>, second: Verified<Record>) -> Result<bool, StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::corrupt("writer lock poisoned"))?;
        let author = first.author();
        if second.author() != author || second.seq() != first.seq() || second.id() == first.id() {
            return Err(StoreError::corrupt("add_fork_proof given two records that are not a fork"));
        }
        if self.tree.contains_key(keys::fork(&author))? {
            return Ok(false);
        }
        let (a, b) = (first.into_inner().into_bytes(), second.into_inner().into_bytes());
        let mut v = Vec::with_capacity(4 + a.len() + b.len());
        v.extend_from_slice(&(a.len() as u32).to_be_bytes());
        v.extend_from_slice(&a);
        v.extend_from_slice(&b);
        let mut batch = sled::Batch::default();
        batch.insert(keys::fork(&author), v);
        batch.insert(keys::meta("forks"), &(self.counter("forks")? + 1).to_be_bytes());
        self.tree.apply_batch(batch)?;
        self.heads_index().mark_forked(author);
        Ok(true)
    }

    fn fork_proof(&self, author: &NodeKey) -> Result<Option<ForkProof>, StoreError> {
        Ok(self.forks()?.into_iter().find(|p| p.author == *author))
    }

    fn quarantine(&self, records: Vec<Verified<Record>>) -> Result<Vec<bool>, StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::corrupt("writer lock poisoned"))?;
        let mut total = self.counter("quarantined")? as usize;
        let mut per_author: HashMap<NodeKey, usize> = HashMap::new();
        let mut batch = sled::Batch::default();
        let mut held = Vec::with_capacity(records.len());
        for r in records {
            let author = r.author();
            let n = match per_author.get(&author) {
                Some(n) => *n,
                None => self.tree.scan_prefix(keys::quarantine_prefix(&author)).count(),
            };
            let key = keys::quarantine(&author, r.seq());
            if n >= self.config.max_pending_per_author || total >= MAX_QUARANTINE {
                held.push(false);
                continue;
            }
            if !self.tree.contains_key(&key)? {
                batch.insert(key, r.bytes());
                total += 1;
                per_author.insert(author, n + 1);
            }
            held.push(true);
        }
        batch.insert(keys::meta("quarantined"), &(total as u64).to_be_bytes());
        self.tree.apply_batch(batch)?;
        Ok(held)
    }

    fn quarantined_authors(&self) -> Result<Vec<NodeKey>, StoreError> {
        let mut out: Vec<NodeKey> = Vec::new();
        for item in self.tree.scan_prefix([keys::QUARANTINE]) {
            let (k, _) = item?;
            let (author, _) = keys::split_pos(&k[1..]).ok_or_else(|| StoreError::corrupt("quarantine key"))?;
            if out.last() != Some(&author) {
                out.push(author);
            }
        }
        Ok(out)
    }

    fn quarantined(&self, author: &NodeKey) -> Result<Vec<Vec<u8>>, StoreError> {
        self.tree.scan_prefix(keys::quarantine_prefix(author)).map(|i| Ok(i?.1.to_vec())).collect()
    }

    fn take_quarantined(&self, author: &NodeKey) -> Result<Vec<Vec<u8>>, StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::corrupt("writer lock poisoned"))?;
        let mut batch = sled::Batch::default();
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(keys::quarantine_prefix(author)) {
            let (k, v) = item?;
            batch.remove(k);
            out.push(v.to_vec());
        }
        let left = self.counter("quarantined")?.saturating_sub(out.len() as u64);
        batch.insert(keys::meta("quarantined"), &left.to_be_bytes());
        self.tree.apply_batch(batch)?;
        Ok(out)
    }

    fn truncate_feed(&self, author: &NodeKey, keep_through: u64) -> Result<u64, StoreError> {
        let mut state = self.writer.lock().map_err(|_| StoreError::corrupt("writer lock poisoned"))?;
        let mut batch = sled::Batch::default();
        let (mut removed, mut bytes) = (0u64, 0u64);
        let start = keys::feed(author, keep_through.saturating_add(1));
        let end = keys::feed(author, u64::MAX);
        // Latest-record entries that may name a removed record, seeded empty.
        let mut stale: Latest = HashMap::new();
        // Records removed per kind.
        let mut kinds: HashMap<u16, u64> = HashMap::new();
        for item in self.tree.range(start..=end) {
            let (k, v) = item?;
            let record = Self::decode(&v)?;
            batch.remove(k);
            // Its id index entry stays: it names a place whose record no longer hashes to its id
            // (or no record), which lookups pass over; merges keep it, as harmless.
            *kinds.entry(record.header().kind).or_default() += 1;
            for (ik, _) in index_entries(&record) {
                batch.remove(ik);
            }
            if let Some(thing) = record.body().supersedes() {
                let key = keys::current(record.header().kind, &thing, author);
                batch.remove(key.as_slice());
                stale.insert(key, None);
            }
            removed += 1;
            bytes += v.len() as u64;
        }
        // They now name the latest record kept, if any (a rare, whole-feed pass).
        if !stale.is_empty() && keep_through > 0 {
            for item in self.tree.range(keys::feed(author, 1)..=keys::feed(author, keep_through)) {
                let record = Self::decode(&item?.1)?;
                if let Some(thing) = record.body().supersedes()
                    && stale.contains_key(&keys::current(record.header().kind, &thing, author))
                {
                    note_latest(&self.tree, &mut stale, &mut batch, &record)?;
                }
            }
        }
        // Waiting and quarantined records beyond the limit go too.
        let mut dropped_pending = 0u64;
        for item in self.tree.scan_prefix(keys::pending_prefix(author)) {
            let (k, _) = item?;
            if keys::split_pos(&k[1..]).is_some_and(|(_, s)| s > keep_through) {
                batch.remove(k);
                dropped_pending += 1;
            }
        }
        let mut dropped_quarantine = 0u64;
        for item in self.tree.scan_prefix(keys::quarantine_prefix(author)) {
            let (k, _) = item?;
            if keys::split_pos(&k[1..]).is_some_and(|(_, s)| s > keep_through) {
                batch.remove(k);
                dropped_quarantine += 1;
            }
        }
        if removed == 0 && dropped_pending == 0 && dropped_quarantine == 0 {
            return Ok(0);
        }
        let new_head = if keep_through == 0 {
            batch.remove(keys::head(author));
            None
        } else {
            match self.tree.get(keys::feed(author, keep_through))? {
                Some(v) => {
                    let id = record_id(&v);
                    let mut head = Vec::with_capacity(40);
                    head.extend_from_slice(&keep_through.to_be_bytes());
                    head.extend_from_slice(id.as_bytes());
                    batch.insert(keys::head(author), head);
                    Some(Head { seq: keep_through, id })
                }
                None => self.head(author)?,
            }
        };
        let set = |batch: &mut sled::Batch, name: &str, v: u64| batch.insert(keys::meta(name), &v.to_be_bytes());
        set(&mut batch, "records", self.counter("records")?.saturating_sub(removed));
        set(&mut batch, "record_bytes", self.counter("record_bytes")?.saturating_sub(bytes));
        set(&mut batch, "pending", self.counter("pending")?.saturating_sub(dropped_pending));
        set(&mut batch, "quarantined", self.counter("quarantined")?.saturating_sub(dropped_quarantine));
        if keep_through == 0 && removed > 0 {
            set(&mut batch, "feeds", self.counter("feeds")?.saturating_sub(1));
        }
        for (code, n) in kinds {
            let name = keys::kind_count(code);
            set(&mut batch, &name, self.counter(&name)?.saturating_sub(n));
        }
        self.tree.apply_batch(batch)?;
        if let Some(n) = state.pending.get_mut(author) {
            *n = n.saturating_sub(dropped_pending as usize);
        }
        let mut index = self.heads_index();
        match new_head {
            Some(h) => index.set(*author, h),
            None => index.remove(author),
        }
        Ok(removed)
    }

    fn heads_index(&self) -> std::sync::MutexGuard<'_, HeadsIndex> {
        // A panic while holding the lock leaves the index as consistent as any single `set`.
        self.heads.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(keys::meta(name))?.map(|v| v.to_vec()))
    }

    fn meta_put(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tree.insert(keys::meta(name), value)?;
        Ok(())
    }

    fn meta_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for item in self.tree.scan_prefix([keys::META]) {
            let (k, _) = item?;
            names.push(String::from_utf8_lossy(&k[1..]).into_owned());
        }
        Ok(names)
    }
}
