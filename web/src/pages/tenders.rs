//! Joint tenders forming: members' intents to procure grouped by service line and window (what
//! `csx tenders` lists), with what the group would buy together — combined population and
//! annual value, withheld like every figure that rests on price disclosures — and a button to
//! join one (a `tender_join` record, as `csx tender join`).

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use csx_node::client::AsyncNode as _;
use csx_node::query::Question;
use csx_node::query::prices::short_pounds;
use csx_node::query::stats::Disclosure;
use csx_node::query::tenders::TenderGroup;
use csx_protocol::Body;
use csx_protocol::body::{TenderJoin, ValueBand};

use super::{Page, PageError, Table, downloads, line_options, options_html, render};
use crate::accounts::Role;
use crate::api;
use crate::app::App;
use crate::auth::User;
use crate::html::{collect, error_summary, query};

/// One group as the page shows it.
#[derive(Debug)]
pub struct GroupCard {
    pub id: String,
    pub heading: String,
    pub window: String,
    pub members: usize,
    pub member_names: String,
    pub population: String,
    pub value: String,
    pub value_shown: bool,
    pub renewing: String,
    pub yours: String,
    /// The intent to join (the group's first), when you take no part yet.
    pub join: Option<String>,
    pub intents: Table,
}

#[derive(Template)]
#[template(path = "tenders.html")]
struct Tenders {
    page: Page,
    errors: String,
    line_options: String,
    groups: Vec<GroupCard>,
    saved: String,
    provenance: String,
    downloads: Vec<(String, String)>,
}

/// A value band in words.
pub fn band_words(b: ValueBand) -> String {
    let short = |pence: u64| short_pounds(pence as i64);
    match b.bounds_pence() {
        (0, Some(high)) => format!("under {} a year", short(high)),
        (low, Some(high)) => format!("{}–{} a year", short(low), short(high)),
        (low, None) => format!("{} a year or more", short(low)),
    }
}

/// Why a figure is withheld, without the count it withholds (a "2 of 3 members" would give
/// away the very number not shown).
pub fn withheld_words(d: &Disclosure) -> String {
    match d {
        Disclosure::TooFewMembers { k, .. } | Disclosure::FewerThan { k } => {
            format!("withheld (fewer than {k} members)")
        }
        other => format!("withheld ({})", other.explain()),
    }
}

/// What the group would buy together a year, in words.
pub fn value_words(g: &TenderGroup) -> String {
    let t = &g.together;
    match (t.value_low_pence, t.value_high_pence) {
        (Some(l), Some(h)) if l == h => format!("{} a year", short_pounds(l as i64)),
        (Some(l), Some(h)) => format!("{}–{} a year", short_pounds(l as i64), short_pounds(h as i64)),
        (Some(l), None) => format!("{} a year or more", short_pounds(l as i64)),
        (None, _) => withheld_words(&t.value_disclosure),
    }
}

fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn card(g: &TenderGroup) -> GroupCard {
    let t = &g.together;
    let mut population = count(t.population);
    if t.population_unknown > 0 {
        population.push_str(&format!(" (and {} without a registered population)", t.population_unknown));
    }
    let mut value = value_words(g);
    if t.value_low_pence.is_some() {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut from = Vec::new();
        if t.from_disclosures > 0 {
            from.push(format!("{} own price disclosures", plural(t.from_disclosures, "member's", "members'")));
        }
        if t.from_bands > 0 {
            from.push(format!("{} value bands", plural(t.from_bands, "intent's", "intents'")));
        }
        value.push_str(&format!(" — from {}", from.join(" and ")));
        if t.value_unknown > 0 {
            value.push_str(&format!("; {} not known", plural(t.value_unknown, "member's value", "members' values")));
        }
    }
    let renewing = match g.renewals.members {
        Some(0) => "none".into(),
        Some(n) => n.to_string(),
        None => withheld_words(&g.renewals.disclosure),
    };
    let mut yours = Vec::new();
    if g.yours.intent.is_some() {
        yours.push("your organisation intends to procure in this window".to_string());
    }
    if !g.yours.joined.is_empty() {
        yours.push("your organisation has joined".to_string());
    }
    if let Some(q) = g.yours.renewal {
        yours.push(format!("your own contract renews in {q}"));
    }
    let mut intents = Table::new(
        format!("Intents to procure {} in this window", g.service_line_name),
        &[
            ("Member", false),
            ("From", false),
            ("Value band", false),
            ("Population", true),
            ("Joined by", false),
            ("Note", false),
        ],
    );
    for i in &g.intents {
        intents.rows.push(vec![
            format!("{} {}", i.org.ods, i.org.name),
            i.from.to_string(),
            band_words(i.value_band),
            count(i.population),
            if i.joined_by.is_empty() {
                "–".into()
            } else {
                i.joined_by.iter().map(|o| format!("{} {}", o.ods, o.name)).collect::<Vec<_>>().join(", ")
            },
            i.note.clone().unwrap_or_else(|| "–".into()),
        ]);
    }
    let take_part = g.yours.intent.is_some() || !g.yours.joined.is_empty();
    GroupCard {
        id: g.group.replace([' ', '/'], "-"),
        heading: format!("{} ({})", g.service_line_name, g.service_line),
        window: format!("{} to {}", g.first, g.last),
        members: g.members.len(),
        member_names: g.members.iter().map(|o| o.name.clone()).collect::<Vec<_>>().join(", "),
        population,
        value_shown: t.value_low_pence.is_some(),
        value,
        renewing,
        yours: if yours.is_empty() { "you take no part yet".into() } else { yours.join("; ") },
        join: (!take_part).then(|| g.intents.first().map(|i| i.id.clone())).flatten(),
        intents,
    }
}

pub async fn page(
    State(app): State<Arc<App>>,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let line = params.get("service_line").cloned().unwrap_or_default().trim().to_ascii_uppercase();
    let mut t = Tenders {
        page: Page::new(&app, &user, "Joint tenders", "/tenders"),
        errors: String::new(),
        line_options: options_html(&line_options(Some("All service lines")), &line),
        groups: vec![],
        saved: params
            .get("saved")
            .cloned()
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .unwrap_or_default(),
        provenance: String::new(),
        downloads: vec![],
    };
    let mut own = params.clone();
    own.remove("saved");
    let q = match api::tender_question(&own) {
        Ok(q) => q,
        Err(PageError::Node(e)) => {
            t.errors = error_summary(&[(Some(super::prices::field_of(&e.message)), e.message)]);
            return render(&t);
        }
        Err(e) => return Err(e),
    };
    let answered = app.node.query(Question::Tenders(q)).await?;
    let groups = answered.tender_groups()?;
    t.groups = groups.iter().map(card).collect();
    t.provenance = answered.provenance.line();
    t.downloads = downloads("tenders", &query(&[("service_line", &line)]));
    render(&t)
}

/// Joins a forming tender: signs support for one intent, as `csx tender join ID`.
pub async fn join(
    State(app): State<Arc<App>>,
    user: User,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let form = collect(form);
    user.check_csrf(&form)?;
    let id = form.get("intent").map(|s| s.trim().to_string()).unwrap_or_default();
    let intent = id
        .parse()
        .map_err(|_| PageError::Node(csx_node::api::ApiError::invalid(format!("intent: `{id}` is not a record id"))))?;
    // Only an intent of a group forming now (not one withdrawn, past or unknown).
    let answered = app.node.query(Question::Tenders(Default::default())).await?;
    let groups = answered.tender_groups()?;
    let Some(group) = groups.iter().find(|g| g.intents.iter().any(|i| i.id == id)) else {
        return Err(PageError::NotFound(format!("no joint tender forming has the intent {id}")));
    };
    let comment = csx_node::input::opt_string(&form.get("comment").cloned());
    let body = Body::TenderJoin(TenderJoin { intent, comment });
    let detail = format!("joined joint tender {} (intent {id})", group.group);
    let records = super::record::publish(&app, &user, vec![body], "tender_join", &detail).await?;
    let saved = records.last().map(|r| r.id().to_string()).unwrap_or_default();
    let line = &group.service_line;
    Ok(Redirect::to(&format!("/tenders?service_line={line}&saved={saved}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_worded_without_what_is_withheld() {
        assert_eq!(count(2_400_000), "2,400,000");
        assert_eq!(count(999), "999");
        let w = withheld_words(&Disclosure::TooFewMembers { members: 2, k: 3 });
        assert_eq!(w, "withheld (fewer than 3 members)");
        assert!(!w.contains('2'));
    }
}
