//! The bootstrap server: helps nodes find each other (rendezvous), relays for nodes that cannot
//! be dialled, and holds no records — it never speaks the gossip or sync protocols.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, SwarmBuilder, connection_limits, identify, noise, ping, relay, rendezvous, tcp, yamux};

use crate::keyfile;
use csx_protocol::keys::SecretKey;

/// The identify protocol version of bootstrap servers.
pub const BOOTSTRAP_VERSION: &str = "/csx-bootstrap/1";

#[derive(NetworkBehaviour)]
#[allow(missing_debug_implementations)] // the libp2p behaviours it holds have no Debug
struct BootstrapBehaviour {
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    rendezvous: rendezvous::server::Behaviour,
    relay: relay::Behaviour,
}

/// How to run a bootstrap server.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub listen: Vec<Multiaddr>,
    /// Public addresses to announce (confirmed for the relay); default: the listen addresses.
    pub external: Vec<Multiaddr>,
    pub max_connections: u32,
}

/// Loads the bootstrap server's key from `path`, creating it (owner-only) the first time, so
/// its peer id — part of the address members configure — stays the same across restarts.
pub fn load_or_create_key(path: &Path) -> Result<SecretKey, keyfile::KeyFileError> {
    if path.exists() {
        return keyfile::read(path, None);
    }
    let key = SecretKey::generate().map_err(|e| keyfile::KeyFileError::Randomness(e.to_string()))?;
    keyfile::write(path, "bootstrap", &key, None)?;
    Ok(key)
}

/// Runs a bootstrap server until `shutdown` resolves. `on_address` is told each address
/// (with `/p2p/<peer id>`) that members should configure.
pub async fn run(
    key: &SecretKey,
    options: BootstrapOptions,
    mut on_address: impl FnMut(&Multiaddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let keypair = crate::net::identity::keypair(key);
    let peer_id = keypair.public().to_peer_id();
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| e.to_string())?
        .with_behaviour(|key| BootstrapBehaviour {
            limits: connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_established(Some(options.max_connections))
                    .with_max_established_per_peer(Some(4)),
            ),
            identify: identify::Behaviour::new(identify::Config::new(BOOTSTRAP_VERSION.into(), key.public())),
            ping: ping::Behaviour::new(ping::Config::new()),
            rendezvous: rendezvous::server::Behaviour::new(rendezvous::server::Config::default()),
            relay: relay::Behaviour::new(
                key.public().to_peer_id(),
                relay::Config {
                    max_circuit_duration: Duration::from_secs(3600),
                    max_circuit_bytes: 0,
                    ..Default::default()
                },
            ),
        })
        .map_err(|e| e.to_string())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    for addr in &options.listen {
        swarm.listen_on(addr.clone()).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    }
    for addr in &options.external {
        swarm.add_external_address(addr.clone());
        on_address(&addr.clone().with(Protocol::P2p(peer_id)));
    }
    swarm.behaviour_mut().relay.set_status(Some(relay::Status::Enable));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. }
                    if options.external.is_empty() => {
                        swarm.add_external_address(address.clone());
                        on_address(&address.with(Protocol::P2p(peer_id)));
                    }
                SwarmEvent::ConnectionEstablished { peer_id, .. } => tracing::debug!(peer = %peer_id, "connected"),
                SwarmEvent::Behaviour(BootstrapBehaviourEvent::Rendezvous(e)) => match e {
                    rendezvous::server::Event::PeerRegistered { peer, registration } => {
                        tracing::info!(peer = %peer, namespace = %registration.namespace, "registered");
                    }
                    rendezvous::server::Event::DiscoverServed { enquirer, registrations } => {
                        tracing::debug!(peer = %enquirer, found = registrations.len(), "discovery served");
                    }
                    _ => {}
                },
                SwarmEvent::Behaviour(BootstrapBehaviourEvent::Relay(e)) => tracing::debug!("relay: {e:?}"),
                _ => {}
            }
        }
    }
    tracing::info!("bootstrap server stopped");
    Ok(())
}
