//! Network settings of a node (the `[network]` part of config.toml, see crate::config).

use std::time::Duration;

use libp2p::Multiaddr;

use super::admission::TableLimits;

/// Tunables of the network layer.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Addresses others can reach this node at, announced at bootstrap servers. When empty, the
    /// concrete addresses the node listens on are announced.
    pub external: Vec<Multiaddr>,
    /// Bootstrap servers (`…/p2p/<peer id>`), from the genesis and the config.
    pub bootstrap: Vec<Multiaddr>,
    /// Peers to dial at start besides remembered ones.
    pub peers: Vec<Multiaddr>,
    /// How often a random peer is asked for heads we may lack.
    pub sync_interval: Duration,
    /// How often bootstrap servers are asked for members' addresses.
    pub discover_interval: Duration,
    /// Listen through bootstrap servers' relays too (for nodes others cannot dial).
    pub relay: bool,
    pub max_connections: u32,
    pub max_connections_per_peer: u32,
    /// Most members' nodes connected at once (bootstrap servers not counted); see
    /// `connections`.
    pub max_peers: usize,
    /// How often one connection is swapped for a member's node not connected lately.
    pub rotate_interval: Duration,
    pub max_pending_incoming: u32,
    pub request_timeout: Duration,
    pub max_concurrent_streams: usize,
    pub idle_timeout: Duration,
    /// Most records and bytes in one sync page (asked for, and served).
    pub page_records: u64,
    pub page_bytes: u32,
    /// How long a connected peer has to show it is a current member's node.
    pub verify_timeout: Duration,
    /// How long a write waits, after a restart, for a peer to confirm this node's own feed.
    pub own_feed_wait: Duration,
    /// Bounds of the peer, address, strike, ban and backoff tables.
    pub tables: TableLimits,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: vec![],
            external: vec![],
            bootstrap: vec![],
            peers: vec![],
            sync_interval: Duration::from_secs(30),
            discover_interval: Duration::from_secs(60),
            relay: false,
            max_connections: 256,
            max_connections_per_peer: 2,
            max_peers: super::connections::DEFAULT_MAX_PEERS,
            rotate_interval: Duration::from_secs(60),
            max_pending_incoming: 64,
            request_timeout: Duration::from_secs(60),
            max_concurrent_streams: 64,
            idle_timeout: Duration::from_secs(24 * 3600),
            page_records: 2048,
            page_bytes: 1 << 20,
            verify_timeout: Duration::from_secs(30),
            own_feed_wait: Duration::from_secs(20),
            tables: TableLimits::default(),
        }
    }
}
