//! The heads digest: buckets, their digests, the root, and the index that keeps them current.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::feed::Head;
use crate::ids::NodeKey;

use super::*;

/// Which bucket an author falls in.
pub fn bucket_of(author: &NodeKey) -> u8 {
    author.0[0]
}

/// The digest of one bucket's heads (all zero when empty). `entries` must be sorted by author.
pub fn bucket_digest<'a>(entries: impl IntoIterator<Item = (&'a NodeKey, &'a Head)>) -> BucketDigest {
    let mut h = Sha256::new();
    let mut any = false;
    for (author, head) in entries {
        any = true;
        h.update(author.as_bytes());
        h.update(head.seq.to_be_bytes());
        h.update(head.id.as_bytes());
    }
    if !any {
        return [0; BUCKET_DIGEST_LEN];
    }
    let full: [u8; 32] = h.finalize().into();
    let mut out = [0u8; BUCKET_DIGEST_LEN];
    out.copy_from_slice(&full[..BUCKET_DIGEST_LEN]);
    out
}

/// The root digest: SHA-256 over the bucket digests, then the forked authors' keys in order.
pub fn root_digest(buckets: &[BucketDigest], forked: &[NodeKey]) -> [u8; 32] {
    let mut h = Sha256::new();
    for b in buckets {
        h.update(b);
    }
    for k in forked {
        h.update(k.as_bytes());
    }
    h.finalize().into()
}

/// A node's heads, with bucket digests cached and recomputed only for buckets that changed.
/// Authors proven to have forked are kept apart: their feeds are frozen and out of the buckets,
/// and the root covers the list of them, so two nodes agree only if they know the same forks.
#[derive(Debug, Clone)]
pub struct HeadsIndex {
    heads: BTreeMap<NodeKey, Head>,
    forked: std::collections::BTreeSet<NodeKey>,
    buckets: Vec<BucketDigest>,
    dirty: Vec<bool>,
    root: Option<[u8; 32]>,
}

impl Default for HeadsIndex {
    fn default() -> Self {
        HeadsIndex {
            heads: BTreeMap::new(),
            forked: Default::default(),
            buckets: vec![[0; BUCKET_DIGEST_LEN]; BUCKETS],
            dirty: vec![false; BUCKETS],
            root: None,
        }
    }
}

impl HeadsIndex {
    pub fn from_heads(heads: impl IntoIterator<Item = (NodeKey, Head)>) -> Self {
        let mut idx = HeadsIndex::default();
        for (a, h) in heads {
            idx.set(a, h);
        }
        idx
    }

    pub fn set(&mut self, author: NodeKey, head: Head) {
        if self.forked.contains(&author) {
            return;
        }
        if self.heads.insert(author, head) != Some(head) {
            self.dirty[bucket_of(&author) as usize] = true;
            self.root = None;
        }
    }

    /// Removes `author`'s feed (truncated away, e.g. its organisation was revoked).
    pub fn remove(&mut self, author: &NodeKey) {
        if self.heads.remove(author).is_some() {
            self.dirty[bucket_of(author) as usize] = true;
            self.root = None;
        }
    }

    /// Marks `author` as forked: its feed leaves the buckets and joins the forked list.
    pub fn mark_forked(&mut self, author: NodeKey) {
        self.remove(&author);
        if self.forked.insert(author) {
            self.root = None;
        }
    }

    pub fn is_forked(&self, author: &NodeKey) -> bool {
        self.forked.contains(author)
    }

    /// Authors proven to have forked, in key order.
    pub fn forked(&self) -> Vec<NodeKey> {
        self.forked.iter().copied().collect()
    }

    pub fn get(&self, author: &NodeKey) -> Option<Head> {
        self.heads.get(author).copied()
    }

    pub fn len(&self) -> usize {
        self.heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeKey, &Head)> {
        self.heads.iter()
    }

    fn bucket_range(&self, b: u8) -> impl Iterator<Item = (&NodeKey, &Head)> {
        let mut lo = [0u8; 32];
        lo[0] = b;
        self.heads.range(NodeKey(lo)..).take_while(move |(k, _)| k.0[0] == b)
    }

    fn refresh(&mut self) {
        for b in 0..BUCKETS {
            if self.dirty[b] {
                self.buckets[b] = bucket_digest(self.bucket_range(b as u8));
                self.dirty[b] = false;
            }
        }
    }

    pub fn buckets(&mut self) -> &[BucketDigest] {
        self.refresh();
        &self.buckets
    }

    pub fn root(&mut self) -> [u8; 32] {
        if let Some(r) = self.root {
            return r;
        }
        self.refresh();
        let r = root_digest(&self.buckets, &self.forked());
        self.root = Some(r);
        r
    }

    /// Heads of the authors in `buckets`.
    pub fn heads_in(&self, buckets: &[u8]) -> Vec<(NodeKey, Head)> {
        buckets.iter().flat_map(|b| self.bucket_range(*b).map(|(k, h)| (*k, *h))).collect()
    }

    /// Records the other side holds beyond ours, and ours beyond theirs, for authors in `theirs`.
    pub fn lag(&self, theirs: &[(NodeKey, Head)]) -> (u64, u64) {
        let mut behind = 0;
        let mut ahead = 0;
        for (a, h) in theirs {
            let mine = self.get(a).map_or(0, |m| m.seq);
            behind += h.seq.saturating_sub(mine);
            ahead += mine.saturating_sub(h.seq);
        }
        (behind, ahead)
    }
}
