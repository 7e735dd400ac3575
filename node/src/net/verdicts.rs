//! Gossip verdicts as one table: for every outcome of handling a gossip message (a record or a
//! fork proof), what gossipsub is told (accept: forward it; ignore: drop it quietly; reject:
//! drop it and score the sender down) and the strike the sender earns. No I/O: the event loop
//! (`gossip.rs`) turns an [`Outcome`] into a report to gossipsub and, if any, a strike.
//!
//! The rules, in short: a sender is struck only for what it could have known was wrong. A
//! record invalid in anyone's eyes costs [`weight::INVALID`]; a validly signed record by an
//! author this node does not accept (a roster lag, perhaps) costs [`weight::NOT_VALID`]; one by
//! an author this node has not heard of yet — which the sender did accept, so it holds the
//! certificate this node lacks — and a message beyond the rate limit cost a token
//! [`weight::FLOOD`] (which bounds a flood of them). Duplicates, records the store refuses
//! (forked authors, gaps too deep), quarantined applicants' records and messages dropped
//! because the verification queue is full cost nothing.

use super::guard::weight;
use crate::ingest::Verdict;

/// What gossipsub is told about a message (mirrors `gossipsub::MessageAcceptance`, which the
/// event loop maps it to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Valid and new (or valid and waiting for its predecessors): forward it.
    Accept,
    /// Not forwarded, but the sender is not to blame in gossipsub's scoring.
    Ignore,
    /// Invalid: not forwarded, and gossipsub scores the sender down.
    Reject,
}

/// The strike a sender earns for a message, with the reason it is logged and counted under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strike {
    None,
    /// A strike of `weight` (see [`weight`]) for `reason`.
    Of {
        weight: f64,
        reason: &'static str,
    },
}

impl Strike {
    fn of(weight: f64, reason: &'static str) -> Strike {
        Strike::Of { weight, reason }
    }
}

/// What came of handling one gossip message.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// From a peer not (or no longer) verified as a member's node.
    Unverified,
    /// Beyond the sender's gossip rate limit.
    RateLimited,
    /// The verification queue is full; sync will bring the record.
    Overflow,
    /// A record, as the ingest pipeline judged it.
    Record(&'a Verdict),
    /// A fork proof that cannot be decoded.
    MalformedProof,
    /// A fork proof that shows a fork this node did not know of.
    NewProof,
    /// A fork proof of a fork this node knew of.
    KnownProof,
    /// A fork proof whose records do not verify or do not show a fork.
    InvalidProof,
}

/// The verdict table: how gossipsub is told about `outcome` and the strike it costs the sender.
pub fn verdict(outcome: Outcome<'_>) -> (Acceptance, Strike) {
    use Acceptance::*;
    match outcome {
        Outcome::Unverified => (Ignore, Strike::None),
        Outcome::RateLimited => (Ignore, Strike::of(weight::FLOOD, "rate_limited")),
        Outcome::Overflow => (Ignore, Strike::None),
        Outcome::Record(v) => match v {
            Verdict::Appended => (Accept, Strike::None),
            // Valid and signed; this node lacks its predecessors, which a sync round fetches.
            Verdict::Held { .. } => (Accept, Strike::None),
            Verdict::Duplicate | Verdict::Refused { .. } | Verdict::Quarantined | Verdict::Fork { .. } => {
                (Ignore, Strike::None)
            }
            // The forwarder accepted it, so it holds the author's certificate that this node
            // lacks: hardly its fault, and a sync round with it brings both.
            Verdict::NotValid { reason: "unknown_author" } => (Ignore, Strike::of(weight::FLOOD, "unknown_author")),
            Verdict::NotValid { reason } => (Ignore, Strike::of(weight::NOT_VALID, reason)),
            Verdict::Invalid { reason, .. } => (Reject, Strike::of(weight::INVALID, reason)),
        },
        Outcome::MalformedProof => (Reject, Strike::of(weight::INVALID, "malformed_fork_proof")),
        Outcome::NewProof => (Accept, Strike::None),
        Outcome::KnownProof => (Ignore, Strike::None),
        Outcome::InvalidProof => (Reject, Strike::of(weight::INVALID, "bad_fork_proof")),
    }
}

/// Whether a gossiped record shows the sender holds what this node lacks (the record's
/// predecessors, or its author's certificate), so a sync round with the sender is due.
pub fn wants_round(verdict: &Verdict) -> bool {
    matches!(verdict, Verdict::Held { .. } | Verdict::NotValid { reason: "unknown_author" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Verdict;
    use csx_protocol::NodeKey;

    fn key() -> NodeKey {
        csx_protocol::keys::SecretKey::from_seed(&[7; 32]).node_key()
    }

    #[test]
    fn valid_records_are_forwarded_and_cost_nothing() {
        assert_eq!(verdict(Outcome::Record(&Verdict::Appended)), (Acceptance::Accept, Strike::None));
        let held = Verdict::Held { author: key(), seq: 9 };
        assert_eq!(verdict(Outcome::Record(&held)), (Acceptance::Accept, Strike::None));
        assert!(wants_round(&held), "a record ahead of its feed asks for a round with the sender");
        assert!(!wants_round(&Verdict::Appended));
    }

    #[test]
    fn records_the_sender_could_not_know_were_unwanted_are_ignored_without_a_strike() {
        let fork = Verdict::Fork { author: key(), first: vec![1], second: vec![2] };
        for v in [Verdict::Duplicate, Verdict::Refused { reason: "wrong_prev" }, Verdict::Quarantined, fork] {
            assert_eq!(verdict(Outcome::Record(&v)), (Acceptance::Ignore, Strike::None), "{v:?}");
        }
        assert_eq!(verdict(Outcome::Overflow), (Acceptance::Ignore, Strike::None));
        assert_eq!(verdict(Outcome::Unverified), (Acceptance::Ignore, Strike::None));
        assert_eq!(verdict(Outcome::KnownProof), (Acceptance::Ignore, Strike::None));
    }

    #[test]
    fn strikes_grow_with_what_the_sender_should_have_known() {
        let unknown = Verdict::NotValid { reason: "unknown_author" };
        let (a, s) = verdict(Outcome::Record(&unknown));
        assert_eq!((a, s), (Acceptance::Ignore, Strike::of(weight::FLOOD, "unknown_author")));
        assert!(wants_round(&unknown), "the sender holds the certificate this node lacks");
        let revoked = Verdict::NotValid { reason: "revoked" };
        assert_eq!(verdict(Outcome::Record(&revoked)), (Acceptance::Ignore, Strike::of(weight::NOT_VALID, "revoked")));
        let bad = Verdict::Invalid { reason: "bad_signature", detail: "x".into() };
        assert_eq!(verdict(Outcome::Record(&bad)), (Acceptance::Reject, Strike::of(weight::INVALID, "bad_signature")));
        assert_eq!(verdict(Outcome::RateLimited), (Acceptance::Ignore, Strike::of(weight::FLOOD, "rate_limited")));
        let flood = weight::FLOOD;
        assert!(flood < weight::NOT_VALID && weight::NOT_VALID < weight::INVALID);
    }

    #[test]
    fn fork_proofs_are_accepted_when_new_and_rejected_when_bad() {
        assert_eq!(verdict(Outcome::NewProof), (Acceptance::Accept, Strike::None));
        assert_eq!(
            verdict(Outcome::MalformedProof),
            (Acceptance::Reject, Strike::of(weight::INVALID, "malformed_fork_proof"))
        );
        assert_eq!(verdict(Outcome::InvalidProof), (Acceptance::Reject, Strike::of(weight::INVALID, "bad_fork_proof")));
    }

    #[test]
    fn every_reject_carries_a_strike_and_every_accept_none() {
        let outcomes = [
            Outcome::Unverified,
            Outcome::RateLimited,
            Outcome::Overflow,
            Outcome::MalformedProof,
            Outcome::NewProof,
            Outcome::KnownProof,
            Outcome::InvalidProof,
        ];
        for o in outcomes {
            match verdict(o) {
                (Acceptance::Reject, Strike::None) => panic!("{o:?}: rejected without a strike"),
                (Acceptance::Accept, Strike::Of { .. }) => panic!("{o:?}: accepted with a strike"),
                _ => {}
            }
        }
    }
}
