//! Key layout of the store. Everything lives in one sled tree so that each batch of writes is
//! atomic; the first byte of a key says what it is.
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `F` | author ‖ seq | record bytes |
//! | `I` | record id | author ‖ seq |
//! | `H` | author | head seq ‖ head id |
//! | `P` | author ‖ seq | bytes of a verified record waiting for its predecessor |
//! | `X` | author | fork proof: len(a) u32 ‖ a ‖ b |
//! | `K` | kind u16 ‖ created_at ‖ author ‖ seq | – |
//! | `L` | len ‖ service line ‖ kind u16 ‖ created_at ‖ author ‖ seq | – |
//! | `V` | len ‖ provider ‖ kind u16 ‖ created_at ‖ author ‖ seq | – |
//! | `T` | created_at ‖ author ‖ seq | – (layout 1 only; removed by the migration to layout 2) |
//! | `R` | referenced id ‖ kind u16 ‖ author ‖ seq | – |
//! | `Q` | author ‖ seq | bytes of a verified record whose organisation is not admitted yet |
//! | `M` | name | metadata (schema version, counters, node state) |
//!
//! Integers are big-endian so that keys sort numerically.

use csx_protocol::{NodeKey, RecordId};

pub const FEED: u8 = b'F';
pub const ID: u8 = b'I';
pub const HEAD: u8 = b'H';
pub const PENDING: u8 = b'P';
pub const FORK: u8 = b'X';
pub const KIND: u8 = b'K';
pub const LINE: u8 = b'L';
pub const PROVIDER: u8 = b'V';
/// Formerly an index by time (layout 1); no longer written, and deleted by the migration to 2.
pub const OLD_TIME: u8 = b'T';
pub const REFS: u8 = b'R';
pub const META: u8 = b'M';
pub const QUARANTINE: u8 = b'Q';

/// A record's place: author ‖ seq (40 bytes).
pub type Pos = [u8; 40];

pub fn pos(author: &NodeKey, seq: u64) -> Pos {
    let mut p = [0u8; 40];
    p[..32].copy_from_slice(author.as_bytes());
    p[32..].copy_from_slice(&seq.to_be_bytes());
    p
}

pub fn split_pos(p: &[u8]) -> Option<(NodeKey, u64)> {
    if p.len() != 40 {
        return None;
    }
    let mut a = [0u8; 32];
    a.copy_from_slice(&p[..32]);
    let mut s = [0u8; 8];
    s.copy_from_slice(&p[32..]);
    Some((NodeKey(a), u64::from_be_bytes(s)))
}

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// A length-prefixed string, so that the prefix of "BI" does not match "BIX".
fn lp(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut v = Vec::with_capacity(1 + b.len());
    v.push(b.len().min(255) as u8);
    v.extend_from_slice(&b[..b.len().min(255)]);
    v
}

pub fn feed(author: &NodeKey, seq: u64) -> Vec<u8> {
    key(FEED, &[&pos(author, seq)])
}
pub fn feed_prefix(author: &NodeKey) -> Vec<u8> {
    key(FEED, &[author.as_bytes()])
}
pub fn id(id: &RecordId) -> Vec<u8> {
    key(ID, &[id.as_bytes()])
}
pub fn head(author: &NodeKey) -> Vec<u8> {
    key(HEAD, &[author.as_bytes()])
}
pub fn pending(author: &NodeKey, seq: u64) -> Vec<u8> {
    key(PENDING, &[&pos(author, seq)])
}
pub fn pending_prefix(author: &NodeKey) -> Vec<u8> {
    key(PENDING, &[author.as_bytes()])
}
pub fn quarantine(author: &NodeKey, seq: u64) -> Vec<u8> {
    key(QUARANTINE, &[&pos(author, seq)])
}
pub fn quarantine_prefix(author: &NodeKey) -> Vec<u8> {
    key(QUARANTINE, &[author.as_bytes()])
}
pub fn fork(author: &NodeKey) -> Vec<u8> {
    key(FORK, &[author.as_bytes()])
}
pub fn kind(kind: u16, created_at: u64, p: &Pos) -> Vec<u8> {
    key(KIND, &[&kind.to_be_bytes(), &created_at.to_be_bytes(), p])
}
pub fn kind_prefix(kind: u16) -> Vec<u8> {
    key(KIND, &[&kind.to_be_bytes()])
}
pub fn line(line: &str, kind: u16, created_at: u64, p: &Pos) -> Vec<u8> {
    key(LINE, &[&lp(line), &kind.to_be_bytes(), &created_at.to_be_bytes(), p])
}
pub fn line_prefix(line: &str, kind: Option<u16>) -> Vec<u8> {
    match kind {
        Some(k) => key(LINE, &[&lp(line), &k.to_be_bytes()]),
        None => key(LINE, &[&lp(line)]),
    }
}
pub fn provider(code: &str, kind: u16, created_at: u64, p: &Pos) -> Vec<u8> {
    key(PROVIDER, &[&lp(code), &kind.to_be_bytes(), &created_at.to_be_bytes(), p])
}
pub fn provider_prefix(code: &str, kind: Option<u16>) -> Vec<u8> {
    match kind {
        Some(k) => key(PROVIDER, &[&lp(code), &k.to_be_bytes()]),
        None => key(PROVIDER, &[&lp(code)]),
    }
}
pub fn refs(target: &RecordId, kind: u16, p: &Pos) -> Vec<u8> {
    key(REFS, &[target.as_bytes(), &kind.to_be_bytes(), p])
}
pub fn refs_prefix(target: &RecordId, kind: Option<u16>) -> Vec<u8> {
    match kind {
        Some(k) => key(REFS, &[target.as_bytes(), &k.to_be_bytes()]),
        None => key(REFS, &[target.as_bytes()]),
    }
}
pub fn meta(name: &str) -> Vec<u8> {
    key(META, &[name.as_bytes()])
}

/// The record position at the end of an index key (every index key ends with author ‖ seq).
pub fn pos_suffix(k: &[u8]) -> Option<(NodeKey, u64)> {
    k.len().checked_sub(40).and_then(|start| split_pos(&k[start..]))
}
