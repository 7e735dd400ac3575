//! The node's request/response API. The CLI sends [`Request`]s either to a [`crate::service::Service`]
//! over an opened store (offline) or to the running daemon over the control socket; both answer
//! with the same [`Response`]s. Records travel as their exact bytes (hex in JSON) and are decoded
//! by the receiver with the protocol crate.

use csx_protocol::body::Kind;
use csx_protocol::{Body, FederationId, Head, NodeKey, OrgKey, Record, RecordId};
use serde::{Deserialize, Serialize};

pub use crate::error_kind::{ApiError, ErrorKind};
use crate::home::PublicIdentity;
use crate::store::{ForkProof, StoreStats};

/// A request to the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Sign `bodies` as this node's next records and store them durably, all or nothing.
    Publish { bodies: Vec<Body> },
    /// One record by id or unique id prefix.
    Record { id: String },
    /// One feed (this node's when `author` is `None`), by seq.
    Feed {
        author: Option<String>,
        #[serde(default)]
        from_seq: Option<u64>,
        limit: usize,
    },
    /// Records of one kind, newest first, optionally about one service line or provider.
    List {
        kind: Kind,
        #[serde(default)]
        service_line: Option<String>,
        #[serde(default)]
        provider: Option<String>,
        limit: usize,
    },
    /// The provider registry: built-in providers and provider records.
    Providers,
    /// Members, their nodes, who admitted them, and applicants.
    Members,
    /// Identity, federation, store and network state.
    Status,
    /// The peers this node knows and how in step with each it is (daemon only).
    Peers,
    /// Sync with every connected member now; succeeds once level with all of them (daemon only).
    Sync { timeout_ms: u64 },
    /// Stop the daemon (daemon only).
    Shutdown,
    /// A question about the market: prices, providers, switching, motions or the whole report.
    Query { question: crate::query::Question },
    /// Records of one kind, newest first, filtered, with how many match in all.
    Select(Selection),
    /// Check (and unless a dry run, write as one batch) records from a file.
    Import(crate::import::ImportRequest),
    /// The import batches remembered by this node, newest first.
    ImportBatches,
    /// Withdraw an import batch (its number, or `last`) in one signed step.
    ImportUndo {
        batch: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Write a backup of the home to `path` (absolute; must not exist), consistent as of one
    /// instant (see [`crate::backup`]).
    Backup { path: String },
    /// Alerts in this node's log with a seq above `after`, raised at or after `since_ms`;
    /// with `wait_ms`, waits that long (at most 25 s) for one (daemon only: `csx watch`).
    Alerts {
        #[serde(default)]
        after: u64,
        #[serde(default)]
        since_ms: u64,
        #[serde(default)]
        wait_ms: u64,
    },
}

impl Request {
    /// The request's `op`, as it is named on the wire.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Publish { .. } => "publish",
            Request::Record { .. } => "record",
            Request::Feed { .. } => "feed",
            Request::List { .. } => "list",
            Request::Providers => "providers",
            Request::Members => "members",
            Request::Status => "status",
            Request::Peers => "peers",
            Request::Sync { .. } => "sync",
            Request::Shutdown => "shutdown",
            Request::Query { .. } => "query",
            Request::Select(_) => "select",
            Request::Import(_) => "import",
            Request::ImportBatches => "import_batches",
            Request::ImportUndo { .. } => "import_undo",
            Request::Backup { .. } => "backup",
            Request::Alerts { .. } => "alerts",
        }
    }
}

/// Which records a [`Request::Select`] lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selection {
    pub kind: Kind,
    /// Only records about this service line.
    #[serde(default)]
    pub service_line: Option<String>,
    /// Only records about this provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// Only records this organisation wrote (on any of its nodes).
    #[serde(default)]
    pub mine: bool,
    /// At most this many records (the total is counted regardless).
    pub limit: usize,
}

/// A record's exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBytes(#[serde(with = "hex_vec")] pub Vec<u8>);

impl RecordBytes {
    pub fn decode(&self) -> Result<Record, ApiError> {
        Record::decode(self.0.clone())
            .map_err(|e| ApiError::internal(format!("a record in the reply is malformed: {e}")))
    }
}

impl From<&Record> for RecordBytes {
    fn from(r: &Record) -> Self {
        RecordBytes(r.bytes().to_vec())
    }
}

/// A record in a listing, with who wrote it and whether it has been withdrawn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listed {
    pub record: RecordBytes,
    /// The organisation whose node wrote it (ODS code), when known.
    #[serde(default)]
    pub org: Option<String>,
    /// The retraction that withdrew it, if any.
    #[serde(default)]
    pub retracted_by: Option<RecordId>,
}

/// One entry of the provider registry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderEntry {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub aliases: Vec<String>,
    /// `builtin` or the id of the latest provider record that defines it.
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// The node's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub identity: PublicIdentity,
    pub federation: FederationInfo,
    pub store: StoreStats,
    /// This node's own feed head.
    pub own_head: Option<Head>,
    pub forks: Vec<ForkSummary>,
    /// `offline` when the CLI read the store directly; `daemon` when a daemon answered.
    pub mode: String,
    /// SHA-256 over the heads of every feed (hex): two nodes with equal digests hold the same
    /// feeds up to the same records.
    pub heads_digest: String,
    /// The network, when a daemon answered.
    #[serde(default)]
    pub network: Option<NetStatus>,
}

/// The network side of a running node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetStatus {
    pub peer_id: String,
    pub listen: Vec<String>,
    pub external: Vec<String>,
    pub peers: Vec<PeerInfo>,
    /// When a sync round with any peer last completed (Unix ms).
    pub last_sync_at: Option<u64>,
    /// What the node received and refused, by reason.
    pub counters: std::collections::BTreeMap<String, u64>,
    /// Whether a peer has confirmed this node's own feed since it started (until then it does
    /// not publish, in case it was restored from a backup).
    #[serde(default)]
    pub own_feed_confirmed: bool,
    /// How full the tables strangers could grow are (each has a bound, docs/SECURITY.md).
    #[serde(default)]
    pub tables: TableSizes,
    /// The catch-up by sync under way, else the last one since the daemon started.
    #[serde(default)]
    pub progress: Option<SyncProgress>,
}

/// How far a catch-up by sync has come (`csx status`, `csx sync`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// Still under way (else: the last one, ended).
    pub active: bool,
    /// When it began (Unix ms).
    pub started_at: u64,
    pub elapsed_secs: f64,
    /// Records and bytes fetched so far.
    pub received_records: u64,
    pub received_bytes: u64,
    /// Records the peers hold beyond what they have sent so far (an estimate: 0 once ended).
    pub remaining_records: u64,
    pub records_per_sec: f64,
    pub bytes_per_sec: f64,
    /// Seconds left at the rate so far, while under way.
    pub eta_secs: Option<f64>,
}

/// Entries in the network's bounded tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSizes {
    /// Peers known: connected, and members' nodes met before.
    pub peers: usize,
    /// Connected peers still being verified.
    pub unverified: usize,
    /// Connected peers waiting for a place among those being verified.
    #[serde(default)]
    pub queued: usize,
    /// Addresses kept, over all peers.
    pub addresses: usize,
    /// Peers with strikes.
    pub strikes: usize,
    /// Peers banned.
    pub bans: usize,
    /// Rate-limit buckets (connected peers only).
    pub buckets: usize,
    /// Peers waiting before they are dialled again.
    pub backoff: usize,
}

/// One peer as this node sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerInfo {
    pub peer_id: String,
    /// The peer's node key, when it is a member's node.
    pub node_key: Option<NodeKey>,
    /// The ODS code of the organisation whose node it is, when known.
    pub org: Option<String>,
    pub bootstrap: bool,
    pub connected: bool,
    /// Known to be a current member's node (and so served).
    #[serde(default)]
    pub verified: bool,
    pub addresses: Vec<String>,
    /// When the current connection was made (Unix ms).
    pub connected_since: Option<u64>,
    /// When the last sync round with it ended (Unix ms), and whether we were level then.
    pub last_sync_at: Option<u64>,
    pub in_sync: Option<bool>,
    /// Records it held beyond us, and we beyond it, at the last comparison of heads.
    pub behind: u64,
    pub ahead: u64,
    /// Records received from it by sync since it connected.
    pub received: u64,
    /// Strikes for refused messages (decaying; a ban comes at 19).
    #[serde(default)]
    pub strikes: f64,
    /// Why it is banned, while it is.
    #[serde(default)]
    pub banned: Option<String>,
}

/// The outcome of `csx sync`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncReport {
    /// True when every connected member's heads equal ours.
    pub level: bool,
    pub peers: Vec<PeerSync>,
    pub heads_digest: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerSync {
    pub peer_id: String,
    pub org: Option<String>,
    pub in_sync: bool,
    pub received: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FederationInfo {
    pub id: FederationId,
    pub name: String,
    pub founders: usize,
    pub disclosure_threshold: u16,
    pub endorsement_threshold: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForkSummary {
    pub author: NodeKey,
    pub seq: u64,
    pub first: RecordId,
    pub second: RecordId,
    #[serde(default)]
    pub org: Option<OrgKey>,
}

impl From<&ForkProof> for ForkSummary {
    fn from(p: &ForkProof) -> Self {
        ForkSummary {
            author: p.author,
            seq: p.seq,
            first: csx_protocol::record::record_id(&p.first),
            second: csx_protocol::record::record_id(&p.second),
            org: None,
        }
    }
}

/// The roster as this node computes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembersView {
    pub members: Vec<MemberView>,
    pub applicants: Vec<ApplicantView>,
    pub endorsement_threshold: u16,
    pub revocation_threshold: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberView {
    pub org_key: OrgKey,
    pub ods_code: String,
    pub name: String,
    pub founder: bool,
    /// True unless revoked.
    pub current: bool,
    /// ODS codes of the members whose endorsements admitted it.
    pub endorsed_by: Vec<String>,
    pub revoked_by: Vec<String>,
    pub nodes: Vec<NodeView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeView {
    pub node_key: NodeKey,
    pub peer_id: String,
    pub expires_at: u64,
    /// The last valid seq when retired or revoked.
    pub limit: Option<u64>,
    pub retired: bool,
    /// The highest record of its feed held here.
    pub head: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplicantView {
    pub org_key: OrgKey,
    pub ods_code: String,
    pub name: String,
    pub endorsed_by: Vec<String>,
    pub endorsements: usize,
    pub needed: u16,
}

/// A reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    Published {
        records: Vec<RecordBytes>,
    },
    Record {
        record: Listed,
    },
    Records {
        records: Vec<Listed>,
    },
    Providers {
        providers: Vec<ProviderEntry>,
    },
    Status(Box<Status>),
    Peers {
        peers: Vec<PeerInfo>,
    },
    Members(Box<MembersView>),
    Synced(SyncReport),
    Stopping,
    Answer(Box<crate::query::Answered>),
    /// The records selected (at most the limit) and how many matched.
    Selected {
        records: Vec<Listed>,
        total: usize,
    },
    Imported(Box<crate::import::ImportReport>),
    Batches {
        batches: Vec<crate::import::BatchInfo>,
    },
    /// The retractions that withdrew an import batch, and the batch.
    Undone {
        retractions: Vec<RecordBytes>,
        batch: crate::import::BatchInfo,
    },
    /// A backup was written.
    BackedUp(Box<crate::backup::BackupSummary>),
    /// Alerts from the log, oldest first.
    Alerts {
        alerts: Vec<crate::alerts::Alert>,
    },
}

impl Response {
    /// The reply's kind, as it is named on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Published { .. } => "published",
            Response::Record { .. } => "record",
            Response::Records { .. } => "records",
            Response::Providers { .. } => "providers",
            Response::Status(_) => "status",
            Response::Peers { .. } => "peers",
            Response::Members(_) => "members",
            Response::Synced(_) => "synced",
            Response::Stopping => "stopping",
            Response::Answer(_) => "answer",
            Response::Selected { .. } => "selected",
            Response::Imported(_) => "imported",
            Response::Batches { .. } => "batches",
            Response::Undone { .. } => "undone",
            Response::BackedUp(_) => "backed_up",
            Response::Alerts { .. } => "alerts",
        }
    }
}

mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(s.as_ref()).map_err(serde::de::Error::custom)
    }
}
