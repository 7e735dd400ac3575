//! The event loop's side of the connection policy ([`super::connections`], I/O-less): dialling
//! the members' nodes it picks, closing the connections it gives up, and telling it which
//! peers are sync partners or gossip mesh peers now.

use std::collections::HashSet;

use libp2p::{Multiaddr, PeerId};

use super::connections::{self, Keep};
use super::event_loop::EventLoop;
use super::reason::Reason;

impl EventLoop {
    pub(super) fn dial(&mut self, addr: Multiaddr) {
        if let Err(e) = self.swarm.dial(addr.clone()) {
            tracing::debug!(address = %addr, "dial failed: {e}");
        }
    }

    /// Dials `peer` unless it is connected, banned, denied or backing off; returns whether it did.
    pub(super) fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) -> bool {
        let now = self.now();
        if peer == *self.swarm.local_peer_id()
            || self.swarm.is_connected(&peer)
            || !self.admission.may_dial(&peer, now)
            || self.denied.contains(&peer)
        {
            tracing::debug!(peer = %peer, "not dialling: connected, banned, backing off or denied");
            return false;
        }
        tracing::debug!(peer = %peer, addresses = addrs.len(), "dialling");
        use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
        let opts = DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::DisconnectedAndNotDialing).build();
        match self.swarm.dial(opts) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(peer = %peer, "dial failed: {e}");
                false
            }
        }
    }

    /// The connection policy's dials and rotation, with what keeps each peer now.
    pub(super) fn connections_tick(&mut self) {
        let now = self.now();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let mesh: HashSet<PeerId> = gossipsub
            .mesh_peers(&self.topic.hash())
            .chain(gossipsub.mesh_peers(&self.forks_topic.hash()))
            .copied()
            .collect();
        let rounds = &self.rounds;
        let intents = self.connections.tick(now, |p| {
            if rounds.is_partner(p, now) {
                Keep::Busy
            } else if mesh.contains(p) {
                Keep::Mesh
            } else {
                Keep::Free
            }
        });
        self.run_connections(intents);
    }

    /// Carries out what the connection policy decided.
    pub(super) fn run_connections(&mut self, intents: Vec<connections::Intent<PeerId, Vec<Multiaddr>>>) {
        for intent in intents {
            match intent {
                connections::Intent::Dial { peer, addrs } => {
                    if !self.dial_peer(peer, addrs) {
                        self.connections.dial_failed(&peer);
                    }
                }
                connections::Intent::Disconnect { peer, why } => {
                    tracing::debug!(peer = %peer, ?why, bound = self.connections.config().max_peers, "closing a connection");
                    let counter = match why {
                        connections::Why::Full => "connections.full",
                        connections::Why::Rotated => "connections.rotated",
                    };
                    self.ctx.counters.add(counter, 1);
                    // Through admission, so the peer stops counting as verified at once.
                    let now = self.now();
                    let actions = self.admission.drop_peer(peer, Reason::ConnectionLimit, now);
                    self.act(actions);
                }
            }
        }
    }
}
