//! The event loop's side of catch-up sync: answering peers' requests (as admission allows) and
//! running rounds with verified members' nodes — on admission, on a timer with a random member,
//! when gossip shows a gap, when a peer's summary shows it holds other records (a round back,
//! at most every [`PULL_BACK_MS`]), and on `csx sync`. Never with a peer not yet verified.

use std::collections::HashSet;

use csx_protocol::sync::{
    RefusalCode, SyncAction, SyncEnd, SyncRequest, SyncResponse, SyncSession, SyncSource, respond,
};
use csx_protocol::{NodeKey, RecordId};
use libp2p::PeerId;
use libp2p::request_response::{self, ResponseChannel};
use tokio::sync::oneshot;

use super::admission::{Access, Ask, CertAnswer, certificate_answer};
use super::event_loop::{EventLoop, Internal};
use super::guard::weight;
use super::reason::Reason;
use crate::api::{PeerSync, SyncReport};
use crate::ingest::{Verdict, rejected_counter};
use crate::store::{Scan, Store};

/// How often the time of the last completed sync round is written to the store, at most.
const SYNC_SAVE_INTERVAL_MS: u64 = 5_000;

/// Rounds in a row that fetched nothing new and refused nothing (records that other rounds or
/// gossip stored meanwhile, a peer that has not verified this node yet) that `csx sync` starts
/// again before it reports the peer as not level.
const MAX_IDLE_RETRIES: u32 = 20;
/// A verified peer whose summary shows it holds other records than this node (it has just
/// started a round with us) gets a round back, so what it holds spreads at once rather than at
/// the next periodic round; at most once per this many milliseconds per peer, so two nodes
/// that keep differing (records one refuses) do not ping-pong.
pub(super) const PULL_BACK_MS: u64 = 2_000;
/// The pause before such a retry, times the retries so far (capped at one second).
const RETRY_PAUSE_MS: u64 = 50;

pub(super) struct Round {
    session: SyncSession,
    generation: u64,
    /// Records of this round that were new here (not refused, not already held).
    appended: u64,
    /// Records of this round this node refused (their authors are not members here, quarantined
    /// applicants, refused by the store), by reason.
    refused: Vec<(&'static str, u64)>,
}

/// A `csx sync` waiting for its rounds. It waits for a member's node to connect if none is,
/// and takes in members' nodes verified while it runs.
pub(super) struct Waiter {
    pending: HashSet<PeerId>,
    results: Vec<PeerSync>,
    reply: oneshot::Sender<SyncReport>,
}

impl Waiter {
    fn has_result(&self, peer: &PeerId) -> bool {
        let id = peer.to_string();
        self.results.iter().any(|r| r.peer_id == id)
    }
}

impl EventLoop {
    pub(super) fn on_sync_event(&mut self, event: request_response::Event<super::codec::InboundRequest, SyncResponse>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request: Ok(request), channel, .. }, .. } => {
                self.serve(peer, request, channel)
            }
            Event::Message { peer, message: Message::Request { request: Err(bad), channel, .. }, .. } => {
                tracing::debug!(peer = %peer, kind = bad.kind, "unreadable sync request: {}", bad.detail);
                self.ctx.counters.add(&rejected_counter(&format!("{}_sync_request", bad.kind)), 1);
                self.strike(peer, weight::INVALID, "bad_sync_request");
                let response = SyncResponse::Refused { code: RefusalCode::BadRequest, message: bad.detail };
                let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            }
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => {
                if let Some(p) = self.take_cert_request(&request_id) {
                    self.on_cert(p, certificate_answer(&p, response));
                } else if let Some((p, generation, tag)) = self.requests.remove(&request_id) {
                    debug_assert_eq!(p, peer);
                    self.on_sync_response(peer, generation, tag, response);
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                let unreadable = match &error {
                    request_response::OutboundFailure::Io(e) => super::codec::classify(e),
                    _ => None,
                };
                if let Some(kind) = unreadable {
                    self.ctx.counters.add(&rejected_counter(&format!("{kind}_sync_response")), 1);
                    self.strike(peer, weight::INVALID, "bad_sync_response");
                }
                if let Some(p) = self.take_cert_request(&request_id) {
                    // An answer that cannot be read is no certificate; no answer may come later.
                    self.on_cert(p, if unreadable.is_some() { CertAnswer::Other } else { CertAnswer::Failed });
                }
                if let Some((_, generation, tag)) = self.requests.remove(&request_id) {
                    tracing::debug!(peer = %peer, "sync request failed: {error}");
                    if let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.generation == generation) {
                        round.session.on_failure(tag);
                    }
                    self.fail_round(peer, format!("a sync request failed: {error}"));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %peer, "inbound sync request failed: {error}");
            }
            _ => {}
        }
    }

    /// Answers a sync request, as admission allows, off the event loop (it reads the store).
    fn serve(&mut self, peer: PeerId, request: SyncRequest, channel: ResponseChannel<SyncResponse>) {
        let now = self.now();
        let ask = match &request {
            SyncRequest::Fetch { author, from_seq: 1, to_seq: 1, .. } if *author == self.ctx.own_node => {
                Ask::OwnCertificate
            }
            SyncRequest::Membership { .. } => Ask::Membership,
            _ => Ask::Sync,
        };
        let (access, actions) = self.admission.on_request(peer, ask, now);
        self.act(actions);
        let reason = match access {
            Access::Serve => None,
            Access::Refuse(reason) => Some(reason),
            // Its certificate is being checked: answered once it is verified, refused otherwise.
            Access::Hold => {
                self.held.entry(peer).or_default().push((request, channel));
                return;
            }
        };
        if let Some(reason) = reason {
            self.ctx.counters.add(&reason.refused_counter(), 1);
            self.log_refusal(peer, reason, "refused a sync request");
            let response = match reason {
                Reason::RateLimited => {
                    SyncResponse::Refused { code: RefusalCode::TooBusy, message: "too many requests".into() }
                }
                _ => SyncResponse::Refused {
                    code: RefusalCode::NotAMember,
                    message: "this node serves members' nodes only".into(),
                },
            };
            let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            return;
        }
        // A member whose earlier refusal ended our round has now verified us: pull again.
        if ask == Ask::Sync
            && let Some(stats) = self.admission.extra_mut(&peer)
            && std::mem::take(&mut stats.refused_us)
        {
            self.start_round(peer);
        }
        // It holds other records than we do (a new node announcing what it wrote offline, or
        // records it just fetched elsewhere): pull them now.
        if let SyncRequest::Summary { root, .. } = &request
            && !self.rounds.contains_key(&peer)
            && *root != self.ctx.store.heads_index().root()
            && self
                .admission
                .get(&peer)
                .and_then(|e| e.extra.round_started_at)
                .is_none_or(|at| now.saturating_sub(at) >= PULL_BACK_MS)
        {
            self.start_round(peer);
        }
        let store = self.ctx.store.clone();
        let federation = self.ctx.federation;
        let max_page = self.ctx.config.page_bytes;
        let max_records = self.ctx.config.page_records as usize;
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let source = StoreSource { store: store.as_ref(), max_records };
            let response = {
                let mut heads = store.heads_index();
                respond(&federation, &request, &mut heads, max_page, &source)
            };
            let _ = tx.send(Internal::Respond { channel, response });
        });
    }

    /// Serves the requests held while `peer` was being verified (it now is).
    pub(super) fn serve_held(&mut self, peer: PeerId) {
        for (request, channel) in self.held.remove(&peer).unwrap_or_default() {
            self.serve(peer, request, channel);
        }
    }

    /// Refuses the requests held for `peer`: its certificate did not make it a member's node,
    /// or it is being dropped.
    pub(super) fn refuse_held(&mut self, peer: PeerId) {
        let held = self.held.remove(&peer).unwrap_or_default();
        if held.is_empty() {
            return;
        }
        self.ctx.counters.add(&Reason::Unverified.refused_counter(), held.len() as u64);
        self.log_refusal(peer, Reason::Unverified, "refused sync requests held while it was checked");
        for (_, channel) in held {
            let response = SyncResponse::Refused {
                code: RefusalCode::NotAMember,
                message: "this node serves members' nodes only".into(),
            };
            let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
        }
    }

    /// Starts a round with `peer` if it is a verified member's node and none is running.
    pub(super) fn start_round(&mut self, peer: PeerId) {
        if self.rounds.contains_key(&peer) || !self.is_verified(&peer) {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let now = self.now();
        if let Some(stats) = self.admission.extra_mut(&peer) {
            stats.round_started_at = Some(now);
        }
        let (mut session, first) = {
            let mut heads = self.ctx.store.heads_index();
            SyncSession::start(self.ctx.federation, self.limits, &mut heads)
        };
        session.watch(self.ctx.own_node);
        self.rounds.insert(peer, Round { session, generation, appended: 0, refused: vec![] });
        self.execute(peer, generation, vec![first]);
    }

    fn execute(&mut self, peer: PeerId, generation: u64, actions: Vec<SyncAction>) {
        for action in actions {
            match action {
                SyncAction::Send { tag, request } => {
                    let id = self.swarm.behaviour_mut().sync.send_request(&peer, Ok(request));
                    self.requests.insert(id, (peer, generation, tag));
                }
                SyncAction::Ingest { records } => {
                    let now = self.now();
                    self.catch_up.fetched(&records, now);
                    let verdicts = self.ctx.ingest.enqueue(records);
                    let tx = self.internal_tx.clone();
                    tokio::spawn(async move {
                        let verdicts = verdicts.await.unwrap_or_default();
                        let _ = tx.send(Internal::PageStored { peer, generation, verdicts });
                    });
                }
                SyncAction::Fork { first, second } => self.check_proof(None, peer, first, second),
            }
        }
        self.check_round(peer);
    }

    fn on_sync_response(&mut self, peer: PeerId, generation: u64, tag: u64, response: SyncResponse) {
        if let SyncResponse::Refused { code: RefusalCode::NotAMember, .. } = &response
            && let Some(stats) = self.admission.extra_mut(&peer)
        {
            // It has not verified us yet; it will show it has by asking us for more.
            stats.refused_us = true;
        }
        let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.generation == generation) else { return };
        let result = {
            let mut heads = self.ctx.store.heads_index();
            round.session.on_response(tag, response, &mut heads)
        };
        match result {
            Ok(actions) => self.execute(peer, generation, actions),
            Err(violation) => {
                self.ctx.counters.add("rejected.sync_violation", 1);
                self.drop_peer(peer, Reason::SyncViolation, &violation.to_string());
            }
        }
    }

    pub(super) fn on_page_stored(&mut self, peer: PeerId, generation: u64, verdicts: Vec<Verdict>) {
        let invalid = verdicts.iter().filter(|v| matches!(v, Verdict::Invalid { .. })).count();
        let appended = verdicts.iter().filter(|v| matches!(v, Verdict::Appended)).count() as u64;
        if let Some(s) = self.admission.extra_mut(&peer) {
            s.received += appended;
        }
        for v in &verdicts {
            if let Verdict::Fork { first, second, .. } = v {
                self.publish_proof(first, second);
            }
        }
        if invalid > 0 {
            self.drop_peer(peer, Reason::InvalidRecords, &format!("sent {invalid} invalid records by sync"));
            return;
        }
        let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.generation == generation) else { return };
        round.appended += appended;
        for v in &verdicts {
            let reason = match v {
                Verdict::NotValid { reason } | Verdict::Refused { reason } => *reason,
                Verdict::Quarantined => "quarantined",
                _ => continue,
            };
            match round.refused.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += 1,
                None => round.refused.push((reason, 1)),
            }
        }
        let actions = round.session.on_stored();
        self.execute(peer, generation, actions);
    }

    /// Ends the round with `peer` if its session is done and everything it fetched is stored.
    fn check_round(&mut self, peer: PeerId) {
        let Some(round) = self.rounds.get(&peer) else { return };
        let Some(end) = round.session.end() else { return };
        if round.session.unstored() > 0 {
            return;
        }
        let round = self.rounds.remove(&peer).expect("present");
        let now = self.now();
        self.last_sync_at = Some(now);
        if now.saturating_sub(self.sync_saved_at) >= SYNC_SAVE_INTERVAL_MS {
            self.sync_saved_at = now;
            if let Err(e) = self.ctx.store.meta_put(crate::query::LAST_SYNC_META, &now.to_be_bytes()) {
                tracing::warn!("cannot record the time of the last sync: {e}");
            }
        }
        let s = &round.session;
        if let Some(p) = self.admission.extra_mut(&peer) {
            p.last_sync_at = Some(now);
            p.in_sync = Some(end == SyncEnd::InSync);
            if end == SyncEnd::InSync {
                p.behind = 0;
                p.ahead = 0;
            } else {
                p.behind = s.behind;
                p.ahead = s.ahead;
            }
        }
        // The peer holds no more of our own feed than we do: it is safe to sign more.
        if self.is_verified(&peer)
            && let Some(theirs) = s.watched_head()
        {
            let ours = self.ctx.store.head(&self.ctx.own_node).ok().flatten();
            if theirs.is_none_or(|t| ours.is_some_and(|o| t.seq <= o.seq)) {
                if !self.ctx.own_feed.is_confirmed()
                    && let Err(e) = self.ctx.store.meta_put(crate::backup::OWN_FEED_META, crate::backup::CONFIRMED)
                {
                    tracing::warn!("cannot record that a peer confirmed this node's feed: {e}");
                }
                self.ctx.own_feed.confirm();
            }
        }
        tracing::debug!(peer = %peer, ?end, received = s.received, "sync round ended");
        self.ctx.counters.add(if end == SyncEnd::InSync { "sync_rounds.in_sync" } else { "sync_rounds.fetched" }, 1);
        match end {
            SyncEnd::InSync => {
                self.idle_rounds.remove(&peer);
                self.resolve_waiters(peer, true, None)
            }
            // Something new was stored: confirm with a new round.
            SyncEnd::Fetched if round.appended > 0 => {
                self.idle_rounds.remove(&peer);
                self.start_round(peer)
            }
            // The peer holds records this node refuses (its view of the membership differs):
            // repeating now would loop.
            SyncEnd::Fetched if !round.refused.is_empty() => {
                self.idle_rounds.remove(&peer);
                let total: u64 = round.refused.iter().map(|(_, n)| n).sum();
                let reasons: Vec<String> = round.refused.iter().map(|(r, n)| format!("{n} {r}")).collect();
                self.resolve_waiters(
                    peer,
                    false,
                    Some(format!(
                        "the peer holds {total} records this node refused ({}; see the rejected.* counters \
                         of `csx status`)",
                        reasons.join(", ")
                    )),
                )
            }
            // Nothing new and nothing refused: what it sent was stored meanwhile (by gossip or a
            // round with another peer), waits for earlier records, or the peer refused a request
            // (it has not verified this node yet) or did not send what it advertised. A `csx
            // sync` waiting on it tries again, a few times; a periodic round just ends.
            SyncEnd::Fetched => {
                let waited = self.waiters.iter().any(|w| w.pending.contains(&peer));
                let tries = self.idle_rounds.entry(peer).or_insert(0);
                *tries += 1;
                let tries = *tries;
                if waited && tries <= MAX_IDLE_RETRIES {
                    tracing::debug!(peer = %peer, tries, received = s.received, "sync round fetched nothing new; again");
                    let tx = self.internal_tx.clone();
                    let pause = std::time::Duration::from_millis((RETRY_PAUSE_MS * u64::from(tries)).min(1_000));
                    tokio::spawn(async move {
                        tokio::time::sleep(pause).await;
                        let _ = tx.send(Internal::Resync { peer });
                    });
                } else {
                    self.idle_rounds.remove(&peer);
                    let why = if s.received == 0 {
                        "the peer refused this node's requests or did not send records it advertised, \
                         round after round"
                            .to_string()
                    } else {
                        format!(
                            "round after round the peer sent records this node already held or that \
                             wait for earlier ones ({} in the last round)",
                            s.received
                        )
                    };
                    self.resolve_waiters(peer, false, Some(why))
                }
            }
        }
    }

    /// A retry of a round `csx sync` waits on (see [`MAX_IDLE_RETRIES`]).
    pub(super) fn resync(&mut self, peer: PeerId) {
        if self.waiters.iter().any(|w| w.pending.contains(&peer)) {
            self.start_round(peer);
        }
    }

    pub(super) fn fail_round(&mut self, peer: PeerId, reason: String) {
        if self.rounds.remove(&peer).is_some() {
            self.ctx.counters.add("sync_rounds.failed", 1);
        }
        self.idle_rounds.remove(&peer);
        self.requests.retain(|_, (p, _, _)| *p != peer);
        if let Some(p) = self.admission.extra_mut(&peer) {
            p.in_sync = Some(false);
        }
        self.resolve_waiters(peer, false, Some(reason));
    }

    pub(super) fn abort_round(&mut self, peer: PeerId, reason: &str) {
        if self.rounds.contains_key(&peer) || self.waiters.iter().any(|w| w.pending.contains(&peer)) {
            self.fail_round(peer, reason.to_string());
        }
    }

    /// Records the peers of the rounds running hold beyond what they have sent so far (the
    /// most of any one: the same records are offered by every peer).
    pub(super) fn sync_remaining(&self) -> u64 {
        self.rounds.values().map(|r| r.session.behind.saturating_sub(r.session.received)).max().unwrap_or(0)
    }

    /// A round with a random verified member's node (the periodic completeness check).
    pub(super) fn sync_random_peer(&mut self) {
        let candidates: Vec<PeerId> =
            self.admission.members().into_iter().filter(|p| !self.rounds.contains_key(p)).collect();
        if candidates.is_empty() {
            return;
        }
        let pick = candidates[fastrand::usize(..candidates.len())];
        self.start_round(pick);
    }

    /// `csx sync`: a round with every connected member's node, and with each verified while it
    /// runs; with none connected, it waits for the first (the caller bounds the wait).
    pub(super) fn sync_all(&mut self, reply: oneshot::Sender<SyncReport>) {
        self.waiters.retain(|w| !w.reply.is_closed());
        let members = self.admission.members();
        self.waiters.push(Waiter { pending: members.iter().copied().collect(), results: vec![], reply });
        for peer in members {
            self.start_round(peer);
        }
    }

    /// A member's node was verified: the `csx sync`s under way wait for it too.
    pub(super) fn join_waiters(&mut self, peer: PeerId) {
        self.waiters.retain(|w| !w.reply.is_closed());
        for w in &mut self.waiters {
            if !w.has_result(&peer) {
                w.pending.insert(peer);
            }
        }
    }

    fn digest(&self) -> String {
        hex::encode(self.ctx.store.heads_index().root())
    }

    fn resolve_waiters(&mut self, peer: PeerId, in_sync: bool, error: Option<String>) {
        let org = super::identity::node_key(&peer).and_then(|k| self.org_of(&k));
        let received = self.admission.get(&peer).map_or(0, |p| p.extra.received);
        let mut done = Vec::new();
        for (i, w) in self.waiters.iter_mut().enumerate() {
            if w.pending.remove(&peer) {
                w.results.push(PeerSync {
                    peer_id: peer.to_string(),
                    org: org.clone(),
                    in_sync,
                    received,
                    error: error.clone(),
                });
                if w.pending.is_empty() {
                    done.push(i);
                }
            }
        }
        let digest = if done.is_empty() { String::new() } else { self.digest() };
        for i in done.into_iter().rev() {
            let w = self.waiters.remove(i);
            let level = w.results.iter().all(|r| r.in_sync);
            let _ = w.reply.send(SyncReport { level, peers: w.results, heads_digest: digest.clone() });
        }
    }
}

/// Serves sync pages, fork proofs and membership records from the store.
struct StoreSource<'a> {
    store: &'a dyn Store,
    max_records: usize,
}

impl SyncSource for StoreSource<'_> {
    fn feed(&self, author: &NodeKey, from: u64, to: u64, max_bytes: usize) -> Vec<Vec<u8>> {
        let count = ((to - from + 1) as usize).min(self.max_records);
        self.store.feed_bytes(author, from, count, max_bytes).unwrap_or_else(|e| {
            tracing::error!("reading a feed to serve a peer failed: {e}");
            vec![]
        })
    }

    fn fork_proof(&self, author: &NodeKey) -> Option<(Vec<u8>, Vec<u8>)> {
        self.store.fork_proof(author).ok().flatten().map(|p| (p.first, p.second))
    }

    fn membership(&self) -> Vec<(RecordId, Vec<u8>)> {
        let mut out = Vec::new();
        for kind in crate::membership::MEMBERSHIP_KINDS {
            for r in self.store.scan(Scan::Kind(kind), false) {
                match r {
                    Ok(r) => out.push((r.id(), r.bytes().to_vec())),
                    Err(e) => tracing::error!("reading membership records to serve a peer failed: {e}"),
                }
            }
        }
        out.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out
    }
}
