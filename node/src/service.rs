//! Executes [`Request`]s against a store: the offline path of the CLI, and the core of the daemon.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use csx_protocol::body::{Kind, NodeCert, Profile};
use csx_protocol::{Body, Date, FederationId, Genesis, NodeKey, OrgKey, Record, RecordId, VerifyContext};

use crate::api::*;
use crate::author::Author;
use crate::home::{Home, PublicIdentity};
use crate::registry;
use crate::store::{Outcome, Scan, Store};

/// Unix milliseconds now. A parameter so tests can move time by hand.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    })
}

/// Shortest id prefix accepted from people.
pub const MIN_PREFIX: usize = 4;

/// A node's request handler over its store.
pub struct Service {
    home: Home,
    identity: PublicIdentity,
    genesis: Genesis,
    federation: FederationId,
    store: Arc<dyn Store>,
    author: Mutex<Author>,
    cert: NodeCert,
    profile: Profile,
    clock: Clock,
    mode: &'static str,
    orgs: Mutex<HashMap<NodeKey, Option<(OrgKey, String)>>>,
    membership: Arc<crate::membership::Membership>,
    queries: crate::query::Cache,
    /// Held while an import batch is numbered or undone.
    batches: Mutex<()>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("node", &self.identity.node_key.short()).finish()
    }
}

impl Service {
    /// Opens the service of the node in `home` over `store`. `mode` says who answers
    /// (`offline` or `daemon`) in status replies.
    pub fn open(home: &Home, store: Arc<dyn Store>, clock: Clock, mode: &'static str) -> Result<Service, ApiError> {
        let identity = home.identity()?;
        let genesis = home.genesis()?;
        let federation = genesis.id();
        match store.meta_get("federation")? {
            None => store.meta_put("federation", federation.as_bytes())?,
            Some(held) if held.as_slice() == federation.as_bytes() => {}
            Some(held) => {
                return Err(ApiError::internal(format!(
                    "the store holds federation {} but genesis.json is federation {}; a store belongs to one federation",
                    hex::encode(&held[..held.len().min(6)]),
                    federation.short()
                )));
            }
        }
        let key = home.node_key()?;
        let head = store.head(&key.node_key())?;
        let membership = Arc::new(crate::membership::Membership::load(genesis.clone(), store.as_ref())?);
        Ok(Service {
            home: home.clone(),
            batches: Mutex::new(()),
            queries: crate::query::Cache::default(),
            membership,
            cert: home.node_cert()?,
            profile: home.profile()?,
            identity,
            genesis,
            federation,
            author: Mutex::new(Author::new(key, federation, head)),
            store,
            clock,
            mode,
            orgs: Mutex::new(HashMap::new()),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The roster, kept in step with this node's store.
    pub fn membership(&self) -> &Arc<crate::membership::Membership> {
        &self.membership
    }

    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    pub fn handle(&self, request: Request) -> Result<Response, ApiError> {
        match request {
            Request::Publish { bodies } => {
                let records = self.publish(bodies)?;
                Ok(Response::Published { records: records.iter().map(RecordBytes::from).collect() })
            }
            Request::Record { id } => {
                let id = self.resolve_id(&id)?;
                let record =
                    self.store.get(&id)?.ok_or_else(|| ApiError::not_found(format!("no record {id} is held")))?;
                Ok(Response::Record { record: self.listed(&record)? })
            }
            Request::Feed { author, from_seq, limit } => {
                let author = match author {
                    Some(a) => self.resolve_author(&a)?,
                    None => self.identity.node_key,
                };
                let records = self
                    .store
                    .scan(Scan::Author(author), false)
                    .skip_while(|r| r.as_ref().is_ok_and(|r| r.seq() < from_seq.unwrap_or(1)))
                    .take(limit)
                    .map(|r| r.map_err(ApiError::from).and_then(|r| self.listed(&r)))
                    .collect::<Result<_, _>>()?;
                Ok(Response::Records { records })
            }
            Request::List { kind, service_line, provider, limit } => {
                let (records, _) =
                    self.select(&Selection { kind, service_line, provider, mine: false, limit }, false)?;
                Ok(Response::Records { records })
            }
            Request::Select(selection) => {
                let (records, total) = self.select(&selection, true)?;
                Ok(Response::Selected { records, total })
            }
            Request::Import(req) => Ok(Response::Imported(Box::new(crate::import::import(self, req)?.0))),
            Request::ImportBatches => Ok(Response::Batches { batches: crate::import::batches(self)? }),
            Request::ImportUndo { batch, reason } => {
                let (retractions, batch) = crate::import::undo(self, &batch, reason)?;
                Ok(Response::Undone { retractions: retractions.iter().map(RecordBytes::from).collect(), batch })
            }
            Request::Providers => Ok(Response::Providers { providers: registry::providers(self.store.as_ref())? }),
            Request::Status => Ok(Response::Status(Box::new(self.status()?))),
            Request::Members => Ok(Response::Members(Box::new(self.members()?))),
            Request::Query { question } => Ok(Response::Answer(Box::new(self.query(question)?))),
            Request::Backup { path } => {
                let path = std::path::PathBuf::from(path);
                if !path.is_absolute() {
                    return Err(ApiError::invalid(format!("the backup path {} must be absolute", path.display())));
                }
                let summary = crate::backup::write(&self.home, self.store.as_ref(), &path, self.now())?;
                tracing::info!(path = %summary.path, records = summary.records, bytes = summary.bytes, "backup written");
                Ok(Response::BackedUp(Box::new(summary)))
            }
            Request::Peers | Request::Sync { .. } | Request::Shutdown | Request::Alerts { .. } => Err(ApiError::new(
                ErrorKind::Unavailable,
                "no daemon is running for this home: start one with `csx daemon`",
            )),
        }
    }

    /// Signs `bodies` as this node's next records and stores them durably, all or nothing. The
    /// node's certificate and profile are written first if its feed is still empty.
    pub fn publish(&self, bodies: Vec<Body>) -> Result<Vec<Record>, ApiError> {
        let mut author = self.author.lock().map_err(|_| ApiError::internal("author lock poisoned"))?;
        // Restored from a backup: peers may hold later records of this feed (see crate::backup).
        if crate::backup::awaiting_confirmation(self.store.as_ref())? {
            return Err(ApiError::new(
                ErrorKind::Unavailable,
                "this home was restored from a backup and no member's node has confirmed this node's \
                 own feed since: it signs nothing until one has, or it could sign a second record at a \
                 seq its peers already hold (a fork, which shuts it out of the federation); start the \
                 daemon (`csx daemon`), run `csx sync`, then retry",
            ));
        }
        // This node's own records may also arrive from peers (a node restored from a backup
        // fetches what it signed before): sign after the head the store holds.
        let held = self.store.head(&self.identity.node_key)?;
        if held != author.head() {
            author.set_head(held);
        }
        let now = self.now();
        let today = Date::from_unix_ms(now).ok_or_else(|| ApiError::internal("the system clock is out of range"))?;
        let mut all = Vec::with_capacity(bodies.len() + 2);
        if author.head().is_none() {
            all.push(Body::NodeCert(self.cert.clone()));
            all.push(Body::Profile(self.profile.clone()));
        }
        // A revoked organisation, or a retired or expired node, writes nothing more.
        if let Some(head) = author.head() {
            let standing = self.membership.roster().standing(&self.identity.node_key, head.seq + 1, now);
            use csx_protocol::roster::Standing;
            if matches!(standing, Standing::Revoked | Standing::Retired | Standing::Expired) {
                return Err(ApiError::invalid(format!(
                    "this node can no longer write to the federation ({}): {}",
                    standing.reason(),
                    match standing {
                        Standing::Revoked => "the organisation's membership has been revoked",
                        Standing::Retired => "the organisation retired this node",
                        _ => "its certificate has expired; certify a new node with `csx node add`",
                    }
                )));
            }
        }
        let roster =
            || -> Result<std::sync::Arc<csx_protocol::roster::Roster>, ApiError> { Ok(self.membership.roster()) };
        for (i, body) in bodies.iter().enumerate() {
            registry::check_references(self.store.as_ref(), &self.identity.org_key, body, &bodies[..i], today, &roster)
                .map_err(|e| {
                    if bodies.len() > 1 { ApiError::new(e.kind, format!("row {}: {}", i + 1, e.message)) } else { e }
                })?;
        }
        all.extend(bodies);
        let records = author.sign(all, now)?;
        let ctx = VerifyContext::new(self.federation, now);
        let verified = records
            .iter()
            .map(|r| Record::decode(r.bytes().to_vec()).and_then(|r| r.verify(&ctx)))
            .collect::<Result<Vec<_>, _>>()?;
        let report = self.store.insert(verified)?;
        if let Some(o) = report.outcomes.iter().find(|o| **o != Outcome::Appended) {
            return Err(ApiError::internal(format!(
                "the store did not append this node's own record ({o:?}); is another node using this node key?"
            )));
        }
        self.store.flush()?;
        author.advance(&records);
        drop(author);
        let membership =
            records.iter().any(|r| r.body().kind().is_some_and(|k| crate::membership::MEMBERSHIP_KINDS.contains(&k)));
        if membership && let Err(e) = self.membership.refresh(self.store.as_ref()) {
            tracing::error!("recomputing the roster after a local write failed: {e}");
        }
        Ok(records)
    }

    /// Records of `s.kind`, newest first, up to its limit; with `count`, how many match in all.
    fn select(&self, s: &Selection, count: bool) -> Result<(Vec<Listed>, usize), ApiError> {
        let scan = match (&s.provider, &s.service_line) {
            (Some(p), _) => Scan::Provider { code: p, kind: Some(s.kind) },
            (None, Some(l)) => Scan::ServiceLine { code: l, kind: Some(s.kind) },
            (None, None) => Scan::Kind(s.kind),
        };
        let org = self.identity.org_key;
        let (mut records, mut total) = (Vec::new(), 0);
        for r in self.store.scan(scan, true) {
            let r = r?;
            if s.service_line.as_deref().is_some_and(|l| r.body().service_line() != Some(l)) {
                continue;
            }
            if s.mine && self.org_of(&r.author())?.map(|(k, _)| k) != Some(org) {
                continue;
            }
            total += 1;
            if records.len() < s.limit {
                records.push(self.listed(&r)?);
            } else if !count {
                break;
            }
        }
        Ok((records, total))
    }

    /// Checks `bodies` as [`Service::publish`] would (each body's rules, and that what it names
    /// exists), without writing: every problem, by index.
    pub fn check(&self, bodies: &[Body]) -> Vec<(usize, ApiError)> {
        let Some(today) = Date::from_unix_ms(self.now()) else {
            return vec![(0, ApiError::internal("the system clock is out of range"))];
        };
        let roster =
            || -> Result<std::sync::Arc<csx_protocol::roster::Roster>, ApiError> { Ok(self.membership.roster()) };
        let mut problems = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let checked = body.validate().map_err(|e| ApiError::invalid(e.to_string())).and_then(|_| {
                registry::check_references(
                    self.store.as_ref(),
                    &self.identity.org_key,
                    body,
                    &bodies[..i],
                    today,
                    &roster,
                )
            });
            if let Err(e) = checked {
                problems.push((i, e));
            }
        }
        problems
    }

    /// Held while an import batch is numbered or undone, so two imports do not take one number.
    pub fn batches_lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, ApiError> {
        self.batches.lock().map_err(|_| ApiError::internal("import batch lock poisoned"))
    }

    /// Answers a market question from the store, as this member sees it.
    pub fn query(&self, mut question: crate::query::Question) -> Result<crate::query::Answered, ApiError> {
        use crate::query::{QueryError, Question};
        if let Question::Motion { id } = &mut question {
            *id = self.resolve_id(id)?.to_string();
        }
        let ctx = crate::query::Ctx {
            me: self.identity.org_key,
            k: self.genesis.disclosure_threshold,
            max_share_bp: self.genesis.max_member_share_bp,
            now_ms: self.now(),
        };
        // The version is read before the roster, so a roster changing in between is reloaded next time.
        let version = self.membership.version();
        let roster = self.membership.roster();
        let store = self.store.as_ref();
        // A one-shot offline command reads only what its question needs; a daemon answers runs of
        // questions, so it loads everything once and keeps it until the store or roster changes.
        let answered = if self.mode == "daemon" {
            crate::query::answer_cached(&self.queries, store, &roster, version, &ctx, &question)
        } else {
            crate::query::answer(store, &roster, &ctx, &question)
        };
        answered.map_err(|e| match e {
            QueryError::Store(e) => ApiError::from(e),
            QueryError::NotFound(m) => ApiError::not_found(m),
        })
    }

    /// Resolves a full id or a unique prefix of at least [`MIN_PREFIX`] hex digits.
    pub fn resolve_id(&self, text: &str) -> Result<RecordId, ApiError> {
        let t = text.trim().to_ascii_lowercase();
        if let Ok(id) = t.parse::<RecordId>() {
            return Ok(id);
        }
        if t.len() < MIN_PREFIX || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::invalid(format!(
                "`{text}` is not a record id: give the id or at least {MIN_PREFIX} of its leading hex digits"
            )));
        }
        match self.store.ids_with_prefix(&t, 2)?.as_slice() {
            [id] => Ok(*id),
            [] => Err(ApiError::not_found(format!("no record id starts with `{t}`"))),
            _ => Err(ApiError::not_found(format!("`{t}` matches several records; give more digits"))),
        }
    }

    fn resolve_author(&self, text: &str) -> Result<NodeKey, ApiError> {
        let t = text.trim().to_ascii_lowercase();
        if t == "me" || t == "self" {
            return Ok(self.identity.node_key);
        }
        let matches: Vec<NodeKey> =
            self.store.heads()?.into_iter().map(|(k, _)| k).filter(|k| k.to_hex().starts_with(&t)).collect();
        match matches.as_slice() {
            [k] if t.len() >= MIN_PREFIX => Ok(*k),
            [] => Err(ApiError::not_found(format!("no feed's node key starts with `{t}`"))),
            [_] => Err(ApiError::invalid(format!("give at least {MIN_PREFIX} hex digits of the node key"))),
            _ => Err(ApiError::not_found(format!("`{t}` matches several node keys; give more digits"))),
        }
    }

    fn org_of(&self, author: &NodeKey) -> Result<Option<(OrgKey, String)>, ApiError> {
        let mut cache = self.orgs.lock().map_err(|_| ApiError::internal("org cache lock poisoned"))?;
        if let Some(v) = cache.get(author) {
            return Ok(v.clone());
        }
        let v = registry::org_of(self.store.as_ref(), author)?;
        cache.insert(*author, v.clone());
        Ok(v)
    }

    fn listed(&self, record: &Record) -> Result<Listed, ApiError> {
        Ok(Listed {
            record: RecordBytes::from(record),
            org: self.org_of(&record.author())?.map(|(_, ods)| ods),
            retracted_by: registry::retracted_by(self.store.as_ref(), &record.id())?,
        })
    }

    /// The roster computed from this node's store.
    pub fn members(&self) -> Result<MembersView, ApiError> {
        let roster = self.membership.roster();
        let ods = |k: &OrgKey| {
            roster.members().into_iter().find(|x| x.org_key == *k).map(|x| x.ods_code).unwrap_or_else(|| k.short())
        };
        let members = roster
            .members()
            .into_iter()
            .map(|x| MemberView {
                current: x.is_current(),
                endorsed_by: x.endorsed_by.iter().map(&ods).collect(),
                revoked_by: x.revoked_by.iter().map(&ods).collect(),
                nodes: x
                    .nodes
                    .iter()
                    .map(|n| NodeView {
                        node_key: n.node_key,
                        peer_id: crate::net::identity::peer_id(&n.node_key).to_string(),
                        expires_at: n.expires_at,
                        limit: n.limit,
                        retired: n.retired,
                        head: self.store.head(&n.node_key).ok().flatten().map(|h| h.seq),
                    })
                    .collect(),
                org_key: x.org_key,
                ods_code: x.ods_code,
                name: x.name,
                founder: x.founder,
            })
            .collect();
        let applicants = roster
            .applicants()
            .into_iter()
            .map(|a| ApplicantView {
                endorsements: a.endorsed_by.len(),
                endorsed_by: a.endorsed_by.iter().map(&ods).collect(),
                org_key: a.org_key,
                ods_code: a.ods_code,
                name: a.name,
                needed: a.needed,
            })
            .collect();
        Ok(MembersView {
            members,
            applicants,
            endorsement_threshold: self.genesis.endorsement_threshold,
            revocation_threshold: self.genesis.revocation_threshold,
        })
    }

    pub fn status(&self) -> Result<Status, ApiError> {
        // From the store: this node's own records may also arrive from peers (after a restore).
        let own_head = self.store.head(&self.identity.node_key)?;
        let mut forks: Vec<ForkSummary> = self.store.forks()?.iter().map(ForkSummary::from).collect();
        for f in &mut forks {
            f.org = self.org_of(&f.author)?.map(|(k, _)| k);
        }
        Ok(Status {
            identity: self.identity.clone(),
            federation: FederationInfo {
                id: self.federation,
                name: self.genesis.name.clone(),
                founders: self.genesis.founders.len(),
                disclosure_threshold: self.genesis.disclosure_threshold,
                endorsement_threshold: self.genesis.endorsement_threshold,
            },
            store: self.store.stats()?,
            own_head,
            forks,
            mode: self.mode.to_string(),
            heads_digest: hex::encode(self.store.heads_index().root()),
            network: None,
        })
    }
}

/// Kinds people can list with `csx <kind> list`.
pub const LISTABLE: &[Kind] = &[
    Kind::Provider,
    Kind::Review,
    Kind::Price,
    Kind::Switch,
    Kind::SwitchOutcome,
    Kind::Motion,
    Kind::Support,
    Kind::Retract,
];
