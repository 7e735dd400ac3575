//! Catch-up sync: messages, their bytes, the heads digest, and the initiator's state machine.
//!
//! A node's *heads* map each author to its highest contiguous record (seq and id). Authors fall
//! into 256 buckets by the first byte of their key; a bucket's digest is SHA-256 over its sorted
//! `author ‖ seq ‖ id` entries (first 16 bytes), and the root is SHA-256 over the 256 bucket
//! digests. Two nodes with equal roots hold the same feeds up to the same heads.
//!
//! A round, started by either side: `Summary(root)` → `InSync` (a few bytes, done) or
//! `Differs(bucket digests)`; then `Heads(differing buckets)` → the responder's heads there; then
//! `Fetch(author, from, to)` pages for every feed the responder holds further. Work grows with
//! the difference, not the federation. Each side pulls what it lacks; the other side does the same
//! in its own rounds. The byte layout is in docs/PROTOCOL.md.

use std::collections::{BTreeMap, VecDeque};

use sha2::{Digest, Sha256};

use crate::encoding::{Reader, Writer};
use crate::error::DecodeError;
use crate::feed::Head;
use crate::ids::{FederationId, NodeKey, RecordId};
use crate::record::{Header, MAX_RECORD_BYTES};

/// Number of buckets authors are spread over.
pub const BUCKETS: usize = 256;
/// Bytes of a bucket digest.
pub const BUCKET_DIGEST_LEN: usize = 16;
/// Largest sync request on the wire.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest sync response on the wire: a page of records plus framing.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most heads a `Heads` response carries (a bucket never holds more in practice; more is hostile).
pub const MAX_HEADS: usize = 50_000;

pub type BucketDigest = [u8; BUCKET_DIGEST_LEN];

/// Which bucket an author falls in.
pub fn bucket_of(author: &NodeKey) -> u8 {
    author.0[0]
}

/// The digest of one bucket's heads (all zero when empty). `entries` must be sorted by author.
pub fn bucket_digest<'a>(entries: impl IntoIterator<Item = (&'a NodeKey, &'a Head)>) -> BucketDigest {
    let mut h = Sha256::new();
    let mut any = false;
    for (author, head) in entries {
        any = true;
        h.update(author.as_bytes());
        h.update(head.seq.to_be_bytes());
        h.update(head.id.as_bytes());
    }
    if !any {
        return [0; BUCKET_DIGEST_LEN];
    }
    let full: [u8; 32] = h.finalize().into();
    let mut out = [0u8; BUCKET_DIGEST_LEN];
    out.copy_from_slice(&full[..BUCKET_DIGEST_LEN]);
    out
}

/// The root digest: SHA-256 over the bucket digests, then the forked authors' keys in order.
pub fn root_digest(buckets: &[BucketDigest], forked: &[NodeKey]) -> [u8; 32] {
    let mut h = Sha256::new();
    for b in buckets {
        h.update(b);
    }
    for k in forked {
        h.update(k.as_bytes());
    }
    h.finalize().into()
}

/// A node's heads, with bucket digests cached and recomputed only for buckets that changed.
/// Authors proven to have forked are kept apart: their feeds are frozen and out of the buckets,
/// and the root covers the list of them, so two nodes agree only if they know the same forks.
#[derive(Debug, Clone)]
pub struct HeadsIndex {
    heads: BTreeMap<NodeKey, Head>,
    forked: std::collections::BTreeSet<NodeKey>,
    buckets: Vec<BucketDigest>,
    dirty: Vec<bool>,
    root: Option<[u8; 32]>,
}

impl Default for HeadsIndex {
    fn default() -> Self {
        HeadsIndex {
            heads: BTreeMap::new(),
            forked: Default::default(),
            buckets: vec![[0; BUCKET_DIGEST_LEN]; BUCKETS],
            dirty: vec![false; BUCKETS],
            root: None,
        }
    }
}

impl HeadsIndex {
    pub fn from_heads(heads: impl IntoIterator<Item = (NodeKey, Head)>) -> Self {
        let mut idx = HeadsIndex::default();
        for (a, h) in heads {
            idx.set(a, h);
        }
        idx
    }

    pub fn set(&mut self, author: NodeKey, head: Head) {
        if self.forked.contains(&author) {
            return;
        }
        if self.heads.insert(author, head) != Some(head) {
            self.dirty[bucket_of(&author) as usize] = true;
            self.root = None;
        }
    }

    /// Removes `author`'s feed (truncated away, e.g. its organisation was revoked).
    pub fn remove(&mut self, author: &NodeKey) {
        if self.heads.remove(author).is_some() {
            self.dirty[bucket_of(author) as usize] = true;
            self.root = None;
        }
    }

    /// Marks `author` as forked: its feed leaves the buckets and joins the forked list.
    pub fn mark_forked(&mut self, author: NodeKey) {
        self.remove(&author);
        if self.forked.insert(author) {
            self.root = None;
        }
    }

    pub fn is_forked(&self, author: &NodeKey) -> bool {
        self.forked.contains(author)
    }

    /// Authors proven to have forked, in key order.
    pub fn forked(&self) -> Vec<NodeKey> {
        self.forked.iter().copied().collect()
    }

    pub fn get(&self, author: &NodeKey) -> Option<Head> {
        self.heads.get(author).copied()
    }

    pub fn len(&self) -> usize {
        self.heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeKey, &Head)> {
        self.heads.iter()
    }

    fn bucket_range(&self, b: u8) -> impl Iterator<Item = (&NodeKey, &Head)> {
        let mut lo = [0u8; 32];
        lo[0] = b;
        self.heads.range(NodeKey(lo)..).take_while(move |(k, _)| k.0[0] == b)
    }

    fn refresh(&mut self) {
        for b in 0..BUCKETS {
            if self.dirty[b] {
                self.buckets[b] = bucket_digest(self.bucket_range(b as u8));
                self.dirty[b] = false;
            }
        }
    }

    pub fn buckets(&mut self) -> &[BucketDigest] {
        self.refresh();
        &self.buckets
    }

    pub fn root(&mut self) -> [u8; 32] {
        if let Some(r) = self.root {
            return r;
        }
        self.refresh();
        let r = root_digest(&self.buckets, &self.forked());
        self.root = Some(r);
        r
    }

    /// Heads of the authors in `buckets`.
    pub fn heads_in(&self, buckets: &[u8]) -> Vec<(NodeKey, Head)> {
        buckets.iter().flat_map(|b| self.bucket_range(*b).map(|(k, h)| (*k, *h))).collect()
    }

    /// Records the other side holds beyond ours, and ours beyond theirs, for authors in `theirs`.
    pub fn lag(&self, theirs: &[(NodeKey, Head)]) -> (u64, u64) {
        let mut behind = 0;
        let mut ahead = 0;
        for (a, h) in theirs {
            let mine = self.get(a).map_or(0, |m| m.seq);
            behind += h.seq.saturating_sub(mine);
            ahead += mine.saturating_sub(h.seq);
        }
        (behind, ahead)
    }
}

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// "My heads hash to `root`."
    Summary { federation: FederationId, root: [u8; 32] },
    /// "Send me your heads in these buckets."
    Heads { buckets: Vec<u8> },
    /// "Send me `author`'s records from `from_seq` to `to_seq` (inclusive), about `max_bytes`."
    Fetch { author: NodeKey, from_seq: u64, to_seq: u64, max_bytes: u32 },
    /// "Send me the proof that `author` forked."
    Proof { author: NodeKey },
    /// "Send me your membership records (certificates, endorsements, revocations,
    /// retirements) with ids after `after`, unless those you hold hash to `known`." Answered
    /// only to bootstrap servers and members' nodes: a bootstrap server follows the roster
    /// with it, and never sees any other record.
    Membership { known: [u8; 32], after: RecordId },
}

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResponse {
    InSync,
    Differs {
        buckets: Vec<BucketDigest>,
        forked: Vec<NodeKey>,
    },
    Heads {
        heads: Vec<(NodeKey, Head)>,
    },
    /// Contiguous records of the requested feed, from the requested seq.
    Records {
        records: Vec<Vec<u8>>,
    },
    /// The request was refused.
    Refused {
        code: RefusalCode,
        message: String,
    },
    /// Two records by one author at one seq.
    Proof {
        first: Vec<u8>,
        second: Vec<u8>,
    },
}

crate::types::coded_enum!(
    /// Why a sync request was refused.
    RefusalCode, "sync refusal" {
        WrongFederation = 1 => "wrong_federation",
        NotAMember = 2 => "not_a_member",
        TooBusy = 3 => "too_busy",
        BadRequest = 4 => "bad_request",
    }
);

const T_SUMMARY: u8 = 1;
const T_HEADS: u8 = 2;
const T_FETCH: u8 = 3;
const T_PROOF: u8 = 4;
const T_MEMBERSHIP: u8 = 5;
const R_IN_SYNC: u8 = 1;
const R_DIFFERS: u8 = 2;
const R_HEADS: u8 = 3;
const R_RECORDS: u8 = 4;
const R_REFUSED: u8 = 5;
const R_PROOF: u8 = 6;
/// Most forked authors listed in one `Differs` response.
pub const MAX_FORKED: usize = 10_000;

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(80);
        match self {
            SyncRequest::Summary { federation, root } => {
                w.u8(T_SUMMARY);
                w.bytes(federation.as_bytes());
                w.bytes(root);
            }
            SyncRequest::Heads { buckets } => {
                w.u8(T_HEADS);
                w.u16(buckets.len() as u16);
                w.bytes(buckets);
            }
            SyncRequest::Fetch { author, from_seq, to_seq, max_bytes } => {
                w.u8(T_FETCH);
                w.bytes(author.as_bytes());
                w.u64(*from_seq);
                w.u64(*to_seq);
                w.u32(*max_bytes);
            }
            SyncRequest::Proof { author } => {
                w.u8(T_PROOF);
                w.bytes(author.as_bytes());
            }
            SyncRequest::Membership { known, after } => {
                w.u8(T_MEMBERSHIP);
                w.bytes(known);
                w.bytes(after.as_bytes());
            }
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<SyncRequest, DecodeError> {
        let mut r = Reader::new(bytes);
        let req = match r.u8("sync request type")? {
            T_SUMMARY => {
                SyncRequest::Summary { federation: FederationId(r.array("federation")?), root: r.array("root")? }
            }
            T_HEADS => {
                let n = r.u16("bucket count")? as usize;
                if n > BUCKETS {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "buckets",
                        expected: BUCKETS,
                        got: n,
                    });
                }
                SyncRequest::Heads { buckets: r.take(n, "buckets")?.to_vec() }
            }
            T_FETCH => SyncRequest::Fetch {
                author: NodeKey(r.array("author")?),
                from_seq: r.u64("from_seq")?,
                to_seq: r.u64("to_seq")?,
                max_bytes: r.u32("max_bytes")?,
            },
            T_PROOF => SyncRequest::Proof { author: NodeKey(r.array("author")?) },
            T_MEMBERSHIP => SyncRequest::Membership { known: r.array("known")?, after: RecordId(r.array("after")?) },
            code => return Err(DecodeError::UnknownCode { context: "sync", field: "request type", code }),
        };
        r.finish("sync request")?;
        Ok(req)
    }
}

impl SyncResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            SyncResponse::InSync => w.u8(R_IN_SYNC),
            SyncResponse::Differs { buckets, forked } => {
                w.u8(R_DIFFERS);
                w.u16(buckets.len() as u16);
                for b in buckets {
                    w.bytes(b);
                }
                w.u32(forked.len() as u32);
                for k in forked {
                    w.bytes(k.as_bytes());
                }
            }
            SyncResponse::Heads { heads } => {
                w.u8(R_HEADS);
                w.u32(heads.len() as u32);
                for (a, h) in heads {
                    w.bytes(a.as_bytes());
                    w.u64(h.seq);
                    w.bytes(h.id.as_bytes());
                }
            }
            SyncResponse::Records { records } => {
                w.u8(R_RECORDS);
                w.u32(records.len() as u32);
                for rec in records {
                    w.u32(rec.len() as u32);
                    w.bytes(rec);
                }
            }
            SyncResponse::Refused { code, message } => {
                w.u8(R_REFUSED);
                w.u8(code.code());
                let m = &message.as_bytes()[..message.len().min(1024)];
                w.u16(m.len() as u16);
                w.bytes(m);
            }
            SyncResponse::Proof { first, second } => {
                w.u8(R_PROOF);
                w.u32(first.len() as u32);
                w.bytes(first);
                w.u32(second.len() as u32);
                w.bytes(second);
            }
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<SyncResponse, DecodeError> {
        let mut r = Reader::new(bytes);
        let resp = match r.u8("sync response type")? {
            R_IN_SYNC => SyncResponse::InSync,
            R_DIFFERS => {
                let n = r.u16("bucket count")? as usize;
                if n != BUCKETS {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "buckets",
                        expected: BUCKETS,
                        got: n,
                    });
                }
                let buckets = (0..n).map(|_| r.array("bucket digest")).collect::<Result<_, _>>()?;
                let f = r.u32("forked count")? as usize;
                if f > MAX_FORKED || f * 32 > r.remaining() {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "forked",
                        expected: r.remaining() / 32,
                        got: f,
                    });
                }
                let forked = (0..f).map(|_| r.array("forked author").map(NodeKey)).collect::<Result<_, _>>()?;
                SyncResponse::Differs { buckets, forked }
            }
            R_HEADS => {
                let n = r.u32("head count")? as usize;
                if n > MAX_HEADS || n * 72 > r.remaining() {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "heads",
                        expected: r.remaining() / 72,
                        got: n,
                    });
                }
                let heads = (0..n)
                    .map(|_| {
                        Ok((NodeKey(r.array("author")?), Head { seq: r.u64("seq")?, id: RecordId(r.array("id")?) }))
                    })
                    .collect::<Result<_, DecodeError>>()?;
                SyncResponse::Heads { heads }
            }
            R_RECORDS => {
                let n = r.u32("record count")? as usize;
                if n * 4 > r.remaining() {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "records",
                        expected: r.remaining() / 4,
                        got: n,
                    });
                }
                let mut records = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = r.u32("record length")? as usize;
                    if len > MAX_RECORD_BYTES {
                        return Err(DecodeError::FieldLength {
                            context: "sync",
                            field: "record",
                            expected: MAX_RECORD_BYTES,
                            got: len,
                        });
                    }
                    records.push(r.take(len, "record")?.to_vec());
                }
                SyncResponse::Records { records }
            }
            R_REFUSED => {
                let c = r.u8("refusal code")?;
                let code = RefusalCode::from_code(c).ok_or(DecodeError::UnknownCode {
                    context: "sync",
                    field: "refusal",
                    code: c,
                })?;
                let n = r.u16("message length")? as usize;
                let message = String::from_utf8_lossy(r.take(n, "message")?).into_owned();
                SyncResponse::Refused { code, message }
            }
            R_PROOF => {
                let mut record = |what| -> Result<Vec<u8>, DecodeError> {
                    let len = r.u32(what)? as usize;
                    if len > MAX_RECORD_BYTES {
                        return Err(DecodeError::FieldLength {
                            context: "sync",
                            field: "proof",
                            expected: MAX_RECORD_BYTES,
                            got: len,
                        });
                    }
                    Ok(r.take(len, what)?.to_vec())
                };
                let first = record("first record")?;
                let second = record("second record")?;
                SyncResponse::Proof { first, second }
            }
            code => return Err(DecodeError::UnknownCode { context: "sync", field: "response type", code }),
        };
        r.finish("sync response")?;
        Ok(resp)
    }
}

/// Tunables of a sync round.
#[derive(Debug, Clone, Copy)]
pub struct SyncLimits {
    /// Most records asked for in one fetch.
    pub page_records: u64,
    /// Bytes asked for in one fetch.
    pub page_bytes: u32,
    /// Fetches in flight at once in one round.
    pub max_in_flight: usize,
    /// Pages handed out for ingest but not yet stored, beyond which no more are fetched.
    pub max_unstored_pages: usize,
}

impl Default for SyncLimits {
    fn default() -> Self {
        SyncLimits { page_records: 2048, page_bytes: 1 << 20, max_in_flight: 4, max_unstored_pages: 4 }
    }
}

/// Why a peer's response broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncViolation {
    #[error("answered {got} to a {asked} request")]
    UnexpectedResponse { asked: &'static str, got: &'static str },
    #[error("sent {0} bucket digests instead of 256")]
    BucketCount(usize),
    #[error("sent heads of author {author} in bucket {bucket}, which was not asked for")]
    HeadNotAsked { author: String, bucket: u8 },
    #[error("sent a record that was not asked for: {0}")]
    RecordNotAsked(String),
    #[error("sent a record that does not parse: {0}")]
    BadRecord(String),
    #[error("sent an empty page for records it claimed to hold")]
    EmptyPage,
}

/// What the state machine asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAction {
    /// Send this request to the peer; the tag identifies it in [`SyncSession::on_response`].
    Send { tag: u64, request: SyncRequest },
    /// Store these records (in this order).
    Ingest { records: Vec<Vec<u8>> },
    /// Verify and keep this proof that an author signed two records at one seq.
    Fork { first: Vec<u8>, second: Vec<u8> },
}

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncEnd {
    /// Both sides' heads were equal.
    InSync,
    /// Records were fetched (or the peer failed to deliver what it advertised); a new round
    /// confirms.
    Fetched,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Summary,
    Heads { buckets: Vec<u8> },
    Fetch { author: NodeKey, from_seq: u64, to_seq: u64 },
    Proof { author: NodeKey },
}

/// The initiator's side of one sync round with one peer. Pure: the owner sends the requests it
/// returns, feeds back the responses, ingests the records it hands out, and passes in the
/// node's current heads; time and I/O stay outside.
#[derive(Debug)]
pub struct SyncSession {
    federation: FederationId,
    limits: SyncLimits,
    next_tag: u64,
    outstanding: BTreeMap<u64, Asked>,
    /// Feeds still to fetch: (author, next seq, last seq).
    wanted: VecDeque<(NodeKey, u64, u64)>,
    /// Authors with a fetch in flight (one at a time per author keeps pages in order).
    busy: BTreeMap<NodeKey, ()>,
    end: Option<SyncEnd>,
    /// Records the peer had beyond us, and we beyond it, when heads were compared.
    pub behind: u64,
    pub ahead: u64,
    /// Records received in this round.
    pub received: u64,
    /// Pages handed out with [`SyncAction::Ingest`] and not yet acknowledged with
    /// [`SyncSession::on_stored`].
    unstored: usize,
    /// The peer refused or did not deliver something it advertised.
    undelivered: bool,
    /// An author whose head at the peer the owner wants to learn (its own feed).
    watch: Option<NodeKey>,
    /// What the peer holds of the watched author's feed, once observed.
    watched: Option<Option<Head>>,
}

impl SyncSession {
    /// Starts a round: returns the session and its first request.
    pub fn start(federation: FederationId, limits: SyncLimits, local: &mut HeadsIndex) -> (SyncSession, SyncAction) {
        let mut s = SyncSession {
            federation,
            limits,
            next_tag: 0,
            outstanding: BTreeMap::new(),
            wanted: VecDeque::new(),
            busy: BTreeMap::new(),
            end: None,
            behind: 0,
            ahead: 0,
            received: 0,
            unstored: 0,
            undelivered: false,
            watch: None,
            watched: None,
        };
        let a = s.send(Asked::Summary, SyncRequest::Summary { federation, root: local.root() });
        (s, a)
    }

    fn send(&mut self, asked: Asked, request: SyncRequest) -> SyncAction {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.outstanding.insert(tag, asked);
        SyncAction::Send { tag, request }
    }

    /// Asks the session to observe the peer's head for `author` (e.g. the node's own feed).
    pub fn watch(&mut self, author: NodeKey) {
        self.watch = Some(author);
    }

    /// The peer's head for the watched author, once observed (`Some(None)`: it holds none).
    pub fn watched_head(&self) -> Option<Option<Head>> {
        self.watched
    }

    /// The round is over (see [`SyncSession::end`]).
    pub fn is_done(&self) -> bool {
        self.end.is_some()
    }

    /// Pages handed out for ingest that have not been acknowledged as stored.
    pub fn unstored(&self) -> usize {
        self.unstored
    }

    /// A page from an earlier [`SyncAction::Ingest`] has been stored: more may be fetched.
    pub fn on_stored(&mut self) -> Vec<SyncAction> {
        self.unstored = self.unstored.saturating_sub(1);
        if self.end.is_some() {
            return vec![];
        }
        self.next_fetches()
    }

    pub fn end(&self) -> Option<SyncEnd> {
        self.end
    }

    /// The request with `tag` failed (timeout, closed connection): the round ends without it.
    pub fn on_failure(&mut self, tag: u64) -> Vec<SyncAction> {
        if let Some(Asked::Fetch { author, .. }) = self.outstanding.remove(&tag) {
            self.busy.remove(&author);
        }
        self.wanted.clear();
        self.undelivered = true;
        if self.outstanding.is_empty() && self.end.is_none() {
            self.end = Some(SyncEnd::Fetched);
        }
        vec![]
    }

    /// Feeds the response to request `tag`. An error means the peer broke the protocol.
    pub fn on_response(
        &mut self,
        tag: u64,
        response: SyncResponse,
        local: &mut HeadsIndex,
    ) -> Result<Vec<SyncAction>, SyncViolation> {
        let Some(asked) = self.outstanding.remove(&tag) else { return Ok(vec![]) };
        let mut actions = Vec::new();
        match (asked, response) {
            (Asked::Fetch { author, .. }, SyncResponse::Refused { .. }) => {
                self.busy.remove(&author);
                self.wanted.clear();
                self.undelivered = true;
            }
            (_, SyncResponse::Refused { .. }) => {
                self.wanted.clear();
                self.undelivered = true;
            }
            (Asked::Summary, SyncResponse::InSync) => {
                if let Some(w) = self.watch {
                    self.watched = Some(local.get(&w));
                }
                self.end = Some(SyncEnd::InSync);
                return Ok(actions);
            }
            (Asked::Summary, SyncResponse::Differs { buckets, forked }) => {
                if buckets.len() != BUCKETS {
                    return Err(SyncViolation::BucketCount(buckets.len()));
                }
                for author in forked.into_iter().filter(|a| !local.is_forked(a)) {
                    actions.push(self.send(Asked::Proof { author }, SyncRequest::Proof { author }));
                }
                let mine = local.buckets();
                let differing: Vec<u8> = (0..BUCKETS).filter(|&b| mine[b] != buckets[b]).map(|b| b as u8).collect();
                if let Some(w) = self.watch
                    && !differing.contains(&bucket_of(&w))
                {
                    // The bucket matches: the peer holds exactly what we hold of it.
                    self.watched = Some(local.get(&w));
                }
                if !differing.is_empty() {
                    let request = SyncRequest::Heads { buckets: differing.clone() };
                    actions.push(self.send(Asked::Heads { buckets: differing }, request));
                }
            }
            (Asked::Heads { buckets }, SyncResponse::Heads { heads }) => {
                // Only authors in buckets that differed were asked for; anything else is hostile.
                let mut asked = [false; BUCKETS];
                for b in &buckets {
                    asked[*b as usize] = true;
                }
                if let Some((author, _)) = heads.iter().find(|(a, _)| !asked[bucket_of(a) as usize]) {
                    return Err(SyncViolation::HeadNotAsked { author: author.short(), bucket: bucket_of(author) });
                }
                let (behind, ahead) = local.lag(&heads);
                self.behind = behind;
                self.ahead = ahead;
                if let Some(w) = self.watch
                    && asked[bucket_of(&w) as usize]
                {
                    self.watched = Some(heads.iter().find(|(a, _)| *a == w).map(|(_, h)| *h));
                }
                for (author, head) in heads {
                    if local.is_forked(&author) {
                        continue;
                    }
                    match local.get(&author) {
                        Some(m) if head.seq > m.seq => self.wanted.push_back((author, m.seq + 1, head.seq)),
                        None => self.wanted.push_back((author, 1, head.seq)),
                        // Same seq, another record: fetch it, which proves a fork.
                        Some(m) if head.seq == m.seq && head.id != m.id => {
                            self.wanted.push_back((author, m.seq, m.seq))
                        }
                        _ => {}
                    }
                }
            }
            (Asked::Fetch { author, from_seq, to_seq }, SyncResponse::Records { records }) => {
                self.busy.remove(&author);
                let mut expect = from_seq;
                let mut first_prev = None;
                for bytes in &records {
                    let h = Header::parse(bytes).map_err(|e| SyncViolation::BadRecord(e.to_string()))?;
                    if h.author != author || h.seq != expect || h.seq > to_seq || h.federation != self.federation {
                        return Err(SyncViolation::RecordNotAsked(format!(
                            "{}#{} when {}#{}..={} was asked for",
                            h.author.short(),
                            h.seq,
                            author.short(),
                            expect,
                            to_seq
                        )));
                    }
                    if first_prev.is_none() {
                        first_prev = Some(h.prev);
                    }
                    expect += 1;
                }
                let held = local.get(&author);
                if records.is_empty() {
                    // The peer does not hold what it advertised: stop asking it for this feed.
                    self.wanted.retain(|(a, _, _)| *a != author);
                    self.undelivered = true;
                } else if let (Some(h), Some(prev)) = (held, first_prev)
                    && from_seq == h.seq + 1
                    && prev != Some(h.id)
                {
                    // The peer's feed continues from another record at our head's seq: the author
                    // signed two. Fetch the peer's one, which proves the fork.
                    self.wanted.retain(|(a, _, _)| *a != author);
                    self.wanted.push_front((author, h.seq, h.seq));
                } else {
                    self.received += records.len() as u64;
                    if expect <= to_seq {
                        self.wanted.push_front((author, expect, to_seq));
                    }
                    self.unstored += 1;
                    actions.push(SyncAction::Ingest { records });
                }
            }
            (Asked::Proof { author }, SyncResponse::Proof { first, second }) => {
                let a = Header::parse(&first).map_err(|e| SyncViolation::BadRecord(e.to_string()))?;
                let b = Header::parse(&second).map_err(|e| SyncViolation::BadRecord(e.to_string()))?;
                if a.author != author || b.author != author || a.seq != b.seq || first == second {
                    return Err(SyncViolation::RecordNotAsked(format!(
                        "a fork proof that is not one for {}",
                        author.short()
                    )));
                }
                self.received += 1;
                actions.push(SyncAction::Fork { first, second });
            }
            (asked, got) => {
                let asked = match asked {
                    Asked::Summary => "summary",
                    Asked::Heads { .. } => "heads",
                    Asked::Fetch { .. } => "fetch",
                    Asked::Proof { .. } => "proof",
                };
                let got = match got {
                    SyncResponse::InSync => "in-sync",
                    SyncResponse::Differs { .. } => "differs",
                    SyncResponse::Heads { .. } => "heads",
                    SyncResponse::Records { .. } => "records",
                    SyncResponse::Refused { .. } => "refused",
                    SyncResponse::Proof { .. } => "proof",
                };
                return Err(SyncViolation::UnexpectedResponse { asked, got });
            }
        }
        actions.extend(self.next_fetches());
        if self.outstanding.is_empty() && self.wanted.is_empty() && self.end.is_none() {
            self.end = Some(if self.undelivered || self.received > 0 { SyncEnd::Fetched } else { SyncEnd::InSync });
        }
        Ok(actions)
    }

    fn next_fetches(&mut self) -> Vec<SyncAction> {
        let mut out = Vec::new();
        let mut skipped = VecDeque::new();
        while self.outstanding.len() < self.limits.max_in_flight && self.unstored < self.limits.max_unstored_pages {
            let Some((author, from, to)) = self.wanted.pop_front() else { break };
            if self.busy.contains_key(&author) {
                skipped.push_back((author, from, to));
                continue;
            }
            let last = to.min(from.saturating_add(self.limits.page_records - 1));
            if last < to {
                skipped.push_back((author, last + 1, to));
            }
            self.busy.insert(author, ());
            let request =
                SyncRequest::Fetch { author, from_seq: from, to_seq: last, max_bytes: self.limits.page_bytes };
            out.push(self.send(Asked::Fetch { author, from_seq: from, to_seq: last }, request));
        }
        // Keep order: what was skipped goes back in front.
        while let Some(x) = skipped.pop_back() {
            self.wanted.push_front(x);
        }
        out
    }
}

/// What a responder reads from its store.
pub trait SyncSource {
    /// The exact bytes of `author`'s records from `from` to `to`, in order, about `max_bytes`
    /// (at least one record if any is held).
    fn feed(&self, author: &NodeKey, from: u64, to: u64, max_bytes: usize) -> Vec<Vec<u8>>;
    /// The two records proving that `author` forked.
    fn fork_proof(&self, author: &NodeKey) -> Option<(Vec<u8>, Vec<u8>)>;
    /// Every membership record held (certificates, endorsements, revocations, retirements),
    /// with its id, sorted by id.
    fn membership(&self) -> Vec<(RecordId, Vec<u8>)>;
}

/// The digest of a set of membership records: SHA-256 over their ids, in id order.
pub fn membership_digest<'a>(sorted_ids: impl IntoIterator<Item = &'a RecordId>) -> [u8; 32] {
    let mut h = Sha256::new();
    for id in sorted_ids {
        h.update(id.as_bytes());
    }
    h.finalize().into()
}

/// Answers a `Membership` request from `records` (sorted by id): `InSync` when the asker's
/// digest is ours, else the records with ids after `after`, about `max_bytes` (at least one if
/// any is left); an empty page means there are no more.
pub fn respond_membership(
    known: &[u8; 32],
    after: &RecordId,
    records: &[(RecordId, Vec<u8>)],
    max_bytes: usize,
) -> SyncResponse {
    if *known == membership_digest(records.iter().map(|(id, _)| id)) {
        return SyncResponse::InSync;
    }
    let start = records.partition_point(|(id, _)| id.as_bytes() <= after.as_bytes());
    let mut page = Vec::new();
    let mut bytes = 0;
    for (_, r) in &records[start..] {
        if !page.is_empty() && bytes + r.len() + 4 > max_bytes {
            break;
        }
        bytes += r.len() + 4;
        page.push(r.clone());
    }
    SyncResponse::Records { records: page }
}

/// Answers a sync request from this node's heads and store.
pub fn respond(
    federation: &FederationId,
    request: &SyncRequest,
    local: &mut HeadsIndex,
    max_page_bytes: u32,
    source: &dyn SyncSource,
) -> SyncResponse {
    match request {
        SyncRequest::Summary { federation: theirs, root } => {
            if theirs != federation {
                return SyncResponse::Refused {
                    code: RefusalCode::WrongFederation,
                    message: format!("this is federation {}", federation.short()),
                };
            }
            if *root == local.root() {
                SyncResponse::InSync
            } else {
                SyncResponse::Differs { buckets: local.buckets().to_vec(), forked: local.forked() }
            }
        }
        SyncRequest::Heads { buckets } => SyncResponse::Heads { heads: local.heads_in(buckets) },
        SyncRequest::Fetch { author, from_seq, to_seq, max_bytes } => {
            if from_seq > to_seq || *from_seq == 0 {
                return SyncResponse::Refused {
                    code: RefusalCode::BadRequest,
                    message: "empty or invalid seq range".into(),
                };
            }
            let held = local.get(author).map_or(0, |h| h.seq);
            if *from_seq > held {
                return SyncResponse::Records { records: vec![] };
            }
            let max = (*max_bytes).min(max_page_bytes) as usize;
            SyncResponse::Records { records: source.feed(author, *from_seq, (*to_seq).min(held), max) }
        }
        SyncRequest::Proof { author } => match source.fork_proof(author) {
            Some((first, second)) => SyncResponse::Proof { first, second },
            None => {
                SyncResponse::Refused { code: RefusalCode::BadRequest, message: "no fork proof for that author".into() }
            }
        },
        SyncRequest::Membership { known, after } => {
            respond_membership(known, after, &source.membership(), max_page_bytes as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b0: u8, b1: u8) -> NodeKey {
        let mut k = [b1; 32];
        k[0] = b0;
        NodeKey(k)
    }
    fn head(seq: u64) -> Head {
        Head { seq, id: RecordId([seq as u8; 32]) }
    }

    #[test]
    fn equal_heads_have_equal_roots_and_order_does_not_matter() {
        let mut a = HeadsIndex::from_heads([(key(1, 1), head(3)), (key(200, 2), head(5))]);
        let mut b = HeadsIndex::from_heads([(key(200, 2), head(5)), (key(1, 1), head(3))]);
        assert_eq!(a.root(), b.root());
        b.set(key(1, 1), head(4));
        assert_ne!(a.root(), b.root());
        let differing: Vec<usize> = (0..BUCKETS).filter(|&i| a.buckets()[i] != b.buckets()[i]).collect();
        assert_eq!(differing, vec![1]);
    }

    #[test]
    fn messages_round_trip_and_reject_trailing_bytes() {
        let reqs = [
            SyncRequest::Summary { federation: FederationId([1; 32]), root: [2; 32] },
            SyncRequest::Heads { buckets: vec![0, 7, 255] },
            SyncRequest::Fetch { author: key(3, 3), from_seq: 10, to_seq: 20, max_bytes: 1 << 20 },
            SyncRequest::Proof { author: key(5, 5) },
            SyncRequest::Membership { known: [6; 32], after: RecordId([7; 32]) },
        ];
        for r in reqs {
            let mut bytes = r.encode();
            assert_eq!(SyncRequest::decode(&bytes), Ok(r.clone()));
            bytes.push(0);
            assert!(SyncRequest::decode(&bytes).is_err());
        }
        let resps = [
            SyncResponse::InSync,
            SyncResponse::Differs { buckets: vec![[9; 16]; 256], forked: vec![key(1, 2)] },
            SyncResponse::Proof { first: vec![1, 2], second: vec![3] },
            SyncResponse::Heads { heads: vec![(key(4, 4), head(9))] },
            SyncResponse::Records { records: vec![vec![1, 2, 3], vec![]] },
            SyncResponse::Refused { code: RefusalCode::NotAMember, message: "no".into() },
        ];
        for r in resps {
            let bytes = r.encode();
            assert_eq!(SyncResponse::decode(&bytes), Ok(r));
        }
        assert_eq!(SyncRequest::Summary { federation: FederationId([0; 32]), root: [0; 32] }.encode().len(), 65);
        assert_eq!(SyncResponse::InSync.encode().len(), 1);
    }

    /// A feed store for tests: author -> records in seq order, and fork proofs.
    struct Side {
        heads: HeadsIndex,
        feeds: BTreeMap<NodeKey, Vec<Vec<u8>>>,
        proofs: BTreeMap<NodeKey, (Vec<u8>, Vec<u8>)>,
    }

    const FED: FederationId = FederationId([5; 32]);

    fn record(key: &crate::keys::SecretKey, seq: u64, prev: Option<RecordId>) -> Vec<u8> {
        let header = Header { version: 1, kind: 99, federation: FED, author: key.node_key(), seq, prev, created_at: 1 };
        crate::record::Record::sign_unchecked(key, &header, &[1, 0, 1, seq as u8])
    }

    impl Side {
        fn new() -> Side {
            Side { heads: HeadsIndex::default(), feeds: BTreeMap::new(), proofs: BTreeMap::new() }
        }
        fn add(&mut self, bytes: Vec<u8>) {
            let h = Header::parse(&bytes).expect("valid header");
            let feed = self.feeds.entry(h.author).or_default();
            if let Some(held) = feed.get(h.seq as usize - 1) {
                if *held != bytes {
                    self.proofs.insert(h.author, (held.clone(), bytes));
                    self.heads.mark_forked(h.author);
                }
                return;
            }
            assert_eq!(feed.len() as u64 + 1, h.seq, "appended in order");
            let id = crate::record::record_id(&bytes);
            feed.push(bytes);
            self.heads.set(h.author, Head { seq: h.seq, id });
        }
        fn write(&mut self, seed: u8, n: u64) {
            let key = crate::keys::SecretKey::from_seed(&[seed; 32]);
            for _ in 0..n {
                let held = self.heads.get(&key.node_key());
                let seq = held.map_or(1, |h| h.seq + 1);
                self.add(record(&key, seq, held.map(|h| h.id)));
            }
        }
        fn respond(&mut self, req: &SyncRequest) -> SyncResponse {
            let source = Feeds(self.feeds.clone(), self.proofs.clone());
            respond(&FED, req, &mut self.heads, 1 << 20, &source)
        }
    }

    struct Feeds(BTreeMap<NodeKey, Vec<Vec<u8>>>, BTreeMap<NodeKey, (Vec<u8>, Vec<u8>)>);

    impl SyncSource for Feeds {
        fn feed(&self, a: &NodeKey, from: u64, to: u64, max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![];
            let mut size = 0;
            for r in &self.0[a][(from - 1) as usize..to as usize] {
                if !out.is_empty() && size + r.len() > max {
                    break;
                }
                size += r.len();
                out.push(r.clone());
            }
            out
        }
        fn fork_proof(&self, a: &NodeKey) -> Option<(Vec<u8>, Vec<u8>)> {
            self.1.get(a).cloned()
        }
        fn membership(&self) -> Vec<(RecordId, Vec<u8>)> {
            vec![]
        }
    }

    #[test]
    fn membership_is_paged_by_id_and_in_sync_when_the_digests_agree() {
        let records: Vec<(RecordId, Vec<u8>)> = (1..=5u8).map(|i| (RecordId([i * 10; 32]), vec![i; 100])).collect();
        let ids: Vec<RecordId> = records.iter().map(|(id, _)| *id).collect();
        let all = membership_digest(&ids);
        assert_eq!(respond_membership(&all, &RecordId([0; 32]), &records, 1 << 20), SyncResponse::InSync);
        let page = |after: u8, max| match respond_membership(&[0; 32], &RecordId([after; 32]), &records, max) {
            SyncResponse::Records { records } => records.iter().map(|r| r[0]).collect::<Vec<u8>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(page(0, 1 << 20), vec![1, 2, 3, 4, 5]);
        assert_eq!(page(20, 250), vec![3, 4], "after id 20, about 250 bytes");
        assert_eq!(page(45, 10), vec![5], "at least one record");
        assert!(page(50, 1 << 20).is_empty(), "an empty page ends it");
        assert_ne!(membership_digest(&ids[..4]), all);
    }

    /// Runs one round of `a` pulling from `b`; returns the requests sent.
    fn round(a: &mut Side, b: &mut Side, limits: SyncLimits) -> (SyncEnd, usize) {
        let (mut s, first) = SyncSession::start(FED, limits, &mut a.heads);
        let mut queue = VecDeque::from([first]);
        let mut sent = 0;
        while let Some(action) = queue.pop_front() {
            match action {
                SyncAction::Send { tag, request } => {
                    sent += 1;
                    let wire = SyncRequest::decode(&request.encode()).expect("decodes");
                    let resp = SyncResponse::decode(&b.respond(&wire).encode()).expect("decodes");
                    queue.extend(s.on_response(tag, resp, &mut a.heads).expect("honest peer"));
                }
                SyncAction::Ingest { records } => {
                    records.into_iter().for_each(|r| a.add(r));
                    queue.extend(s.on_stored());
                }
                SyncAction::Fork { first, second } => {
                    let h = Header::parse(&first).expect("parses");
                    a.proofs.insert(h.author, (first, second));
                    a.heads.mark_forked(h.author);
                }
            }
        }
        (s.end().expect("ended"), sent)
    }

    #[test]
    fn a_round_fetches_everything_the_peer_holds_beyond_us() {
        let mut a = Side::new();
        let mut b = Side::new();
        a.write(1, 3);
        b.write(1, 3);
        b.write(1, 40); // b is 40 ahead on author 1
        b.write(2, 25); // and has author 2 that a lacks
        a.write(3, 5); // a has an author b lacks (b pulls it in its own round)
        let limits = SyncLimits { page_records: 7, page_bytes: 1 << 20, max_in_flight: 3, max_unstored_pages: 1 };
        assert_eq!(round(&mut a, &mut b, limits).0, SyncEnd::Fetched);
        assert_eq!(a.heads.get(&crate::keys::SecretKey::from_seed(&[1; 32]).node_key()).map(|h| h.seq), Some(43));
        assert_eq!(round(&mut b, &mut a, limits).0, SyncEnd::Fetched);
        // Now level: one request, answered "in sync".
        assert_eq!(round(&mut a, &mut b, limits), (SyncEnd::InSync, 1));
        assert_eq!(a.heads.root(), b.heads.root());
    }

    /// Writes `n` records of author `seed` continuing from `from` (or from scratch), with a salt
    /// in the body so a second branch differs.
    fn branch(seed: u8, from: Option<(u64, RecordId)>, n: u64, salt: u8) -> Vec<Vec<u8>> {
        let key = crate::keys::SecretKey::from_seed(&[seed; 32]);
        let mut head = from;
        let mut out = vec![];
        for _ in 0..n {
            let seq = head.map_or(1, |h| h.0 + 1);
            let header = Header {
                version: 1,
                kind: 99,
                federation: FED,
                author: key.node_key(),
                seq,
                prev: head.map(|h| h.1),
                created_at: 1,
            };
            let bytes = crate::record::Record::sign_unchecked(&key, &header, &[1, 0, 2, seq as u8, salt]);
            head = Some((seq, crate::record::record_id(&bytes)));
            out.push(bytes);
        }
        out
    }

    #[test]
    fn a_fork_below_the_peers_head_is_found_and_proven() {
        let common = branch(4, None, 4, 0);
        let h4 = (4, crate::record::record_id(&common[3]));
        let mut a = Side::new();
        let mut b = Side::new();
        for r in common {
            a.add(r.clone());
            b.add(r);
        }
        let mine = branch(4, Some(h4), 1, 1); // a holds 5a
        let theirs = branch(4, Some(h4), 3, 2); // b holds 5b, 6b, 7b
        a.add(mine[0].clone());
        for r in theirs {
            b.add(r);
        }
        round(&mut a, &mut b, SyncLimits::default());
        let author = crate::keys::SecretKey::from_seed(&[4; 32]).node_key();
        assert!(a.heads.is_forked(&author), "a fetched b's record 5 and found two at one seq");
        // b learns of the fork from a's proof in its own round.
        round(&mut b, &mut a, SyncLimits::default());
        assert!(b.heads.is_forked(&author));
        assert_eq!(a.heads.root(), b.heads.root(), "both froze the feed and agree");
        assert_eq!(round(&mut a, &mut b, SyncLimits::default()).1, 1, "in sync again: one request");
    }

    #[test]
    fn records_that_were_not_asked_for_are_a_violation() {
        let mut a = Side::new();
        let mut b = Side::new();
        b.write(1, 3);
        b.write(2, 3);
        let (mut s, _) = SyncSession::start(FED, SyncLimits::default(), &mut a.heads);
        let differs = b.respond(&SyncRequest::Summary { federation: FED, root: a.heads.root() });
        let actions = s.on_response(0, differs, &mut a.heads).expect("fine");
        let SyncAction::Send { tag, request } = &actions[0] else { panic!("expected a heads request") };
        let heads = b.respond(request);
        let actions = s.on_response(*tag, heads, &mut a.heads).expect("fine");
        let SyncAction::Send { tag, request: SyncRequest::Fetch { author, .. } } = &actions[0] else {
            panic!("expected a fetch")
        };
        let other = b.feeds.keys().find(|k| *k != author).copied().expect("another author");
        let wrong = SyncResponse::Records { records: b.feeds[&other].clone() };
        assert!(matches!(s.on_response(*tag, wrong, &mut a.heads), Err(SyncViolation::RecordNotAsked(_))));
    }

    #[test]
    fn heads_outside_the_asked_buckets_are_a_violation() {
        let mut a = Side::new();
        let (mut s, _) = SyncSession::start(FED, SyncLimits::default(), &mut a.heads);
        let mut theirs = HeadsIndex::from_heads([(key(9, 9), head(1))]);
        let actions = s
            .on_response(0, SyncResponse::Differs { buckets: theirs.buckets().to_vec(), forked: vec![] }, &mut a.heads)
            .expect("fine");
        let SyncAction::Send { tag, .. } = &actions[0] else { panic!("expected heads request") };
        let sneaky = SyncResponse::Heads { heads: vec![(key(9, 9), head(1)), (key(77, 1), head(5))] };
        assert!(matches!(
            s.on_response(*tag, sneaky, &mut a.heads),
            Err(SyncViolation::HeadNotAsked { bucket: 77, .. })
        ));
    }

    #[test]
    fn a_huge_count_does_not_allocate() {
        let mut bytes = vec![R_RECORDS];
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(SyncResponse::decode(&bytes).is_err());
        let mut bytes = vec![R_HEADS];
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(SyncResponse::decode(&bytes).is_err());
    }
}
