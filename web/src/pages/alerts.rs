//! Alerts: this node's alert log (what `csx alerts` lists, with its `--since` filter), each
//! alert with what it rests on and a link to the page it is about; and the rules, which an
//! administrator can mute and unmute as `csx alert mute|unmute` does.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use csx_node::alerts::settings::{self, AlertsConfig};
use csx_node::alerts::state::State as AlertState;
use csx_node::alerts::watcher::state_path;
use csx_node::alerts::{Alert, Rule};
use csx_node::api::{ApiError, ErrorKind};
use csx_node::client::AsyncNode as _;
use csx_protocol::Date;

use super::{Page, PageError, render, safe_next};
use crate::accounts::Role;
use crate::app::App;
use crate::auth::User;
use crate::html::{collect, error_summary, query};
use crate::link::NodeLink;

/// Alerts shown on the page at most (the newest); the JSON API gives them all.
const SHOWN: usize = 200;

/// One alert as the page shows it.
#[derive(Debug)]
pub struct AlertRow {
    pub seq: u64,
    pub when: String,
    pub rule: String,
    pub rule_words: String,
    pub title: String,
    pub text: String,
    pub about: String,
    /// The records it rests on: (short id, full id).
    pub records: Vec<(String, String)>,
    pub authors: String,
    /// A path on this dashboard, where the alert names one.
    pub link: Option<String>,
    pub link_text: String,
}

/// One rule and whether it is on.
#[derive(Debug)]
pub struct RuleRow {
    pub rule: String,
    pub watches: String,
    /// `on`, `off` (in config.toml) or `muted`.
    pub state: String,
    pub muted: bool,
    pub enabled: bool,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct Alerts {
    page: Page,
    errors: String,
    since: String,
    alerts: Vec<AlertRow>,
    total: usize,
    unavailable: String,
    rules: Vec<RuleRow>,
    saved: String,
    downloads: Vec<(String, String)>,
}

/// `since` as Unix ms, as `csx alerts --since` takes it: a date (`2026-11-01`), or a span back
/// from now (`7d`, `24h`, `2w`); empty for every alert.
pub fn since_ms(app: &App, text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    let now = app.now();
    let lower = t.to_ascii_lowercase();
    let unit = |suffix: &str| lower.strip_suffix(suffix).and_then(|n| n.trim().parse::<u64>().ok());
    for (suffix, ms) in [("w", 7 * 86_400_000u64), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)] {
        if let Some(n) = unit(suffix) {
            return Ok(now.saturating_sub(n.saturating_mul(ms)));
        }
    }
    let today = Date::from_unix_ms(now).ok_or("the clock is out of range")?;
    let d = csx_node::input::date("since", t, today)
        .map_err(|e| format!("{} (or a span back such as 7d or 24h)", e.message))?;
    Ok(d.days() as u64 * 86_400_000)
}

/// The log, oldest first: from the daemon when the dashboard runs in or beside one, else from
/// the state file the daemon keeps (as `csx alerts` reads it with no daemon running).
pub async fn fetch(app: &App, since: u64) -> Result<Vec<Alert>, ApiError> {
    if let NodeLink::Offline(_) = app.node {
        let path = state_path(&app.home);
        let state = AlertState::load(&path).map_err(ApiError::invalid)?;
        return Ok(state.map(|s| s.list(0, since)).unwrap_or_default());
    }
    Ok(app.node.alerts(0, since, 0).await?)
}

fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let date = Date::from_unix_ms(ms).map(|d| d.to_string()).unwrap_or_default();
    format!("{date} {:02}:{:02} UTC", (secs / 3600) % 24, (secs / 60) % 60)
}

/// Words for the page an alert links to.
fn link_text(path: &str) -> &'static str {
    let page = path.split(['?', '#']).next().unwrap_or("");
    match page.split('/').nth(1).unwrap_or("") {
        "prices" => "See the prices",
        "switching" => "See the switches",
        "providers" => "See the provider",
        "motions" => "See the motion",
        "renewals" => "See the renewal calendar",
        "tenders" => "See the joint tenders",
        "node" => "See the node",
        _ => "See the page",
    }
}

fn row(a: &Alert) -> AlertRow {
    let r = &a.raised;
    let mut about = Vec::new();
    if let Some(l) = &r.service_line {
        about.push(csx_node::query::line_name(l));
    }
    if let Some(p) = &r.provider {
        about.push(csx_protocol::refdata::builtin_provider(p).map(|b| b.name.to_string()).unwrap_or_else(|| p.clone()));
    }
    // Only a path on this site: an alert's link is never followed off it.
    let link = r.link.as_deref().map(safe_next).filter(|l| l != "/" || r.link.as_deref() == Some("/"));
    AlertRow {
        seq: a.seq,
        when: when(a.at),
        rule: r.rule.to_string(),
        rule_words: r.rule.describe().to_string(),
        title: r.title.clone(),
        text: r.text.clone(),
        about: about.join(", "),
        records: r
            .records
            .iter()
            .map(|id| {
                let full = id.to_hex();
                (full[..12].to_string(), full)
            })
            .collect(),
        authors: r.authors.join(", "),
        link_text: link.as_deref().map(link_text).unwrap_or_default().to_string(),
        link,
    }
}

/// The rules with their state: off in config.toml, muted, or on.
fn rules(config: &AlertsConfig, muted: &BTreeSet<Rule>) -> Vec<RuleRow> {
    Rule::ALL
        .iter()
        .map(|r| {
            let enabled = config.enabled && config.rule_enabled(*r);
            let is_muted = muted.contains(r);
            RuleRow {
                rule: r.to_string(),
                watches: r.describe().to_string(),
                state: if !enabled {
                    "off".into()
                } else if is_muted {
                    "muted".into()
                } else {
                    "on".into()
                },
                muted: is_muted,
                enabled,
            }
        })
        .collect()
}

/// The confirmation after a mute or unmute (`muted-RULE`), in words; nothing for anything else.
fn saved_message(saved: &str) -> String {
    let Some((what, rule)) = saved.split_once('-') else { return String::new() };
    let Ok(rule) = rule.parse::<Rule>() else { return String::new() };
    match what {
        "muted" => format!(
            "{rule} is muted: its alerts stop until it is unmuted (a running daemon applies it at its next evaluation)."
        ),
        "unmuted" => format!("{rule} is unmuted: its alerts start again."),
        _ => String::new(),
    }
}

fn config(app: &App) -> Result<AlertsConfig, PageError> {
    csx_node::config::Config::load(&app.home.path("config.toml"))
        .map(|c| c.alerts)
        .map_err(|e| PageError::Node(ApiError::invalid(e.to_string())))
}

pub async fn page(
    State(app): State<Arc<App>>,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let since = params.get("since").cloned().unwrap_or_default();
    let mut t = Alerts {
        page: Page::new(&app, &user, "Alerts", "/alerts"),
        errors: String::new(),
        since: since.clone(),
        alerts: vec![],
        total: 0,
        unavailable: String::new(),
        rules: rules(&config(&app)?, &settings::muted(&app.home)),
        saved: saved_message(params.get("saved").map(String::as_str).unwrap_or("")),
        downloads: vec![("JSON".into(), format!("/api/v1/alerts{}", query(&[("since", &since)])))],
    };
    if let Some(k) = params.keys().find(|k| !["since", "saved"].contains(&k.as_str())) {
        t.errors = error_summary(&[(None, format!("`{k}` is not a filter here; the filter is: since"))]);
        return render(&t);
    }
    let since_ms = match since_ms(&app, &since) {
        Ok(ms) => ms,
        Err(m) => {
            t.errors = error_summary(&[(Some("since".into()), format!("Since: {m}"))]);
            return render(&t);
        }
    };
    match fetch(&app, since_ms).await {
        Ok(mut alerts) => {
            alerts.reverse();
            t.total = alerts.len();
            t.alerts = alerts.iter().take(SHOWN).map(row).collect();
        }
        Err(e) if e.kind == ErrorKind::Unavailable => t.unavailable = e.message,
        Err(e) => return Err(e.into()),
    }
    render(&t)
}

/// Mutes or unmutes a rule (administrators), as `csx alert mute|unmute RULE`: a running daemon
/// applies it at its next evaluation.
pub async fn mute(
    State(app): State<Arc<App>>,
    user: User,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Admin)?;
    let form = collect(form);
    user.check_csrf(&form)?;
    let rule: Rule = form
        .get("rule")
        .map(String::as_str)
        .unwrap_or("")
        .parse()
        .map_err(|e: String| PageError::Node(ApiError::invalid(e)))?;
    let on = match form.get("action").map(String::as_str) {
        Some("mute") => true,
        Some("unmute") => false,
        other => {
            return Err(PageError::Node(ApiError::invalid(format!(
                "action: `{}` is not mute or unmute",
                other.unwrap_or("")
            ))));
        }
    };
    let mut muted = settings::muted(&app.home);
    if on {
        muted.insert(rule);
    } else {
        muted.remove(&rule);
    }
    settings::set_muted(&app.home, &muted)
        .map_err(|e| PageError::Internal(format!("cannot save the muted rules: {e}")))?;
    let what = if on { "muted" } else { "unmuted" };
    let detail = format!("{what} alert rule {rule}");
    tracing::info!(user = %user.audit_name(), client = %user.client, "{detail}");
    app.audit(&user.audit_name(), "web", if on { "alert_mute" } else { "alert_unmute" }, detail, vec![], &user.client);
    Ok(Redirect::to(&format!("/alerts?saved={what}-{rule}#rules")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_worded_by_the_page_they_open() {
        assert_eq!(link_text("/prices?service_line=BI&year=2025"), "See the prices");
        assert_eq!(link_text("/renewals?service_line=BI"), "See the renewal calendar");
        assert_eq!(link_text("/motions/ab12"), "See the motion");
        assert_eq!(link_text("/somewhere"), "See the page");
    }
}
