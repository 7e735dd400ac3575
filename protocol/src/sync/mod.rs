//! Catch-up sync: messages, their bytes, the heads digest, and the initiator's state machine.
//!
//! A node's *heads* map each author to its highest contiguous record (seq and id). Authors fall
//! into 256 buckets by the first byte of their key; a bucket's digest is SHA-256 over its sorted
//! `author ‖ seq ‖ id` entries (first 12 bytes), and the root is SHA-256 over the 256 bucket
//! digests. Two nodes with equal roots hold the same feeds up to the same heads.
//!
//! A round, started by either side: `Summary(root)` → `InSync` (a few bytes, done) or
//! `Differs(bucket digests)`; then `Heads(differing buckets)` → the responder's heads there; then
//! `Fetch(author, from, to)` pages for every feed the responder holds further. Work grows with
//! the difference, not the federation. Each side pulls what it lacks; the other side does the same
//! in its own rounds. The byte layout is in docs/PROTOCOL.md.

mod heads;
mod messages;
mod responder;
mod session;
#[cfg(test)]
mod tests;

pub use heads::{HeadsIndex, bucket_digest, bucket_of, root_digest};
pub use messages::{MAX_FORKED, RefusalCode, SyncRequest, SyncResponse};
pub use responder::{SyncSource, membership_digest, respond, respond_membership};
pub use session::{SyncAction, SyncEnd, SyncLimits, SyncSession, SyncViolation};

/// Number of buckets authors are spread over.
pub const BUCKETS: usize = 256;
/// Bytes of a bucket digest.
pub const BUCKET_DIGEST_LEN: usize = 12;
/// Largest sync request on the wire.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest sync response on the wire: a page of records plus framing.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most heads a `Heads` response carries (a bucket never holds more in practice; more is hostile).
pub const MAX_HEADS: usize = 50_000;

pub type BucketDigest = [u8; BUCKET_DIGEST_LEN];
