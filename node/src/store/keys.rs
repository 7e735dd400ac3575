//! Key layout of the store. Everything lives in one sled tree so that each batch of writes is
//! atomic; the first byte of a key says what it is.
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `F` | author ‖ seq | record bytes |
//! | `I` | record id | author ‖ seq (layouts 1–4; replaced by `J` in the migration to 5) |
//! | `J` | run u64 ‖ first entry of the chunk | a chunk of a sorted run of the id index: entries id[..8] ‖ author[..8] ‖ seq (layout 5 on; see `ids.rs`) |
//! | `H` | author | head seq ‖ head id |
//! | `P` | author ‖ seq | bytes of a verified record waiting for its predecessor |
//! | `X` | author | fork proof: len(a) u32 ‖ a ‖ b |
//! | `K` | kind u16 ‖ created_at ‖ author ‖ seq | tags: the service line and providers the record is about (see [`tags`]) |
//! | `C` | kind u16 ‖ len ‖ provider ‖ len ‖ service line ‖ year u16 ‖ contract ‖ author | the author's latest record of that, by (created_at, seq): created_at ‖ id ‖ seq (`contract`: 0, or 1 ‖ len u16 ‖ the contract reference, see [`current`]; layout 4 on) |
//! | `R` | referenced id ‖ kind u16 ‖ author ‖ seq | – |
//! | `L` | len ‖ service line ‖ kind u16 ‖ created_at ‖ author ‖ seq | – (layouts 1–2; removed by the migration to 3) |
//! | `V` | len ‖ provider ‖ kind u16 ‖ created_at ‖ author ‖ seq | – (layouts 1–2; removed by the migration to 3) |
//! | `T` | created_at ‖ author ‖ seq | – (layout 1 only; removed by the migration to layout 2) |
//! | `Q` | author ‖ seq | bytes of a verified record whose organisation is not admitted yet |
//! | `M` | name | metadata (schema version, counters — `kind_count.<code>`: records per kind, layout 5 on — the id index's runs, node state) |
//!
//! Integers are big-endian so that keys sort numerically.

use csx_protocol::body::Thing;
use csx_protocol::{NodeKey, RecordId};

pub const FEED: u8 = b'F';
/// Formerly the id index, one entry per record (layouts 1–4); deleted by the migration to 5.
pub const OLD_ID: u8 = b'I';
/// Chunks of the id index's sorted runs (`ids.rs`).
pub const ID_RUN: u8 = b'J';
pub const HEAD: u8 = b'H';
pub const PENDING: u8 = b'P';
pub const FORK: u8 = b'X';
pub const KIND: u8 = b'K';
pub const CURRENT: u8 = b'C';
/// Formerly indexes by service line and by provider (layouts 1–2); their entries are now the tags
/// of the `K` entries, and the migration to 3 deletes them.
pub const OLD_LINE: u8 = b'L';
pub const OLD_PROVIDER: u8 = b'V';
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
/// The `H` keys of every author whose key starts with `short`.
pub fn head_prefix(short: &[u8]) -> Vec<u8> {
    key(HEAD, &[short])
}
/// The metadata name of the count of records of a kind.
pub fn kind_count(kind: u16) -> String {
    format!("{KIND_COUNT}{kind}")
}
/// The prefix of [`kind_count`] names.
pub const KIND_COUNT: &str = "kind_count.";
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
/// The tags of a `K` entry: len ‖ service line (empty if none) ‖ count u8 ‖ (len ‖ provider)….
/// Scans by line or provider read these instead of keeping an index of their own: one index
/// entry per record instead of three (each sled entry costs about as much to write as the
/// record, docs/PERFORMANCE.md).
pub fn tags(line: Option<&str>, providers: &[&str]) -> Vec<u8> {
    let mut v = lp(line.unwrap_or(""));
    v.push(providers.len().min(255) as u8);
    for p in providers.iter().take(255) {
        v.extend(lp(p));
    }
    v
}

/// Whether the tags `v` name service line `line` (if given) and provider `provider` (if given).
/// Damaged tags match nothing.
pub fn tags_match(v: &[u8], line: Option<&str>, provider: Option<&str>) -> bool {
    fn field(v: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let n = *v.get(at)? as usize;
        Some((v.get(at + 1..at + 1 + n)?, at + 1 + n))
    }
    let Some((l, mut at)) = field(v, 0) else { return false };
    if line.is_some_and(|want| want.as_bytes() != l) {
        return false;
    }
    let Some(want) = provider else { return true };
    let Some(&count) = v.get(at) else { return false };
    at += 1;
    for _ in 0..count {
        let Some((p, next)) = field(v, at) else { return false };
        if p == want.as_bytes() {
            return true;
        }
        at = next;
    }
    false
}

/// The `C` key of what `thing` names, for `author`. The contract reference (prices only) is
/// written whole, with a two-byte length: references differ in their last characters as often
/// as in their first.
pub fn current(kind: u16, thing: &Thing<'_>, author: &NodeKey) -> Vec<u8> {
    let contract = match &thing.contract {
        None => vec![0],
        Some(c) => {
            let b = c.as_bytes();
            let n = b.len().min(u16::MAX as usize);
            [&[1][..], &(n as u16).to_be_bytes(), &b[..n]].concat()
        }
    };
    key(
        CURRENT,
        &[
            &kind.to_be_bytes(),
            &lp(thing.provider),
            &lp(thing.service_line),
            &thing.year.0.to_be_bytes(),
            &contract,
            author.as_bytes(),
        ],
    )
}
pub fn current_prefix(kind: u16) -> Vec<u8> {
    key(CURRENT, &[&kind.to_be_bytes()])
}

/// The value of a `C` entry: created_at ‖ id ‖ seq (48 bytes).
pub fn current_value(created_at: u64, id: &RecordId, seq: u64) -> [u8; 48] {
    let mut v = [0u8; 48];
    v[..8].copy_from_slice(&created_at.to_be_bytes());
    v[8..40].copy_from_slice(id.as_bytes());
    v[40..].copy_from_slice(&seq.to_be_bytes());
    v
}

/// Reads a `C` value back: (created_at, id, seq).
pub fn split_current_value(v: &[u8]) -> Option<(u64, RecordId, u64)> {
    if v.len() != 48 {
        return None;
    }
    let at = u64::from_be_bytes(v[..8].try_into().ok()?);
    let id = RecordId(v[8..40].try_into().ok()?);
    let seq = u64::from_be_bytes(v[40..].try_into().ok()?);
    Some((at, id, seq))
}

/// The author at the end of a `C` key.
pub fn current_author(k: &[u8]) -> Option<NodeKey> {
    let start = k.len().checked_sub(32)?;
    Some(NodeKey(k[start..].try_into().ok()?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_whole_codes_and_damaged_tags_match_nothing() {
        let t = tags(Some("BI"), &["0DE", "0AR"]);
        assert!(tags_match(&t, None, None));
        assert!(tags_match(&t, Some("BI"), None));
        assert!(tags_match(&t, Some("BI"), Some("0AR")));
        assert!(tags_match(&t, None, Some("0DE")));
        assert!(!tags_match(&t, Some("B"), None), "a prefix of the line is another line");
        assert!(!tags_match(&t, Some("BIX"), None));
        assert!(!tags_match(&t, None, Some("0D")));
        assert!(!tags_match(&t, Some("CONTRACT"), Some("0DE")));
        let none = tags(None, &[]);
        assert!(tags_match(&none, None, None));
        assert!(!tags_match(&none, Some("BI"), None) && !tags_match(&none, None, Some("0DE")));
        for cut in 0..t.len() {
            assert!(!tags_match(&t[..cut], None, Some("0AR")), "tags cut to {cut} bytes");
        }
        assert!(!tags_match(&[9, b'B'], None, None), "a length past the end");
    }
}
