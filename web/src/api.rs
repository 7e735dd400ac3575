//! The JSON API for BI tools (Power BI, Excel "From Web", scripts): `/api/v1/…` returns exactly
//! the document `csx … --json` prints for the same question (the same `Request` to the same
//! node), and `….csv` the same answer as a spreadsheet. Read-only; authenticated with a
//! per-user API token (`Authorization: Bearer TOKEN`, or HTTP Basic with the token as the
//! password) or a signed-in session. docs/API.md lists every endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use csx_node::client::AsyncNode as _;
use csx_node::query::motions::{MotionQuery, MotionStatus};
use csx_node::query::prices::PriceQuery;
use csx_node::query::providers::ProviderQuery;
use csx_node::query::renewals::{DEFAULT_QUARTERS, MAX_QUARTERS, RenewalQuery};
use csx_node::query::switches::SwitchQuery;
use csx_node::query::tenders::TenderQuery;
use csx_node::query::{Answer, Answered, Question};
use csx_protocol::body::Party;

use crate::accounts::Role;
use crate::app::App;
use crate::auth::{User, Via};
use crate::pages::{Page, PageError, render};

/// A JSON error body: `{"error": {"kind": …, "message": …}}`, as the control API's errors.
pub fn error_json(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": {"kind": kind, "message": message}}))).into_response()
}

/// An API failure, answered as JSON.
#[derive(Debug)]
pub struct ApiFail(PageError);

impl From<PageError> for ApiFail {
    fn from(e: PageError) -> Self {
        ApiFail(e)
    }
}

impl From<csx_node::api::ApiError> for ApiFail {
    fn from(e: csx_node::api::ApiError) -> Self {
        ApiFail(PageError::Node(e))
    }
}

impl From<csx_node::client::ClientError> for ApiFail {
    fn from(e: csx_node::client::ClientError) -> Self {
        ApiFail(PageError::from(e))
    }
}

impl IntoResponse for ApiFail {
    fn into_response(self) -> Response {
        if let PageError::SignIn { .. } = self.0 {
            return PageError::SignIn { api: true, next: String::new() }.into_response();
        }
        let kind = match &self.0 {
            PageError::Node(e) => serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_string)),
            PageError::Forbidden(_) => Some("forbidden".into()),
            PageError::NotFound(_) => Some("not_found".into()),
            _ => None,
        };
        let (status, message) = self.0.status_and_message();
        error_json(status, kind.as_deref().unwrap_or("internal"), &message)
    }
}

type Params = HashMap<String, String>;

/// Refuses query parameters the endpoint does not know (a typo must not silently widen a
/// question).
fn only(params: &Params, allowed: &[&str]) -> Result<(), PageError> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!(
            "`{k}` is not a parameter here; the parameters are: {}",
            if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") }
        ))),
        None => Ok(()),
    }
}

fn invalid(message: String) -> PageError {
    PageError::Node(csx_node::api::ApiError::invalid(message))
}

fn value<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `service_line`: one of the 13 codes (any case), as `csx … --service-line` takes it.
pub fn service_line(params: &Params) -> Result<Option<String>, PageError> {
    let Some(code) = value(params, "service_line") else { return Ok(None) };
    let code = code.to_ascii_uppercase();
    if csx_protocol::refdata::service_line(&code).is_none() {
        return Err(invalid(format!(
            "service_line: `{code}` is not a service line; use one of {}",
            csx_protocol::refdata::service_line_codes()
        )));
    }
    Ok(Some(code))
}

pub fn provider_code(params: &Params) -> Option<String> {
    value(params, "provider").map(str::to_ascii_uppercase)
}

pub fn year(params: &Params) -> Result<Option<csx_protocol::FinancialYear>, PageError> {
    value(params, "year").map(|y| csx_node::input::year("year", y).map_err(|e| invalid(e.as_column()))).transpose()
}

fn party(params: &Params, name: &'static str) -> Result<Option<Party>, PageError> {
    value(params, name).map(|p| p.parse::<Party>().map_err(|e| invalid(format!("{name}: {e}")))).transpose()
}

fn flag(params: &Params, name: &str) -> Result<bool, PageError> {
    match value(params, name).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("no") | Some("0") => Ok(false),
        Some("true") | Some("yes") | Some("1") => Ok(true),
        Some(other) => Err(invalid(format!("{name}: `{other}` is not true or false"))),
    }
}

/// The prices question of `params`, and whether provider cells are kept (as `csx prices`: with
/// a service line or provider, or `by_provider`).
pub fn price_question(params: &Params) -> Result<(PriceQuery, bool), PageError> {
    only(params, &["service_line", "provider", "year", "by_provider"])?;
    let q = PriceQuery { service_line: service_line(params)?, provider: provider_code(params), year: year(params)? };
    let by_provider = flag(params, "by_provider")? || q.service_line.is_some() || q.provider.is_some();
    Ok((q, by_provider))
}

/// Asks for prices as `csx prices --json` does.
pub async fn prices_answer(app: &App, params: &Params) -> Result<Answered, PageError> {
    let (q, by_provider) = price_question(params)?;
    let mut answered = app.node.query(Question::Prices(q)).await?;
    if !by_provider {
        answered.prices_mut()?.retain(|c| c.provider.is_none());
    }
    Ok(answered)
}

pub fn provider_question(params: &Params) -> Result<ProviderQuery, PageError> {
    only(params, &["service_line", "provider"])?;
    Ok(ProviderQuery { service_line: service_line(params)?, provider: provider_code(params) })
}

pub fn switch_question(params: &Params) -> Result<SwitchQuery, PageError> {
    only(params, &["service_line", "provider", "year", "from", "to"])?;
    Ok(SwitchQuery {
        service_line: service_line(params)?,
        provider: provider_code(params),
        year: year(params)?,
        from: party(params, "from")?,
        to: party(params, "to")?,
    })
}

pub fn motion_question(params: &Params) -> Result<MotionQuery, PageError> {
    only(params, &["status", "service_line", "provider"])?;
    let status = match value(params, "status").map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("open") => Some(MotionStatus::Open),
        Some("carried") => Some(MotionStatus::Carried),
        Some("closed") => Some(MotionStatus::Closed),
        Some(other) => return Err(invalid(format!("status: `{other}` is not open, carried or closed"))),
    };
    Ok(MotionQuery { status, service_line: service_line(params)?, provider: provider_code(params) })
}

/// The renewal calendar question of `params`, as `csx renewals` asks it (`quarters` 1 to 40,
/// default 12).
pub fn renewal_question(params: &Params) -> Result<RenewalQuery, PageError> {
    only(params, &["service_line", "quarters"])?;
    let quarters = match value(params, "quarters") {
        None => DEFAULT_QUARTERS,
        Some(q) => q
            .parse::<u8>()
            .ok()
            .filter(|n| (1..=MAX_QUARTERS).contains(n))
            .ok_or_else(|| invalid(format!("quarters: give 1 to {MAX_QUARTERS}, not `{q}`")))?,
    };
    Ok(RenewalQuery { service_line: service_line(params)?, quarters: Some(quarters) })
}

pub fn tender_question(params: &Params) -> Result<TenderQuery, PageError> {
    only(params, &["service_line"])?;
    Ok(TenderQuery { service_line: service_line(params)? })
}

/// What an endpoint answers.
enum Ask {
    Prices,
    Providers,
    Provider(String),
    Switches,
    Motions,
    Motion(String),
    Report,
    Renewals,
    Tenders,
}

async fn answer(app: &App, user: &User, ask: Ask, params: &Params) -> Result<Answered, PageError> {
    user.require(Role::Viewer)?;
    Ok(match ask {
        Ask::Prices => prices_answer(app, params).await?,
        Ask::Providers => app.node.query(Question::Providers(provider_question(params)?)).await?,
        Ask::Provider(code) => {
            only(params, &[])?;
            app.node.query(Question::Provider { code }).await?
        }
        Ask::Switches => app.node.query(Question::Switches(switch_question(params)?)).await?,
        Ask::Motions => app.node.query(Question::Motions(motion_question(params)?)).await?,
        Ask::Motion(id) => {
            only(params, &[])?;
            app.node.query(Question::Motion { id }).await?
        }
        Ask::Report => {
            only(params, &[])?;
            app.node.query(Question::Report).await?
        }
        Ask::Renewals => app.node.query(Question::Renewals(renewal_question(params)?)).await?,
        Ask::Tenders => app.node.query(Question::Tenders(tender_question(params)?)).await?,
    })
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec_pretty(value) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut r = body.into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => error_json(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    }
}

/// The rows a CSV of an answer is made of: its main list.
fn csv_items(answered: &Answered) -> Vec<serde_json::Value> {
    let v = serde_json::to_value(&answered.answer).unwrap_or_default();
    let list = match &answered.answer {
        Answer::Prices { .. } => v.get("cells"),
        Answer::Providers { .. } | Answer::Provider(_) => v.get("scorecards"),
        Answer::Switches(_) => v.get("switches"),
        Answer::Motions { .. } => v.get("motions"),
        Answer::Motion(_) => v.get("supporters"),
        Answer::Report(_) => v.get("lines"),
        Answer::Tenders { .. } => v.get("groups"),
        Answer::ProviderKeys { .. } => v.get("keys"),
        Answer::Renewals(_) => v.get("cells"),
    };
    list.and_then(|l| l.as_array().cloned()).unwrap_or_default()
}

fn csv(answered: &Answered, name: &str) -> Response {
    let mut r = crate::csvout::rows(&csv_items(answered)).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"csx-{name}.csv\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

fn log_api(user: &User, what: &str) {
    if user.via == Via::Token {
        tracing::debug!(user = %user.name, client = %user.client, "API: {what}");
    }
}

macro_rules! endpoint {
    ($json:ident, $csv:ident, $name:literal, $ask:expr) => {
        async fn $json(
            State(app): State<Arc<App>>,
            user: User,
            Query(params): Query<Params>,
        ) -> Result<Response, ApiFail> {
            log_api(&user, $name);
            Ok(json(&answer(&app, &user, $ask, &params).await?))
        }
        async fn $csv(
            State(app): State<Arc<App>>,
            user: User,
            Query(params): Query<Params>,
        ) -> Result<Response, ApiFail> {
            log_api(&user, $name);
            Ok(csv(&answer(&app, &user, $ask, &params).await?, $name))
        }
    };
}

endpoint!(prices, prices_csv, "prices", Ask::Prices);
endpoint!(providers, providers_csv, "providers", Ask::Providers);
endpoint!(switches, switches_csv, "switches", Ask::Switches);
endpoint!(motions, motions_csv, "motions", Ask::Motions);
endpoint!(report, report_csv, "report", Ask::Report);
endpoint!(renewals, renewals_csv, "renewals", Ask::Renewals);
endpoint!(tenders, tenders_csv, "tenders", Ask::Tenders);

async fn provider(
    State(app): State<Arc<App>>,
    user: User,
    Path(code): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiFail> {
    let (code, as_csv) = match code.strip_suffix(".csv") {
        Some(c) => (c.to_string(), true),
        None => (code, false),
    };
    let a = answer(&app, &user, Ask::Provider(code.clone()), &params).await?;
    Ok(if as_csv { csv(&a, &format!("provider-{}", code.to_ascii_lowercase())) } else { json(&a) })
}

async fn motion(
    State(app): State<Arc<App>>,
    user: User,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiFail> {
    let (id, as_csv) = match id.strip_suffix(".csv") {
        Some(c) => (c.to_string(), true),
        None => (id, false),
    };
    let a = answer(&app, &user, Ask::Motion(id.clone()), &params).await?;
    Ok(if as_csv { csv(&a, "motion") } else { json(&a) })
}

/// `csx status --json` (administrators).
async fn status(State(app): State<Arc<App>>, user: User, Query(params): Query<Params>) -> Result<Response, ApiFail> {
    user.require(Role::Admin)?;
    only(&params, &[])?;
    Ok(json(&app.node.status().await?))
}

/// `csx members --json` (administrators).
async fn members(State(app): State<Arc<App>>, user: User, Query(params): Query<Params>) -> Result<Response, ApiFail> {
    user.require(Role::Admin)?;
    only(&params, &[])?;
    Ok(json(&app.node.members().await?))
}

/// `csx alerts --json` (with `since`, as `csx alerts --since`).
async fn alerts(State(app): State<Arc<App>>, user: User, Query(params): Query<Params>) -> Result<Response, ApiFail> {
    user.require(Role::Viewer)?;
    only(&params, &["since"])?;
    let since = crate::pages::alerts::since_ms(&app, value(&params, "since").unwrap_or(""))
        .map_err(|m| invalid(format!("since: {m}")))?;
    let mut alerts = crate::pages::alerts::fetch(&app, since).await?;
    alerts.reverse();
    Ok(json(&serde_json::json!({ "alerts": alerts })))
}

async fn no_endpoint() -> ApiFail {
    ApiFail(PageError::NotFound("no such API endpoint: docs/API.md lists them (GET /api/v1/prices, …)".into()))
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/prices", get(prices))
        .route("/prices.csv", get(prices_csv))
        .route("/providers", get(providers))
        .route("/providers.csv", get(providers_csv))
        .route("/providers/{code}", get(provider))
        .route("/switches", get(switches))
        .route("/switches.csv", get(switches_csv))
        .route("/motions", get(motions))
        .route("/motions.csv", get(motions_csv))
        .route("/motions/{id}", get(motion))
        .route("/report", get(report))
        .route("/report.csv", get(report_csv))
        .route("/renewals", get(renewals))
        .route("/renewals.csv", get(renewals_csv))
        .route("/tenders", get(tenders))
        .route("/tenders.csv", get(tenders_csv))
        .route("/alerts", get(alerts))
        .route("/status", get(status))
        .route("/members", get(members))
        .fallback(no_endpoint)
}

#[derive(Template)]
#[template(path = "api_help.html")]
struct Help {
    page: Page,
    base: String,
    name: String,
}

/// How to use the API from Excel, Power BI and curl.
pub async fn help(
    State(app): State<Arc<App>>,
    user: User,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let base = crate::pages::base_url(&app, &headers);
    render(&Help { page: Page::new(&app, &user, "The JSON API", ""), base, name: user.name.clone() })
}
