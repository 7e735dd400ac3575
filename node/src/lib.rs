//! # csx-node
//!
//! The csx node: storage behind the [`store::Store`] trait, the home directory with its keys,
//! the request API ([`api`]) and the [`service::Service`] that answers it over a store. The CLI
//! uses the service directly when no daemon runs.

pub mod alerts;
pub mod api;
pub mod author;
pub mod backup;
pub mod bootstrap;
pub mod client;
pub mod config;
pub mod control;
pub mod error_kind;
pub mod home;
pub mod import;
pub mod ingest;
pub mod input;
pub mod keyfile;
pub mod membership;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod query;
pub mod registry;
pub mod runtime;
pub mod sample;
pub mod service;
pub mod store;
