//! Record: forms for a review, a price disclosure, a switch and its outcome, a motion and a
//! provider; your organisation's records with retraction. Every form is converted by the
//! kind's input form in `csx_node::input` — the parsers, rules and messages of `csx … add` and
//! `csx import` — then checked by the node; a problem is shown in an error summary naming the
//! field, and nothing is saved. A saved record is signed by the node and attributed to the
//! account in the audit log.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use csx_node::api::{ErrorKind, Listed};
use csx_node::client::{AsyncNode as _, ClientError};
use csx_node::input::FieldErr;
use csx_node::input::kinds::*;
use csx_protocol::body::*;
use csx_protocol::{Body, Record, RecordId};

use super::{Page, PageError, render};
use crate::accounts::Role;
use crate::app::App;
use crate::auth::User;
use crate::html::{Field, collect, error_summary};

/// Own records read for the outcome form and contract dates: the newest this many of this
/// node's feed (a node's own feed is its organisation's writing — hundreds to a few thousand
/// records; reading more would make a page's time grow with a bulk import).
pub const OWN_RECORDS: usize = 2_000;

/// The kinds the forms record, by the slug in their address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Review,
    Price,
    Switch,
    Outcome,
    Motion,
    Provider,
}

impl FormKind {
    pub const ALL: [FormKind; 6] =
        [FormKind::Review, FormKind::Price, FormKind::Switch, FormKind::Outcome, FormKind::Motion, FormKind::Provider];

    pub fn slug(self) -> &'static str {
        match self {
            FormKind::Review => "review",
            FormKind::Price => "price",
            FormKind::Switch => "switch",
            FormKind::Outcome => "outcome",
            FormKind::Motion => "motion",
            FormKind::Provider => "provider",
        }
    }

    fn from_slug(s: &str) -> Option<FormKind> {
        Self::ALL.into_iter().find(|k| k.slug() == s)
    }

    pub fn title(self) -> &'static str {
        match self {
            FormKind::Review => "Review a provider",
            FormKind::Price => "Disclose a price",
            FormKind::Switch => "Report a switch",
            FormKind::Outcome => "Report how a switch went",
            FormKind::Motion => "Propose a motion",
            FormKind::Provider => "Add a provider",
        }
    }

    pub fn intro(self) -> &'static str {
        match self {
            FormKind::Review => {
                "How a provider served your organisation on one service line in one financial year. Members see the ratings, your role and your comment with your organisation's name; statistics are shown only once enough members have reviewed."
            }
            FormKind::Price => {
                "What your organisation pays for one service line. Members see every disclosure; statistics are shown only once enough members have disclosed, so no one price can be read off them."
            }
            FormKind::Switch => "Your organisation moved a service line from one provider to another, or in house.",
            FormKind::Outcome => {
                "How a switch your organisation reported turned out: the change in cost and in satisfaction."
            }
            FormKind::Motion => {
                "A position for members to take together, such as a limit on notice periods. It carries when enough members support it before it closes."
            }
            FormKind::Provider => {
                "A supplier that is not in the register yet. Commissioning Support Units are there already."
            }
        }
    }
}

/// What the forms' choices are made of.
struct Choices {
    providers: Vec<(String, String)>,
    switches: Vec<(String, String)>,
    population: Option<u64>,
}

fn choose(first: &str, options: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), first.to_string())];
    v.extend(options);
    v
}

fn names<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<(String, String)> {
    all.iter().map(|v| (v.to_string(), v.to_string().replace('_', " "))).collect()
}

fn yes_no() -> Vec<(String, String)> {
    vec![("yes".into(), "Yes".into()), ("no".into(), "No".into())]
}

fn fields(kind: FormKind, c: &Choices) -> Vec<Field> {
    let lines = || choose("Choose a service line", super::line_options(None));
    let providers = || choose("Choose a provider", c.providers.clone());
    let year = || Field::number("year", "Financial year", 5).hint("For example, 2025/26 (or 2025)").required();
    let rating = |name: &'static str, label: &str| Field::number(name, label, 2).hint("1 (poor) to 5 (excellent)");
    match kind {
        FormKind::Review => vec![
            Field::select("provider", "Provider", providers()).required(),
            Field::select("service_line", "Service line", lines()).required(),
            year(),
            rating("quality", "Quality of the service"),
            rating("timeliness", "Timeliness"),
            rating("responsiveness", "Responsiveness"),
            rating("data_accuracy", "Accuracy of data and reports"),
            rating("flexibility", "Flexibility"),
            rating("value_for_money", "Value for money"),
            rating("kpi_delivery", "Delivery against KPIs"),
            Field::number("would_recommend", "How likely are you to recommend them to another member?", 2)
                .hint("0 (not at all) to 10 (extremely)"),
            Field::radios("still_customer", "Are you still their customer?", yes_no(), true).required(),
            Field::text("reviewer_role", "Your role")
                .hint("For example, Head of Contracting. It is published with the review; your name is not.")
                .required(),
            Field::area("comment", "Comment").hint("Members read this. Do not include personal information."),
        ],
        FormKind::Price => vec![
            Field::select("provider", "Provider", providers()).required(),
            Field::select("service_line", "Service line", lines()).required(),
            year(),
            Field::money("annual_value", "Annual contract value")
                .hint("In pounds, for example 250,000 or 1.2m")
                .required(),
            Field::radios("vat_included", "Does the value include VAT?", yes_no(), true).required(),
            Field::radios("pricing_model", "How is it priced?", names(PricingModel::ALL), false).required(),
            Field::number("population_covered", "Population the contract covers", 10).hint(match c.population {
                Some(p) => format!("Leave blank for your registered population, {p}"),
                None => "Your profile has no registered population, so this is needed".into(),
            }),
            Field::text("unit_name", "What one unit is").hint("Only when priced per unit, for example payslip"),
            Field::number("unit_count", "Units a year", 10).hint("Only when priced per unit"),
            Field::area("scope", "What the contract covers"),
            Field::text("contract_start", "Contract start date").hint("For example, 2024-04-01"),
            Field::number("contract_months", "Contract length in months", 3),
            Field::number("notice_months", "Notice period in months", 3),
            Field::text("efficiency", "Efficiency required each year")
                .hint("A percentage, for example 4 or 4.5")
                .suffix("%"),
            Field::select("kpi_basis", "What the KPIs measure", choose("Not stated", names(KpiBasis::ALL))),
            Field::select("buying_route", "How it was bought", choose("Not stated", names(BuyingRoute::ALL))),
            Field::radios(
                "satisfaction_survey",
                "Does the contract require an annual client-satisfaction survey?",
                yes_no(),
                true,
            ),
        ],
        FormKind::Switch => {
            let mut parties = choose("Choose who", vec![("in_house".into(), "In house".into())]);
            parties.extend(c.providers.clone());
            vec![
                Field::select("service_line", "Service line", lines()).required(),
                Field::select("from", "Who delivered it before", parties.clone()).required(),
                Field::select("to", "Who delivers it now", parties).required(),
                Field::text("effective", "When the switch took effect").hint("For example, 2024-10-01").required(),
                Field::checkboxes("reasons", "Why you switched", names(SwitchReason::ALL))
                    .hint("Select all that apply")
                    .required(),
                Field::area("reason_text", "The reasons in your words"),
                Field::number("notice_months", "Notice given, in months", 3),
                Field::money("exit_costs", "Exit costs paid"),
                Field::number("transition_months", "How many months the transition took", 3),
            ]
        }
        FormKind::Outcome => vec![
            Field::select(
                "switch",
                "The switch",
                choose("Choose one of your organisation's switches", c.switches.clone()),
            )
            .required(),
            Field::text("cost_change", "Change in annual cost")
                .hint("In pounds; a saving is negative, for example -40k"),
            Field::number("satisfaction_change", "Change in satisfaction", 2).hint("On the 1 to 5 scale, from -4 to 4"),
            Field::area("comment", "Comment"),
        ],
        FormKind::Motion => vec![
            Field::text("title", "Title").hint("For example, Notice periods of at most 6 months").required(),
            Field::area("text", "The proposal in full").required(),
            Field::text("term", "The contract term it asks for")
                .hint("Optional: max_notice_months=6, kpi_basis=outcome, min_efficiency_bp=400 or satisfaction_survey"),
            Field::select(
                "service_line",
                "Only for this service line",
                choose("Every service line", super::line_options(None)),
            ),
            Field::select("provider", "Only for this provider", choose("Every provider", c.providers.clone())),
            Field::number("support_needed", "Members whose support carries it", 3).required(),
            Field::text("closes_on", "Closing date").hint("For example, 2026-03-31").required(),
        ],
        FormKind::Provider => vec![
            Field::text("code", "Code")
                .hint("Its ODS code where it has one, else 2 to 16 letters, digits or hyphens")
                .required(),
            Field::text("name", "Name").required(),
            Field::radios("kind", "Kind", names(ProviderKind::ALL), false).required(),
            Field::text("aliases", "Other names it goes by").hint("Separated by commas"),
        ],
    }
}

/// A form's fields as `T`: only the kind's own fields, blanks left out.
fn input<T: KindInput>(form: &HashMap<String, String>) -> Result<T, FieldErr> {
    let allowed: Vec<String> = match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => vec![],
    };
    let mut map = serde_json::Map::new();
    for k in allowed {
        if let Some(v) = form.get(&k).filter(|v| !v.trim().is_empty()) {
            map.insert(k, serde_json::Value::String(v.clone()));
        }
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| FieldErr::new("form", e.to_string()))
}

/// Converts a form with the kind's input form (the CLI's parsers and rules).
pub fn convert(kind: FormKind, form: &HashMap<String, String>, ctx: &InputCtx<'_>) -> Result<Body, FieldErr> {
    fn go<T: KindInput>(form: &HashMap<String, String>, ctx: &InputCtx<'_>) -> Result<Body, FieldErr> {
        input::<T>(form)?.to_body(ctx)
    }
    match kind {
        FormKind::Review => go::<ReviewInput>(form, ctx),
        FormKind::Price => go::<PriceInput>(form, ctx),
        FormKind::Switch => go::<SwitchInput>(form, ctx),
        FormKind::Outcome => go::<OutcomeInput>(form, ctx),
        FormKind::Motion => go::<MotionInput>(form, ctx),
        FormKind::Provider => go::<ProviderInput>(form, ctx),
    }
}

/// The field a node message is about: `review.provider: …` → (`provider`, `…`).
pub fn split_field(message: &str) -> (Option<String>, String) {
    if let Some((head, rest)) = message.split_once(": ")
        && let Some((_, field)) = head.split_once('.')
        && !field.is_empty()
        && field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return (Some(field.to_string()), rest.to_string());
    }
    (None, message.to_string())
}

/// Resolves a record id or unique prefix through the node. For the parsers' synchronous
/// `resolve`: call it only on a blocking thread (see [`convert_on_node`]).
fn resolve_on(handle: &tokio::runtime::Handle, node: &crate::link::NodeLink, s: &str) -> Result<RecordId, String> {
    match handle.block_on(node.record(s.to_string())) {
        Ok(record) => record.record.decode().map(|r| r.id()).map_err(|e| e.to_string()),
        Err(ClientError::Api(e)) => Err(e.message),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `f` (a conversion with the CLI's parsers) on a blocking thread, with an input context
/// whose `resolve` asks the node.
pub async fn convert_on_node<R: Send + 'static>(
    app: &App,
    f: impl FnOnce(&InputCtx<'_>) -> R + Send + 'static,
) -> Result<R, PageError> {
    let (node, handle, own_population) = (app.node.clone(), tokio::runtime::Handle::current(), own_population(app));
    let today = csx_protocol::Date::from_unix_ms(app.now())
        .ok_or_else(|| PageError::Internal("the clock is outside the years csx handles".into()))?;
    tokio::task::spawn_blocking(move || {
        let resolve = |s: &str| resolve_on(&handle, &node, s);
        // Providers by name as well as code: the built-in ones and those members added.
        let mut providers = csx_node::input::ProviderNames::builtin();
        if let Ok(known) = handle.block_on(node.providers()) {
            for p in known {
                providers.add(&p.code, &p.name, &p.aliases);
            }
        }
        f(&InputCtx { own_population, resolve: &resolve, today, providers: &providers })
    })
    .await
    .map_err(|e| PageError::Internal(format!("a conversion task failed: {e}")))
}

/// This organisation's registered population, the default population a price covers.
pub fn own_population(app: &App) -> Option<u64> {
    app.home.profile().ok().and_then(|p| p.population)
}

/// Signs and stores `bodies` (all or nothing) and writes the audit entry.
pub async fn publish(
    app: &App,
    user: &User,
    bodies: Vec<Body>,
    action: &str,
    detail: &str,
) -> Result<Vec<Record>, PageError> {
    user.require(Role::Editor)?;
    let n = bodies.len();
    let records = app.node.publish(bodies).await?.iter().map(|r| r.decode()).collect::<Result<Vec<Record>, _>>()?;
    // A node's first write also publishes its certificate and profile: report the user's records.
    let mine: Vec<Record> = records[records.len().saturating_sub(n)..].to_vec();
    let ids: Vec<String> = mine.iter().map(|r| r.id().to_string()).collect();
    tracing::info!(user = %user.audit_name(), client = %user.client, records = ids.len(), "{detail}");
    app.audit(&user.audit_name(), "web", action, detail.to_string(), ids, &user.client);
    Ok(mine)
}

/// This node's newest `limit` records, newest first, and how many it has written in all.
pub async fn own_records(app: &App, limit: usize) -> Result<(Vec<Listed>, u64), PageError> {
    let head = app.node.status().await?.own_head.map(|h| h.seq).unwrap_or(0);
    let from_seq = head.saturating_sub(limit as u64).saturating_add(1).max(1);
    let mut records = app.node.feed(None, Some(from_seq), limit).await?;
    records.reverse();
    Ok((records, head))
}

async fn choices(app: &App, kind: FormKind) -> Result<Choices, PageError> {
    let providers =
        app.node.providers().await?.into_iter().map(|p| (p.code.clone(), format!("{} ({})", p.name, p.code))).collect();
    let mut switches = Vec::new();
    if kind == FormKind::Outcome {
        for l in own_records(app, OWN_RECORDS).await?.0.iter().filter(|l| l.retracted_by.is_none()) {
            if let Ok(r) = l.record.decode()
                && matches!(r.body(), Body::Switch(_))
            {
                switches.push((r.id().to_string(), describe(r.body())));
            }
        }
    }
    Ok(Choices { providers, switches, population: own_population(app) })
}

#[derive(Template)]
#[template(path = "record_index.html")]
struct Index {
    page: Page,
    kinds: Vec<(&'static str, &'static str, &'static str)>,
}

pub async fn index(State(app): State<Arc<App>>, user: User) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let kinds = FormKind::ALL.iter().map(|k| (k.slug(), k.title(), k.intro())).collect();
    render(&Index { page: Page::new(&app, &user, "Record", "/record"), kinds })
}

#[derive(Template)]
#[template(path = "record_form.html")]
struct FormPage {
    page: Page,
    title: String,
    intro: String,
    action: String,
    errors: String,
    fields: Vec<String>,
}

fn form_page(
    app: &App,
    user: &User,
    kind: FormKind,
    c: &Choices,
    values: &HashMap<String, String>,
    errors: &[(Option<String>, String)],
) -> Result<Response, PageError> {
    let fields = fields(kind, c);
    let message_of = |name: &str| errors.iter().find(|(f, _)| f.as_deref() == Some(name)).map(|(_, m)| m.as_str());
    // Errors name the field by its label.
    let summary: Vec<(Option<String>, String)> = errors
        .iter()
        .map(|(f, m)| {
            let label = f.as_deref().and_then(|f| fields.iter().find(|x| x.name == f)).map(|x| x.label.clone());
            match label {
                Some(l) => (f.clone(), format!("{l}: {m}")),
                None => (None, m.clone()),
            }
        })
        .collect();
    let t = FormPage {
        page: Page::new(app, user, kind.title(), "/record"),
        title: kind.title().into(),
        intro: kind.intro().into(),
        action: format!("/record/{}", kind.slug()),
        errors: error_summary(&summary),
        fields: fields
            .iter()
            .map(|f| f.render(values.get(f.name).map(String::as_str).unwrap_or(""), message_of(f.name)))
            .collect(),
    };
    let mut r = render(&t)?;
    if !errors.is_empty() {
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

fn kind_of(slug: &str) -> Result<FormKind, PageError> {
    FormKind::from_slug(slug).ok_or_else(|| PageError::NotFound(format!("There is no form for `{slug}`.")))
}

pub async fn form(
    State(app): State<Arc<App>>,
    user: User,
    Path(slug): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let kind = kind_of(&slug)?;
    let c = choices(&app, kind).await?;
    // Links may fill fields in (e.g. a provider's page linking to a review of it).
    form_page(&app, &user, kind, &c, &params, &[])
}

pub async fn submit(
    State(app): State<Arc<App>>,
    user: User,
    Path(slug): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let kind = kind_of(&slug)?;
    let form = collect(pairs);
    user.check_csrf(&form)?;
    let c = choices(&app, kind).await?;
    let values = form.clone();
    let body = convert_on_node(&app, move |ctx| {
        convert(kind, &values, ctx).and_then(|b| {
            b.validate().map_err(|e| FieldErr::new(e.field, e.rule))?;
            Ok(b)
        })
    })
    .await?;
    let body = match body {
        Ok(b) => b,
        Err(e) => return form_page(&app, &user, kind, &c, &form, &[(Some(e.field.to_string()), e.message)]),
    };
    let what = describe(&body);
    match publish(&app, &user, vec![body], kind.slug(), &format!("recorded {what}")).await {
        Ok(records) => {
            let ids: Vec<String> = records.iter().map(|r| r.id().to_string()).collect();
            Ok(Redirect::to(&format!("/saved?kind={}&ids={}", kind.slug(), ids.join(","))).into_response())
        }
        Err(PageError::Node(e)) if matches!(e.kind, ErrorKind::InvalidInput | ErrorKind::NotFound) => {
            let (field, message) = split_field(&e.message);
            form_page(&app, &user, kind, &c, &form, &[(field, message)])
        }
        Err(e) => Err(e),
    }
}

/// A record in a few words, for people.
pub fn describe(body: &Body) -> String {
    let line = |c: &str| csx_node::query::line_name(c);
    match body {
        Body::Review(r) => format!("a review of {} for {} in {}", r.provider, line(&r.service_line), r.year),
        Body::Price(p) => format!(
            "a price of {} a year from {} for {} in {}",
            csx_node::query::prices::short_pounds(p.annual_value_pence as i64),
            p.provider,
            line(&p.service_line),
            p.year
        ),
        Body::Switch(s) => {
            format!("a switch of {} from {} to {} on {}", line(&s.service_line), s.from, s.to, s.effective)
        }
        Body::SwitchOutcome(o) => format!("the outcome of switch {}", o.switch.short()),
        Body::Motion(m) => format!("the motion “{}”", m.title),
        Body::Support(s) => format!("{} for motion {}", s.stance, s.motion.short()),
        Body::Retract(r) => format!("the withdrawal of record {}", r.target.short()),
        Body::Provider(p) => format!("the provider {} {}", p.code, p.name),
        Body::Endorse(e) => format!("an endorsement of {} {}", e.ods_code, e.name),
        other => other.kind_name(),
    }
}

#[derive(Template)]
#[template(path = "saved.html")]
struct Saved {
    page: Page,
    heading: String,
    ids: Vec<String>,
    next: Vec<(String, String)>,
}

pub async fn saved(
    State(app): State<Arc<App>>,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let ids: Vec<String> = params
        .get("ids")
        .map(|s| s.split(',').filter(|x| x.parse::<RecordId>().is_ok()).map(str::to_string).collect())
        .unwrap_or_default();
    let kind = params.get("kind").and_then(|k| FormKind::from_slug(k));
    if let Some(n) = params.get("imported").and_then(|n| n.parse::<usize>().ok()) {
        let heading = format!("{n} records imported");
        let next = vec![
            ("/records".to_string(), "See your organisation's records".to_string()),
            ("/import".to_string(), "Import another file".to_string()),
        ];
        return render(&Saved { page: Page::new(&app, &user, &heading, "/record"), heading, ids: vec![], next });
    }
    let heading = match (kind, ids.len()) {
        (_, 0) => "Nothing was saved".to_string(),
        (Some(FormKind::Review), _) => "Review saved".into(),
        (Some(FormKind::Price), _) => "Price disclosure saved".into(),
        (Some(FormKind::Switch), _) => "Switch saved".into(),
        (Some(FormKind::Outcome), _) => "Outcome saved".into(),
        (Some(FormKind::Motion), _) => "Motion proposed".into(),
        (Some(FormKind::Provider), _) => "Provider added".into(),
        (None, 1) => "Saved".into(),
        (None, n) => format!("{n} records saved"),
    };
    let mut next = vec![("/records".to_string(), "See your organisation's records".to_string())];
    match kind {
        Some(FormKind::Review) => next.insert(0, ("/providers".into(), "See the providers page".into())),
        Some(FormKind::Price) => next.insert(0, ("/".into(), "See where you stand".into())),
        Some(FormKind::Motion) => next.insert(0, ("/motions".into(), "See the motions".into())),
        Some(FormKind::Switch) | Some(FormKind::Outcome) => {
            next.insert(0, ("/switching".into(), "See switching".into()))
        }
        _ => {}
    }
    if let Some(k) = kind {
        next.push((format!("/record/{}", k.slug()), format!("{} again", k.title())));
    }
    render(&Saved { page: Page::new(&app, &user, &heading, "/record"), heading, ids, next })
}

/// One of your organisation's records as the records page lists it.
#[derive(Debug, Clone)]
pub struct Mine {
    pub id: String,
    pub seq: u64,
    pub kind: String,
    pub what: String,
    pub written: String,
    pub retracted: bool,
    pub retractable: bool,
}

#[derive(Template)]
#[template(path = "records.html")]
struct Records {
    page: Page,
    records: Vec<Mine>,
    total: usize,
}

/// Records the page lists at most.
const LISTED: usize = 500;

pub async fn mine(State(app): State<Arc<App>>, user: User) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let (own, total) = own_records(&app, LISTED).await?;
    let total = total as usize;
    let records = own
        .iter()
        .filter_map(|l| {
            let r = l.record.decode().ok()?;
            let kind = r.body().kind();
            Some(Mine {
                id: r.id().to_string(),
                seq: r.seq(),
                kind: r.body().kind_name().replace('_', " "),
                what: describe(r.body()),
                written: super::date(r.created_at()),
                retracted: l.retracted_by.is_some(),
                retractable: l.retracted_by.is_none()
                    && kind
                        .is_some_and(|k| csx_node::service::LISTABLE.contains(&k) && k != csx_protocol::Kind::Retract),
            })
        })
        .collect();
    render(&Records { page: Page::new(&app, &user, "Your organisation's records", ""), records, total })
}

#[derive(Template)]
#[template(path = "retract.html")]
struct RetractPage {
    page: Page,
    id: String,
    what: String,
    errors: String,
    reason_field: String,
}

async fn own_record(app: &App, id: &str) -> Result<Record, PageError> {
    let record = app.node.record(id.to_string()).await?;
    let r = record.record.decode()?;
    if record.org.as_deref() != Some(app.identity.ods_code.as_str()) {
        return Err(PageError::Forbidden("You can only withdraw your own organisation's records.".into()));
    }
    Ok(r)
}

fn retract_page(app: &App, user: &User, r: &Record, value: &str, error: Option<String>) -> Result<Response, PageError> {
    let field = Field::area("reason", "Why are you withdrawing it?").hint("Members see this.").required();
    let summary: Vec<(Option<String>, String)> =
        error.iter().map(|e| (Some("reason".to_string()), format!("Why are you withdrawing it?: {e}"))).collect();
    let t = RetractPage {
        page: Page::new(app, user, "Withdraw a record", ""),
        id: r.id().to_string(),
        what: describe(r.body()),
        errors: error_summary(&summary),
        reason_field: field.render(value, error.as_deref()),
    };
    render(&t)
}

pub async fn retract_form(
    State(app): State<Arc<App>>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let r = own_record(&app, &id).await?;
    retract_page(&app, &user, &r, "", None)
}

pub async fn retract(
    State(app): State<Arc<App>>,
    user: User,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let form = collect(pairs);
    user.check_csrf(&form)?;
    let r = own_record(&app, &id).await?;
    let reason = form.get("reason").cloned().unwrap_or_default();
    let body = Body::Retract(Retract { target: r.id(), reason: reason.trim().to_string(), also: Vec::new() });
    if let Err(e) = body.validate() {
        return retract_page(&app, &user, &r, &reason, Some(e.rule));
    }
    let detail = format!("withdrew {}", describe(r.body()));
    match publish(&app, &user, vec![body], "retract", &detail).await {
        Ok(records) => {
            let ids: Vec<String> = records.iter().map(|r| r.id().to_string()).collect();
            Ok(Redirect::to(&format!("/saved?ids={}", ids.join(","))).into_response())
        }
        Err(PageError::Node(e)) if e.kind == ErrorKind::InvalidInput => {
            retract_page(&app, &user, &r, &reason, Some(split_field(&e.message).1))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_messages_name_their_field() {
        assert_eq!(
            split_field("review.provider: `XYZ` is not a known provider"),
            (Some("provider".into()), "`XYZ` is not a known provider".into())
        );
        assert_eq!(split_field("the node is shutting down"), (None, "the node is shutting down".into()));
    }

    #[test]
    fn a_form_converts_through_the_cli_input_and_names_a_bad_field() {
        let resolve = |s: &str| s.parse::<RecordId>().map_err(|e| e.to_string());
        let providers = csx_node::input::ProviderNames::builtin();
        let today = csx_protocol::Date::from_ymd(2025, 6, 1).expect("a date");
        let ctx = InputCtx { own_population: Some(250_000), resolve: &resolve, today, providers: &providers };
        let mut form: HashMap<String, String> = [
            ("csrf", "x"),
            ("provider", "0DE"),
            ("service_line", "BI"),
            ("year", "2025/26"),
            ("quality", "7"),
            ("still_customer", "yes"),
            ("reviewer_role", "Head of BI"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let e = convert(FormKind::Review, &form, &ctx).expect_err("7 is out of range");
        assert_eq!(e.field, "quality");
        form.insert("quality".into(), "4".into());
        let body = convert(FormKind::Review, &form, &ctx).expect("valid");
        assert!(matches!(body, Body::Review(r) if r.quality == Some(4) && r.timeliness.is_none()));
    }
}
