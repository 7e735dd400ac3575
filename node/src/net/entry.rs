//! The event loop's side of admission ([`super::admission`], I/O-less): carrying out its
//! [`Action`]s — asking for and checking certificates, admitting a verified peer (to the
//! connection policy, gossip, identify and the round policy), disconnecting and banning — and
//! feeding it strikes, roster changes and its clock.

use libp2p::PeerId;
use libp2p::request_response::OutboundRequestId;

use super::admission::{Action, CertAnswer, CertCheck};
use super::event_loop::{EventLoop, Internal};
use super::judge::NodeJudge;
use super::reason::Reason;
use crate::ingest::Verdict;

impl EventLoop {
    pub(super) fn judge(&self) -> NodeJudge {
        NodeJudge { roster: self.ctx.membership.roster(), store: self.ctx.store.clone() }
    }

    /// Carries out what admission decided.
    pub(super) fn act(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::AskCertificate(peer) => self.request_cert(peer),
                Action::CheckCertificate { peer, record } => self.check_cert(peer, record),
                Action::Admit(peer) => self.admit(peer),
                Action::Disconnect { peer, reason, ban } => self.disconnect(peer, reason, ban),
                Action::Unblock(peer) => self.unblock(peer),
                Action::ReleaseHeld(peer) => self.refuse_held(peer),
            }
        }
    }

    /// Asks `peer` for its certificate (record 1 of its feed).
    fn request_cert(&mut self, peer: PeerId) {
        let Some(node) = super::identity::node_key(&peer) else { return };
        let request =
            csx_protocol::sync::SyncRequest::Fetch { author: node, from_seq: 1, to_seq: 1, max_bytes: 65_536 };
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, Ok(request));
        self.cert_requests.insert(id, peer);
    }

    /// Verifies a peer's certificate through the ingest pipeline (stored if it is a member's
    /// or an applicant's, refused by name otherwise) and reports back.
    fn check_cert(&mut self, peer: PeerId, record: Vec<u8>) {
        let verdicts = self.ctx.ingest.enqueue(vec![record]);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let check = match verdicts.await.ok().and_then(|mut v| v.pop()) {
                Some(Verdict::Invalid { reason: "wrong_federation", .. }) => CertCheck::WrongFederation,
                Some(Verdict::Invalid { .. }) | None => CertCheck::Invalid,
                Some(_) => CertCheck::Valid,
            };
            let _ = tx.send(Internal::CertChecked { peer, check });
        });
    }

    /// A peer's answer to "send me your certificate".
    pub(super) fn on_cert(&mut self, peer: PeerId, answer: CertAnswer) {
        let now = self.now();
        let actions = self.admission.on_certificate_answer(peer, answer, now);
        self.act(actions);
    }

    /// Takes the answer to a certificate request, if `id` was one.
    pub(super) fn take_cert_request(&mut self, id: &OutboundRequestId) -> Option<PeerId> {
        self.cert_requests.remove(id)
    }

    /// `peer` is verified: open gossip and identify to it, remember it, sync with it.
    pub(super) fn admit(&mut self, peer: PeerId) {
        tracing::debug!(peer = %peer, "verified as a member's node");
        self.policy.verified(&peer);
        // Remember members' nodes, so this node finds them again without a bootstrap server.
        let now = self.now();
        let addrs = self.admission.get(&peer).map(|e| e.addresses.clone()).unwrap_or_default();
        self.book.saw(&peer, addrs.clone(), now);
        if !addrs.is_empty() {
            self.connections.heard_of(peer, addrs);
        }
        let intents = self.connections.verified(peer, now);
        if !intents.is_empty() {
            // Full: the connection closes (its held requests are refused).
            return self.run_connections(intents);
        }
        self.swarm.behaviour_mut().gossipsub.open(peer);
        self.swarm.behaviour_mut().identify.open(peer);
        self.serve_held(peer);
        let intents = self.rounds.verified(peer, now);
        self.run_rounds(intents);
    }

    pub(super) fn disconnect(&mut self, peer: PeerId, reason: Reason, ban: bool) {
        self.ctx.counters.add(&reason.dropped_counter(), 1);
        self.refuse_held(peer);
        self.log_refusal(peer, reason, "disconnected");
        if ban {
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            self.book.forget(&peer);
            self.connections.forget(&peer);
        }
        let _ = self.swarm.disconnect_peer_id(peer);
        self.fail_round(peer, format!("dropped: {reason}"));
    }

    /// Logs a refusal or a drop: one line per reason every few seconds at the normal level
    /// (with how many were held back), the rest at `debug`.
    pub(super) fn log_refusal(&mut self, peer: PeerId, reason: Reason, what: &str) {
        let now = self.now();
        let serious = matches!(
            reason,
            Reason::Misbehaving
                | Reason::SyncViolation
                | Reason::InvalidRecords
                | Reason::BadCertificate
                | Reason::NoLongerAMember
        );
        match self.log.allow(reason, now) {
            Some(held) if serious => tracing::warn!(peer = %peer, reason = %reason, held_back = held, "{what}"),
            Some(held) => tracing::info!(peer = %peer, reason = %reason, held_back = held, "{what}"),
            None => tracing::debug!(peer = %peer, reason = %reason, "{what}"),
        }
    }

    /// Drops `peer` for breaking the protocol (banned; see [`Reason::bans`]).
    pub(super) fn drop_peer(&mut self, peer: PeerId, reason: Reason, why: &str) {
        tracing::debug!(peer = %peer, reason = %reason, "dropping peer: {why}");
        let now = self.now();
        let actions = self.admission.drop_peer(peer, reason, now);
        self.act(actions);
    }

    /// Counts a strike against `peer`, dropping it when it has earned a ban.
    pub(super) fn strike(&mut self, peer: PeerId, weight: f64, reason: &'static str) {
        tracing::debug!(peer = %peer, reason, weight, "strike");
        let now = self.now();
        let actions = self.admission.on_strike(peer, weight, now);
        self.act(actions);
    }

    /// Lifts the connection block on `peer` unless it is denied by command.
    pub(super) fn unblock(&mut self, peer: PeerId) {
        if !self.denied.contains(&peer) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
    }

    /// Re-examines every connected peer when the roster has changed.
    pub(super) fn check_roster(&mut self) {
        let v = self.ctx.membership.version();
        if v == self.roster_version {
            return;
        }
        self.roster_version = v;
        let now = self.now();
        let judge = self.judge();
        let actions = self.admission.on_roster_changed(&judge, now);
        self.act(actions);
    }

    pub(super) fn admission_tick(&mut self) {
        let now = self.now();
        let rounds = self.rounds.running_count() + self.rounds.queued_count();
        self.catch_up.tick(rounds > 0, self.sync_remaining(), now);
        self.check_roster();
        let now = self.now();
        let judge = self.judge();
        let actions = self.admission.on_tick(&judge, now);
        self.act(actions);
        self.connections_tick();
    }
}
