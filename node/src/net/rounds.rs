//! Sync-round bookkeeping as a state machine without I/O: when to start a round with whom, the
//! rounds in flight, their timeouts, what each round's outcome leads to, and the `csx sync`s
//! waiting on them. The event loop (`sync_rounds.rs`) feeds it inputs — a peer verified or
//! gone, a round ended or failed, a peer's request, `csx sync`, `tick(now)` — and carries out
//! the [`Intent`]s it returns: open a round (a `SyncSession` and its first request), abandon a
//! stalled one, answer a waiting `csx sync`. The sessions themselves (what to ask, what came
//! back) are `csx_protocol::sync::SyncSession`'s business; this module only says when.
//!
//! When a round starts with a verified member's node (never with any other peer, and never
//! two at once with one peer):
//! - when it is verified, and every [`RoundsConfig::interval_ms`] with a random one (the
//!   periodic completeness check);
//! - when gossip shows a gap (a record ahead of its feed, or by an author not known here);
//! - when a peer whose earlier refusal ("not a member", it had not verified us yet) ended our
//!   round shows it has verified us, by asking us for more;
//! - when a peer's summary shows it holds other records than this node (it has just started a
//!   round with us): a round back at once, so what it holds spreads now rather than at the next
//!   periodic round — at most every [`RoundsConfig::pull_back_ms`] per peer, so two nodes that
//!   keep differing (records one refuses) do not ping-pong. One asked for sooner, or while a
//!   round with that peer runs (which started before the peer's summary, so may miss what it
//!   shows), is put off until then rather than forgotten; any round started with the peer
//!   meanwhile takes its place;
//! - on `csx sync` with every member's node (and each verified while it waits);
//! - after a round that stored something new (to confirm it is level), and after a round that
//!   fetched nothing new while a `csx sync` waits on the peer (a few times, with a growing pause).
//!
//! At most [`RoundsConfig::max_running`] rounds run at once; a round due beyond that waits in a
//! queue, oldest first, and starts as one running ends. So when a node meets many peers at once
//! (a federation forming, a node back after a while), its later rounds compare heads after the
//! earlier ones stored what they fetched, and ask only for what is still missing: with every
//! round at once, each fetched every feed the node lacked, from every peer.
//!
//! Time is a parameter (milliseconds); the tests move it by hand. Every table is keyed by
//! verified, connected peers (admission bounds how many) and is emptied of a peer when it goes.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;

/// Settings of the round policy.
#[derive(Debug, Clone, Copy)]
pub struct RoundsConfig {
    /// How often a round starts with a random verified member's node.
    pub interval_ms: u64,
    /// Least time between two rounds back to one peer whose summary differs.
    pub pull_back_ms: u64,
    /// A round that has made no progress (no answer, nothing stored) for this long is abandoned.
    pub stall_ms: u64,
    /// Rounds in a row that fetched nothing new and refused nothing that a `csx sync` starts
    /// again before it reports the peer as not level.
    pub max_idle_retries: u32,
    /// The pause before such a retry, times the retries so far (capped at [`MAX_RETRY_PAUSE_MS`]).
    pub retry_pause_ms: u64,
    /// How long after it last asked us for records a peer counts as a sync partner: at most
    /// [`PARTNER_MS`], and less than the time between periodic rounds, or with every peer
    /// starting rounds with us all would count, always.
    pub partner_ms: u64,
    /// Most rounds running at once; more wait their turn.
    pub max_running: usize,
}

impl RoundsConfig {
    /// The policy for periodic rounds every `interval_ms` and a request timeout of `timeout_ms`.
    pub fn new(interval_ms: u64, timeout_ms: u64) -> RoundsConfig {
        RoundsConfig {
            interval_ms,
            stall_ms: 2 * timeout_ms,
            partner_ms: (interval_ms / 4).min(PARTNER_MS),
            ..RoundsConfig::default()
        }
    }
}

/// The default of [`RoundsConfig::max_running`].
pub const MAX_RUNNING: usize = 4;

/// The longest pause before retrying a round that fetched nothing new.
pub const MAX_RETRY_PAUSE_MS: u64 = 1_000;
/// The longest a peer that asked us for records is taken to be syncing with us afterwards (a
/// sync partner, which the connection policy keeps); see [`RoundsConfig::partner_ms`].
pub const PARTNER_MS: u64 = 10_000;

impl Default for RoundsConfig {
    fn default() -> Self {
        RoundsConfig {
            interval_ms: 30_000,
            pull_back_ms: 2_000,
            stall_ms: 120_000,
            max_idle_retries: 20,
            retry_pause_ms: 50,
            partner_ms: PARTNER_MS / 4,
            max_running: MAX_RUNNING,
        }
    }
}

/// Why a round was started (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The peer was just verified as a member's node.
    Verified,
    /// The periodic round with a random member's node.
    Periodic,
    /// Gossip showed a gap the peer can fill.
    Gap,
    /// The peer refused us earlier and has now shown it verified us.
    VerifiedUs,
    /// The peer's summary shows it holds other records (a round back).
    PullBack,
    /// `csx sync`.
    Command,
    /// The last round stored something new: confirm this node is level now.
    Confirm,
    /// The last round fetched nothing new and a `csx sync` waits on the peer.
    Retry,
}

/// How a round's session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both hold the same records.
    InSync,
    /// Records were fetched; `received` of them in all.
    Fetched { received: u64 },
}

/// What came of a peer's rounds for a `csx sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerOutcome<P> {
    pub peer: P,
    pub in_sync: bool,
    pub error: Option<String>,
}

/// What the event loop is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent<P> {
    /// Open round `generation` with `peer`: start a sync session and send its first request.
    Start { peer: P, generation: u64, trigger: Trigger },
    /// Round `generation` with `peer` stalled: drop its session and forget its requests.
    Abort { peer: P, generation: u64 },
    /// Answer `csx sync` number `waiter`.
    Reply { waiter: u64, results: Vec<PeerOutcome<P>> },
}

#[derive(Debug)]
struct InFlight {
    generation: u64,
    /// Last time it made progress (started, answered, stored).
    progress_at: u64,
    /// Records of this round that were new here.
    appended: u64,
    /// Records of this round this node refused, by reason.
    refused: Vec<(&'static str, u64)>,
}

#[derive(Debug)]
struct Waiter<P> {
    id: u64,
    pending: BTreeSet<P>,
    results: Vec<PeerOutcome<P>>,
}

/// The round bookkeeping of one node, over peers of type `P`.
#[derive(Debug)]
pub struct Rounds<P> {
    config: RoundsConfig,
    /// Verified members' nodes, connected.
    members: BTreeSet<P>,
    in_flight: HashMap<P, InFlight>,
    /// Rounds due while [`RoundsConfig::max_running`] ran, oldest first; one per peer.
    queued: VecDeque<(P, Trigger)>,
    generation: u64,
    /// When a round last started with each member.
    started_at: HashMap<P, u64>,
    /// When each member last asked us for records.
    asked_at: HashMap<P, u64>,
    /// Members whose refusal ended our round: they get one as soon as they ask us for more.
    refused_us: BTreeSet<P>,
    /// Per member: rounds in a row that fetched nothing new.
    idle: HashMap<P, u32>,
    /// Retries of idle rounds a `csx sync` waits on, due at.
    retries: BTreeMap<P, u64>,
    /// Rounds back put off (the peer's summary differed too soon after our last round with it,
    /// or while one ran), due at.
    pull_backs: BTreeMap<P, u64>,
    waiters: Vec<Waiter<P>>,
    /// When the next periodic round is due.
    next_periodic: u64,
    rng: fastrand::Rng,
}

impl<P: Copy + Eq + Ord + Hash + Debug> Rounds<P> {
    /// A policy whose random choices come from `seed`.
    pub fn new(config: RoundsConfig, seed: u64) -> Self {
        Rounds {
            config,
            members: BTreeSet::new(),
            in_flight: HashMap::new(),
            queued: VecDeque::new(),
            generation: 0,
            started_at: HashMap::new(),
            asked_at: HashMap::new(),
            refused_us: BTreeSet::new(),
            idle: HashMap::new(),
            retries: BTreeMap::new(),
            pull_backs: BTreeMap::new(),
            waiters: Vec::new(),
            next_periodic: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// `peer` is verified as a member's node: a round with it, and the waiting `csx sync`s
    /// wait for it too.
    pub fn verified(&mut self, peer: P, now: u64) -> Vec<Intent<P>> {
        self.members.insert(peer);
        for w in &mut self.waiters {
            if !w.results.iter().any(|r| r.peer == peer) {
                w.pending.insert(peer);
            }
        }
        self.start(peer, Trigger::Verified, now).into_iter().collect()
    }

    /// `peer` went (disconnected, dropped, denied): its round fails with `reason`, and a round
    /// waiting its turn may start.
    pub fn gone(&mut self, peer: P, reason: &str, now: u64) -> Vec<Intent<P>> {
        self.members.remove(&peer);
        self.started_at.remove(&peer);
        self.asked_at.remove(&peer);
        self.refused_us.remove(&peer);
        self.pull_backs.remove(&peer);
        self.queued.retain(|(p, _)| *p != peer);
        self.failed(peer, reason, now)
    }

    /// Starts a round with `peer` for `trigger`, if it is a member's node without one.
    pub fn sync_with(&mut self, peer: P, trigger: Trigger, now: u64) -> Vec<Intent<P>> {
        self.start(peer, trigger, now).into_iter().collect()
    }

    /// `peer` refused a request of ours as from a stranger: it has not verified this node yet.
    pub fn refused_by(&mut self, peer: P) {
        if self.members.contains(&peer) {
            self.refused_us.insert(peer);
        }
    }

    /// `peer` asked us for records (so it has verified us); `summary_differs` when it sent a
    /// summary of records other than ours.
    pub fn asked_by(&mut self, peer: P, summary_differs: bool, now: u64) -> Vec<Intent<P>> {
        if self.members.contains(&peer) {
            self.asked_at.insert(peer, now);
        }
        if self.refused_us.remove(&peer) {
            return self.sync_with(peer, Trigger::VerifiedUs, now);
        }
        if !summary_differs || !self.members.contains(&peer) {
            return vec![];
        }
        if self.is_queued(&peer) {
            // A round with it waits its turn: it starts after this summary, so covers it.
            return vec![];
        }
        let due = self.started_at.get(&peer).map_or(now, |at| at + self.config.pull_back_ms);
        if due <= now && !self.in_flight.contains_key(&peer) {
            return self.sync_with(peer, Trigger::PullBack, now);
        }
        // Too soon, or a round runs that started before this summary: put off, not forgotten.
        let at = self.pull_backs.entry(peer).or_insert(due.max(now));
        *at = (*at).min(due.max(now));
        vec![]
    }

    /// Round `generation` with `peer` got an answer.
    pub fn progressed(&mut self, peer: P, generation: u64, now: u64) {
        if let Some(r) = self.current(peer, generation) {
            r.progress_at = now;
        }
    }

    /// A page of round `generation` was stored: `appended` records were new here, and these
    /// were refused (by reason).
    pub fn stored(&mut self, peer: P, generation: u64, appended: u64, refused: &[&'static str], now: u64) {
        let Some(r) = self.current(peer, generation) else { return };
        r.progress_at = now;
        r.appended += appended;
        for reason in refused {
            match r.refused.iter_mut().find(|(x, _)| x == reason) {
                Some((_, n)) => *n += 1,
                None => r.refused.push((reason, 1)),
            }
        }
    }

    /// Round `generation` with `peer` ended (everything it fetched is stored).
    pub fn ended(&mut self, peer: P, generation: u64, end: End, now: u64) -> Vec<Intent<P>> {
        if self.in_flight.get(&peer).is_none_or(|r| r.generation != generation) {
            return vec![];
        }
        let round = self.in_flight.remove(&peer).expect("present: checked above");
        let mut out = self.outcome(peer, round, end, now);
        out.extend(self.start_queued(now));
        out
    }

    /// What a round's end leads to: a reply to the `csx sync`s waiting on the peer, another
    /// round, or a retry later.
    fn outcome(&mut self, peer: P, round: InFlight, end: End, now: u64) -> Vec<Intent<P>> {
        match end {
            End::InSync => {
                self.idle.remove(&peer);
                self.resolve(peer, true, None)
            }
            // Something new was stored: confirm with a new round.
            End::Fetched { .. } if round.appended > 0 => {
                self.idle.remove(&peer);
                self.sync_with(peer, Trigger::Confirm, now)
            }
            // The peer holds records this node refuses (its view of the membership differs):
            // repeating now would loop.
            End::Fetched { .. } if !round.refused.is_empty() => {
                self.idle.remove(&peer);
                let total: u64 = round.refused.iter().map(|(_, n)| n).sum();
                let reasons: Vec<String> = round.refused.iter().map(|(r, n)| format!("{n} {r}")).collect();
                let why = format!(
                    "the peer holds {total} records this node refused ({}; see the rejected.* counters of \
                     `csx status`)",
                    reasons.join(", ")
                );
                self.resolve(peer, false, Some(why))
            }
            // Nothing new and nothing refused: what it sent was stored meanwhile (by gossip or a
            // round with another peer), waits for earlier records, or the peer refused a request
            // (it has not verified this node yet) or did not send what it advertised. A `csx
            // sync` waiting on it tries again, a few times; a periodic round just ends.
            End::Fetched { received } => {
                let waited = self.waited(&peer);
                let tries = self.idle.entry(peer).or_insert(0);
                *tries += 1;
                let tries = *tries;
                if waited && tries <= self.config.max_idle_retries {
                    let pause = (self.config.retry_pause_ms * u64::from(tries)).min(MAX_RETRY_PAUSE_MS);
                    self.retries.insert(peer, now + pause);
                    vec![]
                } else {
                    self.idle.remove(&peer);
                    let why = if received == 0 {
                        "the peer refused this node's requests or did not send records it advertised, round \
                         after round"
                            .to_string()
                    } else {
                        format!(
                            "round after round the peer sent records this node already held or that wait for \
                             earlier ones ({received} in the last round)"
                        )
                    };
                    self.resolve(peer, false, Some(why))
                }
            }
        }
    }

    /// The round with `peer` failed (a request failed, the peer broke the protocol or went):
    /// the `csx sync`s waiting on it hear `reason`, and a round waiting its turn may start.
    pub fn failed(&mut self, peer: P, reason: &str, now: u64) -> Vec<Intent<P>> {
        self.in_flight.remove(&peer);
        self.idle.remove(&peer);
        self.retries.remove(&peer);
        let mut out = self.resolve(peer, false, Some(reason.to_string()));
        out.extend(self.start_queued(now));
        out
    }

    /// `csx sync` number `waiter`: a round with every member's node, and with each verified
    /// while it waits; with none connected it waits for the first (the caller bounds the wait).
    pub fn sync_all(&mut self, waiter: u64, now: u64) -> Vec<Intent<P>> {
        let members: Vec<P> = self.members.iter().copied().collect();
        self.waiters.push(Waiter { id: waiter, pending: members.iter().copied().collect(), results: vec![] });
        members.into_iter().filter_map(|p| self.start(p, Trigger::Command, now)).collect()
    }

    /// `csx sync` number `waiter` stopped waiting (its caller went away).
    pub fn forget_waiter(&mut self, waiter: u64) {
        self.waiters.retain(|w| w.id != waiter);
    }

    /// Timers: stalled rounds, retries due, the periodic round.
    pub fn tick(&mut self, now: u64) -> Vec<Intent<P>> {
        let mut out = Vec::new();
        let mut stalled: Vec<(P, u64)> = self
            .in_flight
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.progress_at) >= self.config.stall_ms)
            .map(|(p, r)| (*p, r.generation))
            .collect();
        // In peer order, not the hash map's: the same inputs give the same intents (the
        // simulator replays runs from a seed).
        stalled.sort_unstable();
        for (peer, generation) in stalled {
            out.push(Intent::Abort { peer, generation });
            let why = format!("the round made no progress for {} s", self.config.stall_ms / 1000);
            out.extend(self.failed(peer, &why, now));
        }
        let due: Vec<P> = self.retries.iter().filter(|(_, at)| **at <= now).map(|(p, _)| *p).collect();
        for peer in due {
            self.retries.remove(&peer);
            if self.waited(&peer) {
                out.extend(self.start(peer, Trigger::Retry, now));
            }
        }
        // Rounds back put off, once due and no round runs with the peer (one running waits for
        // its end: it started before the summary that asked for this one).
        let due: Vec<P> = self
            .pull_backs
            .iter()
            .filter(|(p, at)| **at <= now && !self.in_flight.contains_key(*p))
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            out.extend(self.start(peer, Trigger::PullBack, now));
        }
        if now >= self.next_periodic {
            self.next_periodic = now + self.config.interval_ms;
            let idle: Vec<P> = self
                .members
                .iter()
                .filter(|p| !self.in_flight.contains_key(p) && !self.is_queued(p))
                .copied()
                .collect();
            if !idle.is_empty() {
                let pick = idle[self.rng.usize(..idle.len())];
                out.extend(self.start(pick, Trigger::Periodic, now));
            }
        }
        out
    }

    /// When [`Rounds::tick`] next has something to do.
    pub fn next_due(&self) -> u64 {
        let stall = self.in_flight.values().map(|r| r.progress_at + self.config.stall_ms).min();
        let retry = self.retries.values().copied().min();
        let pull_back =
            self.pull_backs.iter().filter(|(p, _)| !self.in_flight.contains_key(*p)).map(|(_, at)| *at).min();
        [Some(self.next_periodic), stall, retry, pull_back].into_iter().flatten().min().unwrap_or(self.next_periodic)
    }

    /// The generation of the round running with `peer`, if one is.
    pub fn running(&self, peer: &P) -> Option<u64> {
        self.in_flight.get(peer).map(|r| r.generation)
    }

    /// How many rounds are running.
    pub fn running_count(&self) -> usize {
        self.in_flight.len()
    }

    /// How many rounds wait for their turn.
    pub fn queued_count(&self) -> usize {
        self.queued.len()
    }

    /// Whether a round with `peer` waits for its turn.
    pub fn is_queued(&self, peer: &P) -> bool {
        self.queued.iter().any(|(p, _)| p == peer)
    }

    /// Whether `peer` is a sync partner now: a round runs with it or waits its turn, a `csx
    /// sync` waits on it, or it asked us for records within [`RoundsConfig::partner_ms`].
    pub fn is_partner(&self, peer: &P, now: u64) -> bool {
        self.in_flight.contains_key(peer)
            || self.is_queued(peer)
            || self.waited(peer)
            || self.asked_at.get(peer).is_some_and(|at| now.saturating_sub(*at) < self.config.partner_ms)
    }

    /// Whether a `csx sync` waits on `peer`.
    pub fn waited(&self, peer: &P) -> bool {
        self.waiters.iter().any(|w| w.pending.contains(peer))
    }

    /// Waiting `csx sync`s.
    pub fn waiters(&self) -> Vec<u64> {
        self.waiters.iter().map(|w| w.id).collect()
    }

    fn current(&mut self, peer: P, generation: u64) -> Option<&mut InFlight> {
        self.in_flight.get_mut(&peer).filter(|r| r.generation == generation)
    }

    fn start(&mut self, peer: P, trigger: Trigger, now: u64) -> Option<Intent<P>> {
        if self.in_flight.contains_key(&peer) || !self.members.contains(&peer) {
            return None;
        }
        if self.in_flight.len() >= self.cap() || !self.queued.is_empty() {
            // It waits its turn (behind those already waiting), and starts after whatever asked
            // for a retry or a round back.
            self.retries.remove(&peer);
            self.pull_backs.remove(&peer);
            if !self.is_queued(&peer) {
                self.queued.push_back((peer, trigger));
            }
            return None;
        }
        Some(self.launch(peer, trigger, now))
    }

    fn launch(&mut self, peer: P, trigger: Trigger, now: u64) -> Intent<P> {
        self.generation += 1;
        let generation = self.generation;
        self.started_at.insert(peer, now);
        self.retries.remove(&peer);
        // This round starts after whatever summary asked for a round back: it takes its place.
        self.pull_backs.remove(&peer);
        self.in_flight.insert(peer, InFlight { generation, progress_at: now, appended: 0, refused: vec![] });
        Intent::Start { peer, generation, trigger }
    }

    /// Most rounds at once (at least one).
    fn cap(&self) -> usize {
        self.config.max_running.max(1)
    }

    /// Starts the rounds waiting their turn, oldest first, while there is room.
    fn start_queued(&mut self, now: u64) -> Vec<Intent<P>> {
        let mut out = Vec::new();
        while self.in_flight.len() < self.cap() {
            let Some((peer, trigger)) = self.queued.pop_front() else { break };
            if self.members.contains(&peer) && !self.in_flight.contains_key(&peer) {
                out.push(self.launch(peer, trigger, now));
            }
        }
        out
    }

    fn resolve(&mut self, peer: P, in_sync: bool, error: Option<String>) -> Vec<Intent<P>> {
        let mut out = Vec::new();
        for w in &mut self.waiters {
            if w.pending.remove(&peer) {
                w.results.push(PeerOutcome { peer, in_sync, error: error.clone() });
            }
        }
        self.waiters.retain_mut(|w| {
            if w.pending.is_empty() {
                out.push(Intent::Reply { waiter: w.id, results: std::mem::take(&mut w.results) });
                false
            } else {
                true
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u8 = 1;
    const B: u8 = 2;
    const C: u8 = 3;

    fn rounds() -> Rounds<u8> {
        Rounds::new(RoundsConfig { interval_ms: 10_000, ..RoundsConfig::default() }, 7)
    }

    fn started(intents: &[Intent<u8>]) -> Vec<(u8, Trigger)> {
        intents
            .iter()
            .filter_map(|i| match i {
                Intent::Start { peer, trigger, .. } => Some((*peer, *trigger)),
                _ => None,
            })
            .collect()
    }

    fn replies(intents: &[Intent<u8>]) -> Vec<(u64, Vec<PeerOutcome<u8>>)> {
        intents
            .iter()
            .filter_map(|i| match i {
                Intent::Reply { waiter, results } => Some((*waiter, results.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_verified_peer_gets_one_round_at_a_time_and_strangers_none() {
        let mut r = rounds();
        assert!(r.sync_with(A, Trigger::Gap, 0).is_empty(), "not verified yet");
        let out = r.verified(A, 0);
        assert_eq!(started(&out), vec![(A, Trigger::Verified)]);
        assert!(r.sync_with(A, Trigger::Gap, 10).is_empty(), "a round is running");
        let g = r.running(&A).expect("running");
        assert!(r.ended(A, g, End::InSync, 20).is_empty());
        assert_eq!(started(&r.sync_with(A, Trigger::Gap, 30)), vec![(A, Trigger::Gap)]);
        assert!(r.ended(A, g, End::InSync, 40).is_empty(), "a stale generation is ignored");
        assert!(r.running(&A).is_some());
    }

    #[test]
    fn a_differing_summary_gets_a_round_back_at_most_every_two_seconds() {
        let mut r = rounds();
        r.verified(A, 0);
        let g = r.running(&A).expect("running");
        r.ended(A, g, End::InSync, 100);
        assert!(r.asked_by(A, true, 1_000).is_empty(), "the last round started under 2 s ago");
        assert!(r.asked_by(A, false, 2_500).is_empty(), "same records: nothing to pull");
        assert_eq!(started(&r.asked_by(A, true, 2_500)), vec![(A, Trigger::PullBack)]);
        let g = r.running(&A).expect("running");
        r.ended(A, g, End::InSync, 2_600);
        assert!(r.asked_by(A, true, 4_000).is_empty());
        assert_eq!(started(&r.asked_by(A, true, 4_500)), vec![(A, Trigger::PullBack)]);
    }

    #[test]
    fn a_round_back_asked_for_too_soon_is_put_off_not_forgotten() {
        let mut r = rounds();
        assert!(r.tick(0).is_empty(), "no member yet: the periodic round is next due in 10 s");
        r.verified(A, 0);
        let g = r.running(&A).expect("running");
        // While our round runs (it started before A's summary): put off until it ends.
        assert!(r.asked_by(A, true, 500).is_empty());
        assert_eq!(r.next_due(), 10_000, "nothing due while the round with A runs");
        assert!(started(&r.tick(2_000)).is_empty());
        r.ended(A, g, End::InSync, 2_100);
        assert_eq!(r.next_due(), 2_000);
        assert_eq!(started(&r.tick(2_100)), vec![(A, Trigger::PullBack)]);
        let g = r.running(&A).expect("running");
        r.ended(A, g, End::InSync, 2_200);
        // Too soon after the last round: due 2 s after it started, and only once.
        assert!(r.asked_by(A, true, 3_000).is_empty());
        assert!(r.asked_by(A, true, 3_500).is_empty());
        assert_eq!(r.next_due(), 4_100);
        assert!(started(&r.tick(4_000)).is_empty());
        assert_eq!(started(&r.tick(4_100)), vec![(A, Trigger::PullBack)]);
        let g = r.running(&A).expect("running");
        r.ended(A, g, End::InSync, 4_200);
        assert!(started(&r.tick(6_200)).is_empty(), "done: not repeated");
        // A round started meanwhile for another reason takes its place.
        assert!(r.asked_by(A, true, 5_000).is_empty());
        assert_eq!(started(&r.sync_with(A, Trigger::Gap, 5_100)), vec![(A, Trigger::Gap)]);
        let g = r.running(&A).expect("running");
        r.ended(A, g, End::InSync, 5_200);
        assert!(started(&r.tick(7_000)).is_empty());
        // A peer that goes takes its put-off round with it.
        assert!(r.asked_by(A, true, 7_050).is_empty());
        r.gone(A, "closed", 7_060);
        assert!(started(&r.tick(9_000)).is_empty());
    }

    #[test]
    fn a_peer_that_refused_us_gets_a_round_once_it_asks_for_more() {
        let mut r = rounds();
        r.verified(A, 0);
        let g = r.running(&A).expect("running");
        r.refused_by(A);
        r.ended(A, g, End::Fetched { received: 0 }, 10);
        assert_eq!(started(&r.asked_by(A, false, 20)), vec![(A, Trigger::VerifiedUs)]);
        let g = r.running(&A).expect("running");
        r.ended(A, g, End::InSync, 30);
        assert!(r.asked_by(A, false, 40).is_empty(), "only once");
    }

    #[test]
    fn a_round_that_stored_something_is_confirmed_by_another() {
        let mut r = rounds();
        r.verified(A, 0);
        let g = r.running(&A).expect("running");
        r.stored(A, g, 5, &[], 10);
        assert_eq!(started(&r.ended(A, g, End::Fetched { received: 5 }, 20)), vec![(A, Trigger::Confirm)]);
    }

    #[test]
    fn csx_sync_waits_for_every_member_and_those_verified_meanwhile() {
        let mut r = rounds();
        r.verified(A, 0);
        let ga = r.running(&A).expect("running");
        let out = r.sync_all(1, 10);
        assert!(started(&out).is_empty(), "A's round is already running; the waiter joins it");
        assert_eq!(started(&r.verified(B, 20)), vec![(B, Trigger::Verified)]);
        let gb = r.running(&B).expect("running");
        assert!(replies(&r.ended(A, ga, End::InSync, 30)).is_empty(), "still waits for B");
        let out = r.ended(B, gb, End::InSync, 40);
        let got = replies(&out);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 1);
        let peers: Vec<(u8, bool)> = got[0].1.iter().map(|o| (o.peer, o.in_sync)).collect();
        assert_eq!(peers, vec![(A, true), (B, true)]);
        assert!(r.waiters().is_empty());
    }

    #[test]
    fn csx_sync_with_no_member_waits_for_the_first() {
        let mut r = rounds();
        assert!(r.sync_all(4, 0).is_empty());
        assert_eq!(r.waiters(), vec![4]);
        r.verified(C, 5);
        let g = r.running(&C).expect("running");
        let got = replies(&r.ended(C, g, End::InSync, 9));
        assert_eq!(got, vec![(4, vec![PeerOutcome { peer: C, in_sync: true, error: None }])]);
    }

    #[test]
    fn idle_rounds_a_sync_waits_on_are_retried_with_a_growing_pause_then_reported() {
        let cfg =
            RoundsConfig { interval_ms: 1_000_000, max_idle_retries: 3, retry_pause_ms: 100, ..Default::default() };
        let mut r = Rounds::new(cfg, 1);
        r.tick(0);
        r.verified(A, 0);
        r.sync_all(9, 0);
        let mut now = 0;
        for tries in 1..=3u64 {
            let g = r.running(&A).expect("running");
            assert!(r.ended(A, g, End::Fetched { received: 2 }, now).is_empty());
            assert_eq!(r.next_due(), now + 100 * tries, "the pause grows with the retries");
            assert!(started(&r.tick(now + 100 * tries - 1)).is_empty(), "not due yet");
            now += 100 * tries;
            assert_eq!(started(&r.tick(now)), vec![(A, Trigger::Retry)]);
        }
        let g = r.running(&A).expect("running");
        let got = replies(&r.ended(A, g, End::Fetched { received: 2 }, now));
        assert_eq!(got.len(), 1);
        let outcome = &got[0].1[0];
        assert!(!outcome.in_sync);
        assert!(outcome.error.as_deref().is_some_and(|e| e.contains("already held")), "{outcome:?}");
    }

    #[test]
    fn an_idle_periodic_round_just_ends() {
        let mut r = rounds();
        r.verified(A, 0);
        let g = r.running(&A).expect("running");
        assert!(r.ended(A, g, End::Fetched { received: 0 }, 10).is_empty());
        assert!(r.running(&A).is_none());
        assert_eq!(r.next_due(), 0, "only the periodic round is due");
    }

    #[test]
    fn refused_records_end_a_sync_with_the_reasons_counted() {
        let mut r = rounds();
        r.verified(A, 0);
        r.sync_all(1, 0);
        let g = r.running(&A).expect("running");
        r.stored(A, g, 0, &["unknown_author", "unknown_author", "quarantined"], 5);
        let got = replies(&r.ended(A, g, End::Fetched { received: 3 }, 10));
        let error = got[0].1[0].error.clone().expect("an error");
        assert!(error.contains("3 records") && error.contains("2 unknown_author, 1 quarantined"), "{error}");
        assert!(r.running(&A).is_none(), "no new round: it would loop");
    }

    #[test]
    fn a_stalled_round_is_abandoned_and_its_waiters_told() {
        let cfg = RoundsConfig { stall_ms: 60_000, interval_ms: 1_000_000, ..Default::default() };
        let mut r = Rounds::new(cfg, 1);
        r.tick(0);
        r.verified(A, 0);
        r.sync_all(2, 0);
        let g = r.running(&A).expect("running");
        r.progressed(A, g, 30_000);
        assert_eq!(r.next_due(), 90_000);
        assert!(r.tick(89_999).is_empty(), "progress at 30 s moved the deadline");
        let out = r.tick(90_000);
        assert!(out.contains(&Intent::Abort { peer: A, generation: g }));
        let got = replies(&out);
        assert!(got[0].1[0].error.as_deref().is_some_and(|e| e.contains("no progress for 60 s")));
        assert!(r.running(&A).is_none());
    }

    #[test]
    fn a_peer_that_goes_fails_its_round_and_is_forgotten() {
        let mut r = rounds();
        r.verified(A, 0);
        r.sync_all(3, 0);
        let got = replies(&r.gone(A, "the connection closed", 5));
        assert_eq!(got[0].1[0].error.as_deref(), Some("the connection closed"));
        assert!(r.sync_with(A, Trigger::Gap, 10).is_empty(), "no longer a member's node");
        assert!(r.tick(20_000).is_empty(), "nobody to pick");
    }

    #[test]
    fn the_periodic_round_picks_an_idle_member_every_interval() {
        let mut r = rounds();
        assert!(r.tick(0).is_empty(), "no member yet");
        r.verified(A, 1);
        r.verified(B, 1);
        let ga = r.running(&A).expect("running");
        r.ended(A, ga, End::InSync, 2);
        assert!(r.tick(9_999).is_empty(), "not due");
        assert_eq!(started(&r.tick(10_000)), vec![(A, Trigger::Periodic)], "B's round still runs");
        assert_eq!(r.next_due(), 20_000);
        let ga = r.running(&A).expect("running");
        let gb = r.running(&B).expect("running");
        r.ended(A, ga, End::InSync, 10_001);
        r.ended(B, gb, End::InSync, 10_001);
        let mut picked = BTreeSet::new();
        for k in 2..40 {
            for i in r.tick(k * 10_000) {
                if let Intent::Start { peer, generation, .. } = i {
                    picked.insert(peer);
                    r.ended(peer, generation, End::InSync, k * 10_000 + 1);
                }
            }
        }
        assert_eq!(picked, BTreeSet::from([A, B]), "both are picked over time");
    }

    #[test]
    fn sync_partners_are_those_with_a_round_a_waiter_or_a_recent_request() {
        let mut r = rounds();
        assert!(!r.is_partner(&A, 0));
        r.verified(A, 0);
        assert!(r.is_partner(&A, 0), "a round runs");
        let g = r.running(&A).expect("running");
        r.ended(A, g, End::InSync, 1);
        assert!(!r.is_partner(&A, 1));
        r.asked_by(A, false, 100);
        let window = r.config.partner_ms;
        assert!(r.is_partner(&A, 100 + window - 1), "it asked us lately");
        assert!(!r.is_partner(&A, 100 + window));
        r.verified(B, 0);
        let g = r.running(&B).expect("running");
        r.sync_all(1, 0);
        r.ended(B, g, End::Fetched { received: 0 }, 10);
        assert!(r.running(&B).is_none() && r.is_partner(&B, 20), "a csx sync waits on it");
    }

    #[test]
    fn the_partner_window_is_shorter_than_the_periodic_rounds() {
        assert_eq!(RoundsConfig::new(30_000, 60_000).partner_ms, 7_500);
        assert_eq!(RoundsConfig::new(2_000, 60_000).partner_ms, 500);
        assert_eq!(RoundsConfig::new(600_000, 60_000).partner_ms, PARTNER_MS);
        assert_eq!(RoundsConfig::new(30_000, 60_000).stall_ms, 120_000);
    }

    fn capped(max_running: usize) -> Rounds<u8> {
        Rounds::new(RoundsConfig { interval_ms: 1_000_000, max_running, ..RoundsConfig::default() }, 7)
    }

    #[test]
    fn rounds_beyond_the_cap_wait_their_turn_oldest_first() {
        let mut r = capped(2);
        r.tick(0);
        let mut out = Vec::new();
        for p in [A, B, C, 4, 5] {
            out.extend(r.verified(p, 0));
        }
        assert_eq!(started(&out), vec![(A, Trigger::Verified), (B, Trigger::Verified)]);
        assert_eq!((r.running_count(), r.queued_count()), (2, 3));
        assert!(r.is_queued(&C) && r.is_partner(&C, 0), "a peer waiting its turn is a sync partner");
        assert!(r.sync_with(C, Trigger::Gap, 1).is_empty(), "queued once");
        assert_eq!(r.queued_count(), 3);
        // A round ending makes room for the oldest waiting; its confirmation queues behind.
        let ga = r.running(&A).expect("running");
        r.stored(A, ga, 3, &[], 5);
        let out = r.ended(A, ga, End::Fetched { received: 3 }, 10);
        assert_eq!(started(&out), vec![(C, Trigger::Verified)]);
        assert_eq!(r.queued_count(), 3, "4 and 5 wait, then A's confirmation");
        // A failed round makes room too; a peer that goes leaves the queue.
        r.gone(4, "closed", 20);
        let gb = r.running(&B).expect("running");
        let out = r.failed(B, "timed out", 30);
        assert_eq!(started(&out), vec![(5, Trigger::Verified)]);
        let gc = r.running(&C).expect("running");
        assert_eq!(started(&r.ended(C, gc, End::InSync, 40)), vec![(A, Trigger::Confirm)]);
        assert_eq!(r.queued_count(), 0);
        assert!(r.running(&B).is_none() && gb > 0);
        assert_eq!(r.running_count(), 2);
    }

    #[test]
    fn a_waiting_round_takes_the_place_of_a_round_back_and_a_retry() {
        let mut r = capped(1);
        r.tick(0);
        r.verified(A, 0);
        r.verified(B, 0);
        assert!(r.is_queued(&B));
        // B's summary differs: the round waiting its turn starts after it, so covers it.
        assert!(r.asked_by(B, true, 5_000).is_empty());
        let ga = r.running(&A).expect("running");
        assert_eq!(started(&r.ended(A, ga, End::InSync, 5_100)), vec![(B, Trigger::Verified)]);
        let gb = r.running(&B).expect("running");
        r.ended(B, gb, End::InSync, 5_200);
        assert!(started(&r.tick(10_000)).is_empty(), "no round back left over");
    }

    #[test]
    fn csx_sync_hears_from_every_peer_through_the_queue() {
        let mut r = capped(1);
        r.tick(0);
        r.verified(A, 0);
        r.verified(B, 0);
        r.verified(C, 0);
        let ga = r.running(&A).expect("running");
        assert!(started(&r.sync_all(1, 1)).is_empty(), "all running or waiting already");
        let mut now = 10;
        let mut out = r.ended(A, ga, End::InSync, now);
        let mut replies_seen = Vec::new();
        while let Some((peer, _)) = started(&out).first().copied() {
            replies_seen.extend(replies(&out));
            now += 10;
            let g = r.running(&peer).expect("running");
            out = r.ended(peer, g, End::InSync, now);
        }
        replies_seen.extend(replies(&out));
        assert_eq!(replies_seen.len(), 1, "{replies_seen:?}");
        let peers: Vec<u8> = replies_seen[0].1.iter().map(|o| o.peer).collect();
        assert_eq!(peers.len(), 3);
        assert!(replies_seen[0].1.iter().all(|o| o.in_sync));
    }

    #[test]
    fn the_default_cap_keeps_a_few_rounds_running() {
        assert_eq!(RoundsConfig::default().max_running, MAX_RUNNING);
        assert_eq!(RoundsConfig::new(30_000, 60_000).max_running, MAX_RUNNING);
        let mut r = capped(0);
        assert_eq!(started(&r.verified(A, 0)), vec![(A, Trigger::Verified)], "a cap of 0 still runs one");
    }

    #[test]
    fn a_waiter_that_went_away_is_not_answered() {
        let mut r = rounds();
        r.verified(A, 0);
        r.sync_all(5, 0);
        r.forget_waiter(5);
        let g = r.running(&A).expect("running");
        assert!(replies(&r.ended(A, g, End::InSync, 1)).is_empty());
    }
}
