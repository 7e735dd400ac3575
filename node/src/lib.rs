//! # csx-node
//!
//! The csx node: storage behind the [`store::Store`] trait, and (in later modules) membership,
//! the ingest pipeline, queries, the libp2p event loop and the local control API.

pub mod author;
pub mod store;
