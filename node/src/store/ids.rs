//! The index from record ids to places, kept as sorted runs (a small log-structured merge tree)
//! instead of one sled entry per record.
//!
//! Record ids are hashes: one sled entry per id puts every new id in its own leaf of sled's B-tree
//! (leaves hold at most 16 entries), so each batch of records rewrote thousands of leaves and,
//! at a million records, halved the store's write rate and doubled its disk (docs/PERFORMANCE.md).
//! Here each batch of records adds one run: its entries sorted, written in chunks of about 4 KiB
//! under keys that follow each other (`J` ‖ run ‖ first entry of the chunk). When a size class holds
//! [`FANOUT`] runs they are merged into one of the next class, in the same atomic batch; runs of
//! the top class ([`TOP`], about 262,000 entries) are not merged further, which bounds the largest
//! merge to a few MiB. Each id is thus written a few times, sequentially, instead of rewriting a
//! random leaf. A lookup searches every run (a few dozen at a million records: one seek and one
//! chunk each).
//!
//! An entry is the first 8 bytes of the id ‖ the first 8 bytes of the author ‖ seq: 24 bytes. It
//! names a candidate place; the caller reads the record there and compares the whole id, so
//! entries sharing a short id, and entries left behind by a truncated feed, are harmless. The
//! directory of runs (`M` `id_runs`) is written in the batch that changes it and kept in memory.

use csx_protocol::{NodeKey, RecordId};

use super::StoreError;
use super::keys;

/// One entry: id[..8] ‖ author[..8] ‖ seq (big-endian), so entries sort by short id.
pub type Entry = [u8; 24];

/// Bytes of the id and of the author in an entry.
pub const SHORT: usize = 8;
/// Entries per chunk (one sled value of about 4 KiB).
const CHUNK: usize = 170;
/// Runs of one size class merged into one of the next.
pub const FANOUT: usize = 8;
/// The top size class: runs of at least 8^6 = 262,144 entries, never merged.
pub const TOP: u8 = 6;
/// The metadata entry holding the directory of runs.
pub const DIRECTORY: &str = "id_runs";

pub fn entry(id: &RecordId, author: &NodeKey, seq: u64) -> Entry {
    let mut e = [0u8; 24];
    e[..SHORT].copy_from_slice(&id.as_bytes()[..SHORT]);
    e[SHORT..2 * SHORT].copy_from_slice(&author.as_bytes()[..SHORT]);
    e[2 * SHORT..].copy_from_slice(&seq.to_be_bytes());
    e
}

/// An entry read back: (short author, seq).
pub fn place(e: &Entry) -> (&[u8], u64) {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&e[2 * SHORT..]);
    (&e[SHORT..2 * SHORT], u64::from_be_bytes(seq))
}

/// The size class of a run of `len` entries: ⌊log₈ len⌋, at most [`TOP`].
fn class(len: u64) -> u8 {
    let mut c = 0u8;
    let mut n = len;
    while n >= FANOUT as u64 && c < TOP {
        n /= FANOUT as u64;
        c += 1;
    }
    c
}

fn chunk_key(run: u64, first: &Entry) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 8 + 24);
    k.push(keys::ID_RUN);
    k.extend_from_slice(&run.to_be_bytes());
    k.extend_from_slice(first);
    k
}

fn run_prefix(run: u64) -> Vec<u8> {
    let mut k = vec![keys::ID_RUN];
    k.extend_from_slice(&run.to_be_bytes());
    k
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub class: u8,
    pub number: u64,
    pub len: u64,
}

/// The directory of runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runs {
    pub runs: Vec<Run>,
    /// The number the next run gets; it grows with every change, so a reader can tell whether the
    /// runs changed under it.
    pub next: u64,
}

impl Runs {
    pub fn load(tree: &sled::Db) -> Result<Runs, StoreError> {
        let Some(v) = tree.get(keys::meta(DIRECTORY))? else { return Ok(Runs::default()) };
        let bad = || StoreError::corrupt("id index directory");
        if v.len() < 8 || (v.len() - 8) % 17 != 0 {
            return Err(bad());
        }
        let next = u64::from_be_bytes(v[..8].try_into().map_err(|_| bad())?);
        let runs = v[8..]
            .chunks(17)
            .map(|c| {
                Ok(Run {
                    class: c[0],
                    number: u64::from_be_bytes(c[1..9].try_into().map_err(|_| bad())?),
                    len: u64::from_be_bytes(c[9..17].try_into().map_err(|_| bad())?),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Runs { runs, next })
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + 17 * self.runs.len());
        v.extend_from_slice(&self.next.to_be_bytes());
        for r in &self.runs {
            v.push(r.class);
            v.extend_from_slice(&r.number.to_be_bytes());
            v.extend_from_slice(&r.len.to_be_bytes());
        }
        v
    }

    /// Adds `entries` as a new run into `batch`, merging the size classes it fills; returns the
    /// directory as it will be once `batch` is applied (the caller keeps it then).
    pub fn add(&self, tree: &sled::Db, batch: &mut sled::Batch, mut entries: Vec<Entry>) -> Result<Runs, StoreError> {
        let mut dir = self.clone();
        if entries.is_empty() {
            return Ok(dir);
        }
        entries.sort_unstable();
        entries.dedup();
        loop {
            let c = class(entries.len() as u64);
            if c >= TOP {
                break;
            }
            let same: Vec<Run> = dir.runs.iter().filter(|r| r.class == c).copied().collect();
            if same.len() + 1 < FANOUT {
                break;
            }
            for r in &same {
                for item in tree.scan_prefix(run_prefix(r.number)) {
                    let (k, v) = item?;
                    if v.len() % 24 != 0 {
                        return Err(StoreError::corrupt("id index chunk"));
                    }
                    entries.extend(v.chunks(24).map(|e| <Entry>::try_from(e).expect("24 bytes")));
                    batch.remove(k);
                }
            }
            dir.runs.retain(|r| r.class != c);
            entries.sort_unstable();
            entries.dedup();
        }
        dir.write_run(batch, &entries);
        Ok(dir)
    }

    /// Writes `entries` (sorted) as a new run.
    pub fn write_run(&mut self, batch: &mut sled::Batch, entries: &[Entry]) {
        let number = self.next;
        self.next += 1;
        for chunk in entries.chunks(CHUNK) {
            batch.insert(chunk_key(number, &chunk[0]), chunk.concat());
        }
        self.runs.push(Run { class: class(entries.len() as u64), number, len: entries.len() as u64 });
        batch.insert(keys::meta(DIRECTORY), self.encode());
    }

    /// Entries whose first `lo.len()` bytes lie in `lo..=hi` (`lo` and `hi` of one length, at most
    /// [`SHORT`]), from every run; at most `limit` (runs are read in turn, not merged).
    pub fn within(&self, tree: &sled::Db, lo: &[u8], hi: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        let n = lo.len();
        let mut start = [0u8; 24];
        start[..n].copy_from_slice(lo);
        let mut out = Vec::new();
        for run in &self.runs {
            // The chunk holding `start`, if any, is the last one starting at or before it.
            let from = match tree.range(run_prefix(run.number)..=chunk_key(run.number, &start)).next_back() {
                Some(item) => item?.0.to_vec(),
                None => run_prefix(run.number),
            };
            'chunks: for item in tree.range(from..) {
                let (k, v) = item?;
                if !k.starts_with(&run_prefix(run.number)) {
                    break;
                }
                if v.len() % 24 != 0 {
                    return Err(StoreError::corrupt("id index chunk"));
                }
                for e in v.chunks(24) {
                    if &e[..n] > hi {
                        break 'chunks;
                    }
                    if &e[..n] >= lo {
                        out.push(<Entry>::try_from(e).expect("24 bytes"));
                        if out.len() >= limit {
                            return Ok(out);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Entries with the short id of `id`.
    pub fn candidates(&self, tree: &sled::Db, id: &RecordId) -> Result<Vec<Entry>, StoreError> {
        let short = &id.as_bytes()[..SHORT];
        self.within(tree, short, short, usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: u8, seq: u64) -> Entry {
        entry(&RecordId([id; 32]), &NodeKey([1; 32]), seq)
    }

    #[test]
    fn classes_grow_by_eights_up_to_the_top() {
        assert_eq!([class(0), class(1), class(7), class(8), class(63), class(64)], [0, 0, 0, 1, 1, 2]);
        assert_eq!(class(4096), 4);
        assert_eq!(class(262_144), TOP);
        assert_eq!(class(u64::MAX), TOP);
    }

    #[test]
    fn runs_merge_when_a_class_fills_and_every_entry_stays_findable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = sled::Config::new().path(dir.path()).open().expect("open");
        let mut runs = Runs::default();
        let mut all = Vec::new();
        // 200 batches of one to five entries, ids spread over the whole key space.
        for b in 0..200u64 {
            let batch_entries: Vec<Entry> =
                (0..1 + b % 5).map(|i| e(((b * 37 + i * 101) % 251) as u8, b * 10 + i)).collect();
            all.extend(batch_entries.iter().copied());
            let mut batch = sled::Batch::default();
            let next = runs.add(&tree, &mut batch, batch_entries).expect("add");
            tree.apply_batch(batch).expect("apply");
            runs = next;
            for c in 0..TOP {
                assert!(runs.runs.iter().filter(|r| r.class == c).count() < FANOUT, "class {c} was merged");
            }
        }
        assert_eq!(runs.runs.iter().map(|r| r.len).sum::<u64>(), all.len() as u64);
        assert_eq!(Runs::load(&tree).expect("load"), runs, "the directory is on disk");
        let chunks = tree.scan_prefix([keys::ID_RUN]).count();
        let expected: usize = runs.runs.iter().map(|r| (r.len as usize).div_ceil(CHUNK)).sum();
        assert_eq!(chunks, expected, "merged runs' chunks are removed");
        for want in &all {
            let got = runs.candidates(&tree, &RecordId([want[0]; 32])).expect("candidates");
            assert!(got.contains(want), "{want:?}");
            assert!(got.iter().all(|g| g[..SHORT] == want[..SHORT]));
        }
        assert!(runs.candidates(&tree, &RecordId([252; 32])).expect("candidates").is_empty());
        let some = runs.within(&tree, &[10], &[20], 3).expect("within");
        assert_eq!(some.len(), 3);
        assert!(some.iter().all(|s| (10..=20).contains(&s[0])));
    }

    #[test]
    fn a_run_spans_chunks_and_lookups_find_entries_in_any_of_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = sled::Config::new().path(dir.path()).open().expect("open");
        let entries: Vec<Entry> = (0..1000u64).map(|i| e((i % 200) as u8, i)).collect();
        let mut batch = sled::Batch::default();
        let runs = Runs::default().add(&tree, &mut batch, entries).expect("add");
        tree.apply_batch(batch).expect("apply");
        assert_eq!(tree.scan_prefix([keys::ID_RUN]).count(), 1000usize.div_ceil(CHUNK));
        for id in 0..200u8 {
            let got = runs.candidates(&tree, &RecordId([id; 32])).expect("candidates");
            assert_eq!(got.len(), 5, "id {id}: five places share each short id");
        }
    }
}
