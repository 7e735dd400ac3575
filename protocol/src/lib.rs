//! # csx-protocol
//!
//! The pure core of csx, the Commissioning Support Exchange: identities, signed records and
//! their canonical encoding, validation of every field, the genesis file, and the rule that
//! places a record in its author's feed. No I/O runtime, network or storage: everything here is
//! deterministic and tested without sockets or clocks (time is always a parameter).
//!
//! ```
//! use csx_protocol::{Body, Draft, Record, VerifyContext, keys::SecretKey, body::*, FederationId};
//!
//! let org = SecretKey::from_seed(&[1; 32]);
//! let node = SecretKey::from_seed(&[2; 32]);
//! let federation = FederationId([7; 32]);
//! let cert = NodeCert::issue(&org, node.node_key(), "02A", u64::MAX).unwrap();
//! let draft = Draft { federation, seq: 1, prev: None, created_at: 1_700_000_000_000, body: Body::NodeCert(cert) };
//! let record = Record::sign(&node, draft).unwrap();
//! let verified = Record::decode(record.bytes().to_vec()).unwrap()
//!     .verify(&VerifyContext::new(federation, 1_700_000_000_000)).unwrap();
//! assert_eq!(verified.id(), record.id());
//! ```
//!
//! The byte layout is specified in docs/PROTOCOL.md, whose test vectors `tests/vectors.rs` checks.

pub mod body;
pub mod discovery;
pub mod encoding;
pub mod error;
pub mod feed;
pub mod forkproof;
pub mod genesis;
pub mod ids;
pub mod keys;
pub mod record;
pub mod refdata;
pub mod roster;
pub mod sync;
pub mod types;
pub mod validate;
#[doc(hidden)]
pub mod vectors;

pub use body::{Body, Kind};
pub use error::{DecodeError, FieldError, RecordError};
pub use feed::{Head, Placement};
pub use genesis::{Founder, Genesis, GenesisError};
pub use ids::{FederationId, NodeKey, OrgKey, RecordId};
pub use record::{Draft, Header, Record, Verified, VerifyContext};
pub use types::{Date, FinancialYear};
