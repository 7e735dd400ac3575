//! Switching: flows from one provider to another (or in house) per line and year as a flow
//! diagram, the reasons given, and how the switches went.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use csx_node::client::AsyncNode as _;
use csx_node::query::Question;
use csx_node::query::prices::short_pounds;

use super::{Figure, Page, PageError, Table, downloads, line_options, options_html, or_dash, render};
use crate::accounts::Role;
use crate::api;
use crate::app::App;
use crate::auth::User;
use crate::charts::{flow, simple};
use crate::html::{error_summary, query};

#[derive(Template)]
#[template(path = "switching.html")]
struct Switching {
    page: Page,
    errors: String,
    line_options: String,
    year: String,
    from: String,
    to: String,
    figures: Vec<Figure>,
    switches: Table,
    provenance: String,
    downloads: Vec<(String, String)>,
    empty: bool,
}

pub async fn page(
    State(app): State<Arc<App>>,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let line = get("service_line").trim().to_ascii_uppercase();
    let mut t = Switching {
        page: Page::new(&app, &user, "Switching", "/switching"),
        errors: String::new(),
        line_options: options_html(&line_options(Some("All service lines")), &line),
        year: get("year"),
        from: get("from"),
        to: get("to"),
        figures: vec![],
        switches: Table::default(),
        provenance: String::new(),
        downloads: vec![],
        empty: false,
    };
    let q = match api::switch_question(&params) {
        Ok(q) => q,
        Err(PageError::Node(e)) => {
            t.errors = error_summary(&[(Some(super::prices::field_of(&e.message)), e.message)]);
            return render(&t);
        }
        Err(e) => return Err(e),
    };
    let answered = app.node.query(Question::Switches(q)).await?;
    let a = answered.switches()?;
    t.provenance = answered.provenance.line();
    t.downloads = downloads(
        "switches",
        &query(&[("service_line", &line), ("year", &get("year")), ("from", &get("from")), ("to", &get("to"))]),
    );
    t.empty = a.switches.is_empty();
    if t.empty {
        return render(&t);
    }
    // The diagram: flows between parties, summed over the lines and years shown.
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for f in &a.flows {
        *pairs.entry((f.from.name.clone(), f.to.name.clone())).or_default() += f.switches;
    }
    let links: Vec<flow::Link> = pairs.into_iter().map(|((from, to), count)| flow::Link { from, to, count }).collect();
    let chart = flow::chart("switch-flows", "Where members moved their services from and to", &links);
    let mut table = Table::new(
        "Flows by service line and year",
        &[
            ("Service line", false),
            ("Year", false),
            ("From", false),
            ("To", false),
            ("Switches", true),
            ("Members", true),
            ("Reasons", false),
            ("Notice (months)", true),
            ("Transition (months)", true),
            ("Exit costs", true),
            ("Outcomes: cheaper / happier", false),
        ],
    );
    let months = |s: &Option<csx_node::query::stats::Summary>| or_dash(s.as_ref(), |s| format!("{:.0}", s.median));
    for f in &a.flows {
        table.rows.push(vec![
            f.service_line_name.clone(),
            f.year.to_string(),
            f.from.name.clone(),
            f.to.name.clone(),
            f.switches.to_string(),
            f.members.to_string(),
            f.reasons
                .iter()
                .map(|(r, n)| format!("{} {n}", r.to_string().replace('_', " ")))
                .collect::<Vec<_>>()
                .join(", "),
            months(&f.notice_months),
            months(&f.transition_months),
            short_pounds(f.exit_costs_pence as i64),
            if f.outcomes == 0 {
                "–".into()
            } else {
                format!("{} of {} reported: {} cheaper, {} happier", f.outcomes, f.switches, f.cheaper, f.happier)
            },
        ]);
    }
    t.figures.push(Figure::new("switch-flows", "Switches from (left) and to (right)", chart, table));
    // Reasons.
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for f in &a.flows {
        for (r, n) in &f.reasons {
            *reasons.entry(r.to_string().replace('_', " ")).or_default() += n;
        }
    }
    let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let chart = simple::bars("switch-reasons", "Why members switched", "reasons given for switching", &reasons);
    let mut table = Table::new("Reasons given (a switch may give several)", &[("Reason", false), ("Switches", true)]);
    table.rows = reasons.iter().map(|(r, n)| vec![r.clone(), n.to_string()]).collect();
    t.figures.push(Figure::new("switch-reasons", "Why members switched", chart, table));
    // Every switch, with its outcome.
    let mut list = Table::new(
        "Every switch, newest first, and how it went",
        &[
            ("Member", false),
            ("Service line", false),
            ("From", false),
            ("To", false),
            ("Effective", false),
            ("Reasons", false),
            ("Exit costs", true),
            ("Outcome", false),
        ],
    );
    let mut rows: Vec<_> = a.switches.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.effective));
    for r in rows {
        let mut why: Vec<String> = r.reasons.iter().map(|x| x.to_string().replace('_', " ")).collect();
        if let Some(text) = &r.reason_text {
            why.push(format!("“{text}”"));
        }
        let outcome = or_dash(r.outcome.as_ref(), |o| {
            let mut parts = Vec::new();
            if let Some(c) = o.cost_change_pence {
                parts.push(format!("cost {}{} a year", if c > 0 { "+" } else { "" }, short_pounds(c)));
            }
            if let Some(s) = o.satisfaction_change {
                parts.push(format!("satisfaction {s:+}"));
            }
            if let Some(c) = &o.comment {
                parts.push(format!("“{c}”"));
            }
            if parts.is_empty() { "reported".into() } else { parts.join(", ") }
        });
        list.rows.push(vec![
            format!("{} {}", r.org.ods, r.org.name),
            r.service_line_name.clone(),
            r.from.name.clone(),
            r.to.name.clone(),
            r.effective.to_string(),
            why.join("; "),
            or_dash(r.exit_costs_pence, |p| short_pounds(p as i64)),
            outcome,
        ]);
    }
    t.switches = list;
    render(&t)
}
