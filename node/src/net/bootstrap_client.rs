//! The event loop's side of bootstrap servers: registering this node's addresses for a short
//! time, asking for the other members' nodes (`/csx/discovery/1`), and listening through a
//! server's relay once the server has accepted this node as a member's (it answers discovery
//! only then, and reserves relay slots only for members). When to send what, and when to dial
//! again the members' nodes a server named, is decided by [`BootstrapPolicy`] (no I/O); this
//! file feeds it the swarm's events and carries out its intents.

use csx_protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use libp2p::multiaddr::Protocol;
use libp2p::request_response;
use libp2p::{Multiaddr, PeerId};

use super::bootstrap_policy::{Ask, BootstrapPolicy, Intent};
use super::discovery::{InboundDiscovery, address_bytes, peers};
use super::event_loop::EventLoop;

/// Registrations last about three discovery intervals (renewed at each), within these bounds
/// (a bootstrap server shortens what is beyond its own limit).
const MIN_REGISTRATION_SECS: u64 = 60;
const MAX_REGISTRATION_SECS: u64 = 600;

/// The policy for a node with these bootstrap servers (jitter seeded at random, so nodes
/// started together draw different waits).
pub(super) fn policy(
    servers: impl IntoIterator<Item = PeerId>,
    discover_interval: std::time::Duration,
) -> BootstrapPolicy {
    BootstrapPolicy::new(servers, discover_interval.as_millis() as u64, fastrand::u64(..))
}

impl EventLoop {
    /// A bootstrap server has connected: ask it for members, and register with it.
    pub(super) fn at_bootstrap(&mut self, bootstrap: PeerId) {
        let now = self.now();
        self.policy.connected(bootstrap, now);
        self.bootstrap_tick();
    }

    /// A peer's connections all closed (`verified`: it had been verified), or a dial to it
    /// failed (`verified` false).
    pub(super) fn bootstrap_peer_lost(&mut self, peer: PeerId, verified: bool) {
        if self.policy.is_server(&peer) {
            self.policy.disconnected(&peer);
            self.discovery_requests.retain(|_, (p, _)| *p != peer);
        } else if !verified {
            let now = self.now();
            self.policy.lost(&peer, now);
        }
    }

    /// Carries out what the policy says is due now.
    pub(super) fn bootstrap_tick(&mut self) {
        let now = self.now();
        for intent in self.policy.tick(now) {
            match intent {
                Intent::Register(b) => self.register(b),
                Intent::Discover(b) => self.send_discover(b),
                Intent::Dial { peer, addrs } => self.dial_named(peer, addrs),
            }
        }
    }

    /// Dials a member's node a bootstrap server named, unless it is connected, banned or
    /// denied (the policy paces these redials, not admission's backoff).
    fn dial_named(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let now = self.now();
        if self.swarm.is_connected(&peer) || self.admission.banned(&peer, now).is_some() || self.is_denied(&peer) {
            return;
        }
        // Within the bound: dials under way count against it like connections.
        if !self.connections.try_dial(peer, now) {
            tracing::debug!(peer = %peer, "not dialling a named member's node now: the bound is reached or it is cooling down");
            return;
        }
        for a in &addrs {
            self.swarm.add_peer_address(peer, a.clone());
        }
        tracing::debug!(peer = %peer, addresses = addrs.len(), "dialling a member's node the bootstrap server named");
        use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
        let opts = DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::DisconnectedAndNotDialing).build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(peer = %peer, "dial failed: {e}");
            self.connections.dial_failed(&peer);
        }
    }

    fn send_discover(&mut self, bootstrap: PeerId) {
        let request = DiscoveryRequest::Discover { federation: Some(self.ctx.federation) };
        let id = self.swarm.behaviour_mut().discovery.send_request(&bootstrap, Ok(request));
        self.discovery_requests.insert(id, (bootstrap, Ask::Discover));
    }

    /// Registers this node's addresses at `bootstrap` (the policy asks only once it has an
    /// address others can use).
    fn register(&mut self, bootstrap: PeerId) {
        let addrs: Vec<Multiaddr> = self.swarm.external_addresses().cloned().collect();
        if addrs.is_empty() {
            return;
        }
        let ttl = (self.ctx.config.discover_interval.as_secs() * 3).clamp(MIN_REGISTRATION_SECS, MAX_REGISTRATION_SECS);
        let request = DiscoveryRequest::Register {
            federation: self.ctx.federation,
            ttl_secs: ttl as u32,
            addresses: address_bytes(&addrs),
        };
        let id = self.swarm.behaviour_mut().discovery.send_request(&bootstrap, Ok(request));
        self.discovery_requests.insert(id, (bootstrap, Ask::Register));
    }

    /// Registers at every connected bootstrap server (a new address, e.g. through a relay).
    pub(super) fn register_everywhere(&mut self) {
        let now = self.now();
        self.policy.address_added(now);
        self.bootstrap_tick();
    }

    pub(super) fn on_discovery_event(&mut self, event: request_response::Event<InboundDiscovery, DiscoveryResponse>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => {
                let Some((_, ask)) = self.discovery_requests.remove(&request_id) else { return };
                let now = self.now();
                match response {
                    DiscoveryResponse::Peers { peers: list } => {
                        self.policy.answered(&peer, ask, now);
                        // Answered: the server holds this node for a member's, so it will relay for it.
                        self.listen_through_relay(peer);
                        let me = *self.swarm.local_peer_id();
                        let named: Vec<_> = peers(list)
                            .into_iter()
                            .filter(|(member, addrs)| *member != me && !addrs.is_empty())
                            .collect();
                        for (member, addrs) in &named {
                            for a in addrs {
                                self.swarm.add_peer_address(*member, a.clone());
                            }
                            // A candidate of the connection policy, which keeps the bound.
                            self.connections.heard_of(*member, addrs.clone());
                        }
                        // Named nodes not yet verified are dialled at once (a federation forming);
                        // one verified while this node is full is turned away by the bound.
                        let unverified: Vec<_> =
                            named.into_iter().filter(|(member, _)| !self.is_verified(member)).collect();
                        self.policy.learnt(unverified, now);
                    }
                    DiscoveryResponse::Registered { ttl_secs } => {
                        if !self.policy.is_registered(&peer) {
                            tracing::info!(bootstrap = %peer, ttl_secs, "registered at the bootstrap server");
                        }
                        self.policy.answered(&peer, ask, now);
                        self.listen_through_relay(peer);
                    }
                    DiscoveryResponse::Refused { code, message } => {
                        if code == csx_protocol::sync::RefusalCode::TooBusy {
                            tracing::debug!(bootstrap = %peer, "the bootstrap server is busy; trying again soon: {message}");
                        } else {
                            tracing::warn!(bootstrap = %peer, %code, "the bootstrap server refused: {message}");
                        }
                        self.policy.refused(&peer, ask, code, now);
                    }
                }
                self.bootstrap_tick();
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                if let Some((_, ask)) = self.discovery_requests.remove(&request_id) {
                    let now = self.now();
                    self.policy.failed(&peer, ask, now);
                }
                tracing::debug!(bootstrap = %peer, "discovery request failed: {error}");
            }
            _ => {}
        }
    }

    /// Listens through `bootstrap`'s relay, if this node is configured to and does not yet.
    fn listen_through_relay(&mut self, bootstrap: PeerId) {
        if !self.ctx.config.relay || self.relay_listeners.contains_key(&bootstrap) {
            return;
        }
        let Some(addr) = self.bootstrap.get(&bootstrap).cloned() else { return };
        match self.swarm.listen_on(addr.with(Protocol::P2pCircuit)) {
            Ok(id) => {
                self.relay_listeners.insert(bootstrap, id);
            }
            Err(e) => tracing::warn!("cannot listen through the relay of {bootstrap}: {e}"),
        }
    }

    /// A listener closed: if it was through a relay, the next answer from that bootstrap
    /// server starts another.
    pub(super) fn on_listener_closed(
        &mut self,
        id: libp2p::core::transport::ListenerId,
        reason: Result<(), std::io::Error>,
    ) {
        if let Some(b) = self.relay_listeners.iter().find(|(_, l)| **l == id).map(|(b, _)| *b) {
            self.relay_listeners.remove(&b);
            match reason {
                Ok(()) => tracing::info!(bootstrap = %b, "stopped listening through the relay"),
                Err(e) => tracing::warn!(bootstrap = %b, "listening through the relay failed: {e}"),
            }
        }
    }
}
