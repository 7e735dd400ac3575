//! The event loop's side of bootstrap servers: registering this node's addresses for a short
//! time, asking for the other members' nodes (`/csx/discovery/1`), and listening through a
//! server's relay once the server has accepted this node as a member's (it answers discovery
//! only then, and reserves relay slots only for members).

use csx_protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use libp2p::multiaddr::Protocol;
use libp2p::request_response;
use libp2p::{Multiaddr, PeerId};

use super::discovery::{InboundDiscovery, address_bytes, peers};
use super::event_loop::EventLoop;

/// Registrations last about three discovery intervals (renewed at each), within these bounds
/// (a bootstrap server shortens what is beyond its own limit).
const MIN_REGISTRATION_SECS: u64 = 60;
const MAX_REGISTRATION_SECS: u64 = 600;

impl EventLoop {
    /// A bootstrap server has connected: ask it for members, and register with it.
    pub(super) fn at_bootstrap(&mut self, bootstrap: PeerId) {
        self.send_discover(bootstrap);
        self.register(bootstrap);
    }

    fn send_discover(&mut self, bootstrap: PeerId) {
        let request = DiscoveryRequest::Discover { federation: Some(self.ctx.federation) };
        let id = self.swarm.behaviour_mut().discovery.send_request(&bootstrap, Ok(request));
        self.discovery_requests.insert(id, bootstrap);
    }

    /// Registers this node's addresses at `bootstrap` (once it has an address others can use).
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
        self.discovery_requests.insert(id, bootstrap);
    }

    /// Registers at every connected bootstrap server (a new address, e.g. through a relay).
    pub(super) fn register_everywhere(&mut self) {
        let connected: Vec<PeerId> = self.bootstrap.keys().filter(|b| self.swarm.is_connected(b)).copied().collect();
        for b in connected {
            self.register(b);
        }
    }

    /// Registers at every connected bootstrap server that has not accepted a registration on
    /// this connection yet (the first attempt failed, or this node had no address then).
    pub(super) fn register_unregistered(&mut self) {
        let due: Vec<PeerId> = self
            .bootstrap
            .keys()
            .filter(|b| self.swarm.is_connected(b) && !self.registered.contains(b))
            .copied()
            .collect();
        for b in due {
            self.register(b);
        }
    }

    /// Periodically: renew registrations and ask again for members' nodes.
    pub(super) fn discover(&mut self) {
        let connected: Vec<PeerId> = self.bootstrap.keys().filter(|p| self.swarm.is_connected(p)).copied().collect();
        for b in connected {
            self.send_discover(b);
            self.register(b);
        }
    }

    pub(super) fn on_discovery_event(&mut self, event: request_response::Event<InboundDiscovery, DiscoveryResponse>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => {
                if self.discovery_requests.remove(&request_id).is_none() {
                    return;
                }
                match response {
                    DiscoveryResponse::Peers { peers: list } => {
                        // Answered: the server holds this node for a member's, so it will relay for it.
                        self.listen_through_relay(peer);
                        let me = *self.swarm.local_peer_id();
                        for (member, addrs) in peers(list) {
                            if member == me || addrs.is_empty() {
                                continue;
                            }
                            for a in &addrs {
                                self.swarm.add_peer_address(member, a.clone());
                            }
                            // A candidate: the connection policy dials as many as it keeps.
                            self.connections.heard_of(member, addrs);
                        }
                        self.connections_tick();
                    }
                    DiscoveryResponse::Registered { ttl_secs } => {
                        if self.registered.insert(peer) {
                            tracing::info!(bootstrap = %peer, ttl_secs, "registered at the bootstrap server");
                        }
                        self.listen_through_relay(peer);
                        // Discover again now that we are registered: of two nodes registering at
                        // about the same time, the later one then finds the earlier one at once.
                        self.send_discover(peer);
                    }
                    DiscoveryResponse::Refused { code, message } => {
                        tracing::warn!(bootstrap = %peer, %code, "the bootstrap server refused: {message}");
                    }
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                self.discovery_requests.remove(&request_id);
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
