//! The network: libp2p behaviours, the sync codec, the event loop that owns the swarm, and the
//! handle everything else uses.

pub mod behaviour;
pub mod codec;
pub mod config;
pub mod event_loop;
pub mod guard;
pub mod handle;
pub mod identity;
pub mod peers;

pub use behaviour::TransportKind;
pub use config::NetConfig;
pub use handle::NetHandle;
