//! The initiator's state machine for one sync round.

use std::collections::{BTreeMap, VecDeque};

use crate::feed::Head;
use crate::ids::{FederationId, NodeKey};
use crate::record::Header;

use super::*;

/// Tunables of a sync round.
#[derive(Debug, Clone, Copy)]
pub struct SyncLimits {
    /// Most records asked for in one fetch.
    pub page_records: u64,
    /// Bytes asked for in one fetch.
    pub page_bytes: u32,
    /// Fetches in flight at once in one round.
    pub max_in_flight: usize,
    /// Pages handed out for ingest but not yet stored, beyond which no more are fetched. Enough
    /// that the ingest thread's verifier always has the next batch while the store stage writes
    /// one (at 4 it idled between them during a first sync: 62 s for 1M records against 57 s at
    /// 16, docs/PERFORMANCE.md); at most this many pages (16 MiB by default) wait per peer.
    pub max_unstored_pages: usize,
}

impl Default for SyncLimits {
    fn default() -> Self {
        SyncLimits { page_records: 2048, page_bytes: 1 << 20, max_in_flight: 4, max_unstored_pages: 16 }
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

/// A feed to fetch from the peer: records `from..=to` of `author`.
#[derive(Debug, Clone, Copy)]
struct Want {
    author: NodeKey,
    from: u64,
    to: u64,
    /// The record at our own head's seq, another than ours: fetched to prove a fork, even
    /// though the node holds a record at that seq.
    proof: bool,
}

impl Want {
    fn feed(author: NodeKey, from: u64, to: u64) -> Want {
        Want { author, from, to, proof: false }
    }

    fn proof(author: NodeKey, seq: u64) -> Want {
        Want { author, from: seq, to: seq, proof: true }
    }
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
    /// Feeds still to fetch.
    wanted: VecDeque<Want>,
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
        self.stored(None)
    }

    /// As [`SyncSession::on_stored`], given the node's current heads: what the node has stored
    /// since the heads were compared (fetched in another round, or gossiped) is not asked for
    /// again, and a round left with nothing to fetch ends.
    pub fn on_stored_given(&mut self, local: &HeadsIndex) -> Vec<SyncAction> {
        self.stored(Some(local))
    }

    fn stored(&mut self, local: Option<&HeadsIndex>) -> Vec<SyncAction> {
        self.unstored = self.unstored.saturating_sub(1);
        if self.end.is_some() {
            return vec![];
        }
        let actions = self.next_fetches(local);
        if self.outstanding.is_empty() && self.wanted.is_empty() {
            self.end = Some(if self.undelivered || self.received > 0 { SyncEnd::Fetched } else { SyncEnd::InSync });
        }
        actions
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
                        Some(m) if head.seq > m.seq => self.wanted.push_back(Want::feed(author, m.seq + 1, head.seq)),
                        None => self.wanted.push_back(Want::feed(author, 1, head.seq)),
                        // Same seq, another record: fetch it, which proves a fork.
                        Some(m) if head.seq == m.seq && head.id != m.id => {
                            self.wanted.push_back(Want::proof(author, m.seq))
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
                    self.wanted.retain(|w| w.author != author);
                    self.undelivered = true;
                } else if let (Some(h), Some(prev)) = (held, first_prev)
                    && from_seq == h.seq + 1
                    && prev != Some(h.id)
                {
                    // The peer's feed continues from another record at our head's seq: the author
                    // signed two. Fetch the peer's one, which proves the fork.
                    self.wanted.retain(|w| w.author != author);
                    self.wanted.push_front(Want::proof(author, h.seq));
                } else {
                    self.received += records.len() as u64;
                    if expect <= to_seq {
                        self.wanted.push_front(Want::feed(author, expect, to_seq));
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
        actions.extend(self.next_fetches(Some(local)));
        if self.outstanding.is_empty() && self.wanted.is_empty() && self.end.is_none() {
            self.end = Some(if self.undelivered || self.received > 0 { SyncEnd::Fetched } else { SyncEnd::InSync });
        }
        Ok(actions)
    }

    /// The next fetches, within the limits. Given the node's `local` heads, a feed the node
    /// now holds up to where the peer's head was (stored meanwhile, by another round or by
    /// gossip) is dropped and one it holds part of is asked for from its head on: with many
    /// rounds at once (a federation forming), each record is then fetched about once, not
    /// once per round.
    fn next_fetches(&mut self, local: Option<&HeadsIndex>) -> Vec<SyncAction> {
        let mut out = Vec::new();
        let mut skipped = VecDeque::new();
        while self.outstanding.len() < self.limits.max_in_flight && self.unstored < self.limits.max_unstored_pages {
            let Some(want) = self.wanted.pop_front() else { break };
            let Want { author, mut from, to, proof } = want;
            if self.busy.contains_key(&author) {
                skipped.push_back(want);
                continue;
            }
            if !proof && let Some(held) = local.and_then(|l| l.get(&author)) {
                if held.seq >= to {
                    continue;
                }
                from = from.max(held.seq + 1);
            }
            let last = to.min(from.saturating_add(self.limits.page_records - 1));
            if last < to {
                skipped.push_back(Want::feed(author, last + 1, to));
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
