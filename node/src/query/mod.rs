//! What buyers ask: price comparison, provider scorecards, switching flows, collective action,
//! and a report of it all. [`Dataset::load`] reads what a question needs from the store; the rest
//! is plain computation over it (unit-tested with hand-computed figures; methods in
//! docs/QUERIES.md).

pub mod disclose;
pub mod modp;
pub mod motions;
pub mod prices;
pub mod providers;
pub mod renewals;
pub mod replies;
pub mod report;
pub mod stats;
pub mod switches;
pub mod tenders;
pub mod worth;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use csx_protocol::body::*;
use csx_protocol::roster::Roster;
use csx_protocol::{Body, Date, FinancialYear, Kind, NodeKey, OrgKey, RecordId};
use serde::{Deserialize, Serialize};

use crate::store::{Scan, Store, StoreError};

/// What every answer says about what it rests on and how current it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Provenance {
    /// Records considered (after dropping retracted and superseded ones).
    pub records: usize,
    /// Distinct members those records come from.
    pub members: usize,
    /// Current members of the federation.
    pub federation_members: usize,
    /// When the answer was computed (Unix ms).
    pub as_of: u64,
    /// When this node last completed a sync round with a peer (Unix ms), if ever.
    pub last_sync_at: Option<u64>,
    /// Members' nodes connected now (with a daemon running).
    pub peers: Option<usize>,
    /// `daemon` or `offline`.
    pub mode: String,
}

impl Provenance {
    /// One line for the foot of a table.
    pub fn line(&self) -> String {
        let ago = |t: u64| {
            let s = self.as_of.saturating_sub(t) / 1000;
            match s {
                0..=119 => format!("{s}s ago"),
                120..=7199 => format!("{}m ago", s / 60),
                7200..=172_799 => format!("{}h ago", s / 3600),
                _ => format!("{}d ago", s / 86_400),
            }
        };
        let sync = self.last_sync_at.map(ago).unwrap_or_else(|| "never".into());
        let peers = match (self.mode.as_str(), self.peers) {
            ("daemon", Some(p)) => format!("{p} members' nodes connected"),
            _ => "no daemon running".into(),
        };
        format!(
            "Based on {} records from {} of {} members; last synced {sync}; {peers}.",
            self.records, self.members, self.federation_members
        )
    }
}

/// The parameters every computation needs.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// The asking member.
    pub me: OrgKey,
    /// Members needed before a statistic is shown.
    pub k: u16,
    /// Largest share of a statistic's points from one member (basis points).
    pub max_share_bp: u16,
    pub now_ms: u64,
}

impl Ctx {
    pub fn today(&self) -> Date {
        Date::from_unix_ms(self.now_ms).unwrap_or_else(|| Date::from_ymd(2000, 1, 1).expect("valid"))
    }
    pub fn this_year(&self) -> FinancialYear {
        self.today().financial_year()
    }
}

/// A member organisation as answers name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRef {
    pub ods: String,
    pub name: String,
}

/// Who is who: organisations by key, with names and registered populations.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    orgs: HashMap<OrgKey, (OrgRef, Option<u64>)>,
    current: HashSet<OrgKey>,
}

impl Directory {
    pub fn insert(&mut self, key: OrgKey, ods: &str, name: &str, population: Option<u64>, current: bool) {
        self.orgs.insert(key, (OrgRef { ods: ods.into(), name: name.into() }, population));
        if current {
            self.current.insert(key);
        }
    }
    pub fn org(&self, key: &OrgKey) -> OrgRef {
        self.orgs
            .get(key)
            .map(|(o, _)| o.clone())
            .unwrap_or_else(|| OrgRef { ods: key.short(), name: "unknown".into() })
    }
    pub fn population(&self, key: &OrgKey) -> Option<u64> {
        self.orgs.get(key).and_then(|(_, p)| *p)
    }
    pub fn is_current(&self, key: &OrgKey) -> bool {
        self.current.contains(key)
    }
    /// The organisation with ODS code `ods`, if it is in the directory.
    pub fn by_ods(&self, ods: &str) -> Option<OrgRef> {
        self.orgs.values().find(|(o, _)| o.ods.eq_ignore_ascii_case(ods)).map(|(o, _)| o.clone())
    }
    pub fn current_members(&self) -> usize {
        self.current.len()
    }
}

/// A record's content with who wrote it and when.
#[derive(Debug, Clone)]
pub struct Item<T> {
    pub id: RecordId,
    pub org: OrgKey,
    pub created_at: u64,
    /// Its place in its node's feed: the rows of one import are written in the file's order.
    pub seq: u64,
    /// The node that wrote it.
    pub node: NodeKey,
    pub body: T,
}

/// The period a record is about, where it has one: "latest" follows it first.
pub trait About {
    fn period(&self) -> Option<FinancialYear> {
        None
    }
}

impl About for Price {
    fn period(&self) -> Option<FinancialYear> {
        Some(self.year)
    }
}
impl About for Review {
    fn period(&self) -> Option<FinancialYear> {
        Some(self.year)
    }
}
impl About for Switch {}
impl About for SwitchOutcome {}
impl About for Motion {}
impl About for Support {}
impl About for ProviderKey {}
impl About for ProviderReply {}
impl About for Intent {}
impl About for TenderJoin {}

impl<T: About> Item<T> {
    /// Where the item stands in "latest" (docs/QUERIES.md, "Supersession"): the period it is
    /// about, then when it was written, then its place in its node's feed (the row order of an
    /// import), then the node (only two nodes of one member writing in the same millisecond
    /// come to that). Never the record id, a hash.
    pub fn order(&self) -> (Option<FinancialYear>, u64, u64, NodeKey) {
        (self.body.period(), self.created_at, self.seq, self.node)
    }
}

/// The records a question needs, cleaned: retracted records dropped, authors resolved to their
/// organisations, and of prices and reviews only each node's latest of each thing (the queries
/// keep each member's latest: [`latest_by`]).
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub directory: Directory,
    pub prices: Vec<Item<Price>>,
    pub reviews: Vec<Item<Review>>,
    pub switches: Vec<Item<Switch>>,
    pub outcomes: Vec<Item<SwitchOutcome>>,
    pub motions: Vec<Item<Motion>>,
    pub supports: Vec<Item<Support>>,
    pub providers: BTreeMap<String, Provider>,
    /// Members' registrations of providers' reply keys (loaded with reviews).
    pub provider_keys: Vec<Item<ProviderKey>>,
    /// Providers' replies to reviews, as members published them (loaded with reviews).
    pub replies: Vec<Item<ProviderReply>>,
    /// Members needed to confirm a provider key: the roster's endorsement threshold.
    pub key_threshold: u16,
    /// Intents to procure and wishes to join them (loaded with tenders).
    pub intents: Vec<Item<Intent>>,
    pub joins: Vec<Item<TenderJoin>>,
}

/// Which records to load.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want<'a> {
    pub prices: bool,
    pub reviews: bool,
    pub switches: bool,
    pub motions: bool,
    /// Intents to procure, wishes to join them, and the prices their renewals come from.
    pub tenders: bool,
    /// Only records about this service line (where the kind has one).
    pub service_line: Option<&'a str>,
}

impl Want<'_> {
    pub fn everything() -> Self {
        Want { prices: true, reviews: true, switches: true, motions: true, tenders: true, service_line: None }
    }
}

impl Dataset {
    /// Reads what `want` asks for from `store`, with the organisation directory from `roster` and
    /// the latest profiles.
    pub fn load(store: &dyn Store, roster: &Roster, want: Want<'_>) -> Result<Dataset, StoreError> {
        let mut d = Dataset { key_threshold: roster.endorsement_threshold(), ..Dataset::default() };
        // Organisations: names and membership from the roster, populations from the latest profile.
        // The latest profile's population: (created_at, seq, node) orders profiles.
        type Order = (u64, u64, NodeKey);
        let mut populations: HashMap<OrgKey, (Order, Option<u64>)> = HashMap::new();
        for r in store.scan(Scan::Kind(Kind::Profile), false) {
            let r = r?;
            if let (Body::Profile(p), Some((org, _))) = (r.body(), roster.org_of(&r.author())) {
                let order = (r.created_at(), r.seq(), r.author());
                let e = populations.entry(org).or_insert((order, p.population));
                if order >= e.0 {
                    *e = (order, p.population);
                }
            }
        }
        for m in roster.members() {
            let population = populations.get(&m.org_key).and_then(|(_, p)| *p);
            d.directory.insert(m.org_key, &m.ods_code, &m.name, population, m.is_current());
        }
        // Retractions count only when made by the organisation that wrote the target; one
        // retraction may name many records, each judged alone.
        let org_of = |author: &NodeKey| roster.org_of(author).map(|(o, _)| o);
        let mut retracted = HashSet::new();
        for r in store.scan(Scan::Kind(Kind::Retract), false) {
            let r = r?;
            let Body::Retract(x) = r.body() else { continue };
            for target in x.targets() {
                if let Some((target_author, _)) = store.locate(&target)?
                    && org_of(&target_author).is_some()
                    && org_of(&target_author) == org_of(&r.author())
                {
                    retracted.insert(target);
                }
            }
        }
        let scan = |kind: Kind| match want.service_line {
            Some(code) if kind == Kind::Switch => store.scan(Scan::ServiceLine { code, kind: Some(kind) }, false),
            _ => store.scan(Scan::Kind(kind), false),
        };
        let mut kinds = vec![Kind::Provider];
        if want.prices || want.motions || want.tenders {
            kinds.push(Kind::Price);
        }
        if want.reviews {
            kinds.extend([Kind::Review, Kind::ProviderKey, Kind::ProviderReply]);
        }
        if want.tenders {
            kinds.extend([Kind::Intent, Kind::TenderJoin]);
        }
        if want.switches || want.reviews {
            kinds.extend([Kind::Switch, Kind::SwitchOutcome]);
        }
        if want.motions {
            kinds.extend([Kind::Motion, Kind::Support]);
        }
        for kind in kinds {
            // Of prices and reviews only each author's latest of each thing can count
            // (supersession): read those from the store's index of them, not the whole kind.
            let records: crate::store::Records<'_> = if matches!(kind, Kind::Price | Kind::Review) {
                let latest = store.latest(kind, &|id| retracted.contains(id))?;
                let line = want.service_line;
                Box::new(
                    latest.into_iter().filter(move |r| line.is_none_or(|l| r.body().service_line() == Some(l))).map(Ok),
                )
            } else {
                scan(kind)
            };
            for r in records {
                let r = r?;
                if retracted.contains(&r.id()) {
                    continue;
                }
                // Only current members' records count: a revoked member's data leaves every answer.
                let Some(org) = org_of(&r.author()).filter(|o| d.directory.is_current(o)) else { continue };
                let (id, created_at, seq, node) = (r.id(), r.created_at(), r.seq(), r.author());
                macro_rules! push {
                    ($vec:expr, $b:expr) => {
                        $vec.push(Item { id, org, created_at, seq, node, body: $b.clone() })
                    };
                }
                match r.body() {
                    Body::Price(b) => push!(d.prices, b),
                    Body::Review(b) => push!(d.reviews, b),
                    Body::Switch(b) => push!(d.switches, b),
                    Body::SwitchOutcome(b) => push!(d.outcomes, b),
                    Body::Motion(b) => push!(d.motions, b),
                    Body::Support(b) => push!(d.supports, b),
                    Body::ProviderKey(b) => push!(d.provider_keys, b),
                    Body::ProviderReply(b) => push!(d.replies, b),
                    Body::Intent(b) => push!(d.intents, b),
                    Body::TenderJoin(b) => push!(d.joins, b),
                    Body::Provider(b) => {
                        d.providers.insert(b.code.clone(), b.clone());
                    }
                    _ => {}
                }
            }
        }
        Ok(d)
    }

    /// The name of a provider code (built-in, or from a provider record).
    pub fn provider_name(&self, code: &str) -> String {
        if let Some(p) = self.providers.get(code) {
            return p.name.clone();
        }
        csx_protocol::refdata::builtin_provider(code).map(|p| p.name.to_string()).unwrap_or_else(|| code.to_string())
    }
}

/// What an answer rests on: the records it used and the members they came from.
#[derive(Debug, Clone, Default)]
pub struct Rests {
    records: HashSet<RecordId>,
    members: BTreeSet<OrgKey>,
}

impl Rests {
    pub fn add<T>(&mut self, item: &Item<T>) {
        self.records.insert(item.id);
        self.members.insert(item.org);
    }
    /// Adds the records (with their members) a figure rests on.
    pub fn add_all(&mut self, backing: &[(RecordId, OrgKey)]) {
        for (id, org) in backing {
            self.records.insert(*id);
            self.members.insert(*org);
        }
    }
    pub fn records(&self) -> usize {
        self.records.len()
    }
    pub fn members(&self) -> usize {
        self.members.len()
    }
}

/// Keeps, for each key, only the latest item by [`Item::order`]: a member's later disclosure of
/// the same thing supersedes its earlier one.
pub fn latest_by<'a, T: About + 'a, K: Ord>(
    items: impl IntoIterator<Item = &'a Item<T>>,
    key: impl Fn(&Item<T>) -> K,
) -> Vec<&'a Item<T>> {
    let mut best: BTreeMap<K, &Item<T>> = BTreeMap::new();
    for it in items {
        let k = key(it);
        match best.get(&k) {
            Some(b) if b.order() >= it.order() => {}
            _ => {
                best.insert(k, it);
            }
        }
    }
    best.into_values().collect()
}

/// Warnings for rows of one file that would supersede each other (docs/IMPORT.md): the rows of
/// an import are written in order, so of two rows about the same thing the later replaces the
/// earlier. `bodies` are the file's rows in order; rows are numbered from 1.
pub fn superseding_rows(bodies: &[Body]) -> Vec<String> {
    superseding_rows_numbered(bodies, |i| i + 1)
}

/// [`superseding_rows`] with the rows numbered by `number` (from the body's index), e.g. as
/// a spreadsheet shows them.
pub fn superseding_rows_numbered(bodies: &[Body], number: impl Fn(usize) -> usize) -> Vec<String> {
    let mut first: BTreeMap<(Kind, csx_protocol::body::Thing<'_>), usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        let (Some(kind), Some(thing)) = (b.kind(), b.supersedes()) else { continue };
        let what = match b {
            Body::Price(p) => format!(
                "prices for {} from {} in {} with {}",
                p.service_line,
                p.provider,
                p.year,
                match &p.contract_ref {
                    Some(r) => format!("contract reference `{r}`"),
                    None => "no contract reference".into(),
                }
            ),
            Body::Review(r) => format!("reviews of {} for {} in {}", r.provider, r.service_line, r.year),
            _ => continue,
        };
        match first.get(&(kind, thing.clone())) {
            Some(earlier) => {
                let hint = if kind == Kind::Price {
                    " (if they are separate contracts or lots, give each its own contract_ref)"
                } else {
                    ""
                };
                let later = number(i);
                out.push(format!(
                    "rows {earlier} and {later} are both {what}: row {later} will replace row {earlier}{hint}"
                ));
            }
            None => {
                first.insert((kind, thing), number(i));
            }
        }
    }
    out
}

/// The order service lines are listed in (the built-in order, then others by code).
pub fn line_order(code: &str) -> (usize, String) {
    let i = csx_protocol::refdata::SERVICE_LINES.iter().position(|s| s.code == code).unwrap_or(usize::MAX);
    (i, code.to_string())
}

pub fn line_name(code: &str) -> String {
    csx_protocol::refdata::service_line(code).map(|s| s.name.to_string()).unwrap_or_else(|| code.to_string())
}

/// A question the node answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "question", rename_all = "snake_case")]
pub enum Question {
    Prices(prices::PriceQuery),
    Providers(providers::ProviderQuery),
    Provider {
        code: String,
    },
    Switches(switches::SwitchQuery),
    Motions(motions::MotionQuery),
    /// One motion, by its full record id (the service resolves prefixes first).
    Motion {
        id: String,
    },
    Report,
    /// Joint tenders forming, with what the federation pays above the medians.
    Tenders(tenders::TenderQuery),
    /// Providers' reply keys members registered, confirmed or not.
    ProviderKeys,
    /// The renewal calendar: contracts ending by line and quarter.
    Renewals(renewals::RenewalQuery),
}

/// An answer, by question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    Prices { cells: Vec<prices::PriceCell> },
    Providers { scorecards: Vec<providers::Scorecard> },
    Provider(Box<providers::ProviderProfile>),
    Switches(switches::SwitchesAnswer),
    Motions { motions: Vec<motions::MotionView> },
    Motion(Box<motions::MotionView>),
    Report(Box<report::Report>),
    Tenders { groups: Vec<tenders::TenderGroup>, worth: worth::Worth },
    ProviderKeys { keys: Vec<replies::KeyView> },
    Renewals(Box<renewals::Renewals>),
}

impl Answer {
    /// The answer's kind, as its JSON `answer` field names it.
    pub fn name(&self) -> &'static str {
        match self {
            Answer::Prices { .. } => "prices",
            Answer::Providers { .. } => "providers",
            Answer::Provider(_) => "provider",
            Answer::Switches(_) => "switches",
            Answer::Motions { .. } => "motions",
            Answer::Motion(_) => "motion",
            Answer::Report(_) => "report",
            Answer::Tenders { .. } => "tenders",
            Answer::ProviderKeys { .. } => "provider_keys",
            Answer::Renewals(_) => "renewals",
        }
    }
}

/// An answer with what it rests on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answered {
    pub answer: Answer,
    pub provenance: Provenance,
}

/// Why a question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotFound(String),
}

/// Answers `question` from `store`, as the member `ctx.me` sees it.
pub fn answer(store: &dyn Store, roster: &Roster, ctx: &Ctx, question: &Question) -> Result<Answered, QueryError> {
    let d = Dataset::load(store, roster, want(question))?;
    answer_from(&d, store, ctx, question)
}

/// Keeps the last dataset a question was answered from, for as long as the store's feeds and the
/// roster are unchanged: a daemon answers a run of questions without reading the store again.
#[derive(Debug, Default)]
pub struct Cache {
    last: std::sync::Mutex<Option<(CacheKey, std::sync::Arc<Dataset>)>>,
}

/// The heads digest of the store and the roster's version.
type CacheKey = ([u8; 32], u64);

/// [`answer`], from `cache` when nothing has changed since it was filled (`roster_version` is
/// the membership's version). A miss loads everything, so the next question of any kind hits.
pub fn answer_cached(
    cache: &Cache,
    store: &dyn Store,
    roster: &Roster,
    roster_version: u64,
    ctx: &Ctx,
    question: &Question,
) -> Result<Answered, QueryError> {
    let key = (store.heads_index().root(), roster_version);
    let hit = cache.last.lock().ok().and_then(|l| l.as_ref().filter(|(k, _)| *k == key).map(|(_, d)| d.clone()));
    let d = match hit {
        Some(d) => d,
        None => {
            let d = std::sync::Arc::new(Dataset::load(store, roster, Want::everything())?);
            if let Ok(mut l) = cache.last.lock() {
                *l = Some((key, d.clone()));
            }
            d
        }
    };
    answer_from(&d, store, ctx, question)
}

/// What a question needs loaded.
fn want(question: &Question) -> Want<'_> {
    fn line(l: &Option<String>) -> Option<&str> {
        l.as_deref()
    }
    match question {
        Question::Prices(q) => Want { prices: true, service_line: line(&q.service_line), ..Want::default() },
        Question::Providers(q) => {
            Want { prices: true, reviews: true, switches: true, service_line: line(&q.service_line), ..Want::default() }
        }
        Question::Provider { .. } => Want { prices: true, reviews: true, switches: true, ..Want::default() },
        Question::Switches(q) => Want { switches: true, service_line: line(&q.service_line), ..Want::default() },
        Question::Motions(_) | Question::Motion { .. } => Want { motions: true, ..Want::default() },
        Question::Report => Want::everything(),
        Question::Tenders(q) => {
            Want { tenders: true, prices: true, service_line: line(&q.service_line), ..Want::default() }
        }
        Question::ProviderKeys => Want { reviews: true, ..Want::default() },
        Question::Renewals(q) => Want { prices: true, service_line: line(&q.service_line), ..Want::default() },
    }
}

fn answer_from(d: &Dataset, store: &dyn Store, ctx: &Ctx, question: &Question) -> Result<Answered, QueryError> {
    let mut rests = Rests::default();
    let answer = match question {
        Question::Prices(q) => Answer::Prices { cells: prices::prices(d, ctx, q, &mut rests) },
        Question::Providers(q) => Answer::Providers { scorecards: providers::scorecards(d, ctx, q, &mut rests) },
        Question::Provider { code } => {
            let code = code.trim().to_ascii_uppercase();
            let known = d.providers.contains_key(&code) || csx_protocol::refdata::builtin_provider(&code).is_some();
            let profile = providers::profile(d, ctx, &code, &mut rests);
            if !known && profile.scorecards.is_empty() {
                return Err(QueryError::NotFound(format!(
                    "no provider `{code}` is known: `csx provider list` shows the registry"
                )));
            }
            Answer::Provider(Box::new(profile))
        }
        Question::Switches(q) => Answer::Switches(switches::switches(d, ctx, q, &mut rests)),
        Question::Motions(q) => Answer::Motions { motions: motions::motions(d, ctx, q, &mut rests) },
        Question::Motion { id } => {
            let found = id.parse::<RecordId>().ok().and_then(|id| motions::motion(d, ctx, &id, &mut rests));
            match found {
                Some(m) => Answer::Motion(Box::new(m)),
                None => {
                    return Err(QueryError::NotFound(format!(
                        "{id} is not a motion held here (or it was retracted): `csx motions` lists them"
                    )));
                }
            }
        }
        Question::Report => Answer::Report(Box::new(report::report(d, ctx, &mut rests))),
        Question::Tenders(q) => {
            Answer::Tenders { groups: tenders::tenders(d, ctx, q, &mut rests), worth: worth::worth(d, ctx, &mut rests) }
        }
        Question::ProviderKeys => Answer::ProviderKeys { keys: replies::keys(d) },
        Question::Renewals(q) => Answer::Renewals(Box::new(renewals::renewals(d, ctx, q, &mut rests))),
    };
    let provenance = Provenance {
        records: rests.records(),
        members: rests.members(),
        federation_members: d.directory.current_members(),
        as_of: ctx.now_ms,
        last_sync_at: last_sync_at(store)?,
        peers: None,
        mode: "offline".into(),
    };
    Ok(Answered { answer, provenance })
}

/// The store meta entry holding when this node last completed a sync round (Unix ms, 8 bytes BE).
pub const LAST_SYNC_META: &str = "last_sync_at";

pub fn last_sync_at(store: &dyn Store) -> Result<Option<u64>, StoreError> {
    Ok(store.meta_get(LAST_SYNC_META)?.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map(u64::from_be_bytes))
}

/// Builders for the query tests: members 0..n with populations of 100,000 × (i + 1).
#[cfg(test)]
pub mod tests {
    use super::*;
    use csx_protocol::body::{PricingModel, Review};

    #[test]
    fn rows_of_one_file_that_would_supersede_each_other_are_named() {
        let p = |i: u8, provider: &str, r: Option<&str>| {
            let mut x = price(i, provider, "BI", 2024, 100, 1, 1).body;
            x.contract_ref = r.map(String::from);
            Body::Price(x)
        };
        let rows = vec![
            p(0, "0DE", None),
            p(0, "0DE", Some("Lot 1")),
            p(0, "0AR", None),
            p(0, "0DE", None),
            p(0, "0DE", Some("LOT 1")),
            Body::Review(review(0, "0DE", "BI", 2024, 3, None, 1).body),
            Body::Review(review(0, "0DE", "BI", 2024, 4, None, 1).body),
        ];
        assert_eq!(
            superseding_rows(&rows),
            [
                "rows 1 and 4 are both prices for BI from 0DE in 2024/25 with no contract reference: row 4 will replace row 1 (if they are separate contracts or lots, give each its own contract_ref)",
                "rows 2 and 5 are both prices for BI from 0DE in 2024/25 with contract reference `LOT 1`: row 5 will replace row 2 (if they are separate contracts or lots, give each its own contract_ref)",
                "rows 6 and 7 are both reviews of 0DE for BI in 2024/25: row 7 will replace row 6",
            ]
        );
    }

    #[test]
    fn latest_is_the_period_then_the_write_time_then_the_feed_order() {
        // Member 0's reviews: 2025/26 written at 5, 2024/25 written later at 9, and two of
        // 2024/25 written at 9 in one import (seq 3 then 4): the latest is 2025/26's.
        let a = review(0, "0DE", "BI", 2025, 1, None, 5);
        let mut b = review(0, "0DE", "BI", 2024, 2, None, 9);
        let mut c = review(0, "0DE", "BI", 2024, 3, None, 9);
        (b.seq, c.seq) = (3, 4);
        (b.id, c.id) = (id(2, 0, 99), id(2, 0, 1));
        let all = [a.clone(), b, c.clone()];
        let latest = latest_by(all.iter(), |it| it.org);
        assert_eq!(latest[0].id, a.id);
        // Of one year, the later row of the import, though its id is the smaller.
        let of_2024 = latest_by(all.iter().filter(|it| it.body.year.0 == 2024), |it| it.org);
        assert_eq!(of_2024[0].id, c.id);
    }

    pub fn org(i: u8) -> OrgKey {
        OrgKey([i + 1; 32])
    }

    pub fn id(tag: u8, i: u8, created_at: u64) -> RecordId {
        let mut b = [tag; 32];
        b[1] = i;
        b[2..10].copy_from_slice(&created_at.to_be_bytes());
        RecordId(b)
    }

    /// A dataset whose directory holds `n` current members named `M0`, `M1`, ….
    pub fn dataset(n: u8) -> Dataset {
        let mut d = Dataset::default();
        for i in 0..n {
            d.directory.insert(org(i), &format!("M{i}"), &format!("Member {i}"), Some(100_000 * (i as u64 + 1)), true);
        }
        d
    }

    /// Member `i`'s record written at `created_at`; its seq is taken from the time too, so
    /// records written later by a member come later in its feed unless a test says otherwise.
    pub fn item<T>(tag: u8, i: u8, created_at: u64, body: T) -> Item<T> {
        Item { id: id(tag, i, created_at), org: org(i), created_at, seq: created_at, node: NodeKey([i + 1; 32]), body }
    }

    /// Member `i`'s fixed-price disclosure of `pence` a year (ex VAT) covering `population`.
    pub fn price(
        i: u8,
        provider: &str,
        line: &str,
        year: u16,
        pence: u64,
        population: u64,
        created_at: u64,
    ) -> Item<Price> {
        item(
            1,
            i,
            created_at,
            Price {
                provider: provider.into(),
                service_line: line.into(),
                year: FinancialYear(year),
                annual_value_pence: pence,
                vat_included: false,
                pricing_model: PricingModel::Fixed,
                population_covered: population,
                unit_name: None,
                unit_count: None,
                scope: None,
                contract_start: None,
                contract_months: None,
                notice_months: None,
                efficiency_bp: None,
                kpi_basis: None,
                buying_route: None,
                satisfaction_survey: None,
                contract_ref: None,
            },
        )
    }

    /// Member `i`'s review with every dimension rated `rating` and `recommend` out of 10.
    pub fn review(
        i: u8,
        provider: &str,
        line: &str,
        year: u16,
        rating: u8,
        recommend: Option<u8>,
        created_at: u64,
    ) -> Item<Review> {
        let r = Some(rating);
        item(
            2,
            i,
            created_at,
            Review {
                provider: provider.into(),
                service_line: line.into(),
                year: FinancialYear(year),
                quality: r,
                timeliness: r,
                responsiveness: r,
                data_accuracy: r,
                flexibility: r,
                value_for_money: r,
                kpi_delivery: r,
                would_recommend: recommend,
                still_customer: true,
                reviewer_role: "Head of Contracting".into(),
                comment: Some(format!("comment {i} {year}")),
            },
        )
    }
}
