//! The dashboard's pages: one module per page or group, each a handler that asks the node and
//! renders a template. What every page shares is here: the layout context, errors, figures.

pub mod account;
pub mod accounts;
pub mod alerts;
pub mod import;
pub mod motions;
pub mod node;
pub mod overview;
pub mod prices;
pub mod providers;
pub mod record;
pub mod renewals;
pub mod signin;
pub mod switching;
pub mod tenders;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use csx_node::api::{ApiError, ErrorKind};
use csx_node::query::Provenance;

use crate::accounts::Role;
use crate::app::App;
use crate::auth::User;
use crate::html::esc;

/// Why a page cannot be shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: pages redirect to the sign-in page, the API answers 401.
    SignIn {
        api: bool,
        next: String,
    },
    /// Signed in, but the role does not allow it.
    Forbidden(String),
    NotFound(String),
    /// A form without a valid CSRF token, or posted from another site.
    Csrf,
    /// Too many failed sign-ins; seconds to wait.
    TooMany(u64),
    /// The node refused or failed.
    Node(ApiError),
    Internal(String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Node(e)
    }
}

impl From<csx_node::client::ClientError> for PageError {
    fn from(e: csx_node::client::ClientError) -> Self {
        PageError::Node(e.into())
    }
}

impl PageError {
    /// The HTTP status and the words for people.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            PageError::SignIn { .. } => (StatusCode::UNAUTHORIZED, "Sign in to use csx.".into()),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the page and try again.".into(),
            ),
            PageError::TooMany(s) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed sign-ins. Try again in {} minutes.", s.div_ceil(60)),
            ),
            PageError::Node(e) => (
                match e.kind {
                    ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
                    ErrorKind::NotFound => StatusCode::NOT_FOUND,
                    ErrorKind::Unavailable | ErrorKind::NotSetUp => StatusCode::SERVICE_UNAVAILABLE,
                    ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                },
                e.message.clone(),
            ),
            PageError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m.clone()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Page,
    heading: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match &self {
            PageError::SignIn { api: true, .. } => {
                let mut r = crate::api::error_json(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "sign in, or send an API token: `Authorization: Bearer TOKEN` (`csx user token NAME` makes one)",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"csx\", Basic realm=\"csx\""),
                );
                return r;
            }
            PageError::SignIn { api: false, next } => {
                let next = safe_next(next);
                let to = if next == "/" {
                    "/signin".to_string()
                } else {
                    format!("/signin?next={}", crate::html::url_encode(&next))
                };
                return Redirect::to(&to).into_response();
            }
            _ => {}
        }
        let (status, message) = self.status_and_message();
        if status.is_server_error() {
            tracing::error!("dashboard: {message}");
        }
        let heading = match status {
            StatusCode::FORBIDDEN => "You cannot do this",
            StatusCode::NOT_FOUND => "Page not found",
            StatusCode::BAD_REQUEST => "That could not be done",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            StatusCode::SERVICE_UNAVAILABLE => "The node is not available",
            _ => "Sorry, there is a problem with the service",
        };
        let page = Page::bare(heading);
        let body =
            ErrorPage { page, heading: heading.into(), message }.render().unwrap_or_else(|e| esc(&e.to_string()));
        (status, Html(body)).into_response()
    }
}

/// A `next` address that stays on this site (no open redirects).
pub fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") && !next.contains("://") {
        next.to_string()
    } else {
        "/".to_string()
    }
}

/// One item of the navigation bar.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub text: &'static str,
    pub current: bool,
}

/// What the layout needs.
#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    /// `alice (editor)`.
    pub who: Option<String>,
    pub nav: Vec<NavItem>,
    pub csrf: String,
    /// This node's organisation.
    pub org: String,
    pub federation: String,
    pub version: &'static str,
    pub editor: bool,
    pub admin: bool,
}

const NAV: &[(&str, &str, Role)] = &[
    ("/", "Overview", Role::Viewer),
    ("/prices", "Prices", Role::Viewer),
    ("/providers", "Providers", Role::Viewer),
    ("/switching", "Switching", Role::Viewer),
    ("/motions", "Motions", Role::Viewer),
    ("/renewals", "Renewals", Role::Viewer),
    ("/tenders", "Joint tenders", Role::Viewer),
    ("/alerts", "Alerts", Role::Viewer),
    ("/record", "Record", Role::Editor),
    ("/node", "Node", Role::Admin),
    ("/accounts", "Accounts", Role::Admin),
];

impl Page {
    /// The layout for a signed-in user; `current` is the navigation item to mark.
    pub fn new(app: &App, user: &User, title: &str, current: &str) -> Page {
        Page {
            title: title.to_string(),
            who: Some(format!("{} ({})", user.name, user.role)),
            nav: NAV
                .iter()
                .filter(|(_, _, r)| user.role >= *r)
                .map(|(href, text, _)| NavItem { href, text, current: *href == current })
                .collect(),
            csrf: user.csrf.clone(),
            org: format!("{} {}", app.identity.ods_code, app.identity.name),
            federation: app.federation.clone(),
            version: crate::assets::VERSION,
            editor: user.role >= Role::Editor,
            admin: user.role >= Role::Admin,
        }
    }

    /// The layout for someone not signed in.
    pub fn bare(title: &str) -> Page {
        Page {
            title: title.to_string(),
            who: None,
            nav: vec![],
            csrf: String::new(),
            org: String::new(),
            federation: String::new(),
            version: crate::assets::VERSION,
            editor: false,
            admin: false,
        }
    }
}

/// Renders a template into a response.
pub fn render(t: &impl Template) -> Result<Response, PageError> {
    t.render().map(|s| Html(s).into_response()).map_err(|e| PageError::Internal(format!("rendering failed: {e}")))
}

/// The provenance of an answer in words, as the CLI prints it under a table.
pub fn provenance(p: &Provenance) -> String {
    p.line()
}

/// £ per head (two decimals) or per unit.
pub fn per_head(v: f64) -> String {
    crate::charts::money(v)
}

/// A cell's median, or the band it lies in where the cell is too small to show it exactly.
pub fn median_text(s: &csx_node::query::stats::Distribution) -> String {
    match (s.median, s.median_band) {
        (Some(m), _) => per_head(m),
        (None, Some([low, high])) => format!("{}–{} (band)", per_head(low), per_head(high)),
        (None, None) => "–".into(),
    }
}

/// A cell's middle half (p25–p75), or a dash where the cell is too small to show it.
pub fn middle_half(s: &csx_node::query::stats::Distribution) -> String {
    match (s.p25, s.p75) {
        (Some(a), Some(b)) => format!("{}–{}", per_head(a), per_head(b)),
        _ => "–".into(),
    }
}

/// An optional value, or a dash.
pub fn or_dash<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "–".into())
}

/// A date from Unix milliseconds, `2025-06-01`.
pub fn date(ms: u64) -> String {
    csx_protocol::Date::from_unix_ms(ms).map(|d| d.to_string()).unwrap_or_default()
}

/// Options for a service-line select: all lines, with an "all" first when `any` is given.
pub fn line_options(any: Option<&str>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = any.map(|a| vec![(String::new(), a.to_string())]).unwrap_or_default();
    v.extend(
        csx_protocol::refdata::SERVICE_LINES.iter().map(|l| (l.code.to_string(), format!("{} ({})", l.name, l.code))),
    );
    v
}

/// An option list from `(value, text)` pairs with one marked selected, as HTML.
pub fn options_html(options: &[(String, String)], selected: &str) -> String {
    options
        .iter()
        .map(|(v, t)| {
            format!(r#"<option value="{}"{}>{}</option>"#, esc(v), if v == selected { " selected" } else { "" }, esc(t))
        })
        .collect()
}

/// A data table (first column a row header).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub caption: String,
    pub head: Vec<String>,
    /// Which columns hold numbers (right-aligned).
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(caption: impl Into<String>, head: &[(&str, bool)]) -> Table {
        Table {
            caption: caption.into(),
            head: head.iter().map(|(h, _)| h.to_string()).collect(),
            numeric: head.iter().map(|(_, n)| *n).collect(),
            rows: vec![],
        }
    }
    pub fn is_numeric(&self, i: &usize) -> bool {
        self.numeric.get(*i).copied().unwrap_or(false)
    }
}

/// A chart with the table of its data beneath.
#[derive(Debug, Clone, Default)]
pub struct Figure {
    pub id: String,
    pub caption: String,
    pub svg: String,
    pub marks: usize,
    pub table: Table,
}

impl Figure {
    pub fn new(id: &str, caption: impl Into<String>, chart: crate::charts::Chart, table: Table) -> Figure {
        Figure { id: id.to_string(), caption: caption.into(), svg: chart.svg, marks: chart.marks, table }
    }
}

/// The JSON and CSV downloads of an API endpoint with the page's parameters.
pub fn downloads(endpoint: &str, query: &str) -> Vec<(String, String)> {
    vec![
        ("CSV (for Excel)".into(), format!("/api/v1/{endpoint}.csv{query}")),
        ("JSON".into(), format!("/api/v1/{endpoint}{query}")),
    ]
}

/// The dashboard's address as people reach it: the configured public address, else the
/// request's own host.
pub fn base_url(app: &App, headers: &axum::http::HeaderMap) -> String {
    if !app.settings.public_url.is_empty() {
        return app.settings.public_url.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("{}://{host}", if app.settings.tls { "https" } else { "http" })
}

/// Runs slow account work (argon2id) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::accounts::AccountError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PageError::Internal(format!("a task failed: {e}")))?
        .map_err(|e| PageError::Internal(e.to_string()))
}
