//! Backups of a node's home: `csx backup FILE` and `csx restore FILE`.
//!
//! A backup is one file holding what a node needs to come back as itself: its home files (keys,
//! certificate, profile, genesis, configuration, staff accounts and their audit log), every
//! record of every feed it holds, the proofs of forks it knows, and its node-local metadata
//! (peer book, import batches, time of the last sync). Records waiting for a predecessor and
//! records of applicants not yet admitted are left out: peers send them again.
//!
//! **Consistency.** The daemon takes the backup while it runs. The heads of every feed are read
//! at one instant (under the lock the store updates them with, after each write is applied), then
//! each feed is copied from seq 1 to that head. Feeds only grow, so the backup is exactly the
//! store as it was at that instant, whatever is written meanwhile; the heads digest of that
//! instant is in the file and checked again after a restore.
//!
//! **Format, version 1** (all integers big-endian):
//!
//! | part | bytes |
//! | --- | --- |
//! | magic | `csx-backup\n` (11 bytes) |
//! | version | u32, 1 |
//! | created at | u64, Unix ms |
//! | federation | 32 bytes, the federation id |
//! | node key | 32 bytes, the backed-up node's key |
//! | entries | each: tag u8 ‖ length u32 ‖ payload of that length |
//! | checksum | 32 bytes: SHA-256 of every byte before it |
//!
//! | tag | payload |
//! | --- | --- |
//! | `F` | a home file: name length u8 ‖ name (UTF-8, one of [`HOME_FILES`]) ‖ contents |
//! | `M` | a metadata entry: name length u8 ‖ name ‖ value |
//! | `R` | a record's exact bytes; feeds in turn, each from seq 1 up |
//! | `X` | a fork proof: length of the first record u32 ‖ first ‖ second |
//! | `E` | the end, last entry: records u64 ‖ feeds u64 ‖ files u32 ‖ metadata u32 ‖ fork proofs u32 ‖ heads digest (32 bytes) |
//!
//! A restore reads the whole file twice: first to check its structure, counts and checksum
//! (nothing is written if any is wrong), then to rebuild the home in a directory beside the
//! target, verifying every record's signature and its place in its feed; only a complete,
//! checked home is moved into place. The file holds the node's and organisation's secret keys
//! (the organisation key as stored: encrypted if it has a passphrase), so it is written
//! owner-only (0600) and must be kept like them (see SECURITY.md).
//!
//! **A restored node does not sign at once.** Its peers may hold records of its own feed signed
//! after the backup; signing a new record at a seq they already hold would fork its feed, and a
//! forked author is shut out of the federation. So a restore marks the store, and the node signs
//! nothing (offline or through the daemon) until a member's node has shown, in a sync round, that
//! it holds no more of this node's feed than this node does; the daemon clears the mark then.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use csx_protocol::{NodeKey, Record, VerifyContext};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error_kind::{ApiError, ErrorKind};
use crate::home::Home;
use crate::store::{Outcome, SledStore, Store, StoreConfig, StoreError};

/// The first bytes of every backup file.
pub const MAGIC: &[u8; 11] = b"csx-backup\n";
/// The version of the format this csx writes (and the only one it reads).
pub const FORMAT_VERSION: u32 = 1;

/// The home files a backup holds (those present), and the only names a restore accepts.
pub const HOME_FILES: &[&str] = &[
    "identity.json",
    "node.key",
    "org.key",
    "node-cert.json",
    "profile.json",
    "genesis.json",
    "config.toml",
    "web/accounts.json",
    "web/audit.log",
];
/// Files without which a restored home is not a node.
const REQUIRED_FILES: &[&str] = &["identity.json", "node.key", "node-cert.json", "profile.json", "genesis.json"];

/// Metadata the store keeps for itself (counters, layout): rebuilt by a restore, not copied.
const STORE_OWN_META: &[&str] =
    &["schema", "records", "feeds", "pending", "forks", "record_bytes", "quarantined", "id_runs"];
/// The prefix of the store's counts per kind (also its own).
const KIND_COUNT: &str = "kind_count.";

/// The metadata entry marking a store restored from a backup whose own feed no peer has
/// confirmed yet (value [`RESTORED`]); the daemon writes [`CONFIRMED`] when a peer does.
pub const OWN_FEED_META: &str = "own_feed";
pub const RESTORED: &[u8] = b"restored";
pub const CONFIRMED: &[u8] = b"confirmed";

const TAG_FILE: u8 = b'F';
const TAG_META: u8 = b'M';
const TAG_RECORD: u8 = b'R';
const TAG_FORK: u8 = b'X';
const TAG_END: u8 = b'E';
const END_LEN: usize = 8 + 8 + 4 + 4 + 4 + 32;
const HEADER_LEN: usize = 11 + 4 + 8 + 32 + 32;
/// Records per insert while restoring.
const RESTORE_BATCH: usize = 1000;

/// Whether a restored store still waits for a peer to confirm its own feed.
pub fn awaiting_confirmation(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.meta_get(OWN_FEED_META)?.as_deref() == Some(RESTORED))
}

/// What a backup holds, as `csx backup` and `csx restore` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    pub path: String,
    pub format_version: u32,
    /// When the backup was taken (Unix ms).
    pub created_at: u64,
    pub federation: String,
    pub node_key: String,
    pub records: u64,
    pub feeds: u64,
    pub fork_proofs: u32,
    pub metadata: u32,
    /// The home files it holds.
    pub files: Vec<String>,
    /// The heads digest of the store at the instant of the backup (as `csx status` shows it).
    pub heads_digest: String,
    /// The file's SHA-256 checksum (its last 32 bytes), hex.
    pub checksum: String,
    /// The file's size in bytes.
    pub bytes: u64,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> ApiError {
    let kind = if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Unavailable };
    ApiError::new(kind, format!("cannot {what} {}: {e}", path.display()))
}

/// A writer that hashes what it writes.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    written: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.written += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
    fn entry(&mut self, tag: u8, parts: &[&[u8]]) -> std::io::Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len).map_err(|_| std::io::Error::other("an entry over 4 GiB"))?;
        self.put(&[tag])?;
        self.put(&len.to_be_bytes())?;
        for p in parts {
            self.put(p)?;
        }
        Ok(())
    }
}

/// Writes a backup of `home` (whose store is `store`, open in this process) to `out`, which must
/// not exist. Written to a temporary file beside it, synced, then renamed: `out` appears whole
/// or not at all.
pub fn write(home: &Home, store: &dyn Store, out: &Path, now_ms: u64) -> Result<BackupSummary, ApiError> {
    if out.exists() {
        return Err(ApiError::invalid(format!(
            "{} already exists; choose a new file name (a backup never overwrites a file)",
            out.display()
        )));
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(ApiError::invalid(format!("{} is not a directory; cannot write the backup there", dir.display())));
    }
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "backup".into());
    let tmp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let result = write_to(home, store, &tmp, out, now_ms);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_to(home: &Home, store: &dyn Store, tmp: &Path, out: &Path, now_ms: u64) -> Result<BackupSummary, ApiError> {
    let identity = home.identity()?;
    let genesis = home.genesis()?;
    // The instant of the backup: every feed's head, and the digest of them all.
    let (heads, forked, digest) = {
        let mut index = store.heads_index();
        let heads: Vec<(NodeKey, csx_protocol::Head)> = index.iter().map(|(a, h)| (*a, *h)).collect();
        (heads, index.forked(), index.root())
    };
    let file = open_private(tmp).map_err(|e| io_err("create", tmp, e))?;
    let mut w = Hashing { inner: BufWriter::new(file), hash: Sha256::new(), written: 0 };
    let werr = |e: std::io::Error| io_err("write", tmp, e);
    w.put(MAGIC).map_err(werr)?;
    w.put(&FORMAT_VERSION.to_be_bytes()).map_err(werr)?;
    w.put(&now_ms.to_be_bytes()).map_err(werr)?;
    w.put(genesis.id().as_bytes()).map_err(werr)?;
    w.put(identity.node_key.as_bytes()).map_err(werr)?;
    let mut files = Vec::new();
    for name in HOME_FILES {
        let path = home.path(name);
        match fs::read(&path) {
            Ok(bytes) => {
                w.entry(TAG_FILE, &[&[name.len() as u8], name.as_bytes(), &bytes]).map_err(werr)?;
                files.push(name.to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("read", &path, e)),
        }
    }
    let mut metadata = 0u32;
    for name in store.meta_names()? {
        if STORE_OWN_META.contains(&name.as_str()) || name.starts_with(KIND_COUNT) || name.len() > 255 {
            continue;
        }
        if let Some(value) = store.meta_get(&name)? {
            w.entry(TAG_META, &[&[name.len() as u8], name.as_bytes(), &value]).map_err(werr)?;
            metadata += 1;
        }
    }
    let (mut records, mut feeds) = (0u64, 0u64);
    for (author, head) in &heads {
        let mut seq = 1;
        while seq <= head.seq {
            let page = store.feed_bytes(author, seq, 1000, 4 << 20)?;
            if page.is_empty() {
                // The feed was cut back since the instant above (a revoked node's later records
                // are removed): what is held is what the node holds now.
                tracing::info!(author = %author.short(), seq, "a feed was cut back while it was backed up");
                break;
            }
            for bytes in page.into_iter().take((head.seq + 1 - seq) as usize) {
                w.entry(TAG_RECORD, &[&bytes]).map_err(werr)?;
                records += 1;
                seq += 1;
            }
        }
        feeds += 1;
    }
    let mut fork_proofs = 0u32;
    for author in &forked {
        if let Some(p) = store.fork_proof(author)? {
            w.entry(TAG_FORK, &[&(p.first.len() as u32).to_be_bytes(), &p.first, &p.second]).map_err(werr)?;
            fork_proofs += 1;
        }
    }
    let mut end = Vec::with_capacity(END_LEN);
    end.extend_from_slice(&records.to_be_bytes());
    end.extend_from_slice(&feeds.to_be_bytes());
    end.extend_from_slice(&(files.len() as u32).to_be_bytes());
    end.extend_from_slice(&metadata.to_be_bytes());
    end.extend_from_slice(&fork_proofs.to_be_bytes());
    end.extend_from_slice(&digest);
    w.entry(TAG_END, &[&end]).map_err(werr)?;
    let checksum: [u8; 32] = w.hash.clone().finalize().into();
    w.inner.write_all(&checksum).map_err(werr)?;
    let bytes = w.written + 32;
    let file = w.inner.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    drop(file);
    if out.exists() {
        return Err(ApiError::invalid(format!(
            "{} appeared while the backup was written; not replaced",
            out.display()
        )));
    }
    fs::rename(tmp, out).map_err(|e| io_err("rename the backup to", out, e))?;
    Ok(BackupSummary {
        path: out.display().to_string(),
        format_version: FORMAT_VERSION,
        created_at: now_ms,
        federation: genesis.id().to_string(),
        node_key: identity.node_key.to_string(),
        records,
        feeds,
        fork_proofs,
        metadata,
        files,
        heads_digest: hex::encode(digest),
        checksum: hex::encode(checksum),
        bytes,
    })
}

fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// One entry of a backup file.
enum Entry {
    File { name: String, contents: Vec<u8> },
    Meta { name: String, value: Vec<u8> },
    Record(Vec<u8>),
    Fork { first: Vec<u8>, second: Vec<u8> },
}

/// The fixed part at the start of a backup.
struct Header {
    created_at: u64,
    federation: [u8; 32],
    node_key: [u8; 32],
}

/// Counts in the end entry.
#[derive(Default, PartialEq, Eq, Debug)]
struct Counts {
    records: u64,
    feeds: u64,
    files: u32,
    metadata: u32,
    forks: u32,
}

/// Reads a backup file entry by entry, hashing as it goes.
struct Reader {
    path: PathBuf,
    inner: BufReader<File>,
    hash: Sha256,
    offset: u64,
    end: Option<(Counts, [u8; 32])>,
}

impl Reader {
    fn open(path: &Path) -> Result<(Reader, Header), ApiError> {
        let file = File::open(path).map_err(|e| io_err("open", path, e))?;
        let mut r =
            Reader { path: path.to_path_buf(), inner: BufReader::new(file), hash: Sha256::new(), offset: 0, end: None };
        let mut head = [0u8; HEADER_LEN];
        r.read_exact(&mut head, "its header")?;
        if &head[..11] != MAGIC {
            return Err(r.bad("it is not a csx backup (it does not start with `csx-backup`)"));
        }
        let version = u32::from_be_bytes(head[11..15].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(r.bad(&format!(
                "it is backup format version {version}; this csx reads version {FORMAT_VERSION}{}",
                if version > FORMAT_VERSION { " (upgrade csx to restore it)" } else { "" }
            )));
        }
        let header = Header {
            created_at: u64::from_be_bytes(head[15..23].try_into().expect("8 bytes")),
            federation: head[23..55].try_into().expect("32 bytes"),
            node_key: head[55..87].try_into().expect("32 bytes"),
        };
        Ok((r, header))
    }

    fn bad(&self, problem: &str) -> ApiError {
        ApiError::invalid(format!("{} cannot be restored: {problem}; nothing was written", self.path.display()))
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), ApiError> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.hash.update(&*buf);
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(self.bad(&format!(
                "the file is truncated: it ends at byte {} in {what}, before its end marker and checksum",
                self.offset
            ))),
            Err(e) => Err(io_err("read", &self.path.clone(), e)),
        }
    }

    /// The next entry; `None` after the end entry, once the checksum has been checked.
    fn next(&mut self) -> Result<Option<Entry>, ApiError> {
        if self.end.is_some() {
            return Ok(None);
        }
        let at = self.offset;
        let mut tl = [0u8; 5];
        self.read_exact(&mut tl, "an entry's header")?;
        let (tag, len) = (tl[0], u32::from_be_bytes(tl[1..5].try_into().expect("4 bytes")) as usize);
        let max = match tag {
            TAG_RECORD => 1 << 20,
            TAG_FORK => 2 << 20,
            TAG_META => 64 << 20,
            TAG_FILE => 1 << 30,
            TAG_END => END_LEN,
            other => {
                return Err(self.bad(&format!("unknown entry type {other:#04x} at byte {at} (is the file damaged?)")));
            }
        };
        if len > max || (tag == TAG_END && len != END_LEN) {
            return Err(self.bad(&format!("an entry at byte {at} claims {len} bytes, more than it can hold")));
        }
        let mut payload = vec![0u8; len];
        self.read_exact(&mut payload, &format!("the entry at byte {at}"))?;
        let named = |p: &[u8]| -> Option<(String, Vec<u8>)> {
            let n = *p.first()? as usize;
            let name = std::str::from_utf8(p.get(1..1 + n)?).ok()?.to_string();
            Some((name, p[1 + n..].to_vec()))
        };
        let malformed = |what: &str| self.bad(&format!("a malformed {what} entry at byte {at}"));
        Ok(Some(match tag {
            TAG_FILE => {
                let (name, contents) = named(&payload).ok_or_else(|| malformed("file"))?;
                if !HOME_FILES.contains(&name.as_str()) {
                    return Err(self.bad(&format!("it holds a file named `{name}`, which is not a home file")));
                }
                Entry::File { name, contents }
            }
            TAG_META => {
                let (name, value) = named(&payload).ok_or_else(|| malformed("metadata"))?;
                Entry::Meta { name, value }
            }
            TAG_RECORD => Entry::Record(payload),
            TAG_FORK => {
                let n = payload.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize);
                match n {
                    Some(n) if 4 + n <= payload.len() => {
                        Entry::Fork { first: payload[4..4 + n].to_vec(), second: payload[4 + n..].to_vec() }
                    }
                    _ => return Err(malformed("fork proof")),
                }
            }
            _ => {
                let u64_at = |i: usize| u64::from_be_bytes(payload[i..i + 8].try_into().expect("8 bytes"));
                let u32_at = |i: usize| u32::from_be_bytes(payload[i..i + 4].try_into().expect("4 bytes"));
                let counts = Counts {
                    records: u64_at(0),
                    feeds: u64_at(8),
                    files: u32_at(16),
                    metadata: u32_at(20),
                    forks: u32_at(24),
                };
                let digest: [u8; 32] = payload[28..60].try_into().expect("32 bytes");
                let computed: [u8; 32] = self.hash.clone().finalize().into();
                let mut stored = [0u8; 32];
                match self.inner.read_exact(&mut stored) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        return Err(self.bad("the file is truncated: its checksum is missing"));
                    }
                    Err(e) => return Err(io_err("read", &self.path.clone(), e)),
                }
                if stored != computed {
                    return Err(self.bad(
                        "its checksum does not match its contents: the file was altered or damaged after it was written",
                    ));
                }
                let mut rest = [0u8; 1];
                match self.inner.read(&mut rest) {
                    Ok(0) => {}
                    Ok(_) => return Err(self.bad("there are bytes after its checksum (two files joined, or damage)")),
                    Err(e) => return Err(io_err("read", &self.path.clone(), e)),
                }
                self.end = Some((counts, digest));
                return Ok(None);
            }
        }))
    }
}

/// Checks a backup file's structure, counts and checksum without restoring it.
pub fn check(path: &Path) -> Result<BackupSummary, ApiError> {
    let (mut r, header) = Reader::open(path)?;
    let mut seen = Counts::default();
    let mut files = Vec::new();
    let mut last_author: Option<[u8; 32]> = None;
    while let Some(entry) = r.next()? {
        match entry {
            Entry::File { name, .. } => {
                seen.files += 1;
                files.push(name);
            }
            Entry::Meta { .. } => seen.metadata += 1,
            Entry::Record(bytes) => {
                seen.records += 1;
                // The author is the first field after the version byte: count feeds by changes.
                let author = Record::decode(bytes)
                    .map(|r| *r.author().as_bytes())
                    .map_err(|e| r.bad(&format!("record {} does not decode: {e}", seen.records)))?;
                if last_author != Some(author) {
                    seen.feeds += 1;
                    last_author = Some(author);
                }
            }
            Entry::Fork { .. } => seen.forks += 1,
        }
    }
    let (counts, digest) = r.end.take().expect("the reader ends at the end entry");
    // Feeds with no records (none in practice) are counted by the writer; records cannot be.
    if counts.records != seen.records
        || counts.files != seen.files
        || counts.metadata != seen.metadata
        || counts.forks != seen.forks
    {
        return Err(r.bad(&format!("its end marker counts {counts:?} but it holds {seen:?}")));
    }
    for required in REQUIRED_FILES {
        if !files.iter().any(|f| f == required) {
            return Err(r.bad(&format!("it lacks the home file {required}")));
        }
    }
    Ok(BackupSummary {
        path: path.display().to_string(),
        format_version: FORMAT_VERSION,
        created_at: header.created_at,
        federation: hex::encode(header.federation),
        node_key: hex::encode(header.node_key),
        records: counts.records,
        feeds: counts.feeds,
        fork_proofs: counts.forks,
        metadata: counts.metadata,
        files,
        heads_digest: hex::encode(digest),
        checksum: hex::encode(<[u8; 32]>::from(r.hash.finalize())),
        bytes: r.offset + 32,
    })
}

/// Why a home cannot be restored into.
fn check_empty(home: &Path) -> Result<(), ApiError> {
    match fs::read_dir(home) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("read", home, e)),
        Ok(entries) => {
            let mut names: Vec<String> =
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            if names.is_empty() {
                return Ok(());
            }
            names.sort();
            let shown = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            Err(ApiError::invalid(format!(
                "{} is not empty (it holds {shown}{}); a backup is restored only into an empty home: \
                 pass another --home, or move this one aside",
                home.display(),
                if names.len() > 5 { format!(" and {} more", names.len() - 5) } else { String::new() }
            )))
        }
    }
}

/// Restores the backup `file` into `home`, which must be empty or absent. Checks the whole file
/// first; then rebuilds the home beside it, verifying every record, and moves it into place only
/// when complete. The restored store is marked so that the node signs nothing until a peer has
/// confirmed its own feed.
pub fn restore(file: &Path, home: &Path, now_ms: u64) -> Result<BackupSummary, ApiError> {
    check_empty(home)?;
    let summary = check(file)?;
    let parent = match home.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| io_err("create", &parent, e))?;
    let name = home.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "home".into());
    let staging = parent.join(format!(".{name}.restoring-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = rebuild(file, &staging, now_ms, &summary).and_then(|()| {
        check_empty(home)?;
        if home.exists() {
            fs::remove_dir(home).map_err(|e| io_err("replace", home, e))?;
        }
        fs::rename(&staging, home).map_err(|e| io_err("move the restored home to", home, e))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result.map(|()| summary)
}

fn rebuild(file: &Path, staging: &Path, now_ms: u64, summary: &BackupSummary) -> Result<(), ApiError> {
    let home = Home::new(staging);
    create_private_dir(staging).map_err(|e| io_err("create", staging, e))?;
    let (mut r, header) = Reader::open(file)?;
    let mut store: Option<SledStore> = None;
    let mut ctx: Option<VerifyContext> = None;
    let mut batch: Vec<csx_protocol::Verified<Record>> = Vec::new();
    let mut forks = Vec::new();
    let mut metas = Vec::new();
    let mut n = 0u64;
    let flush = |store: &SledStore, batch: &mut Vec<csx_protocol::Verified<Record>>, n: u64| -> Result<(), ApiError> {
        let positions: Vec<(NodeKey, u64)> = batch.iter().map(|r| (r.author(), r.seq())).collect();
        let report = store.insert(std::mem::take(batch))?;
        if let Some(i) = report.outcomes.iter().position(|o| *o != Outcome::Appended) {
            let (author, seq) = positions[i];
            return Err(ApiError::invalid(format!(
                "record {} of the backup (node {} seq {seq}) does not follow its feed ({:?}); the backup is damaged; nothing was restored",
                n - positions.len() as u64 + i as u64 + 1,
                author.short(),
                report.outcomes[i]
            )));
        }
        Ok(())
    };
    while let Some(entry) = r.next()? {
        match entry {
            Entry::File { name, contents } => {
                let path = staging.join(&name);
                if let Some(dir) = path.parent() {
                    create_private_dir(dir).map_err(|e| io_err("create", dir, e))?;
                }
                crate::keyfile::write_private(&path, &contents).map_err(|e| io_err("write", &path, e))?;
            }
            Entry::Meta { name, value } => metas.push((name, value)),
            Entry::Record(bytes) => {
                if store.is_none() {
                    let genesis = home.genesis()?;
                    if genesis.id().as_bytes() != &header.federation {
                        return Err(r.bad("its genesis.json is not the federation its header names"));
                    }
                    let id = home.identity()?;
                    if id.node_key.as_bytes() != &header.node_key {
                        return Err(r.bad("its identity.json is not the node its header names"));
                    }
                    ctx = Some(VerifyContext::new(genesis.id(), now_ms));
                    store = Some(SledStore::open(&home.store_dir(), StoreConfig::default())?);
                }
                n += 1;
                let record = Record::decode(bytes)
                    .and_then(|rec| rec.verify(ctx.as_ref().expect("set with the store")))
                    .map_err(|e| r.bad(&format!("record {n} does not verify: {e}")))?;
                batch.push(record);
                if batch.len() >= RESTORE_BATCH {
                    flush(store.as_ref().expect("opened"), &mut batch, n)?;
                }
            }
            Entry::Fork { first, second } => forks.push((first, second)),
        }
    }
    let store = match store {
        Some(s) => s,
        None => {
            let genesis = home.genesis()?;
            ctx = Some(VerifyContext::new(genesis.id(), now_ms));
            SledStore::open(&home.store_dir(), StoreConfig::default())?
        }
    };
    if !batch.is_empty() {
        flush(&store, &mut batch, n)?;
    }
    let ctx = ctx.expect("set");
    for (first, second) in forks {
        let verify = |b: Vec<u8>| Record::decode(b).and_then(|rec| rec.verify(&ctx));
        match (verify(first), verify(second)) {
            (Ok(a), Ok(b)) if a.author() == b.author() && a.seq() == b.seq() && a.id() != b.id() => {
                store.add_fork_proof(a, b)?;
            }
            _ => return Err(r.bad("a fork proof does not verify (two records by one author at one seq)")),
        }
    }
    for (name, value) in metas {
        if !STORE_OWN_META.contains(&name.as_str()) {
            store.meta_put(&name, &value)?;
        }
    }
    store.meta_put(OWN_FEED_META, RESTORED)?;
    let digest = hex::encode(store.heads_index().root());
    if digest != summary.heads_digest {
        return Err(ApiError::invalid(format!(
            "{}: the restored store's heads digest {digest} is not the backup's {}; nothing was restored",
            file.display(),
            summary.heads_digest
        )));
    }
    store.flush()?;
    drop(store);
    Ok(())
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
