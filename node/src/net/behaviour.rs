//! The libp2p behaviours of a member node and how its swarm is built.

use std::time::Duration;

use csx_protocol::FederationId;
use csx_protocol::keys::SecretKey;
use csx_protocol::record::MAX_RECORD_BYTES;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    Swarm, SwarmBuilder, Transport as _, allow_block_list, connection_limits, gossipsub, identify, noise, ping, relay,
    request_response, tcp, yamux,
};

use super::codec::{SYNC_PROTOCOL, SyncCodec};
use super::config::NetConfig;
use super::discovery::{DISCOVERY_PROTOCOL, DiscoveryCodec};
use super::gate::Gated;

/// Which transport a node's swarm uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// TCP with noise and yamux: what daemons use.
    Tcp,
    /// libp2p's in-process memory transport: for many nodes in one test process.
    Memory,
}

/// A member node's behaviours. Only the event loop touches it. Gossip and identify are gated:
/// they start on a connection only once the peer is verified as a member's node.
#[derive(NetworkBehaviour)]
#[allow(missing_debug_implementations)] // the libp2p behaviours it holds have no Debug
pub struct NodeBehaviour {
    pub limits: connection_limits::Behaviour,
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub gossipsub: Gated<gossipsub::Behaviour>,
    pub sync: request_response::Behaviour<SyncCodec>,
    pub identify: Gated<identify::Behaviour>,
    pub ping: ping::Behaviour,
    pub discovery: request_response::Behaviour<DiscoveryCodec>,
    pub relay: relay::client::Behaviour,
}

/// The identify protocol version: nodes of other protocols or federations are told apart by it.
pub fn identify_version(federation: &FederationId) -> String {
    format!("/csx/1/{}", federation.short())
}

/// The gossip topic of a federation's records.
pub fn topic(federation: &FederationId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("/csx/{}/records/1", federation.to_hex()))
}

/// The gossip topic of proofs that an author forked.
pub fn forks_topic(federation: &FederationId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("/csx/{}/forks/1", federation.to_hex()))
}

/// Largest gossip message accepted by gossipsub: a fork proof (two records and framing).
/// Records above 64 KiB get this far so they are refused, counted and penalised by name.
const MAX_GOSSIP_BYTES: usize = 2 * MAX_RECORD_BYTES + 8 * 1024;

pub fn gossipsub(federation: &FederationId) -> Result<gossipsub::Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let config = gossipsub::ConfigBuilder::default()
        // Records carry their own signatures: libp2p-level signing is off (anonymous), and the
        // message id is the record id, so a record is one message however many paths it takes.
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(csx_protocol::record::record_id(&m.data).0.to_vec())
        })
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .heartbeat_interval(Duration::from_millis(700))
        .build()?;
    let mut gs = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, config)?;
    // Scoring, so that a peer whose records we Reject loses standing and is eventually ignored.
    // (Unverified peers never reach gossipsub: its handler is gated until they are verified.)
    let mut params = gossipsub::PeerScoreParams { ip_colocation_factor_weight: 0.0, ..Default::default() };
    for t in [topic(federation), forks_topic(federation)] {
        params.topics.insert(
            t.hash(),
            gossipsub::TopicScoreParams {
                topic_weight: 1.0,
                time_in_mesh_weight: 0.0,
                first_message_deliveries_weight: 0.0,
                mesh_message_deliveries_weight: 0.0,
                mesh_failure_penalty_weight: 0.0,
                invalid_message_deliveries_weight: -100.0,
                invalid_message_deliveries_decay: 0.99,
                ..Default::default()
            },
        );
    }
    gs.with_peer_score(params, gossipsub::PeerScoreThresholds::default())?;
    gs.subscribe(&topic(federation))?;
    gs.subscribe(&forks_topic(federation))?;
    Ok(gs)
}

fn behaviour(
    key: &libp2p::identity::Keypair,
    relay: relay::client::Behaviour,
    federation: &FederationId,
    config: &NetConfig,
) -> Result<NodeBehaviour, Box<dyn std::error::Error + Send + Sync>> {
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(config.max_connections))
        .with_max_established_per_peer(Some(config.max_connections_per_peer))
        .with_max_pending_incoming(Some(config.max_pending_incoming));
    let sync = request_response::Behaviour::with_codec(
        SyncCodec,
        [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(config.request_timeout)
            .with_max_concurrent_streams(config.max_concurrent_streams),
    );
    let discovery = request_response::Behaviour::with_codec(
        DiscoveryCodec,
        [(DISCOVERY_PROTOCOL, request_response::ProtocolSupport::Outbound)],
        request_response::Config::default().with_request_timeout(config.request_timeout),
    );
    Ok(NodeBehaviour {
        limits: connection_limits::Behaviour::new(limits),
        blocked: allow_block_list::Behaviour::default(),
        gossipsub: Gated::new(gossipsub(federation)?),
        sync,
        identify: Gated::new(identify::Behaviour::new(
            identify::Config::new(identify_version(federation), key.public())
                .with_agent_version(format!("csx/{}", env!("CARGO_PKG_VERSION"))),
        )),
        ping: ping::Behaviour::new(ping::Config::new()),
        discovery,
        relay,
    })
}

/// Builds a member node's swarm.
pub fn build_swarm(
    key: &SecretKey,
    federation: &FederationId,
    transport: TransportKind,
    config: &NetConfig,
) -> Result<Swarm<NodeBehaviour>, Box<dyn std::error::Error + Send + Sync>> {
    let keypair = super::identity::keypair(key);
    let idle = config.idle_timeout;
    let swarm = match transport {
        TransportKind::Tcp => SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
            .with_relay_client(noise::Config::new, yamux::Config::default)?
            .with_behaviour(|key, relay| behaviour(key, relay, federation, config))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
        TransportKind::Memory => SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(|key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                Ok(MemoryTransport::default()
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()))
            })?
            .with_relay_client(noise::Config::new, yamux::Config::default)?
            .with_behaviour(|key, relay| behaviour(key, relay, federation, config))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
    };
    Ok(swarm)
}
