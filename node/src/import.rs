//! Bulk imports as batches: checking a whole file's records before writing any, skipping rows
//! identical to records the organisation already holds, remembering each import as a batch, and
//! undoing a batch with one signed step.
//!
//! A batch is a run of consecutive records of this node's feed (one atomic write), remembered in
//! the store's meta entries (`import/N`), so it survives restarts, backups and restores with the
//! store. Undoing it writes retractions naming every record of the run that is not yet withdrawn
//! (one retraction names up to 1,001 records; larger batches take several, written atomically).

use std::collections::HashMap;

use csx_protocol::body::{Kind, MAX_RETRACT_ALSO, Retract};
use csx_protocol::{Body, NodeKey, Record, RecordId};
use serde::{Deserialize, Serialize};

use crate::error_kind::ApiError;
use crate::registry;
use crate::service::Service;
use crate::store::{Scan, Store};

/// What to import.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportRequest {
    /// The records' bodies, in the file's order.
    pub bodies: Vec<Body>,
    /// Where they came from (a file name), remembered with the batch.
    #[serde(default)]
    pub source: String,
    /// Check everything and report, but write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Write rows identical to records already held (normally skipped).
    #[serde(default)]
    pub allow_duplicates: bool,
}

/// A row that is the same as something already held or imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "same_as", rename_all = "snake_case")]
pub enum Duplicate {
    /// A record this organisation holds and has not retracted.
    Record { row: usize, id: RecordId },
    /// An earlier row of the same import.
    Row { row: usize, earlier: usize },
}

impl Duplicate {
    pub fn row(&self) -> usize {
        match self {
            Duplicate::Record { row, .. } | Duplicate::Row { row, .. } => *row,
        }
    }
}

/// A row the node refuses (a provider or record it names does not exist, a closing date in the
/// past, …). Rows are counted from 0 in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub row: usize,
    pub message: String,
}

/// What an import did (or, on a dry run, would do).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportReport {
    /// The batch written (`None` on a dry run, when refused, or when every row was a duplicate).
    pub batch: Option<BatchInfo>,
    /// Rows to write (or written), counted from 0.
    pub rows: Vec<usize>,
    /// Rows skipped as duplicates.
    pub duplicates: Vec<Duplicate>,
    /// Rows refused; when there are any, nothing was written.
    pub problems: Vec<Problem>,
    pub dry_run: bool,
}

/// One import, as remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInfo {
    /// Its number on this node: 1, 2, ….
    pub id: u64,
    /// Where it came from (a file name).
    pub source: String,
    /// The kinds of record it holds.
    pub kinds: Vec<String>,
    /// When it was written (Unix ms).
    pub at: u64,
    /// The node whose feed holds it, and its first and last seq there.
    pub node: NodeKey,
    pub first_seq: u64,
    pub last_seq: u64,
    /// How many records it wrote.
    pub records: usize,
    /// The retractions that undid it, once undone.
    #[serde(default)]
    pub undone_by: Vec<RecordId>,
}

/// Meta entry holding the number of the last batch.
const LAST_BATCH: &str = "import/last";

fn batch_key(id: u64) -> String {
    format!("import/{id}")
}

/// Checks, and unless it is a dry run writes, an import; returns what it did and the records
/// written (for the daemon to send to its peers).
pub fn import(service: &Service, req: ImportRequest) -> Result<(ImportReport, Vec<Record>), ApiError> {
    let store = service.store().as_ref();
    let mut report = ImportReport { dry_run: req.dry_run, ..Default::default() };
    let held = if req.allow_duplicates { HashMap::new() } else { own_bodies(service, &req.bodies)? };
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for (row, body) in req.bodies.iter().enumerate() {
        if req.allow_duplicates {
            report.rows.push(row);
            continue;
        }
        let bytes = content(body);
        if let Some(id) = held.get(&bytes) {
            report.duplicates.push(Duplicate::Record { row, id: *id });
        } else if let Some(earlier) = seen.get(&bytes) {
            report.duplicates.push(Duplicate::Row { row, earlier: *earlier });
        } else {
            seen.insert(bytes, row);
            report.rows.push(row);
        }
    }
    let kept: Vec<Body> = report.rows.iter().map(|r| req.bodies[*r].clone()).collect();
    report.problems =
        service.check(&kept).into_iter().map(|(i, e)| Problem { row: report.rows[i], message: e.message }).collect();
    if req.dry_run || !report.problems.is_empty() || kept.is_empty() {
        return Ok((report, Vec::new()));
    }
    let kinds = {
        let mut k: Vec<String> = kept.iter().map(Body::kind_name).collect();
        k.sort();
        k.dedup();
        k
    };
    let n = kept.len();
    let records = service.publish(kept)?;
    // A first write also puts the node's certificate and profile at the head of its feed.
    let mine = &records[records.len().saturating_sub(n)..];
    let (Some(first), Some(last)) = (mine.first(), mine.last()) else { return Ok((report, records)) };
    let _guard = service.batches_lock()?;
    let id = last_batch(store)? + 1;
    let info = BatchInfo {
        id,
        source: req.source,
        kinds,
        at: first.created_at(),
        node: first.author(),
        first_seq: first.seq(),
        last_seq: last.seq(),
        records: mine.len(),
        undone_by: Vec::new(),
    };
    save(store, &info)?;
    store.meta_put(LAST_BATCH, &id.to_be_bytes())?;
    store.flush()?;
    report.batch = Some(info);
    Ok((report, records))
}

/// What makes two records the same for duplicate detection: their kind and body bytes.
fn content(body: &Body) -> Vec<u8> {
    let mut v = body.kind_code().to_be_bytes().to_vec();
    v.extend(body.encode());
    v
}

/// The content of every record of the kinds in `bodies` that this organisation wrote (on any
/// of its nodes) and has not retracted, with its id.
fn own_bodies(service: &Service, bodies: &[Body]) -> Result<HashMap<Vec<u8>, RecordId>, ApiError> {
    let kinds: std::collections::HashSet<Kind> = bodies.iter().filter_map(Body::kind).collect();
    let mut out = HashMap::new();
    if kinds.is_empty() {
        return Ok(out);
    }
    let store = service.store().as_ref();
    // One pass over the organisation's own feeds: its records of these kinds, and what its
    // retractions withdrew (only an organisation's own retractions withdraw its records).
    let mut retracted = std::collections::HashSet::new();
    for node in own_nodes(service) {
        for r in store.scan(Scan::Author(node), false) {
            let r = r?;
            match r.body() {
                Body::Retract(x) => retracted.extend(x.targets()),
                b if b.kind().is_some_and(|k| kinds.contains(&k)) => {
                    out.insert(content(b), r.id());
                }
                _ => {}
            }
        }
    }
    out.retain(|_, id| !retracted.contains(id));
    Ok(out)
}

/// This organisation's nodes (this one first, then any others the roster knows).
fn own_nodes(service: &Service) -> Vec<NodeKey> {
    let me = service.identity().node_key;
    let org = service.identity().org_key;
    let mut nodes = vec![me];
    if let Some(m) = service.membership().roster().members().into_iter().find(|m| m.org_key == org) {
        nodes.extend(m.nodes.iter().map(|n| n.node_key).filter(|k| *k != me));
    }
    nodes
}

fn last_batch(store: &dyn Store) -> Result<u64, ApiError> {
    Ok(store.meta_get(LAST_BATCH)?.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map_or(0, u64::from_be_bytes))
}

fn save(store: &dyn Store, info: &BatchInfo) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec(info).map_err(|e| ApiError::internal(format!("encoding a batch: {e}")))?;
    store.meta_put(&batch_key(info.id), &bytes)?;
    Ok(())
}

fn load(store: &dyn Store, id: u64) -> Result<Option<BatchInfo>, ApiError> {
    store
        .meta_get(&batch_key(id))?
        .map(|b| {
            serde_json::from_slice(&b).map_err(|e| ApiError::internal(format!("import batch {id} is damaged: {e}")))
        })
        .transpose()
}

/// Every import batch remembered here, newest first.
pub fn batches(service: &Service) -> Result<Vec<BatchInfo>, ApiError> {
    let store = service.store().as_ref();
    let mut out = Vec::new();
    for id in (1..=last_batch(store)?).rev() {
        if let Some(b) = load(store, id)? {
            out.push(b);
        }
    }
    Ok(out)
}

/// Withdraws every record of batch `which` (its number, or `last`) not yet withdrawn, in one
/// atomic write of retractions with `reason`; returns the retractions and the batch.
pub fn undo(service: &Service, which: &str, reason: Option<String>) -> Result<(Vec<Record>, BatchInfo), ApiError> {
    let store = service.store().as_ref();
    let _guard = service.batches_lock()?;
    let last = last_batch(store)?;
    let id = match which.trim() {
        "last" | "latest" => {
            if last == 0 {
                return Err(ApiError::not_found("no import has been made from this node"));
            }
            last
        }
        t => t.trim_start_matches('#').parse::<u64>().map_err(|_| {
            ApiError::invalid(format!(
                "`{t}` is not an import batch: give its number (see `csx import list`) or `last`"
            ))
        })?,
    };
    let mut info = load(store, id)?.ok_or_else(|| {
        ApiError::not_found(format!("there is no import batch {id} on this node (`csx import list` shows them)"))
    })?;
    let mut targets = Vec::new();
    for seq in info.first_seq..=info.last_seq {
        let record = store.get_at(&info.node, seq)?.ok_or_else(|| {
            ApiError::internal(format!("record {seq} of import batch {id} is missing from the store"))
        })?;
        if registry::retracted_by(store, &record.id())?.is_none() {
            targets.push(record.id());
        }
    }
    if targets.is_empty() {
        return Err(ApiError::invalid(format!(
            "import batch {id} ({}) is already withdrawn: none of its {} records is current",
            info.source, info.records
        )));
    }
    let reason = reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| format!("undoing import batch {id} ({})", info.source));
    let bodies: Vec<Body> = targets
        .chunks(MAX_RETRACT_ALSO + 1)
        .map(|chunk| Body::Retract(Retract { target: chunk[0], reason: reason.clone(), also: chunk[1..].to_vec() }))
        .collect();
    let n = bodies.len();
    let records = service.publish(bodies)?;
    let retractions = records[records.len().saturating_sub(n)..].to_vec();
    info.undone_by = retractions.iter().map(|r| r.id()).collect();
    save(store, &info)?;
    store.flush()?;
    Ok((retractions, info))
}
