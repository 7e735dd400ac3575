//! The event loop's side of catch-up sync: answering peers' requests (as admission allows) and
//! carrying out what the round policy ([`Rounds`], I/O-less) decides — opening a round's
//! [`SyncSession`] and sending its requests, storing what it fetched, and telling the policy
//! how each round went. Never with a peer not yet verified.

use std::collections::HashMap;

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
use super::rounds::{End, Intent, Trigger};
use crate::api::{PeerSync, SyncReport};
use crate::ingest::{Verdict, rejected_counter};
use crate::store::{Scan, Store};

/// How often the time of the last completed sync round is written to the store, at most.
const SYNC_SAVE_INTERVAL_MS: u64 = 5_000;

/// The session of a round in flight (its bookkeeping is in [`super::rounds::Rounds`]).
pub(super) struct Session {
    session: SyncSession,
    generation: u64,
}

/// The `csx sync`s waiting for their rounds, by the number [`super::rounds::Rounds`] knows them by.
#[derive(Default)]
pub(super) struct Waiters {
    next: u64,
    replies: HashMap<u64, oneshot::Sender<SyncReport>>,
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
                    if let Some(s) = self.sessions.get_mut(&peer).filter(|s| s.generation == generation) {
                        s.session.on_failure(tag);
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
        // A member asking for more has verified us (a round it refused may start again); one
        // whose summary differs holds other records than we do (a new node announcing what it
        // wrote offline, or records it just fetched elsewhere): the policy may pull them now.
        if ask == Ask::Sync {
            let differs = matches!(&request, SyncRequest::Summary { root, .. }
                if *root != self.ctx.store.heads_index().root());
            let intents = self.rounds.asked_by(peer, differs, now);
            self.run_rounds(intents);
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

    /// Starts a round with `peer` for `trigger`, if the policy agrees.
    pub(super) fn sync_with(&mut self, peer: PeerId, trigger: Trigger) {
        let now = self.now();
        let intents = self.rounds.sync_with(peer, trigger, now);
        self.run_rounds(intents);
    }

    /// Carries out what the round policy decided.
    pub(super) fn run_rounds(&mut self, intents: Vec<Intent<PeerId>>) {
        for intent in intents {
            match intent {
                Intent::Start { peer, generation, trigger } => self.open_round(peer, generation, trigger),
                Intent::Abort { peer, generation } => {
                    tracing::debug!(peer = %peer, generation, "sync round stalled; abandoned");
                    self.close_session(peer);
                }
                Intent::Reply { waiter, results } => self.reply_sync(waiter, results),
            }
        }
    }

    /// Opens round `generation` with `peer`: a new session and its first request.
    fn open_round(&mut self, peer: PeerId, generation: u64, trigger: Trigger) {
        if !self.is_verified(&peer) {
            let now = self.now();
            let intents = self.rounds.failed(peer, "not verified as a member's node", now);
            return self.run_rounds(intents);
        }
        tracing::debug!(peer = %peer, ?trigger, "sync round");
        let (mut session, first) = {
            let mut heads = self.ctx.store.heads_index();
            SyncSession::start(self.ctx.federation, self.limits, &mut heads)
        };
        session.watch(self.ctx.own_node);
        self.sessions.insert(peer, Session { session, generation });
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
        if let SyncResponse::Refused { code: RefusalCode::NotAMember, .. } = &response {
            // It has not verified us yet; it will show it has by asking us for more.
            self.rounds.refused_by(peer);
        }
        let now = self.now();
        self.rounds.progressed(peer, generation, now);
        let Some(s) = self.sessions.get_mut(&peer).filter(|s| s.generation == generation) else { return };
        let result = {
            let mut heads = self.ctx.store.heads_index();
            s.session.on_response(tag, response, &mut heads)
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
        let refused: Vec<&'static str> = verdicts.iter().filter_map(Verdict::refusal).collect();
        let now = self.now();
        self.rounds.stored(peer, generation, appended, &refused, now);
        let Some(s) = self.sessions.get_mut(&peer).filter(|s| s.generation == generation) else { return };
        let actions = {
            let heads = self.ctx.store.heads_index();
            s.session.on_stored_given(&heads)
        };
        self.execute(peer, generation, actions);
    }

    /// Ends the round with `peer` if its session is done and everything it fetched is stored.
    fn check_round(&mut self, peer: PeerId) {
        let Some(s) = self.sessions.get(&peer) else { return };
        let Some(end) = s.session.end() else { return };
        if s.session.unstored() > 0 {
            return;
        }
        let Session { session: s, generation } = self.sessions.remove(&peer).expect("present");
        let now = self.now();
        self.last_sync_at = Some(now);
        if now.saturating_sub(self.sync_saved_at) >= SYNC_SAVE_INTERVAL_MS {
            self.sync_saved_at = now;
            if let Err(e) = self.ctx.store.meta_put(crate::query::LAST_SYNC_META, &now.to_be_bytes()) {
                tracing::warn!("cannot record the time of the last sync: {e}");
            }
        }
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
        let end = match end {
            SyncEnd::InSync => End::InSync,
            SyncEnd::Fetched => End::Fetched { received: s.received },
        };
        let intents = self.rounds.ended(peer, generation, end, now);
        self.run_rounds(intents);
    }

    /// Drops the session of the round with `peer` and forgets its requests.
    fn close_session(&mut self, peer: PeerId) {
        if self.sessions.remove(&peer).is_some() {
            self.ctx.counters.add("sync_rounds.failed", 1);
        }
        self.requests.retain(|_, (p, _, _)| *p != peer);
        if let Some(p) = self.admission.extra_mut(&peer) {
            p.in_sync = Some(false);
        }
    }

    /// The round with `peer` failed (a request failed, it was dropped or denied).
    pub(super) fn fail_round(&mut self, peer: PeerId, reason: String) {
        self.close_session(peer);
        let now = self.now();
        let intents = self.rounds.failed(peer, &reason, now);
        self.run_rounds(intents);
    }

    /// `peer` disconnected: its round fails and the policy forgets it.
    pub(super) fn rounds_gone(&mut self, peer: PeerId, reason: &str) {
        if self.sessions.remove(&peer).is_some() {
            self.ctx.counters.add("sync_rounds.failed", 1);
        }
        self.requests.retain(|_, (p, _, _)| *p != peer);
        let now = self.now();
        let intents = self.rounds.gone(peer, reason, now);
        self.run_rounds(intents);
    }

    /// Records the peers of the rounds running hold beyond what they have sent so far (the
    /// most of any one: the same records are offered by every peer).
    pub(super) fn sync_remaining(&self) -> u64 {
        self.sessions.values().map(|s| s.session.behind.saturating_sub(s.session.received)).max().unwrap_or(0)
    }

    /// The round policy's timers (stalls, retries, the periodic round).
    pub(super) fn rounds_tick(&mut self) {
        self.forget_gone_waiters();
        let now = self.now();
        let intents = self.rounds.tick(now);
        self.run_rounds(intents);
    }

    /// `csx sync`: a round with every connected member's node, and with each verified while it
    /// runs; with none connected, it waits for the first (the caller bounds the wait).
    pub(super) fn sync_all(&mut self, reply: oneshot::Sender<SyncReport>) {
        self.forget_gone_waiters();
        let id = self.waiters.next;
        self.waiters.next += 1;
        self.waiters.replies.insert(id, reply);
        let now = self.now();
        let intents = self.rounds.sync_all(id, now);
        self.run_rounds(intents);
    }

    /// Forgets the `csx sync`s whose callers went away (the control socket bounds how many wait).
    fn forget_gone_waiters(&mut self) {
        let gone: Vec<u64> = self.waiters.replies.iter().filter(|(_, r)| r.is_closed()).map(|(id, _)| *id).collect();
        for id in gone {
            self.waiters.replies.remove(&id);
            self.rounds.forget_waiter(id);
        }
    }

    fn reply_sync(&mut self, waiter: u64, results: Vec<super::rounds::PeerOutcome<PeerId>>) {
        let Some(reply) = self.waiters.replies.remove(&waiter) else { return };
        let peers: Vec<PeerSync> = results
            .into_iter()
            .map(|r| PeerSync {
                peer_id: r.peer.to_string(),
                org: super::identity::node_key(&r.peer).and_then(|k| self.org_of(&k)),
                in_sync: r.in_sync,
                received: self.admission.get(&r.peer).map_or(0, |p| p.extra.received),
                error: r.error,
            })
            .collect();
        let level = peers.iter().all(|r| r.in_sync);
        let heads_digest = hex::encode(self.ctx.store.heads_index().root());
        let _ = reply.send(SyncReport { level, peers, heads_digest });
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
