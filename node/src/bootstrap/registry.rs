//! The registrations a bootstrap server holds: each member's node and the addresses it can be
//! reached at, for a short time. Bounded; pure bookkeeping, time as a parameter (Unix ms).

use std::collections::HashMap;

use libp2p::{Multiaddr, PeerId};

use csx_protocol::discovery::MAX_ADDRESSES;

#[derive(Debug, Clone)]
struct Entry {
    addrs: Vec<Multiaddr>,
    registered_at: u64,
    expires_at: u64,
}

/// Registered members' nodes.
#[derive(Debug)]
pub struct Registry {
    max_entries: usize,
    max_ttl_secs: u32,
    entries: HashMap<PeerId, Entry>,
}

/// The registry is full of live registrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Registry {
    pub fn new(max_entries: usize, max_ttl_secs: u32) -> Registry {
        Registry { max_entries, max_ttl_secs, entries: HashMap::new() }
    }

    /// Registers (or renews) `peer` at `addrs` for `ttl_secs` (at most the server's maximum);
    /// returns the TTL granted.
    pub fn register(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, ttl_secs: u32, now: u64) -> Result<u32, Full> {
        let ttl = ttl_secs.clamp(1, self.max_ttl_secs);
        if !self.entries.contains_key(&peer) && self.entries.len() >= self.max_entries {
            self.expire(now);
            if self.entries.len() >= self.max_entries {
                return Err(Full);
            }
        }
        let mut addrs = addrs;
        addrs.dedup();
        addrs.truncate(MAX_ADDRESSES);
        self.entries.insert(peer, Entry { addrs, registered_at: now, expires_at: now + u64::from(ttl) * 1000 });
        Ok(ttl)
    }

    /// Live registrations of peers that `is_member` accepts, except `asker`, most recently
    /// registered first, at most `max`.
    pub fn peers(
        &self,
        asker: &PeerId,
        is_member: impl Fn(&PeerId) -> bool,
        now: u64,
        max: usize,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut live: Vec<(&PeerId, &Entry)> =
            self.entries.iter().filter(|(p, e)| *p != asker && e.expires_at > now && is_member(p)).collect();
        live.sort_by_key(|(_, e)| std::cmp::Reverse(e.registered_at));
        live.into_iter().take(max).map(|(p, e)| (*p, e.addrs.clone())).collect()
    }

    /// Forgets expired registrations.
    pub fn expire(&mut self, now: u64) {
        self.entries.retain(|_, e| e.expires_at > now);
    }

    /// Forgets registrations of peers that are no longer members.
    pub fn retain(&mut self, is_member: impl Fn(&PeerId) -> bool) {
        self.entries.retain(|p, _| is_member(p));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u16) -> Multiaddr {
        format!("/ip4/192.0.2.1/tcp/{n}").parse().expect("addr")
    }

    #[test]
    fn registrations_are_short_bounded_and_given_to_members_only() {
        let mut r = Registry::new(3, 600);
        let (a, b, c, d) = (PeerId::random(), PeerId::random(), PeerId::random(), PeerId::random());
        assert_eq!(r.register(a, vec![addr(1)], 3600, 0), Ok(600), "the server's maximum");
        assert_eq!(r.register(b, vec![addr(2); 20], 60, 1), Ok(60));
        r.register(c, vec![addr(3)], 60, 2).expect("room");
        assert_eq!(r.register(d, vec![addr(4)], 60, 3), Err(Full));
        let seen = r.peers(&c, |p| *p != b, 10, 10);
        assert_eq!(seen, vec![(a, vec![addr(1)])], "not the asker, not a non-member");
        assert_eq!(r.peers(&d, |_| true, 10, 10)[0].1.len(), 1, "addresses deduplicated and capped");
        // A minute later b's and c's have expired: room for d.
        assert_eq!(r.register(d, vec![addr(4)], 60, 61_000), Ok(60));
        assert_eq!(r.len(), 2);
        r.retain(|p| *p != a);
        assert_eq!(r.peers(&c, |_| true, 61_001, 10), vec![(d, vec![addr(4)])]);
    }
}
