//! Why the network refuses a request or drops a peer: one name per reason, counted as
//! `refused.<name>` or `dropped.<name>` (`csx status`), and a limiter that keeps a flood of one
//! reason from flooding the log. Used by member nodes and bootstrap servers alike.

use std::collections::HashMap;

/// A named reason for refusing a peer something, or for disconnecting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Its certificate shows no current member's node, or it showed none in time.
    NotAMember,
    /// It asked for more than our certificate before it was verified.
    Unverified,
    /// Asked for its certificate, it answered with something else (or nothing).
    NoCertificate,
    /// Its certificate is invalid in anyone's eyes (signature, encoding).
    BadCertificate,
    /// Its certificate is of another federation.
    WrongFederation,
    /// Its organisation is endorsed but not yet admitted: disconnected without a ban.
    Applicant,
    /// It was a member's node and is no more (revoked, retired, expired).
    NoLongerAMember,
    /// Too many refused messages.
    Misbehaving,
    /// A sync response that breaks the protocol.
    SyncViolation,
    /// Invalid records in a sync page.
    InvalidRecords,
    /// Over a per-peer rate limit.
    RateLimited,
    /// Too many peers are being verified at once: turned away, without a ban.
    TooManyUnverified,
    /// Banned: refused on sight.
    Banned,
    /// Its identity is not an ed25519 node key.
    NotANodeKey,
    /// A verified peer announcing another federation's protocol version.
    OtherFederation,
    /// A request about a federation this bootstrap server does not serve.
    WrongFederationRequest,
    /// A request that cannot be read.
    BadRequest,
    /// A table is full (registrations at a bootstrap server, requests waiting for verification).
    Full,
    /// Over the connection limits (in all, per peer, being set up).
    ConnectionLimit,
}

impl Reason {
    /// The stable name used in counters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotAMember => "not_a_member",
            Reason::Unverified => "unverified",
            Reason::NoCertificate => "no_certificate",
            Reason::BadCertificate => "bad_certificate",
            Reason::WrongFederation => "wrong_federation",
            Reason::Applicant => "applicant",
            Reason::NoLongerAMember => "no_longer_a_member",
            Reason::Misbehaving => "misbehaving",
            Reason::SyncViolation => "sync_violation",
            Reason::InvalidRecords => "invalid_records",
            Reason::RateLimited => "rate_limited",
            Reason::TooManyUnverified => "too_many_unverified",
            Reason::Banned => "banned",
            Reason::NotANodeKey => "not_a_node_key",
            Reason::OtherFederation => "other_federation",
            Reason::WrongFederationRequest => "wrong_federation_request",
            Reason::BadRequest => "bad_request",
            Reason::Full => "full",
            Reason::ConnectionLimit => "connection_limit",
        }
    }

    /// Whether a peer disconnected for this reason is banned for a while (the others may come
    /// back at once: an applicant, or a peer turned away only because the node was busy).
    pub fn bans(self) -> bool {
        !matches!(
            self,
            Reason::Applicant
                | Reason::TooManyUnverified
                | Reason::RateLimited
                | Reason::Full
                | Reason::ConnectionLimit
        )
    }

    /// Whether a ban for this reason is lifted when the membership changes (the peer may have
    /// just been admitted).
    pub fn lifted_by_membership_change(self) -> bool {
        matches!(self, Reason::NotAMember)
    }

    /// `refused.<name>`.
    pub fn refused_counter(self) -> String {
        format!("refused.{}", self.as_str())
    }

    /// `dropped.<name>`.
    pub fn dropped_counter(self) -> String {
        format!("dropped.{}", self.as_str())
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why libp2p denied a connection as it was established, when it was a bound of ours: a ban
/// (the block list) or the connection limits.
pub fn denied(cause: &libp2p::swarm::ConnectionDenied) -> Option<Reason> {
    if cause.downcast_ref::<libp2p::allow_block_list::Blocked>().is_some() {
        Some(Reason::Banned)
    } else if cause.downcast_ref::<libp2p::connection_limits::Exceeded>().is_some() {
        Some(Reason::ConnectionLimit)
    } else {
        None
    }
}

/// How often one reason may be logged at the normal level; the rest go to `debug`.
pub const LOG_INTERVAL_MS: u64 = 10_000;

/// Keeps one line per reason per [`LOG_INTERVAL_MS`] at the normal level, and says how many
/// were held back meanwhile. Time is a parameter.
#[derive(Debug, Default)]
pub struct LogLimiter {
    /// Per reason: when it was last logged, and how many were held back since.
    last: HashMap<Reason, (u64, u64)>,
}

impl LogLimiter {
    /// `Some(held back since the last line)` when this occurrence should be logged at the
    /// normal level; `None` when it should go to `debug` only.
    pub fn allow(&mut self, reason: Reason, now: u64) -> Option<u64> {
        match self.last.get_mut(&reason) {
            Some((at, held)) if now.saturating_sub(*at) < LOG_INTERVAL_MS => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                *at = now;
                Some(std::mem::take(held))
            }
            None => {
                self.last.insert(reason, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_reason_per_interval_with_a_count_of_the_rest() {
        let mut l = LogLimiter::default();
        assert_eq!(l.allow(Reason::NotAMember, 0), Some(0));
        assert_eq!(l.allow(Reason::NotAMember, 1), None);
        assert_eq!(l.allow(Reason::NotAMember, 2), None);
        assert_eq!(l.allow(Reason::Banned, 3), Some(0), "reasons are limited apart");
        assert_eq!(l.allow(Reason::NotAMember, LOG_INTERVAL_MS), Some(2), "two were held back");
        assert_eq!(l.allow(Reason::NotAMember, LOG_INTERVAL_MS + 1), None);
    }

    #[test]
    fn names_are_distinct() {
        use Reason::*;
        let all = [
            NotAMember,
            Unverified,
            NoCertificate,
            BadCertificate,
            WrongFederation,
            Applicant,
            NoLongerAMember,
            Misbehaving,
            SyncViolation,
            InvalidRecords,
            RateLimited,
            TooManyUnverified,
            Banned,
            NotANodeKey,
            OtherFederation,
            WrongFederationRequest,
            BadRequest,
            Full,
            ConnectionLimit,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), all.len());
    }
}
