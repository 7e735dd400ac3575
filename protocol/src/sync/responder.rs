//! The responder's side: what it reads from its store and how it answers each request.

use sha2::{Digest, Sha256};

use crate::ids::{FederationId, NodeKey, RecordId};

use super::*;

/// What a responder reads from its store.
pub trait SyncSource {
    /// The exact bytes of `author`'s records from `from` to `to`, in order, about `max_bytes`
    /// (at least one record if any is held).
    fn feed(&self, author: &NodeKey, from: u64, to: u64, max_bytes: usize) -> Vec<Vec<u8>>;
    /// The two records proving that `author` forked.
    fn fork_proof(&self, author: &NodeKey) -> Option<(Vec<u8>, Vec<u8>)>;
    /// Every membership record held (certificates, endorsements, revocations, retirements),
    /// with its id, sorted by id.
    fn membership(&self) -> Vec<(RecordId, Vec<u8>)>;
}

/// The digest of a set of membership records: SHA-256 over their ids, in id order.
pub fn membership_digest<'a>(sorted_ids: impl IntoIterator<Item = &'a RecordId>) -> [u8; 32] {
    let mut h = Sha256::new();
    for id in sorted_ids {
        h.update(id.as_bytes());
    }
    h.finalize().into()
}

/// Answers a `Membership` request from `records` (sorted by id): `InSync` when the asker's
/// digest is ours, else the records with ids after `after`, about `max_bytes` (at least one if
/// any is left); an empty page means there are no more.
pub fn respond_membership(
    known: &[u8; 32],
    after: &RecordId,
    records: &[(RecordId, Vec<u8>)],
    max_bytes: usize,
) -> SyncResponse {
    if *known == membership_digest(records.iter().map(|(id, _)| id)) {
        return SyncResponse::InSync;
    }
    let start = records.partition_point(|(id, _)| id.as_bytes() <= after.as_bytes());
    let mut page = Vec::new();
    let mut bytes = 0;
    for (_, r) in &records[start..] {
        if !page.is_empty() && bytes + r.len() + 4 > max_bytes {
            break;
        }
        bytes += r.len() + 4;
        page.push(r.clone());
    }
    SyncResponse::Records { records: page }
}

/// Answers a sync request from this node's heads and store.
pub fn respond(
    federation: &FederationId,
    request: &SyncRequest,
    local: &mut HeadsIndex,
    max_page_bytes: u32,
    source: &dyn SyncSource,
) -> SyncResponse {
    match request {
        SyncRequest::Summary { federation: theirs, root } => {
            if theirs != federation {
                return SyncResponse::Refused {
                    code: RefusalCode::WrongFederation,
                    message: format!("this is federation {}", federation.short()),
                };
            }
            if *root == local.root() {
                SyncResponse::InSync
            } else {
                SyncResponse::Differs { buckets: local.buckets().to_vec(), forked: local.forked() }
            }
        }
        SyncRequest::Heads { buckets } => SyncResponse::Heads { heads: local.heads_in(buckets) },
        SyncRequest::Fetch { author, from_seq, to_seq, max_bytes } => {
            if from_seq > to_seq || *from_seq == 0 {
                return SyncResponse::Refused {
                    code: RefusalCode::BadRequest,
                    message: "empty or invalid seq range".into(),
                };
            }
            let held = local.get(author).map_or(0, |h| h.seq);
            if *from_seq > held {
                return SyncResponse::Records { records: vec![] };
            }
            let max = (*max_bytes).min(max_page_bytes) as usize;
            SyncResponse::Records { records: source.feed(author, *from_seq, (*to_seq).min(held), max) }
        }
        SyncRequest::Proof { author } => match source.fork_proof(author) {
            Some((first, second)) => SyncResponse::Proof { first, second },
            None => {
                SyncResponse::Refused { code: RefusalCode::BadRequest, message: "no fork proof for that author".into() }
            }
        },
        SyncRequest::Membership { known, after } => {
            respond_membership(known, after, &source.membership(), max_page_bytes as usize)
        }
    }
}
