//! Per-peer limits: token buckets for requests and gossip, strikes for misbehaviour that decay
//! over time, and bans with an expiry. Every table is bounded (strangers can make new
//! identities at will). Pure bookkeeping; time is a parameter (Unix ms).

use std::collections::HashMap;

use libp2p::PeerId;

use super::reason::Reason;

/// What is rate-limited per peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Inbound sync requests.
    SyncRequest,
    /// Gossip messages received from a peer (as propagation source).
    Gossip,
    /// Registration and discovery requests at a bootstrap server.
    Discovery,
}

impl Limit {
    /// (tokens per second, burst).
    fn rate(self) -> (f64, f64) {
        match self {
            Limit::SyncRequest => (100.0, 400.0),
            Limit::Gossip => (2_000.0, 10_000.0),
            Limit::Discovery => (1.0, 10.0),
        }
    }
}

/// Strike weights: how much each kind of misbehaviour counts towards a ban.
pub mod weight {
    /// A record or message that is invalid in anyone's eyes (bad signature, malformed, …).
    pub const INVALID: f64 = 10.0;
    /// A validly signed record by an author this node does not accept (may be a roster lag),
    /// or a request from a peer not yet verified (work it had no right to ask for).
    pub const NOT_VALID: f64 = 1.0;
    /// A request or message beyond the rate limit.
    pub const FLOOD: f64 = 0.05;
}

/// Strikes at which a peer is banned: two invalid messages within about a minute and a half.
pub const BAN_AT: f64 = 19.0;
/// Strikes halve every this many ms.
const HALF_LIFE_MS: f64 = 600_000.0;
/// How long a ban lasts.
pub const BAN_MS: u64 = 10 * 60 * 1000;
/// Strikes that have decayed below this are forgotten.
const FORGET_BELOW: f64 = 0.1;

/// Sizes of the guard's tables.
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    /// Most peers with strikes remembered.
    pub max_strikes: usize,
    /// Most bans kept (beyond, the ban that would end soonest is lifted early).
    pub max_bans: usize,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits { max_strikes: 4096, max_bans: 4096 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: u64,
}

#[derive(Debug, Default)]
pub struct Guard {
    limits: GuardLimits,
    /// Only for connected peers: forgotten when a peer disconnects.
    buckets: HashMap<(PeerId, Limit), Bucket>,
    strikes: HashMap<PeerId, (f64, u64)>,
    bans: HashMap<PeerId, (u64, Reason)>,
}

fn decayed(strikes: f64, at: u64, now: u64) -> f64 {
    strikes * 0.5f64.powf(now.saturating_sub(at) as f64 / HALF_LIFE_MS)
}

impl Guard {
    pub fn new(limits: GuardLimits) -> Guard {
        Guard { limits, ..Guard::default() }
    }

    /// Takes one token for `what` from `peer`'s bucket; false when the peer is over its limit.
    pub fn allow(&mut self, peer: PeerId, what: Limit, now: u64) -> bool {
        let (rate, burst) = what.rate();
        let b = self.buckets.entry((peer, what)).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + rate * now.saturating_sub(b.at) as f64 / 1000.0).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Adds `weight` strikes; true when the peer has now earned a ban.
    pub fn strike(&mut self, peer: PeerId, weight: f64, now: u64) -> bool {
        if !self.strikes.contains_key(&peer) && self.strikes.len() >= self.limits.max_strikes {
            // Full: forget the peer with the fewest strikes now.
            if let Some(least) = self
                .strikes
                .iter()
                .min_by(|a, b| decayed(a.1.0, a.1.1, now).total_cmp(&decayed(b.1.0, b.1.1, now)))
                .map(|(p, _)| *p)
            {
                self.strikes.remove(&least);
            }
        }
        let e = self.strikes.entry(peer).or_insert((0.0, now));
        e.0 = decayed(e.0, e.1, now) + weight;
        e.1 = now;
        e.0 >= BAN_AT
    }

    /// The peer's current strikes.
    pub fn strikes(&self, peer: &PeerId, now: u64) -> f64 {
        self.strikes.get(peer).map_or(0.0, |(s, at)| decayed(*s, *at, now))
    }

    /// Bans `peer` for [`BAN_MS`]. Returns a peer whose ban was lifted early to keep the table
    /// within its bound (its connections must be allowed again).
    pub fn ban(&mut self, peer: PeerId, reason: Reason, now: u64) -> Option<PeerId> {
        self.strikes.remove(&peer);
        let mut lifted = None;
        if !self.bans.contains_key(&peer) && self.bans.len() >= self.limits.max_bans {
            lifted = self.bans.iter().min_by_key(|(_, (until, _))| *until).map(|(p, _)| *p);
            if let Some(p) = lifted {
                self.bans.remove(&p);
            }
        }
        self.bans.insert(peer, (now + BAN_MS, reason));
        lifted
    }

    /// Lifts a ban early (e.g. the peer's organisation has just been admitted).
    pub fn unban(&mut self, peer: &PeerId) -> bool {
        self.bans.remove(peer).is_some()
    }

    pub fn banned(&self, peer: &PeerId, now: u64) -> Option<Reason> {
        self.bans.get(peer).filter(|(until, _)| *until > now).map(|(_, r)| *r)
    }

    /// Forgets bans that have run out (returned: their connections may be allowed again) and
    /// strikes that have decayed to nothing.
    pub fn expire(&mut self, now: u64) -> Vec<PeerId> {
        self.strikes.retain(|_, (s, at)| decayed(*s, *at, now) >= FORGET_BELOW);
        let gone: Vec<PeerId> = self.bans.iter().filter(|(_, (until, _))| *until <= now).map(|(p, _)| *p).collect();
        for p in &gone {
            self.bans.remove(p);
        }
        gone
    }

    /// Forgets a disconnected peer's buckets (strikes and bans stay).
    pub fn disconnected(&mut self, peer: &PeerId) {
        for what in [Limit::SyncRequest, Limit::Gossip, Limit::Discovery] {
            self.buckets.remove(&(*peer, what));
        }
    }

    pub fn bans(&self, now: u64) -> Vec<(PeerId, u64, Reason)> {
        self.bans.iter().filter(|(_, (u, _))| *u > now).map(|(p, (u, r))| (*p, *u, *r)).collect()
    }

    /// (strike entries, ban entries, bucket entries).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.strikes.len(), self.bans.len(), self.buckets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_burst_then_its_rate() {
        let mut g = Guard::default();
        let p = PeerId::random();
        let allowed = (0..1000).filter(|_| g.allow(p, Limit::SyncRequest, 0)).count();
        assert_eq!(allowed, 400, "the burst");
        assert!(!g.allow(p, Limit::SyncRequest, 0));
        assert!(g.allow(p, Limit::SyncRequest, 10), "one token back after 10 ms at 100/s");
        assert!(!g.allow(p, Limit::SyncRequest, 10));
    }

    #[test]
    fn strikes_add_up_decay_and_lead_to_a_ban() {
        let mut g = Guard::new(GuardLimits::default());
        let p = PeerId::random();
        assert!(!g.strike(p, weight::INVALID, 0));
        assert!(g.strike(p, weight::INVALID, 0), "two invalid records in a row");
        let q = PeerId::random();
        assert!(!g.strike(q, weight::INVALID, 0));
        assert!(!g.strike(q, weight::INVALID, 600_000), "the first strike has halved by then");
        assert!((g.strikes(&q, 600_000) - 15.0).abs() < 1e-9);
        g.ban(p, Reason::Misbehaving, 0);
        assert_eq!(g.banned(&p, BAN_MS - 1), Some(Reason::Misbehaving));
        assert_eq!(g.banned(&p, BAN_MS), None);
        assert_eq!(g.expire(BAN_MS), vec![p]);
    }

    #[test]
    fn strikes_and_bans_stay_within_their_bounds() {
        let mut g = Guard::new(GuardLimits { max_strikes: 10, max_bans: 5 });
        for i in 0..100u64 {
            g.strike(PeerId::random(), 1.0 + i as f64 / 100.0, i);
        }
        assert_eq!(g.sizes().0, 10);
        let mut lifted = vec![];
        let first: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        for (i, p) in first.iter().enumerate() {
            assert_eq!(g.ban(*p, Reason::NotAMember, i as u64), None);
        }
        for i in 0..5u64 {
            lifted.extend(g.ban(PeerId::random(), Reason::NotAMember, 100 + i));
        }
        assert_eq!(g.sizes().1, 5);
        assert_eq!(lifted, first, "the bans ending soonest are lifted first");
        // Strikes decay to nothing and are forgotten.
        g.expire(100 * HALF_LIFE_MS as u64);
        assert_eq!(g.sizes().0, 0);
    }
}
