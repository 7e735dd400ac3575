//! The network: libp2p behaviours, the sync and discovery codecs, the admission policy, the
//! event loop that owns the swarm, and the handle everything else uses.

pub mod admission;
pub mod behaviour;
mod bootstrap_client;
pub mod bootstrap_policy;
pub mod codec;
pub mod config;
pub mod connections;
pub mod discovery;
mod entry;
pub mod event_loop;
pub mod gate;
mod gossip;
pub mod guard;
pub mod handle;
pub mod identity;
mod judge;
mod links;
pub mod own_feed;
pub mod peers;
pub mod ports;
pub mod progress;
pub mod reason;
pub mod rounds;
mod status;
mod sync_rounds;
pub mod verdicts;

pub use behaviour::TransportKind;
pub use config::NetConfig;
pub use handle::NetHandle;
