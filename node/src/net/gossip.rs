//! The event loop's side of gossip: records and fork proofs received on the federation's
//! topics are verified off the loop, then reported to gossipsub (Accept / Ignore / Reject) with
//! a strike per error class, as the table in `verdicts` says. Gossip reaches this node only from verified members' nodes (the
//! gossipsub handler is gated until then); the check below is a second line.

use csx_protocol::forkproof::ForkProofMessage;
use csx_protocol::{Record, VerifyContext};
use libp2p::{PeerId, gossipsub};

use super::event_loop::{EventLoop, Internal};
use super::verdicts::{Acceptance, Outcome, Strike, verdict, wants_round};
use crate::ingest::Verdict;

/// Most gossip messages waiting for verification; beyond it new ones are ignored (sync will
/// bring them), so a flood cannot grow memory without bound.
const MAX_GOSSIP_IN_FLIGHT: usize = 20_000;

pub(super) enum ProofOutcome {
    New { first: Vec<u8>, second: Vec<u8> },
    Known,
    Invalid(String),
}

impl EventLoop {
    /// Reports `outcome` to gossipsub and strikes the sender, as the verdict table says.
    fn judge_gossip(&mut self, message_id: Option<&gossipsub::MessageId>, source: PeerId, outcome: Outcome<'_>) {
        let (acceptance, strike) = verdict(outcome);
        if let Some(id) = message_id {
            let acceptance = match acceptance {
                Acceptance::Accept => gossipsub::MessageAcceptance::Accept,
                Acceptance::Ignore => gossipsub::MessageAcceptance::Ignore,
                Acceptance::Reject => gossipsub::MessageAcceptance::Reject,
            };
            self.swarm.behaviour_mut().gossipsub.report_message_validation_result(id, &source, acceptance);
        }
        if let Strike::Of { weight, reason } = strike {
            self.strike(source, weight, reason);
        }
    }

    pub(super) fn on_gossip(&mut self, source: PeerId, message_id: gossipsub::MessageId, data: Vec<u8>) {
        let now = self.now();
        if !self.is_verified(&source) {
            self.ctx.counters.add("rejected.unverified_peer", 1);
            self.judge_gossip(Some(&message_id), source, Outcome::Unverified);
            return;
        }
        if !self.admission.allow_gossip(source, now) {
            self.ctx.counters.add("rejected.rate_limited", 1);
            self.judge_gossip(Some(&message_id), source, Outcome::RateLimited);
            return;
        }
        if self.gossip_in_flight >= MAX_GOSSIP_IN_FLIGHT {
            self.ctx.counters.add("gossip_overflow", 1);
            self.judge_gossip(Some(&message_id), source, Outcome::Overflow);
            return;
        }
        self.gossip_in_flight += 1;
        self.ctx.counters.gossip_in_flight.store(self.gossip_in_flight as u64, std::sync::atomic::Ordering::Relaxed);
        let verdict = self.ctx.ingest.enqueue(vec![data]);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let verdict = match verdict.await {
                Ok(mut v) if !v.is_empty() => v.remove(0),
                _ => Verdict::Refused { reason: "shutting_down" },
            };
            let _ = tx.send(Internal::GossipChecked { message_id, source, verdict });
        });
    }

    pub(super) fn on_gossip_checked(&mut self, message_id: gossipsub::MessageId, source: PeerId, verdict: Verdict) {
        self.gossip_in_flight = self.gossip_in_flight.saturating_sub(1);
        self.ctx.counters.gossip_in_flight.store(self.gossip_in_flight as u64, std::sync::atomic::Ordering::Relaxed);
        match &verdict {
            Verdict::Invalid { reason, detail } => {
                tracing::debug!(peer = %source, reason, "rejected gossiped record: {detail}")
            }
            Verdict::NotValid { reason } => tracing::debug!(peer = %source, reason, "ignored gossiped record"),
            _ => {}
        }
        self.judge_gossip(Some(&message_id), source, Outcome::Record(&verdict));
        if let Verdict::Fork { first, second, .. } = &verdict {
            self.publish_proof(first, second);
        }
        if wants_round(&verdict) {
            self.sync_with(source, super::rounds::Trigger::Gap);
        }
    }

    /// A fork proof on the forks topic (framing in `csx_protocol::forkproof`).
    pub(super) fn on_gossiped_proof(&mut self, source: PeerId, message_id: gossipsub::MessageId, data: Vec<u8>) {
        if !self.is_verified(&source) {
            self.judge_gossip(Some(&message_id), source, Outcome::Unverified);
            return;
        }
        let (first, second) = match ForkProofMessage::decode(&data) {
            Ok(proof) => (proof.first, proof.second),
            Err(e) => {
                tracing::debug!(peer = %source, "malformed fork proof: {e}");
                self.ctx.counters.add("rejected.malformed_fork_proof", 1);
                self.judge_gossip(Some(&message_id), source, Outcome::MalformedProof);
                return;
            }
        };
        self.check_proof(Some(message_id), source, first, second);
    }

    /// Verifies a fork proof off the event loop and keeps it.
    pub(super) fn check_proof(
        &mut self,
        message_id: Option<gossipsub::MessageId>,
        source: PeerId,
        first: Vec<u8>,
        second: Vec<u8>,
    ) {
        let store = self.ctx.store.clone();
        let ctx = VerifyContext::new(self.ctx.federation, self.now());
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let verified = |b: &[u8]| Record::decode(b.to_vec()).and_then(|r| r.verify(&ctx));
            let outcome = match (verified(&first), verified(&second)) {
                (Ok(a), Ok(b)) if a.author() == b.author() && a.seq() == b.seq() && a.id() != b.id() => {
                    match store.add_fork_proof(a, b) {
                        Ok(true) => ProofOutcome::New { first, second },
                        Ok(false) => ProofOutcome::Known,
                        Err(e) => ProofOutcome::Invalid(format!("could not store it: {e}")),
                    }
                }
                (Ok(_), Ok(_)) => ProofOutcome::Invalid("the two records are not one author's at one seq".into()),
                (Err(e), _) | (_, Err(e)) => ProofOutcome::Invalid(e.to_string()),
            };
            let _ = tx.send(Internal::ProofChecked { message_id, source, outcome });
        });
    }

    pub(super) fn on_proof_checked(
        &mut self,
        message_id: Option<gossipsub::MessageId>,
        source: PeerId,
        outcome: ProofOutcome,
    ) {
        let outcome = match outcome {
            ProofOutcome::New { first, second } => {
                self.ctx.counters.add("forks_learned", 1);
                tracing::warn!(peer = %source, "learned of a fork; the author's feed is frozen");
                if message_id.is_none() {
                    self.publish_proof(&first, &second);
                }
                Outcome::NewProof
            }
            ProofOutcome::Known => Outcome::KnownProof,
            ProofOutcome::Invalid(why) => {
                self.ctx.counters.add("rejected.bad_fork_proof", 1);
                tracing::warn!(peer = %source, "invalid fork proof: {why}");
                Outcome::InvalidProof
            }
        };
        self.judge_gossip(message_id.as_ref(), source, outcome);
    }

    pub(super) fn publish_proof(&mut self, first: &[u8], second: &[u8]) {
        let msg = ForkProofMessage { first: first.to_vec(), second: second.to_vec() }.encode();
        let topic = self.forks_topic.clone();
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, msg) {
            tracing::debug!("fork proof not gossiped ({e}); sync carries it");
        }
    }
}
