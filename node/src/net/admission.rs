//! Who is let in, and when: the admission policy of a member node (and of a bootstrap server)
//! as a state machine without I/O. It holds the peer table, each connected peer's state
//! (bootstrap, being verified, verified member), strikes and bans ([`Guard`]) and the redial
//! backoff; it takes events (`on_connected`, `on_certificate_answer`, `on_certificate_checked`,
//! `on_request`, `on_disconnected`, `on_roster_changed`, `on_tick(now)`) and returns
//! [`Action`]s that the event loop carries out. Time is a parameter; unit tests move it by hand.
//!
//! The rules (docs/SECURITY.md):
//! - A peer is *verified* once its node key is certified by a current member. Until then it is
//!   sent nothing but what verification needs: one request for its certificate (record 1 of
//!   its feed), and our own certificate only if we dialled it (the dialler shows its
//!   certificate first, so a stranger dialling a member learns nothing).
//! - The work a peer can cause before it is verified is bounded: at most [`MAX_CERT_CHECKS`]
//!   certificates verified per connection; while its certificate is asked for or checked, at
//!   most [`MAX_HELD_REQUESTS`] of its requests are held (answered if it is verified, refused
//!   otherwise); any other request is refused and costs a strike;
//!   at most `max_unverified` peers are being verified at once. Beyond, a connecting peer waits
//!   its turn in a queue of at most `max_queued` (its requests held as above; it is asked for its
//!   certificate when a place frees, oldest first, and its verification time starts then); with
//!   the queue full too, it is turned away (without a ban). A peer that waited in the queue for
//!   the verification time is turned away too.
//! - A peer not verified within the verification time is disconnected (and banned, unless its
//!   organisation is an applicant); one answering with something else than its certificate, or
//!   an invalid one, at once. The node that dialled waits half as long again
//!   ([`dialler_timeout`]): the node it dialled judges first, so a member turns a stranger away
//!   (and counts it) rather than the stranger hanging up a moment before, whichever process the
//!   scheduler runs first.
//! - Every table is bounded: peers (disconnected ones are evicted, least recently seen first;
//!   never-verified ones are forgotten at once), addresses per peer, strikes, bans, backoff.
//!
//! What a verified peer may then do (sync rounds, gossip) is decided elsewhere; this module
//! only says who is in.

use std::collections::{HashMap, HashSet};

use csx_protocol::sync::SyncResponse;
use libp2p::{Multiaddr, PeerId};

use super::guard::{Guard, GuardLimits, Limit, weight};
use super::reason::Reason;
use crate::api::TableSizes;

/// Most certificates verified per connection of a peer not yet verified: the first answer,
/// and one more if the membership changes while it waits.
pub const MAX_CERT_CHECKS: u8 = 2;
/// Requests of a peer held while its certificate is asked for or checked: served once it is
/// verified (a member's node that verified us first asks at once, and is neither refused nor
/// struck for it), refused as soon as the check shows it is not (or it is dropped). Beyond,
/// requests are refused at once.
pub const MAX_HELD_REQUESTS: u8 = 8;
/// How long after a peer withheld its certificate (it had not verified us yet) we ask again,
/// unless it shows sooner that it has (by asking us for more than our certificate).
pub const CERT_RETRY_MS: u64 = 1_000;
/// How long a node that dialled a peer waits for it to be verified: half as long again as the
/// peer it dialled waits, so that the dialled node's judgement comes first.
pub fn dialler_timeout(verify_timeout_ms: u64) -> u64 {
    verify_timeout_ms.saturating_add(verify_timeout_ms / 2)
}
/// The first wait before redialling a peer we could not reach or had to turn away; it doubles
/// up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: u64 = 5_000;
pub const MAX_BACKOFF_MS: u64 = 10 * 60 * 1000;

/// Bounds of the tables strangers could otherwise grow.
#[derive(Debug, Clone, Copy)]
pub struct TableLimits {
    /// Peers in the table, connected or remembered (disconnected members are evicted, least
    /// recently seen first).
    pub max_peers: usize,
    /// Peers being verified at once; beyond, new ones wait in a queue.
    pub max_unverified: usize,
    /// Peers waiting for a place among those being verified; beyond, new ones are turned away.
    pub max_queued: usize,
    /// Addresses kept per peer.
    pub max_addresses: usize,
    /// Peers with strikes remembered.
    pub max_strikes: usize,
    /// Bans kept.
    pub max_bans: usize,
    /// Peers with a redial backoff.
    pub max_backoff: usize,
}

impl Default for TableLimits {
    fn default() -> Self {
        TableLimits {
            max_peers: 1024,
            max_unverified: 32,
            max_queued: 32,
            max_addresses: 8,
            max_strikes: 4096,
            max_bans: 4096,
            max_backoff: 1024,
        }
    }
}

/// Where a peer's node stands with the roster, as this node knows it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Certified by a current member (not retired, not expired): served.
    Member,
    /// Certified by an organisation endorsed but not yet admitted.
    Applicant,
    /// Anything else: unknown, not a member, revoked, retired, expired.
    Stranger,
}

/// Tells where a peer stands (the node asks its roster and store; tests use closures).
pub trait Judge {
    fn standing(&self, peer: &PeerId, now: u64) -> Standing;
}

impl<F: Fn(&PeerId, u64) -> Standing> Judge for F {
    fn standing(&self, peer: &PeerId, now: u64) -> Standing {
        self(peer, now)
    }
}

/// A connection that has just been established.
#[derive(Debug, Clone)]
pub struct Connection {
    /// We dialled it.
    pub dialer: bool,
    /// Through a relay (its address is the relay's, not worth remembering).
    pub relayed: bool,
    pub remote: Multiaddr,
}

/// What a peer answered when asked for its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertAnswer {
    /// One record of its own key at seq 1, to be verified.
    Record(Vec<u8>),
    /// It would not show it (it has not verified us yet).
    Withheld,
    /// Something else: more records, another author's, another seq, another kind of response.
    Other,
    /// No answer (timeout, closed stream).
    Failed,
}

/// Reads a peer's answer to "send me your record 1" (see [`CertAnswer`]).
pub fn certificate_answer(peer: &PeerId, response: SyncResponse) -> CertAnswer {
    let Some(node) = super::identity::node_key(peer) else { return CertAnswer::Other };
    match response {
        SyncResponse::Records { records }
            if records.len() == 1
                && records[0].len() <= csx_protocol::record::MAX_RECORD_BYTES
                && csx_protocol::Header::parse(&records[0]).is_ok_and(|h| h.author == node && h.seq == 1) =>
        {
            CertAnswer::Record(records.into_iter().next().expect("one record"))
        }
        SyncResponse::Refused { .. } => CertAnswer::Withheld,
        _ => CertAnswer::Other,
    }
}

/// What verifying a certificate record showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertCheck {
    /// Validly signed (whether its organisation is a member is then up to the [`Judge`]).
    Valid,
    /// Invalid in anyone's eyes.
    Invalid,
    /// Of another federation.
    WrongFederation,
}

/// What a peer asks of us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Our certificate (a Fetch of our own record 1).
    OwnCertificate,
    /// Anything else of the sync protocol (heads, records, proofs).
    Sync,
    /// The membership records (bootstrap servers follow them).
    Membership,
    /// Registration or discovery at a bootstrap server.
    Discovery,
}

/// Whether to serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Serve,
    /// Keep it until the peer is verified (then serve) or dropped (then refuse).
    Hold,
    Refuse(Reason),
}

/// What the event loop is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask the peer for its certificate (a Fetch of its own record 1).
    AskCertificate(PeerId),
    /// Verify this certificate record, then report with [`Admission::on_certificate_checked`].
    CheckCertificate { peer: PeerId, record: Vec<u8> },
    /// The peer is a current member's node: serve it, open the gated protocols, sync with it.
    Admit(PeerId),
    /// Close every connection with the peer (count `dropped.<reason>`); with `ban`, refuse
    /// its connections until the ban ends.
    Disconnect { peer: PeerId, reason: Reason, ban: bool },
    /// Its ban is over (or lifted): allow its connections again.
    Unblock(PeerId),
    /// Its certificate did not make it a member's node (yet): refuse the requests held for it.
    ReleaseHeld(PeerId),
}

/// Where a connected peer is with its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cert {
    /// Waiting (since this time) for a place among the peers being verified; not asked yet.
    Queued(u64),
    /// Asked at this time; no answer yet.
    Asked(u64),
    /// It would not show it (at this time): ask again on a sign it has verified us, or later.
    Withheld(u64),
    /// Being verified.
    Checking,
    /// Valid, but not a current member's here (yet): waits for a membership change or its time.
    NotMember,
    /// Its organisation is endorsed, not admitted: waits for admission or its time.
    Applicant,
}

/// A live connection with a peer (one or more libp2p connections).
#[derive(Debug, Clone)]
pub struct Link {
    pub since: u64,
    /// We dialled it (on some connection): we show our certificate first.
    pub dialled: bool,
    /// Verified as a current member's node.
    pub verified: bool,
    /// Being disconnected: no longer counted or acted on.
    closing: bool,
    cert: Option<Cert>,
    checks: u8,
    /// Its requests held while its certificate is asked for or checked.
    held: u8,
}

/// One peer in the table. `S` is what the rest of the node keeps about it (sync figures).
#[derive(Debug, Clone)]
pub struct PeerEntry<S> {
    pub bootstrap: bool,
    pub link: Option<Link>,
    /// Addresses it was reached at or announced, most recent first.
    pub addresses: Vec<Multiaddr>,
    pub last_seen: u64,
    /// Verified on its current or an earlier connection (only such peers are remembered).
    pub was_member: bool,
    pub extra: S,
}

impl<S> PeerEntry<S> {
    pub fn connected(&self) -> bool {
        self.link.is_some()
    }
    pub fn verified(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.verified && !l.closing)
    }
    fn verifying(&self) -> bool {
        !self.bootstrap && self.link.as_ref().is_some_and(|l| !l.verified && !l.closing)
    }
    fn queued(&self) -> bool {
        self.verifying() && self.link.as_ref().is_some_and(|l| matches!(l.cert, Some(Cert::Queued(_))))
    }
}

/// The admission policy and the peer table.
#[derive(Debug)]
pub struct Admission<S> {
    verify_timeout_ms: u64,
    limits: TableLimits,
    bootstraps: HashSet<PeerId>,
    peers: HashMap<PeerId, PeerEntry<S>>,
    guard: Guard,
    /// Per peer: when it may be dialled again, and the current delay.
    backoff: HashMap<PeerId, (u64, u64)>,
}

impl<S: Default> Admission<S> {
    /// `bootstraps`: configured bootstrap servers (never verified, never timed out, never served
    /// more than our certificate and the membership records).
    pub fn new(verify_timeout_ms: u64, limits: TableLimits, bootstraps: impl IntoIterator<Item = PeerId>) -> Self {
        let guard = Guard::new(GuardLimits { max_strikes: limits.max_strikes, max_bans: limits.max_bans });
        Admission {
            verify_timeout_ms,
            limits,
            bootstraps: bootstraps.into_iter().collect(),
            peers: HashMap::new(),
            guard,
            backoff: HashMap::new(),
        }
    }

    /// A connection with `peer` was established.
    pub fn on_connected(&mut self, peer: PeerId, conn: Connection, judge: &dyn Judge, now: u64) -> Vec<Action> {
        if self.guard.banned(&peer, now).is_some() {
            return vec![Action::Disconnect { peer, reason: Reason::Banned, ban: false }];
        }
        let bootstrap = self.bootstraps.contains(&peer);
        let unverified = self.unverified();
        let queued = self.queued();
        let max_addresses = self.limits.max_addresses;
        let entry = self.peers.entry(peer).or_insert_with(|| PeerEntry {
            bootstrap,
            link: None,
            addresses: vec![],
            last_seen: now,
            was_member: false,
            extra: S::default(),
        });
        entry.last_seen = now;
        if conn.dialer && !conn.relayed {
            remember_address(&mut entry.addresses, conn.remote, max_addresses);
        }
        if let Some(link) = &mut entry.link {
            // Another connection with a peer already linked.
            link.dialled |= conn.dialer;
            return vec![];
        }
        let mut link =
            Link { since: now, dialled: conn.dialer, verified: false, closing: false, cert: None, checks: 0, held: 0 };
        if bootstrap {
            entry.link = Some(link);
            return vec![];
        }
        if super::identity::node_key(&peer).is_none() {
            entry.link = Some(link);
            return self.drop_peer(peer, Reason::NotANodeKey, now);
        }
        if judge.standing(&peer, now) == Standing::Member {
            link.verified = true;
            entry.link = Some(link);
            return self.admit(peer);
        }
        if unverified >= self.limits.max_unverified {
            if queued < self.limits.max_queued {
                link.cert = Some(Cert::Queued(now));
                entry.link = Some(link);
                return vec![];
            }
            entry.link = Some(link);
            return self.drop_peer(peer, Reason::TooManyUnverified, now);
        }
        link.cert = Some(Cert::Asked(now));
        entry.link = Some(link);
        vec![Action::AskCertificate(peer)]
    }

    /// Every connection with `peer` has closed. A place it held among the peers being verified
    /// goes to the next in the queue.
    pub fn on_disconnected(&mut self, peer: &PeerId, now: u64) -> Vec<Action> {
        self.guard.disconnected(peer);
        let forget = match self.peers.get_mut(peer) {
            Some(e) => {
                e.link = None;
                e.last_seen = now;
                !e.bootstrap && !e.was_member
            }
            None => false,
        };
        if forget {
            self.peers.remove(peer);
        }
        self.bound_peers();
        self.promote_queued(now)
    }

    /// The peer's answer to our request for its certificate.
    pub fn on_certificate_answer(&mut self, peer: PeerId, answer: CertAnswer, now: u64) -> Vec<Action> {
        let Some(link) = self.verifying_link(&peer) else { return vec![] };
        if !matches!(link.cert, Some(Cert::Asked(_))) {
            return vec![];
        }
        match answer {
            CertAnswer::Record(record) if link.checks < MAX_CERT_CHECKS => {
                link.checks += 1;
                link.cert = Some(Cert::Checking);
                vec![Action::CheckCertificate { peer, record }]
            }
            CertAnswer::Withheld | CertAnswer::Failed => {
                link.cert = Some(Cert::Withheld(now));
                self.release_held(peer).into_iter().collect()
            }
            CertAnswer::Record(_) | CertAnswer::Other => self.drop_peer(peer, Reason::NoCertificate, now),
        }
    }

    /// What verifying the certificate it sent showed.
    pub fn on_certificate_checked(
        &mut self,
        peer: PeerId,
        check: CertCheck,
        judge: &dyn Judge,
        now: u64,
    ) -> Vec<Action> {
        let Some(link) = self.verifying_link(&peer) else { return vec![] };
        if link.cert != Some(Cert::Checking) {
            return vec![];
        }
        let mut out = match check {
            CertCheck::Invalid => self.drop_peer(peer, Reason::BadCertificate, now),
            CertCheck::WrongFederation => self.drop_peer(peer, Reason::WrongFederation, now),
            CertCheck::Valid => self.judge_verifying(peer, judge, now, false),
        };
        out.extend(self.promote_queued(now));
        out
    }

    /// A peer asks something of us: whether to serve it.
    pub fn on_request(&mut self, peer: PeerId, ask: Ask, now: u64) -> (Access, Vec<Action>) {
        if self.guard.banned(&peer, now).is_some() {
            return (Access::Refuse(Reason::Banned), vec![]);
        }
        let limit = if ask == Ask::Discovery { Limit::Discovery } else { Limit::SyncRequest };
        if !self.guard.allow(peer, limit, now) {
            let actions = self.on_strike(peer, weight::FLOOD, now);
            return (Access::Refuse(Reason::RateLimited), actions);
        }
        let Some(entry) = self.peers.get_mut(&peer) else { return (Access::Refuse(Reason::Unverified), vec![]) };
        let bootstrap = entry.bootstrap;
        let Some(link) = entry.link.as_mut().filter(|l| !l.closing) else {
            return (Access::Refuse(Reason::Unverified), vec![]);
        };
        if bootstrap {
            return match ask {
                Ask::OwnCertificate | Ask::Membership => (Access::Serve, vec![]),
                Ask::Sync | Ask::Discovery => (Access::Refuse(Reason::NotAMember), vec![]),
            };
        }
        if link.verified {
            return (Access::Serve, vec![]);
        }
        match ask {
            // The dialler shows its certificate first; an honest dialler asks for ours at once.
            Ask::OwnCertificate if link.dialled => (Access::Serve, vec![]),
            // We are checking who it is: hold, and answer (or refuse) once we know.
            Ask::OwnCertificate | Ask::Sync | Ask::Membership
                if matches!(link.cert, Some(Cert::Queued(_) | Cert::Asked(_) | Cert::Checking))
                    && link.held < MAX_HELD_REQUESTS =>
            {
                link.held += 1;
                (Access::Hold, vec![])
            }
            Ask::OwnCertificate => (Access::Refuse(Reason::Unverified), vec![]),
            Ask::Discovery => (Access::Hold, vec![]),
            Ask::Sync | Ask::Membership => {
                // Only a peer that has verified us asks for more, so if it withheld its
                // certificate before, it will show it now.
                let mut actions = vec![];
                if matches!(link.cert, Some(Cert::Withheld(_))) {
                    link.cert = Some(Cert::Asked(now));
                    actions.push(Action::AskCertificate(peer));
                }
                actions.extend(self.on_strike(peer, weight::NOT_VALID, now));
                (Access::Refuse(Reason::Unverified), actions)
            }
        }
    }

    /// Counts strikes against `peer`; it is dropped (and banned) when it has earned it.
    /// Bootstrap servers are not struck.
    pub fn on_strike(&mut self, peer: PeerId, weight: f64, now: u64) -> Vec<Action> {
        if self.bootstraps.contains(&peer) {
            return vec![];
        }
        if self.guard.strike(peer, weight, now) { self.drop_peer(peer, Reason::Misbehaving, now) } else { vec![] }
    }

    /// The roster has changed: bans for not being a member are lifted, verified peers that are
    /// no longer members are dropped, waiting ones are judged again.
    pub fn on_roster_changed(&mut self, judge: &dyn Judge, now: u64) -> Vec<Action> {
        let mut out = vec![];
        for (peer, _, reason) in self.guard.bans(now) {
            if reason.lifted_by_membership_change() && self.guard.unban(&peer) {
                out.push(Action::Unblock(peer));
            }
        }
        let linked: Vec<(PeerId, bool)> = self
            .peers
            .iter()
            .filter(|(_, e)| !e.bootstrap && e.link.as_ref().is_some_and(|l| !l.closing))
            .map(|(p, e)| (*p, e.verified()))
            .collect();
        for (peer, verified) in linked {
            if verified {
                if judge.standing(&peer, now) != Standing::Member {
                    out.extend(self.drop_peer(peer, Reason::NoLongerAMember, now));
                }
            } else {
                out.extend(self.judge_verifying(peer, judge, now, true));
            }
        }
        out.extend(self.promote_queued(now));
        out
    }

    /// Time passes: peers out of time are dropped, withheld certificates asked for again,
    /// bans expire, tables are trimmed.
    pub fn on_tick(&mut self, judge: &dyn Judge, now: u64) -> Vec<Action> {
        let mut out: Vec<Action> = self.guard.expire(now).into_iter().map(Action::Unblock).collect();
        let waiting: Vec<(PeerId, u64, bool, Option<Cert>)> = self
            .peers
            .iter()
            .filter(|(_, e)| e.verifying())
            .filter_map(|(p, e)| e.link.as_ref().map(|l| (*p, l.since, l.dialled, l.cert)))
            .collect();
        for (peer, since, dialled, cert) in waiting {
            let timeout = if dialled { dialler_timeout(self.verify_timeout_ms) } else { self.verify_timeout_ms };
            if let Some(Cert::Queued(at)) = cert {
                // Queued: only a member the roster now knows gets in without its turn.
                if judge.standing(&peer, now) == Standing::Member {
                    out.extend(self.admit(peer));
                } else if now.saturating_sub(at) > timeout {
                    out.extend(self.drop_peer(peer, Reason::TooManyUnverified, now));
                }
            } else if now.saturating_sub(since) > timeout {
                out.extend(match judge.standing(&peer, now) {
                    Standing::Member => self.admit(peer),
                    Standing::Applicant => self.drop_peer(peer, Reason::Applicant, now),
                    Standing::Stranger => self.drop_peer(peer, Reason::NotAMember, now),
                });
            } else if let Some(Cert::Withheld(at)) = cert
                && now.saturating_sub(at) >= CERT_RETRY_MS
                && let Some(link) = self.verifying_link(&peer)
            {
                link.cert = Some(Cert::Asked(now));
                out.push(Action::AskCertificate(peer));
            }
        }
        self.backoff.retain(|_, (at, _)| *at + MAX_BACKOFF_MS > now);
        self.bound_peers();
        out.extend(self.promote_queued(now));
        out
    }

    /// Disconnects `peer` for `reason`: banned if the reason calls for it, otherwise (if we
    /// dialled it) not redialled for a while.
    pub fn drop_peer(&mut self, peer: PeerId, reason: Reason, now: u64) -> Vec<Action> {
        let mut out = vec![];
        let ban = reason.bans();
        let dialled = self.peers.get(&peer).and_then(|e| e.link.as_ref()).is_some_and(|l| l.dialled);
        if ban {
            out.extend(self.guard.ban(peer, reason, now).map(Action::Unblock));
        } else if dialled {
            self.dial_failed(peer, now);
        }
        if let Some(e) = self.peers.get_mut(&peer) {
            e.was_member = false;
            if let Some(l) = &mut e.link {
                l.closing = true;
            }
        }
        out.push(Action::Disconnect { peer, reason, ban });
        out
    }

    /// Whether `peer` may be dialled now (not banned, not backing off).
    pub fn may_dial(&self, peer: &PeerId, now: u64) -> bool {
        self.guard.banned(peer, now).is_none() && self.backoff.get(peer).is_none_or(|(at, _)| now >= *at)
    }

    /// A dial to `peer` failed (or it was turned away): wait longer before the next.
    pub fn dial_failed(&mut self, peer: PeerId, now: u64) {
        if !self.backoff.contains_key(&peer)
            && self.backoff.len() >= self.limits.max_backoff
            && let Some(soonest) = self.backoff.iter().min_by_key(|(_, (at, _))| *at).map(|(p, _)| *p)
        {
            self.backoff.remove(&soonest);
        }
        let e = self.backoff.entry(peer).or_insert((now, 0));
        e.1 = (e.1 * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
        e.0 = now + e.1;
    }

    /// Addresses a verified peer announced (identify).
    pub fn note_addresses(&mut self, peer: &PeerId, addrs: impl IntoIterator<Item = Multiaddr>) {
        let max = self.limits.max_addresses;
        if let Some(e) = self.peers.get_mut(peer).filter(|e| e.verified()) {
            for a in addrs {
                remember_address(&mut e.addresses, a, max);
            }
        }
    }

    pub fn is_verified(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|e| e.verified())
    }

    pub fn is_bootstrap(&self, peer: &PeerId) -> bool {
        self.bootstraps.contains(peer)
    }

    pub fn get(&self, peer: &PeerId) -> Option<&PeerEntry<S>> {
        self.peers.get(peer)
    }

    /// What the rest of the node keeps about a peer in the table.
    pub fn extra_mut(&mut self, peer: &PeerId) -> Option<&mut S> {
        self.peers.get_mut(peer).map(|e| &mut e.extra)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &PeerEntry<S>)> {
        self.peers.iter()
    }

    /// Connected, verified members' nodes.
    pub fn members(&self) -> Vec<PeerId> {
        self.peers.iter().filter(|(_, e)| e.verified()).map(|(p, _)| *p).collect()
    }

    pub fn banned(&self, peer: &PeerId, now: u64) -> Option<Reason> {
        self.guard.banned(peer, now)
    }

    pub fn bans(&self, now: u64) -> Vec<(PeerId, u64, Reason)> {
        self.guard.bans(now)
    }

    pub fn strikes(&self, peer: &PeerId, now: u64) -> f64 {
        self.guard.strikes(peer, now)
    }

    /// Per-peer rate limiting of gossip (the event loop asks it for each message).
    pub fn allow_gossip(&mut self, peer: PeerId, now: u64) -> bool {
        self.guard.allow(peer, Limit::Gossip, now)
    }

    /// How full each table is.
    pub fn sizes(&self) -> TableSizes {
        let (strikes, bans, buckets) = self.guard.sizes();
        TableSizes {
            peers: self.peers.len(),
            unverified: self.unverified(),
            queued: self.queued(),
            addresses: self.peers.values().map(|e| e.addresses.len()).sum(),
            strikes,
            bans,
            buckets,
            backoff: self.backoff.len(),
        }
    }

    /// Peers being verified (asked for their certificate, or checking it), not those queued.
    fn unverified(&self) -> usize {
        self.peers.values().filter(|e| e.verifying() && !e.queued()).count()
    }

    fn queued(&self) -> usize {
        self.peers.values().filter(|e| e.queued()).count()
    }

    /// Asks the longest-queued peers for their certificates while there is room among the peers
    /// being verified; their verification time starts now.
    fn promote_queued(&mut self, now: u64) -> Vec<Action> {
        let room = self.limits.max_unverified.saturating_sub(self.unverified());
        if room == 0 {
            return vec![];
        }
        let mut queued: Vec<(u64, PeerId)> = self
            .peers
            .iter()
            .filter(|(_, e)| e.queued())
            .filter_map(|(p, e)| match e.link.as_ref()?.cert {
                Some(Cert::Queued(at)) => Some((at, *p)),
                _ => None,
            })
            .collect();
        queued.sort_unstable();
        let mut out = vec![];
        for (_, peer) in queued.into_iter().take(room) {
            if let Some(link) = self.verifying_link(&peer) {
                link.since = now;
                link.cert = Some(Cert::Asked(now));
                out.push(Action::AskCertificate(peer));
            }
        }
        out
    }

    fn verifying_link(&mut self, peer: &PeerId) -> Option<&mut Link> {
        self.peers.get_mut(peer).filter(|e| e.verifying()).and_then(|e| e.link.as_mut())
    }

    fn admit(&mut self, peer: PeerId) -> Vec<Action> {
        let Some(e) = self.peers.get_mut(&peer) else { return vec![] };
        let Some(link) = &mut e.link else { return vec![] };
        link.verified = true;
        link.cert = None;
        e.was_member = true;
        self.backoff.remove(&peer);
        vec![Action::Admit(peer)]
    }

    /// Judges a peer being verified whose certificate has been checked (or, on a membership
    /// change, any peer being verified).
    fn judge_verifying(&mut self, peer: PeerId, judge: &dyn Judge, now: u64, roster_changed: bool) -> Vec<Action> {
        let standing = judge.standing(&peer, now);
        if standing == Standing::Member {
            return self.admit(peer);
        }
        let Some(link) = self.verifying_link(&peer) else { return vec![] };
        match (standing, link.cert) {
            (Standing::Applicant, Some(Cert::Checking | Cert::NotMember | Cert::Applicant)) => {
                link.cert = Some(Cert::Applicant);
                self.release_held(peer).into_iter().collect()
            }
            // Its certificate was refused (not stored) before the change: ask for it again,
            // once, as the new roster may take it.
            (_, Some(Cert::NotMember)) if roster_changed && link.checks < MAX_CERT_CHECKS => {
                link.cert = Some(Cert::Asked(now));
                vec![Action::AskCertificate(peer)]
            }
            (_, Some(Cert::Checking)) => {
                link.cert = Some(Cert::NotMember);
                let mut out: Vec<Action> = self.release_held(peer).into_iter().collect();
                // Work it made us do for nothing.
                out.extend(self.on_strike(peer, weight::NOT_VALID, now));
                out
            }
            _ => vec![],
        }
    }

    /// Its requests held while we checked it are to be refused (the check did not admit it).
    fn release_held(&mut self, peer: PeerId) -> Option<Action> {
        let link = self.verifying_link(&peer)?;
        (std::mem::take(&mut link.held) > 0).then_some(Action::ReleaseHeld(peer))
    }

    /// Evicts disconnected peers, least recently seen first, beyond the table's bound.
    fn bound_peers(&mut self) {
        let excess = self.peers.len().saturating_sub(self.limits.max_peers);
        if excess == 0 {
            return;
        }
        let mut away: Vec<(u64, PeerId)> = self
            .peers
            .iter()
            .filter(|(_, e)| e.link.is_none() && !e.bootstrap)
            .map(|(p, e)| (e.last_seen, *p))
            .collect();
        away.sort_unstable();
        for (_, p) in away.into_iter().take(excess) {
            self.peers.remove(&p);
        }
    }
}

/// Puts `addr` first in `list`, keeping at most `max`.
fn remember_address(list: &mut Vec<Multiaddr>, addr: Multiaddr, max: usize) {
    list.retain(|a| a != &addr);
    list.insert(0, addr);
    list.truncate(max);
}

#[cfg(test)]
mod tests;
