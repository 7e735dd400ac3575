//! Storage of verified records, behind the [`Store`] trait: the rest of the node never sees sled.
//!
//! A store holds each author's feed (contiguous from seq 1), records waiting for a missing
//! predecessor, proofs of forks, and the secondary indexes queries use. Only
//! [`Verified`] records can be inserted.

mod ids;
mod keys;
mod mem;
mod sled_store;

pub use mem::MemStore;
pub use sled_store::{SledStore, StoreConfig};

use csx_protocol::{Head, Kind, NodeKey, Record, RecordId, Verified};
use serde::Serialize;
use std::path::PathBuf;

/// The layout version of the store on disk. Bumped when the key layout changes; opening a store
/// of an older version migrates it (see `SledStore::open`), a newer one is refused.
///
/// - 1: the first layout, with an index by time (`T` keys).
/// - 2: no index by time (its entries are deleted by the migration from 1).
/// - 3: the kind index carries each record's line and providers, replacing the indexes by line
///   and by provider; an index of each author's latest price and review of each thing.
/// - 4: that index tells a price's contracts apart by their reference, and its latest is the
///   latest written, then the last in the author's feed (was: the greatest id); the migration
///   from 3 writes it again.
/// - 5: the id index is kept as sorted runs of short entries (`J` chunks, see `ids.rs`) instead
///   of one random `I` key per record; counts of records per kind are kept. The migration from 4
///   writes both again.
pub const SCHEMA_VERSION: u32 = 5;

/// The oldest layout this csx migrates from.
pub const OLDEST_MIGRATABLE: u32 = 1;

/// What a store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {path} is in use by another process (is a csx daemon running with this home? stop it, or run the command while it runs so it is sent to the daemon)"
    )]
    Locked { path: PathBuf },
    #[error("the store at {path} has schema version {found}, but this csx supports version {supported}; {hint}")]
    Schema { path: PathBuf, found: u32, supported: u32, hint: &'static str },
    #[error("the store at {path} could not be opened: {problem}; {hint}")]
    Open { path: PathBuf, problem: String, hint: &'static str },
    #[error(
        "reading or writing the store failed: {0} (if its disk is full or read-only, fix that and restart the daemon: what is already stored is safe; see docs/OPERATIONS.md)"
    )]
    Io(#[from] sled::Error),
    #[error("the store holds a damaged entry ({what}); restore from backup or resync (see docs/OPERATIONS.md)")]
    Corrupt { what: String },
}

impl StoreError {
    /// The class of this error, for exit codes and API replies.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            StoreError::Locked { .. } => crate::error_kind::ErrorKind::Unavailable,
            _ => crate::error_kind::ErrorKind::Internal,
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt { what: what.into() }
    }
}

impl From<StoreError> for crate::error_kind::ApiError {
    fn from(e: StoreError) -> Self {
        crate::error_kind::ApiError::new(e.kind(), e.to_string())
    }
}

/// What happened to one record offered to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Appended to its feed.
    Appended,
    /// Already held.
    Duplicate,
    /// Ahead of its feed; held until the gap is filled.
    Held,
    /// A second record at a held seq: the author forked. The proof is kept and nothing more is
    /// accepted from the author.
    Fork,
    /// Refused; the reason is a stable short code.
    Refused { reason: Refusal },
}

/// Why the store refused a (verified) record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Next in line, but its `prev` is not the id held at seq − 1.
    WrongPrev,
    /// Its author has a proven fork: nothing more is accepted from it.
    ForkedAuthor,
    /// The author already has the maximum number of records waiting for a gap.
    PendingFull,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::WrongPrev => "wrong_prev",
            Refusal::ForkedAuthor => "forked_author",
            Refusal::PendingFull => "pending_full",
        }
    }
}

/// The result of [`Store::insert`].
#[derive(Debug, Default, Clone)]
pub struct InsertReport {
    /// One outcome per offered record, in order.
    pub outcomes: Vec<Outcome>,
    /// Records appended from the waiting area because this batch filled their gap.
    pub released: Vec<RecordId>,
    /// Forks detected in this batch.
    pub forks: Vec<ForkProof>,
}

impl InsertReport {
    pub fn appended(&self) -> usize {
        self.outcomes.iter().filter(|o| **o == Outcome::Appended).count() + self.released.len()
    }
}

/// Two validly signed records by one author at one seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkProof {
    pub author: NodeKey,
    pub seq: u64,
    pub first: Vec<u8>,
    pub second: Vec<u8>,
}

impl Serialize for ForkProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ForkProof", 4)?;
        st.serialize_field("author", &self.author)?;
        st.serialize_field("seq", &self.seq)?;
        st.serialize_field("first", &csx_protocol::record::record_id(&self.first))?;
        st.serialize_field("second", &csx_protocol::record::record_id(&self.second))?;
        st.end()
    }
}

/// Which records a scan visits. Every scan is ordered by `created_at` (an author scan by seq).
#[derive(Debug, Clone, Copy)]
pub enum Scan<'a> {
    /// Records of one kind.
    Kind(Kind),
    /// Records about one service line, optionally of one kind.
    ServiceLine { code: &'a str, kind: Option<Kind> },
    /// Records about one provider, optionally of one kind.
    Provider { code: &'a str, kind: Option<Kind> },
    /// One author's feed, by seq.
    Author(NodeKey),
    /// Records referring to a record (retractions, support, outcomes), optionally of one kind.
    RefersTo { id: RecordId, kind: Option<Kind> },
}

/// Counts for status displays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StoreStats {
    pub records: u64,
    pub feeds: u64,
    pub pending: u64,
    /// Records of applicants held until their organisation is admitted.
    #[serde(default)]
    pub quarantined: u64,
    pub forks: u64,
    /// Bytes of record payload held (records only, not indexes).
    pub record_bytes: u64,
}

/// An iterator over stored records.
pub type Records<'a> = Box<dyn Iterator<Item = Result<Record, StoreError>> + Send + 'a>;

/// One page of a feed's record bytes, as [`Store::feed_bytes`] promises it: at most `max_count`
/// records and about `max_bytes` bytes, and at least one record if there is any.
pub(crate) fn feed_page<B: AsRef<[u8]>>(
    records: impl Iterator<Item = Result<B, StoreError>>,
    max_count: usize,
    max_bytes: usize,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut size = 0;
    for record in records {
        let record = record?;
        let v = record.as_ref();
        if !out.is_empty() && (out.len() >= max_count || size + v.len() > max_bytes) {
            break;
        }
        size += v.len();
        out.push(v.to_vec());
    }
    Ok(out)
}

/// Durable storage of verified records.
pub trait Store: Send + Sync {
    /// Offers verified records to their feeds (see [`csx_protocol::feed::place`]). The whole
    /// call is applied atomically; it is durable once [`Store::flush`] returns.
    fn insert(&self, records: Vec<Verified<Record>>) -> Result<InsertReport, StoreError>;
    /// Makes every insert so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError>;
    fn get_at(&self, author: &NodeKey, seq: u64) -> Result<Option<Record>, StoreError>;
    /// Where the record `id` is: its author and seq (a cheap index lookup).
    fn locate(&self, id: &RecordId) -> Result<Option<(NodeKey, u64)>, StoreError>;
    /// Ids starting with `hex_prefix` (at most `limit`), to resolve short ids typed by people.
    fn ids_with_prefix(&self, hex_prefix: &str, limit: usize) -> Result<Vec<RecordId>, StoreError>;
    fn head(&self, author: &NodeKey) -> Result<Option<Head>, StoreError>;
    fn heads(&self) -> Result<Vec<(NodeKey, Head)>, StoreError>;
    /// The exact bytes of `author`'s records from `from_seq` on, at most `max_count` records and
    /// about `max_bytes` bytes (at least one record if any).
    fn feed_bytes(
        &self,
        author: &NodeKey,
        from_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Records selected by `scan`, oldest first (or newest first when `newest_first`).
    fn scan(&self, scan: Scan<'_>, newest_first: bool) -> Records<'_>;
    /// For a kind whose records supersede each other (prices, reviews: see
    /// [`csx_protocol::Body::supersedes`]), each author's latest record of each thing, by
    /// (created_at, seq) — its write time, then its place in the author's feed — leaving out records `skip` names: where an author's latest is left out,
    /// its latest before that counts instead. Reads a few records per thing, not the whole kind;
    /// other kinds give nothing.
    fn latest(&self, kind: Kind, skip: &dyn Fn(&RecordId) -> bool) -> Result<Vec<Record>, StoreError>;
    fn stats(&self) -> Result<StoreStats, StoreError>;
    /// Records held of the kind with this code (a counter kept by every insert and removal).
    fn count_kind(&self, kind: u16) -> Result<u64, StoreError>;
    fn forks(&self) -> Result<Vec<ForkProof>, StoreError>;
    /// Seqs held in the waiting area for `author`.
    fn pending_seqs(&self, author: &NodeKey) -> Result<Vec<u64>, StoreError>;
    /// Keeps a proof that the author of `first` and `second` signed both at one seq; nothing
    /// more is accepted from that author. Returns false if the author was already known forked.
    fn add_fork_proof(&self, first: Verified<Record>, second: Verified<Record>) -> Result<bool, StoreError>;
    /// The proof that `author` forked, if known.
    fn fork_proof(&self, author: &NodeKey) -> Result<Option<ForkProof>, StoreError>;
    /// Holds verified records whose author's organisation is not admitted yet. Returns, per
    /// record, whether it was held (false: the quarantine for that author or in all is full).
    fn quarantine(&self, records: Vec<Verified<Record>>) -> Result<Vec<bool>, StoreError>;
    /// Authors with quarantined records.
    fn quarantined_authors(&self) -> Result<Vec<NodeKey>, StoreError>;
    /// `author`'s quarantined records, left in place.
    fn quarantined(&self, author: &NodeKey) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Removes and returns `author`'s quarantined records (to be verified and offered again).
    fn take_quarantined(&self, author: &NodeKey) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Removes `author`'s records after `keep_through` (all of them for 0), with their indexes
    /// and any waiting or quarantined ones: a revoked or retired node's later records are not
    /// valid. Returns how many were removed.
    fn truncate_feed(&self, author: &NodeKey, keep_through: u64) -> Result<u64, StoreError>;
    /// The heads of every feed, with their sync digests; kept in memory, updated by every insert.
    fn heads_index(&self) -> std::sync::MutexGuard<'_, csx_protocol::sync::HeadsIndex>;
    /// Node-local metadata (not replicated): small values by name.
    fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn meta_put(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;
    /// The names of every metadata entry (for backups).
    fn meta_names(&self) -> Result<Vec<String>, StoreError>;
}
