//! Bounded connections: whom a node stays connected to, as a state machine without I/O. A node
//! keeps at most [`ConnectionsConfig::max_peers`] members' nodes connected (bootstrap servers
//! are not counted: there are few, and they are how a node finds the rest), dials known
//! members' nodes while it has fewer than [`ConnectionsConfig::target`], and every
//! [`ConnectionsConfig::rotate_ms`] dials one member's node it has not been connected to lately
//! — once full, in place of its oldest connection — so that the links keep changing and records
//! and sync rounds reach every node although no node is connected to every other.
//!
//! Whom it keeps: bootstrap servers, peers a sync round is running with, and (preferably) its
//! gossip mesh peers are not rotated out. A member's node verified while the node is full is
//! disconnected at once — the newcomer, not an established peer — and a peer dropped to make
//! room (or that dropped us moments after connecting: it was full) is not dialled again for
//! [`ConnectionsConfig::cooldown_ms`], so full nodes do not bounce the same peers back and forth.
//!
//! The event loop feeds it inputs (`heard_of` a member's node and its addresses, `verified`,
//! `disconnected`, `tick(now)`) and carries out its [`Intent`]s (dial, disconnect). Peers are
//! of any type `P`, their addresses of any type `A`; time is a parameter in milliseconds.
//! Every table is bounded: candidates by [`ConnectionsConfig::max_known`], cooldowns likewise,
//! connected and dialling peers by the bound.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::Hash;

/// Settings of the connection policy.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionsConfig {
    /// Most members' nodes connected at once.
    pub max_peers: usize,
    /// Members' nodes the node dials until it has this many (at most `max_peers`).
    pub target: usize,
    /// How often one connection is swapped for another.
    pub rotate_ms: u64,
    /// A connection younger than this is not rotated out, and a peer that drops us sooner
    /// after connecting is taken to be full.
    pub min_age_ms: u64,
    /// How long a peer dropped for room (or full) is not dialled again.
    pub cooldown_ms: u64,
    /// How long a dial may take before the node counts it as failed.
    pub dial_timeout_ms: u64,
    /// Most candidates (members' nodes known but not connected) remembered.
    pub max_known: usize,
}

/// The default bound on connected members' nodes.
pub const DEFAULT_MAX_PEERS: usize = 50;
/// The cooldown after a first connection that closed moments after it was made.
pub const EARLY_CLOSE_COOLDOWN_MS: u64 = 2_000;
/// Members' nodes a node dials until it has this many (fewer when the bound is small).
pub const DEFAULT_TARGET: usize = 8;

impl ConnectionsConfig {
    /// The policy for a bound of `max_peers` (at least 1), rotating every `rotate_ms`.
    pub fn with_bound(max_peers: usize, rotate_ms: u64) -> ConnectionsConfig {
        let max_peers = max_peers.max(1);
        ConnectionsConfig {
            max_peers,
            // Dial to half the bound (up to DEFAULT_TARGET): the rest is room for peers that
            // dial in, so a node joining finds nodes with room.
            target: DEFAULT_TARGET.min(max_peers.div_ceil(2)).max(1),
            rotate_ms,
            min_age_ms: (rotate_ms / 2).clamp(1_000, 30_000),
            cooldown_ms: rotate_ms.saturating_mul(2).max(5_000),
            dial_timeout_ms: 20_000,
            max_known: 1024,
        }
    }
}

/// What the event loop is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent<P, A> {
    /// Dial this member's node at these addresses.
    Dial { peer: P, addrs: A },
    /// Close the connection with this member's node (to make room, or to rotate).
    Disconnect { peer: P, why: Why },
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The node was full when the peer was verified.
    Full,
    /// Swapped for a member's node not connected lately.
    Rotated,
}

/// How a connected peer may be treated, as the event loop sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Keep {
    /// May be rotated out.
    Free,
    /// In the gossip mesh: rotated out only if no free peer can be.
    Mesh,
    /// A sync round runs with it: kept.
    Busy,
}

#[derive(Debug)]
struct Link {
    since: u64,
}

/// The connection policy of one node.
#[derive(Debug)]
pub struct Connections<P, A> {
    config: ConnectionsConfig,
    bootstrap: BTreeSet<P>,
    /// Members' nodes connected and verified (bootstrap servers excluded).
    connected: HashMap<P, Link>,
    /// Dials under way, with when they started.
    dialing: HashMap<P, u64>,
    /// Members' nodes known, with their addresses and when they were last connected (0: never).
    known: BTreeMap<P, (A, u64)>,
    /// Peers not to dial before the time given.
    cooldown: HashMap<P, u64>,
    /// Peers whose connections closed moments after they were made, with how many times in a
    /// row: the cooldown after such a close doubles each time (a full node), from
    /// [`EARLY_CLOSE_COOLDOWN_MS`], so a node that merely restarted is dialled again soon.
    early_closes: HashMap<P, u32>,
    next_rotation: u64,
    rng: fastrand::Rng,
}

impl<P: Copy + Eq + Ord + Hash + Debug, A: Clone> Connections<P, A> {
    /// A policy keeping `bootstrap` servers outside the bound; random choices from `seed`.
    pub fn new(config: ConnectionsConfig, bootstrap: impl IntoIterator<Item = P>, seed: u64) -> Self {
        Connections {
            config,
            bootstrap: bootstrap.into_iter().collect(),
            connected: HashMap::new(),
            dialing: HashMap::new(),
            known: BTreeMap::new(),
            cooldown: HashMap::new(),
            early_closes: HashMap::new(),
            next_rotation: config.rotate_ms,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn config(&self) -> &ConnectionsConfig {
        &self.config
    }

    /// A member's node reachable at `addrs` (from a bootstrap server, the peer book, the
    /// configuration or identify).
    pub fn heard_of(&mut self, peer: P, addrs: A) {
        if self.bootstrap.contains(&peer) {
            return;
        }
        let last = self.known.get(&peer).map_or(0, |(_, at)| *at);
        self.known.insert(peer, (addrs, last));
        if self.known.len() > self.config.max_known {
            // Forget the candidate connected longest ago (never first), but not a connected one.
            let victim = self
                .known
                .iter()
                .filter(|(p, _)| !self.connected.contains_key(*p) && **p != peer)
                .min_by_key(|(_, (_, at))| *at)
                .map(|(p, _)| *p);
            if let Some(v) = victim {
                self.known.remove(&v);
            }
        }
    }

    /// Forgets a peer (banned, or no longer a member's node).
    pub fn forget(&mut self, peer: &P) {
        self.known.remove(peer);
        self.dialing.remove(peer);
        self.early_closes.remove(peer);
    }

    /// `peer` is verified as a member's node. When the node is already full, the newcomer is
    /// disconnected (and not dialled again for a while).
    pub fn verified(&mut self, peer: P, now: u64) -> Vec<Intent<P, A>> {
        self.dialing.remove(&peer);
        if self.bootstrap.contains(&peer) || self.connected.contains_key(&peer) {
            return vec![];
        }
        if self.connected.len() >= self.config.max_peers {
            self.cool(peer, now);
            return vec![Intent::Disconnect { peer, why: Why::Full }];
        }
        self.connected.insert(peer, Link { since: now });
        if let Some((_, at)) = self.known.get_mut(&peer) {
            *at = now;
        }
        vec![]
    }

    /// The connection with `peer` closed. One that closed moments after it was made was
    /// probably refused for room: not dialled again for a while.
    pub fn disconnected(&mut self, peer: &P, now: u64) {
        self.dialing.remove(peer);
        if let Some(link) = self.connected.remove(peer) {
            if let Some((_, at)) = self.known.get_mut(peer) {
                *at = now;
            }
            if now.saturating_sub(link.since) < self.config.min_age_ms {
                // Full, or only restarting: the two look alike from here. Cool for a short
                // while the first time and twice as long each time after, up to `cooldown_ms`.
                let times = self.early_closes.get(peer).copied().unwrap_or(0).saturating_add(1);
                if self.early_closes.len() >= self.config.max_known && !self.early_closes.contains_key(peer) {
                    if let Some(first) = self.early_closes.keys().next().copied() {
                        self.early_closes.remove(&first);
                    }
                }
                self.early_closes.insert(*peer, times);
                let wait =
                    EARLY_CLOSE_COOLDOWN_MS.saturating_mul(1u64 << (times - 1).min(20)).min(self.config.cooldown_ms);
                self.cool_for(*peer, now, wait);
            } else {
                self.early_closes.remove(peer);
            }
        }
    }

    /// Whether a dial of `peer` decided elsewhere (a member's node a bootstrap server just
    /// named, while the federation forms) fits now; if so it counts as under way. Refused for
    /// a peer connected, dialled, cooling down, or when connections and dials under way
    /// already fill half the bound: the other half is room for the nodes that dial this one
    /// (they were named the same way). Dialling up to the whole bound, every node of a
    /// federation larger than the bound filled itself and then turned away the nodes that
    /// dialled it, each after a handshake and a certificate check (docs/PERFORMANCE.md,
    /// "Formation").
    pub fn try_dial(&mut self, peer: P, now: u64) -> bool {
        if self.bootstrap.contains(&peer)
            || !self.may_dial(&peer)
            || self.connected.len() + self.dialing.len() >= self.config.max_peers.div_ceil(2)
        {
            return false;
        }
        self.dialing.insert(peer, now);
        true
    }

    /// A dial of `peer` failed.
    pub fn dial_failed(&mut self, peer: &P) {
        self.dialing.remove(peer);
    }

    /// Whether `peer` counts against the bound.
    pub fn is_connected(&self, peer: &P) -> bool {
        self.connected.contains_key(peer)
    }

    /// Members' nodes connected (bootstrap servers excluded).
    pub fn count(&self) -> usize {
        self.connected.len()
    }

    /// Dials towards the target, and rotation when due. `keep` says how each connected peer
    /// may be treated now (sync rounds, gossip mesh).
    pub fn tick(&mut self, now: u64, keep: impl Fn(&P) -> Keep) -> Vec<Intent<P, A>> {
        let timeout = self.config.dial_timeout_ms;
        self.dialing.retain(|_, at| now.saturating_sub(*at) < timeout);
        self.cooldown.retain(|_, until| *until > now);
        let mut out = Vec::new();
        let have = self.connected.len() + self.dialing.len();
        if have < self.config.target {
            for _ in have..self.config.target {
                match self.dial_candidate(now) {
                    Some(i) => out.push(i),
                    None => break,
                }
            }
        }
        if now >= self.next_rotation {
            self.next_rotation = now + self.config.rotate_ms;
            out.extend(self.rotate(now, keep));
        }
        out
    }

    /// If there is a member's node not connected lately: dial it, after closing the oldest
    /// connection that may be rotated out if the node is full. (A node that could be
    /// connected to every member's node it knows within the bound thus ends up so, as before
    /// there was a bound, and never drops anyone.)
    fn rotate(&mut self, now: u64, keep: impl Fn(&P) -> Keep) -> Vec<Intent<P, A>> {
        if !self.known.keys().any(|p| self.may_dial(p)) {
            return vec![];
        }
        let mut out = Vec::new();
        if self.connected.len() + self.dialing.len() >= self.config.max_peers
            && let Some(victim) = self.victim(now, &keep)
        {
            // Gone as far as the bound is concerned, whenever its connection actually closes.
            self.connected.remove(&victim);
            if let Some((_, at)) = self.known.get_mut(&victim) {
                *at = now;
            }
            self.cool(victim, now);
            out.push(Intent::Disconnect { peer: victim, why: Why::Rotated });
        }
        if self.connected.len() + self.dialing.len() < self.config.max_peers {
            out.extend(self.dial_candidate(now));
        }
        out
    }

    /// The connection to rotate out: the oldest free one old enough, else the oldest mesh one.
    fn victim(&self, now: u64, keep: &impl Fn(&P) -> Keep) -> Option<P> {
        self.connected
            .iter()
            .filter(|(_, l)| now.saturating_sub(l.since) >= self.config.min_age_ms)
            .map(|(p, l)| (keep(p), l.since, *p))
            .filter(|(k, _, _)| *k != Keep::Busy)
            .min()
            .map(|(_, _, p)| p)
    }

    /// A member's node to dial: among those neither connected, dialled nor cooling down, one
    /// of those connected longest ago (or never), at random.
    fn dial_candidate(&mut self, now: u64) -> Option<Intent<P, A>> {
        let candidates: Vec<(&P, &(A, u64))> = self.known.iter().filter(|(p, _)| self.may_dial(p)).collect();
        let oldest = candidates.iter().map(|(_, (_, at))| *at).min()?;
        let pool: Vec<(P, A)> =
            candidates.into_iter().filter(|(_, (_, at))| *at == oldest).map(|(p, (a, _))| (*p, a.clone())).collect();
        let (peer, addrs) = pool[self.rng.usize(..pool.len())].clone();
        self.dialing.insert(peer, now);
        Some(Intent::Dial { peer, addrs })
    }

    fn may_dial(&self, peer: &P) -> bool {
        !self.connected.contains_key(peer) && !self.dialing.contains_key(peer) && !self.cooldown.contains_key(peer)
    }

    fn cool(&mut self, peer: P, now: u64) {
        self.cool_for(peer, now, self.config.cooldown_ms);
    }

    fn cool_for(&mut self, peer: P, now: u64, wait: u64) {
        self.cooldown.insert(peer, now + wait);
        if self.cooldown.len() > self.config.max_known {
            if let Some(first) = self.cooldown.iter().min_by_key(|(_, until)| **until).map(|(p, _)| *p) {
                self.cooldown.remove(&first);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Policy = Connections<u32, ()>;

    const BOOT: u32 = 1000;

    fn policy(max: usize) -> Policy {
        let mut c = Connections::new(ConnectionsConfig::with_bound(max, 10_000), [BOOT], 3);
        for p in 1..=20 {
            c.heard_of(p, ());
        }
        c
    }

    fn dials(intents: &[Intent<u32, ()>]) -> Vec<u32> {
        intents
            .iter()
            .filter_map(|i| match i {
                Intent::Dial { peer, .. } => Some(*peer),
                _ => None,
            })
            .collect()
    }

    fn closes(intents: &[Intent<u32, ()>]) -> Vec<(u32, Why)> {
        intents
            .iter()
            .filter_map(|i| match i {
                Intent::Disconnect { peer, why } => Some((*peer, *why)),
                _ => None,
            })
            .collect()
    }

    fn free(_: &u32) -> Keep {
        Keep::Free
    }

    #[test]
    fn the_target_is_half_the_bound_up_to_eight() {
        assert_eq!(ConnectionsConfig::with_bound(4, 1000).target, 2);
        assert_eq!(ConnectionsConfig::with_bound(50, 1000).target, 8);
        assert_eq!(ConnectionsConfig::with_bound(1, 1000).target, 1);
        assert_eq!(ConnectionsConfig::with_bound(0, 1000).max_peers, 1, "a bound of 0 would cut the node off");
    }

    #[test]
    fn a_node_dials_up_to_the_target_and_no_further() {
        let mut c = policy(4);
        let first = dials(&c.tick(0, free));
        assert_eq!(first.len(), 2, "target 2 for a bound of 4");
        assert!(dials(&c.tick(1, free)).is_empty(), "dials under way count");
        for p in &first {
            c.verified(*p, 2);
        }
        assert!(dials(&c.tick(3, free)).is_empty());
        // (Before the first rotation, at 10 s, which would dial one more.)
        c.disconnected(&first[0], 8_000);
        assert_eq!(dials(&c.tick(8_001, free)).len(), 1, "one lost: one more dialled");
    }

    #[test]
    fn a_dial_that_never_completes_is_given_up_and_another_tried() {
        let mut c = Connections::<u32, ()>::new(ConnectionsConfig::with_bound(2, 1_000_000), [], 1);
        for p in 1..=3 {
            c.heard_of(p, ());
        }
        let d = dials(&c.tick(0, free));
        assert_eq!(d.len(), 1);
        assert!(dials(&c.tick(19_999, free)).is_empty());
        assert_eq!(dials(&c.tick(20_000, free)).len(), 1, "the dial timed out");
    }

    #[test]
    fn the_bound_holds_newcomers_beyond_it_are_turned_away_and_cooled() {
        let mut c = policy(4);
        for p in 1..=4 {
            assert!(c.verified(p, 0).is_empty());
        }
        assert_eq!(c.verified(5, 10), vec![Intent::Disconnect { peer: 5, why: Why::Full }]);
        assert_eq!(c.count(), 4);
        assert!(!c.is_connected(&5));
        assert!(c.verified(BOOT, 10).is_empty(), "bootstrap servers are not counted");
        assert_eq!(c.count(), 4);
        // Peer 5 is not dialled while it cools down.
        c.disconnected(&1, 100_000);
        for t in [100_000, 100_001] {
            assert!(!dials(&c.tick(t, free)).contains(&5));
        }
    }

    #[test]
    fn a_peer_that_drops_us_at_once_is_not_redialled_for_a_while() {
        let mut c = Connections::<u32, ()>::new(ConnectionsConfig::with_bound(2, 10_000), [], 1);
        c.heard_of(7, ());
        assert_eq!(dials(&c.tick(0, free)), vec![7]);
        // Each close moments after connecting doubles the wait, from EARLY_CLOSE_COOLDOWN_MS up
        // to the full cooldown.
        let cooldown = c.config().cooldown_ms;
        let mut now = 100;
        let mut wait = EARLY_CLOSE_COOLDOWN_MS;
        for _ in 0..8 {
            c.verified(7, now);
            c.disconnected(&7, now + 100);
            now += 100;
            assert!(dials(&c.tick(now + wait - 1, free)).is_empty(), "it was full: waits {wait} ms");
            now += wait;
            assert_eq!(dials(&c.tick(now, free)), vec![7], "dialled again after {wait} ms");
            wait = (wait * 2).min(cooldown);
        }
        assert_eq!(wait, cooldown, "the wait grew to the full cooldown");
    }

    #[test]
    fn dials_decided_elsewhere_are_held_to_the_bound() {
        let mut c = Connections::<u32, ()>::new(ConnectionsConfig::with_bound(4, 10_000), [9], 1);
        assert!(!c.try_dial(9, 0), "a bootstrap server is not the policy's to dial");
        assert!(c.try_dial(1, 0));
        assert!(!c.try_dial(1, 0), "already under way");
        assert!(c.try_dial(2, 0));
        assert!(!c.try_dial(3, 0), "two dials under way fill half a bound of four");
        c.verified(1, 10);
        c.dial_failed(&2);
        assert!(c.try_dial(3, 20), "room again once a dial failed");
        c.verified(4, 30);
        assert!(!c.try_dial(5, 40), "half full: the rest is for nodes that dial this one");
        c.verified(5, 50);
        assert!(c.is_connected(&5), "a node that dials in is taken while there is room");
    }

    #[test]
    fn a_peer_that_closed_at_once_and_restarted_is_dialled_again_within_seconds() {
        // Rotation every 60 s, as by default: a peer killed moments after connecting (not
        // full, only restarting) must not wait the full cooldown of two minutes.
        let mut c = Connections::<u32, ()>::new(ConnectionsConfig::with_bound(50, 60_000), [], 1);
        c.heard_of(7, ());
        assert_eq!(dials(&c.tick(0, free)), vec![7]);
        c.verified(7, 100);
        c.disconnected(&7, 400);
        assert_eq!(dials(&c.tick(400 + EARLY_CLOSE_COOLDOWN_MS, free)), vec![7]);
        // A connection that lasted is not an early close: the count starts again.
        c.verified(7, 3_000);
        c.disconnected(&7, 3_000 + c.config().min_age_ms);
        c.verified(7, 40_000);
        c.disconnected(&7, 40_100);
        assert_eq!(dials(&c.tick(40_100 + EARLY_CLOSE_COOLDOWN_MS, free)), vec![7]);
    }

    #[test]
    fn rotation_grows_a_node_towards_the_bound_without_dropping_anyone() {
        let mut c = policy(4);
        for p in [1, 2, 3] {
            c.verified(p, p as u64);
        }
        let out = c.tick(10_000, free);
        let dialled = dials(&out);
        assert_eq!(dialled.len(), 1);
        assert!(dialled[0] > 3, "a member's node not connected yet");
        assert!(closes(&out).is_empty(), "room left: nobody dropped");
    }

    #[test]
    fn a_full_node_swaps_its_oldest_connection_for_one_not_seen_lately() {
        let mut c = policy(4);
        for p in [1, 2, 3, 4] {
            c.verified(p, p as u64);
        }
        let out = c.tick(10_000, free);
        assert_eq!(closes(&out), vec![(1, Why::Rotated)], "the oldest goes");
        let dialled = dials(&out);
        assert!(dialled.len() == 1 && dialled[0] > 4, "{dialled:?}");
        c.disconnected(&1, 10_000);
        assert!(c.tick(15_000, free).is_empty(), "one swap per interval");
    }

    #[test]
    fn rotation_keeps_busy_peers_and_prefers_to_keep_mesh_peers() {
        let mut c = policy(4);
        for p in [1, 2, 3, 4] {
            c.verified(p, p as u64);
        }
        let keep = |p: &u32| match p {
            1 => Keep::Busy,
            2 | 3 => Keep::Mesh,
            _ => Keep::Free,
        };
        assert_eq!(closes(&c.tick(10_000, keep)), vec![(4, Why::Rotated)], "the free one, though youngest");
        let keep = |p: &u32| if *p == 1 { Keep::Busy } else { Keep::Mesh };
        c.verified(5, 10_001);
        c.dial_failed(&5);
        assert_eq!(closes(&c.tick(20_000, keep)), vec![(2, Why::Rotated)], "mesh peers go only when no free one can");
        c.verified(6, 20_001);
        assert!(closes(&c.tick(30_000, |_: &u32| Keep::Busy)).is_empty(), "busy peers stay");
    }

    #[test]
    fn a_young_connection_is_not_rotated_out() {
        let mut c = policy(4);
        c.verified(1, 9_000);
        c.verified(2, 0);
        c.verified(3, 9_500);
        c.verified(4, 9_600);
        // min_age is 5 s for a 10 s rotation: only peer 2 is old enough.
        assert_eq!(closes(&c.tick(10_000, free)), vec![(2, Why::Rotated)]);
    }

    #[test]
    fn a_full_node_makes_room_before_it_dials() {
        let mut c = policy(2);
        c.verified(1, 0);
        c.verified(2, 0);
        let out = c.tick(10_000, free);
        assert_eq!(closes(&out), vec![(1, Why::Rotated)], "room first");
        let again = dials(&out);
        assert_eq!(again.len(), 1, "then the newcomer");
        assert_ne!(again[0], 1, "not the peer just rotated out");
        assert_eq!(c.count(), 1, "the peer rotated out no longer counts");
        c.verified(again[0], 10_500);
        assert_eq!(c.count(), 2);
    }

    #[test]
    fn over_time_every_known_member_is_connected_to() {
        let mut c = policy(4);
        let mut seen = BTreeSet::new();
        let mut now = 0;
        for _ in 0..400 {
            now += 1_000;
            for i in c.tick(now, free) {
                match i {
                    Intent::Dial { peer, .. } => {
                        seen.insert(peer);
                        for refused in c.verified(peer, now) {
                            panic!("dialled beyond the bound: {refused:?}");
                        }
                    }
                    Intent::Disconnect { peer, .. } => c.disconnected(&peer, now),
                }
            }
            assert!(c.count() <= 4);
        }
        assert_eq!(seen, (1..=20).collect::<BTreeSet<_>>());
    }

    #[test]
    fn candidates_are_bounded() {
        let mut cfg = ConnectionsConfig::with_bound(4, 10_000);
        cfg.max_known = 8;
        let mut c = Connections::<u32, ()>::new(cfg, [], 1);
        for p in 0..100 {
            c.heard_of(p, ());
        }
        assert_eq!(c.known.len(), 8);
        c.forget(&99);
        assert_eq!(c.known.len(), 7);
    }
}
