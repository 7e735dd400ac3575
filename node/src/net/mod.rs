//! The network: libp2p behaviours, the sync and discovery codecs, the admission policy, the
//! event loop that owns the swarm, and the handle everything else uses.

pub mod admission;
pub mod behaviour;
mod bootstrap_client;
pub mod bootstrap_policy;
pub mod codec;
pub mod config;
pub mod discovery;
pub mod event_loop;
pub mod gate;
mod gossip;
pub mod guard;
pub mod handle;
pub mod identity;
pub mod peers;
pub mod progress;
pub mod reason;
mod sync_rounds;

pub use behaviour::TransportKind;
pub use config::NetConfig;
pub use handle::NetHandle;
