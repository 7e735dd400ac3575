//! Per-peer limits: token buckets for requests and gossip, strikes for misbehaviour that decay
//! over time, and bans with an expiry. Pure bookkeeping; time is a parameter (Unix ms).

use std::collections::HashMap;

use libp2p::PeerId;

/// What is rate-limited per peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Inbound sync requests.
    SyncRequest,
    /// Gossip messages received from a peer (as propagation source).
    Gossip,
}

impl Limit {
    /// (tokens per second, burst).
    fn rate(self) -> (f64, f64) {
        match self {
            Limit::SyncRequest => (100.0, 400.0),
            Limit::Gossip => (2_000.0, 10_000.0),
        }
    }
}

/// Strike weights: how much each kind of misbehaviour counts towards a ban.
pub mod weight {
    /// A record or message that is invalid in anyone's eyes (bad signature, malformed, …).
    pub const INVALID: f64 = 10.0;
    /// A validly signed record by an author this node does not accept (may be a roster lag).
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

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: u64,
}

#[derive(Debug, Default)]
pub struct Guard {
    buckets: HashMap<(PeerId, Limit), Bucket>,
    strikes: HashMap<PeerId, (f64, u64)>,
    bans: HashMap<PeerId, (u64, &'static str)>,
}

impl Guard {
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
        let e = self.strikes.entry(peer).or_insert((0.0, now));
        let elapsed = now.saturating_sub(e.1) as f64;
        e.0 = e.0 * 0.5f64.powf(elapsed / HALF_LIFE_MS) + weight;
        e.1 = now;
        e.0 >= BAN_AT
    }

    /// The peer's current strikes.
    pub fn strikes(&self, peer: &PeerId, now: u64) -> f64 {
        self.strikes.get(peer).map_or(0.0, |(s, at)| s * 0.5f64.powf(now.saturating_sub(*at) as f64 / HALF_LIFE_MS))
    }

    pub fn ban(&mut self, peer: PeerId, reason: &'static str, now: u64) {
        self.bans.insert(peer, (now + BAN_MS, reason));
        self.strikes.remove(&peer);
    }

    /// Lifts a ban early (e.g. the peer's organisation has just been admitted).
    pub fn unban(&mut self, peer: &PeerId) -> bool {
        self.bans.remove(peer).is_some()
    }

    pub fn banned(&self, peer: &PeerId, now: u64) -> Option<&'static str> {
        self.bans.get(peer).filter(|(until, _)| *until > now).map(|(_, r)| *r)
    }

    /// Bans that have run out (they are forgotten).
    pub fn expired(&mut self, now: u64) -> Vec<PeerId> {
        let gone: Vec<PeerId> = self.bans.iter().filter(|(_, (until, _))| *until <= now).map(|(p, _)| *p).collect();
        for p in &gone {
            self.bans.remove(p);
        }
        gone
    }

    /// Forgets a disconnected peer's buckets (strikes and bans stay).
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.buckets.retain(|(p, _), _| p != peer);
    }

    pub fn bans(&self, now: u64) -> Vec<(PeerId, u64, &'static str)> {
        self.bans.iter().filter(|(_, (u, _))| *u > now).map(|(p, (u, r))| (*p, *u, *r)).collect()
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
        let mut g = Guard::default();
        let p = PeerId::random();
        assert!(!g.strike(p, weight::INVALID, 0));
        assert!(g.strike(p, weight::INVALID, 0), "two invalid records in a row");
        let q = PeerId::random();
        assert!(!g.strike(q, weight::INVALID, 0));
        assert!(!g.strike(q, weight::INVALID, 600_000), "the first strike has halved by then");
        assert!((g.strikes(&q, 600_000) - 15.0).abs() < 1e-9);
        g.ban(p, "test", 0);
        assert_eq!(g.banned(&p, BAN_MS - 1), Some("test"));
        assert_eq!(g.banned(&p, BAN_MS), None);
        assert_eq!(g.expired(BAN_MS), vec![p]);
    }
}
