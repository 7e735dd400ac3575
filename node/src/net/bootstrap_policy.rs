//! When a node registers at its bootstrap servers, asks them for members' nodes, and dials
//! again the members' nodes they named: a state machine without I/O. The event loop tells it
//! what happened (`connected`, `disconnected`, `address_added`, `answered`, `refused`,
//! `failed`, `learnt`, `verified`, `lost`) and carries out the [`Intent`]s that `tick(now)`
//! returns. Time is a parameter (Unix ms) and the jitter comes from a seeded generator, so the
//! tests drive it with a virtual clock.
//!
//! The rules:
//! - At a connected server, a registration is due as soon as this node has an address others
//!   can use (and again when it gains one), and a discovery request at once; both are renewed
//!   every discovery interval.
//! - A request refused as `too_busy`, or that failed (no answer, closed stream), is sent again
//!   after a backoff with jitter ([`RETRY`]: 250 ms doubling to 5 s, each wait drawn between
//!   half and all of it), so that many nodes refused together do not come back together. A
//!   refusal of another kind waits for the next discovery interval.
//! - Members' nodes named by a server are dialled at once; one that could not be reached, or
//!   that closed the connection before it was verified (e.g. it had too many peers to verify),
//!   is dialled again after [`REDIAL`] (500 ms doubling to 8 s, with jitter), at most
//!   [`MAX_REDIALS`] times; then it waits for the next answer that names it. The table of such
//!   nodes is bounded ([`MAX_LEARNT`]).

use std::collections::HashMap;

use csx_protocol::sync::RefusalCode;
use libp2p::{Multiaddr, PeerId};

/// Waits that grow exponentially up to a cap, each drawn between half and all of its nominal
/// length ("equal jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first_ms: u64,
    pub max_ms: u64,
}

impl Backoff {
    /// The nominal wait before retry number `attempt` (1 for the first retry).
    pub fn nominal(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(32);
        self.first_ms.saturating_mul(1u64 << doublings).min(self.max_ms)
    }

    /// The wait before retry number `attempt`, with jitter.
    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> u64 {
        let nominal = self.nominal(attempt);
        let half = nominal / 2;
        half + rng.u64(0..=nominal - half)
    }
}

/// Retries of registration and discovery requests refused as busy, or failed.
pub const RETRY: Backoff = Backoff { first_ms: 250, max_ms: 5_000 };
/// Redials of members' nodes named by a bootstrap server that did not let this node in.
pub const REDIAL: Backoff = Backoff { first_ms: 500, max_ms: 8_000 };
/// Redials of such a node before waiting for the next answer that names it.
pub const MAX_REDIALS: u32 = 6;
/// Members' nodes named by bootstrap servers kept for redialling (a discovery answer names at
/// most 1024).
pub const MAX_LEARNT: usize = 1024;

/// What the event loop is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Send this node's registration to the bootstrap server.
    Register(PeerId),
    /// Ask the bootstrap server for members' nodes.
    Discover(PeerId),
    /// Dial a member's node a bootstrap server named.
    Dial { peer: PeerId, addrs: Vec<Multiaddr> },
}

/// The two requests a node makes of a bootstrap server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ask {
    Register,
    Discover,
}

/// Where one request to a server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// Nothing to send (not connected, no address, or done until the next interval).
    Idle,
    /// To be sent at this time.
    Due(u64),
    /// Sent; waiting for the answer.
    Sent,
}

#[derive(Debug, Clone)]
struct Server {
    connected: bool,
    register: Task,
    discover: Task,
    /// Retries in a row of each request.
    register_retries: u32,
    discover_retries: u32,
    /// When both are renewed.
    renew_at: u64,
    /// Whether the last registration was accepted (on this connection).
    registered: bool,
}

impl Server {
    fn new() -> Server {
        Server {
            connected: false,
            register: Task::Idle,
            discover: Task::Idle,
            register_retries: 0,
            discover_retries: 0,
            renew_at: 0,
            registered: false,
        }
    }

    fn task(&mut self, ask: Ask) -> (&mut Task, &mut u32) {
        match ask {
            Ask::Register => (&mut self.register, &mut self.register_retries),
            Ask::Discover => (&mut self.discover, &mut self.discover_retries),
        }
    }
}

/// A member's node a bootstrap server named, not verified yet.
#[derive(Debug, Clone)]
struct Learnt {
    addrs: Vec<Multiaddr>,
    redials: u32,
    /// When to dial it (None: dialled, waiting to see whether it lets us in).
    dial_at: Option<u64>,
}

/// The policy towards bootstrap servers and the members' nodes they name.
#[derive(Debug)]
pub struct BootstrapPolicy {
    interval_ms: u64,
    has_address: bool,
    servers: HashMap<PeerId, Server>,
    learnt: HashMap<PeerId, Learnt>,
    rng: fastrand::Rng,
}

impl BootstrapPolicy {
    /// A policy for `servers`, renewing every `interval_ms`; `seed` seeds the jitter.
    pub fn new(servers: impl IntoIterator<Item = PeerId>, interval_ms: u64, seed: u64) -> BootstrapPolicy {
        BootstrapPolicy {
            interval_ms,
            has_address: false,
            servers: servers.into_iter().map(|s| (s, Server::new())).collect(),
            learnt: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn is_server(&self, peer: &PeerId) -> bool {
        self.servers.contains_key(peer)
    }

    /// Whether `server` accepted this node's registration on the current connection.
    pub fn is_registered(&self, server: &PeerId) -> bool {
        self.servers.get(server).is_some_and(|s| s.registered)
    }

    /// Members' nodes waiting to be dialled again.
    pub fn learnt_len(&self) -> usize {
        self.learnt.len()
    }

    /// A bootstrap server connected: ask it for members' nodes, and register.
    pub fn connected(&mut self, server: PeerId, now: u64) {
        let has_address = self.has_address;
        let interval = self.interval_ms;
        let Some(s) = self.servers.get_mut(&server) else { return };
        *s = Server::new();
        s.connected = true;
        s.discover = Task::Due(now);
        if has_address {
            s.register = Task::Due(now);
        }
        s.renew_at = now + interval;
    }

    pub fn disconnected(&mut self, server: &PeerId) {
        if let Some(s) = self.servers.get_mut(server) {
            *s = Server::new();
        }
    }

    /// This node has a new address others can use: register it (again) at every server.
    pub fn address_added(&mut self, now: u64) {
        self.has_address = true;
        for s in self.servers.values_mut().filter(|s| s.connected) {
            s.register = Task::Due(now);
            s.register_retries = 0;
        }
    }

    /// A server answered: registered, or named members' nodes (passed to [`Self::learnt`]).
    /// A registration accepted is followed by a discovery request, so that of two nodes
    /// registering about together, the later one finds the earlier one at once.
    pub fn answered(&mut self, server: &PeerId, ask: Ask, now: u64) {
        let Some(s) = self.servers.get_mut(server).filter(|s| s.connected) else { return };
        let (task, retries) = s.task(ask);
        *task = Task::Idle;
        *retries = 0;
        if ask == Ask::Register {
            s.registered = true;
            if s.discover != Task::Sent {
                s.discover = Task::Due(now);
            }
        }
    }

    /// A server refused a request: `too_busy` is retried soon, other refusals at the next
    /// interval.
    pub fn refused(&mut self, server: &PeerId, ask: Ask, code: RefusalCode, now: u64) {
        if code == RefusalCode::TooBusy {
            self.retry(server, ask, now);
        } else if let Some(s) = self.servers.get_mut(server).filter(|s| s.connected) {
            *s.task(ask).0 = Task::Idle;
        }
    }

    /// A request got no answer (timed out, stream closed): sent again after a backoff.
    pub fn failed(&mut self, server: &PeerId, ask: Ask, now: u64) {
        self.retry(server, ask, now);
    }

    fn retry(&mut self, server: &PeerId, ask: Ask, now: u64) {
        let Some(s) = self.servers.get_mut(server).filter(|s| s.connected) else { return };
        let (task, retries) = s.task(ask);
        *retries = retries.saturating_add(1);
        *task = Task::Due(now + RETRY.delay(*retries, &mut self.rng));
    }

    /// Members' nodes a server named (not this node, none already connected): dialled at once;
    /// a node named again gets its redials back.
    pub fn learnt(&mut self, peers: impl IntoIterator<Item = (PeerId, Vec<Multiaddr>)>, now: u64) {
        for (peer, addrs) in peers {
            if addrs.is_empty() {
                continue;
            }
            if let Some(l) = self.learnt.get_mut(&peer) {
                l.addrs = addrs;
                l.redials = 0;
                l.dial_at.get_or_insert(now);
            } else if self.learnt.len() < MAX_LEARNT {
                self.learnt.insert(peer, Learnt { addrs, redials: 0, dial_at: Some(now) });
            }
        }
    }

    /// A peer was verified: nothing more to do for it here.
    pub fn verified(&mut self, peer: &PeerId) {
        self.learnt.remove(peer);
    }

    /// A dial to `peer` failed, or its connection closed before it was verified: if a server
    /// named it, dial it again after a while (a few times).
    pub fn lost(&mut self, peer: &PeerId, now: u64) {
        let Some(l) = self.learnt.get_mut(peer) else { return };
        if l.dial_at.is_some() {
            return;
        }
        l.redials += 1;
        if l.redials > MAX_REDIALS {
            self.learnt.remove(peer);
            return;
        }
        l.dial_at = Some(now + REDIAL.delay(l.redials, &mut self.rng));
    }

    /// What is due at `now`.
    pub fn tick(&mut self, now: u64) -> Vec<Intent> {
        let mut out = vec![];
        let has_address = self.has_address;
        for (server, s) in self.servers.iter_mut().filter(|(_, s)| s.connected) {
            if now >= s.renew_at {
                s.renew_at = now + self.interval_ms;
                if s.discover != Task::Sent {
                    s.discover = Task::Due(now);
                }
                if has_address && s.register != Task::Sent {
                    s.register = Task::Due(now);
                }
            }
            if matches!(s.register, Task::Due(at) if now >= at) && has_address {
                s.register = Task::Sent;
                out.push(Intent::Register(*server));
            }
            if matches!(s.discover, Task::Due(at) if now >= at) {
                s.discover = Task::Sent;
                out.push(Intent::Discover(*server));
            }
        }
        let mut dials: Vec<(PeerId, Vec<Multiaddr>)> = vec![];
        for (peer, l) in self.learnt.iter_mut() {
            if l.dial_at.is_some_and(|at| now >= at) {
                l.dial_at = None;
                dials.push((*peer, l.addrs.clone()));
            }
        }
        out.extend(dials.into_iter().map(|(peer, addrs)| Intent::Dial { peer, addrs }));
        out
    }
}

#[cfg(test)]
mod tests;
