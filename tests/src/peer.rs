//! A raw peer: a real libp2p node with the csx behaviours, driven by hand from a test, to send
//! exactly the gossip a test wants (out of order, malformed, hostile).

use std::time::Duration;

use csx_node::net::behaviour::{NodeBehaviour, NodeBehaviourEvent, build_swarm, topic};
use csx_node::net::{NetConfig, TransportKind};
use csx_protocol::FederationId;
use csx_protocol::keys::SecretKey;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub};

pub struct RawPeer {
    pub swarm: Swarm<NodeBehaviour>,
    pub federation: FederationId,
}

impl RawPeer {
    pub fn new(key: &SecretKey, federation: FederationId) -> RawPeer {
        let swarm = build_swarm(key, &federation, TransportKind::Memory, &NetConfig::default()).expect("swarm");
        RawPeer { swarm, federation }
    }

    /// Dials `addr` and drives the swarm until `peer` has subscribed to the records topic.
    pub async fn connect(&mut self, addr: Multiaddr, peer: PeerId) {
        self.swarm.dial(addr).expect("dial");
        let t = topic(&self.federation).hash();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .expect("peer subscribed in time");
            if let SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic })) =
                ev
                && peer_id == peer
                && topic == t
            {
                return;
            }
        }
    }

    /// Publishes raw bytes on the records topic.
    pub fn gossip(&mut self, bytes: Vec<u8>) -> Result<gossipsub::MessageId, gossipsub::PublishError> {
        let t = topic(&self.federation);
        self.swarm.behaviour_mut().gossipsub.publish(t, bytes)
    }

    /// Drives the swarm for `d` (answering nothing, just keeping connections alive).
    pub async fn pump(&mut self, d: Duration) {
        let _ = tokio::time::timeout(d, async {
            loop {
                self.swarm.select_next_some().await;
            }
        })
        .await;
    }
}
