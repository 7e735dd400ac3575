//! A seeded, deterministic network simulator of a csx federation: a second executor of the
//! node's I/O-less policy machines.
//!
//! Thousands of nodes run in one thread on a virtual clock (a discrete-event queue: no sockets,
//! no sleeps, no real time). What runs in each node is the node's own code, driven as its event
//! loop drives it (node/src/net/{entry,links,sync_rounds,gossip}.rs):
//!
//! - **Admission** ([`csx_node::net::admission::Admission`]): connections, strikes, bans, the
//!   per-peer gossip and request rate limits. Every simulated node is a member's node the roster
//!   knows, so it is admitted on connecting; the certificate exchange is not run.
//! - **Bounded connections** ([`csx_node::net::connections::Connections`], `max_peers` 50 by
//!   default): whom to dial, whom to turn away when full, rotation, cooldowns.
//! - **Sync-round scheduling** ([`csx_node::net::rounds::Rounds`]): when to sync with whom,
//!   rounds back, confirmations, stalls; each round is the real
//!   [`csx_protocol::sync::SyncSession`] against the real `respond`, exchanging real encoded
//!   messages whose sizes are what the figures count.
//! - **Gossip verdicts** ([`csx_node::net::verdicts::verdict`]): accept (forward) / ignore /
//!   reject and the strike each costs; `wants_round` starts a round on a gap.
//! - **Records**: signed for real, decoded and verified for real (signatures and the clock
//!   check), stored in a real [`csx_node::store::MemStore`] per node. A record's signatures are
//!   checked once and the result shared by every node (a cache by id and signature), each node
//!   being charged `verify_us` of CPU on its virtual clock per record it verifies; the clock
//!   check runs per node against its own (skewed) clock. The roster step of ingest is not run:
//!   every author is a member.
//!
//! What is modelled instead of run:
//!
//! - **The network**: latency fixed per link from the seed (20–150 ms) with ± jitter per
//!   message, each node's uplink bandwidth (messages queue behind each other), loss as the
//!   retransmission delay it costs a reliable stream (a lost packet is resent after
//!   max(200 ms, 3 × latency), doubling), partitions (links across the split break at once,
//!   dials across fail), nodes going away and coming back (a network outage, not a restart:
//!   their state is kept), a clock skew per node. A new connection carries requests after two
//!   round trips (TCP, then noise and yamux). A closed connection is closed on both sides at
//!   once.
//! - **Gossipsub** (libp2p's, configured in node/src/net/behaviour.rs: D=6, D_lo=5, D_hi=12,
//!   700 ms heartbeat, message id = record id): a mesh per node kept between D_lo and D_hi at
//!   each heartbeat from its connected peers, flood publish to every connected peer, forwarding
//!   to the mesh of every message the verdict table accepts, a duplicate cache by record id.
//!   IHAVE/IWANT gossip to non-mesh peers and peer scoring are not modelled (what the mesh
//!   misses comes by sync, as on a real node); framing is a fixed [`world::GOSSIP_FRAMING`]
//!   bytes per message.
//! - **Discovery**: each node hears of a random sample of `known_peers` members' nodes at the
//!   start (what bootstrap servers and the peer book give it).
//! - **Hostile nodes** forward nothing, claim to be in step in every sync round (and send
//!   nothing they are asked for), and send a forged record (a broken signature) to every peer
//!   every `spam_interval_ms`.
//! - **Workload**: only the records under study are held (and the certificates of their
//!   authors, in every store), not full histories: 10,000 nodes take about 600 MB.
//!
//! The same seed gives the same figures, byte for byte ([`run`] returns them as JSON): all
//! randomness comes from the seed, and no decision depends on the order of a hash map (the
//! policy machines' tables that evict in such an order do so only beyond 1,024 entries).

pub mod queue;
pub mod scenarios;
pub mod world;

pub use scenarios::{Scenario, run};

/// Everything a run depends on. Defaults are the node's defaults where it has them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    /// Percentage of nodes that are hostile.
    pub hostile_pct: f64,
    /// Most members' nodes connected at once (the node's `max_peers`).
    pub max_peers: usize,
    /// How often the connection policy swaps a connection (the node's `rotate_interval`).
    pub rotate_ms: u64,
    /// Members' nodes each node hears of at the start.
    pub known_peers: usize,
    pub mesh_d: usize,
    pub mesh_d_lo: usize,
    pub mesh_d_hi: usize,
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
    /// Per-message jitter, ± this percentage of the link's latency.
    pub jitter_pct: f64,
    /// Each node's uplink.
    pub bandwidth_bytes_per_s: u64,
    /// Probability that a packet is lost (and resent).
    pub loss: f64,
    /// Each node's clock is off by up to ± this (uniform).
    pub max_skew_ms: u64,
    /// CPU time to verify one record (the real ingest path does about 18,000 a second on one
    /// core: docs/PERFORMANCE.md).
    pub verify_us: u64,
    /// The node's `sync_interval`.
    pub sync_interval_ms: u64,
    /// How often a hostile node sends a forged record to each of its peers.
    pub spam_interval_ms: u64,
    /// Records published (and measured) per run.
    pub records: usize,
    /// Time the federation runs before the first record is published (connections and meshes
    /// form).
    pub settle_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            nodes: 200,
            hostile_pct: 0.0,
            max_peers: csx_node::net::connections::DEFAULT_MAX_PEERS,
            rotate_ms: 60_000,
            known_peers: 200,
            mesh_d: 6,
            mesh_d_lo: 5,
            mesh_d_hi: 12,
            latency_min_ms: 20,
            latency_max_ms: 150,
            jitter_pct: 10.0,
            bandwidth_bytes_per_s: 1_250_000,
            loss: 0.01,
            max_skew_ms: 2_000,
            verify_us: 60,
            sync_interval_ms: 30_000,
            spam_interval_ms: 1_000,
            records: 10,
            settle_ms: 10_000,
        }
    }
}

impl SimConfig {
    /// Checks the values a person typed.
    pub fn check(&self) -> Result<(), String> {
        if self.nodes < 2 {
            return Err("--nodes must be at least 2".into());
        }
        if self.nodes > 100_000 {
            return Err("--nodes above 100,000 would not fit in memory".into());
        }
        if !(0.0..=50.0).contains(&self.hostile_pct) {
            return Err("--hostile-pct must be between 0 and 50".into());
        }
        if !(0.0..0.5).contains(&self.loss) {
            return Err("--loss must be at least 0 and below 0.5".into());
        }
        if self.max_peers < 2 || self.max_peers > 10_000 {
            return Err("--max-peers must be between 2 and 10,000".into());
        }
        if self.mesh_d_lo > self.mesh_d || self.mesh_d > self.mesh_d_hi {
            return Err("need D_lo ≤ D ≤ D_hi".into());
        }
        if self.latency_min_ms > self.latency_max_ms {
            return Err("the minimum latency is above the maximum".into());
        }
        if self.records == 0 || self.records > 10_000 {
            return Err("--records must be between 1 and 10,000".into());
        }
        if self.bandwidth_bytes_per_s == 0 {
            return Err("the bandwidth must be above zero".into());
        }
        Ok(())
    }
}
