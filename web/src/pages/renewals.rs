//! The renewal calendar: per service line and financial quarter, how many members' contracts
//! end (withheld below the federation's minimum, like every figure), with their providers, and
//! your own contracts' end and notice dates — the answer `csx renewals` prints, as a grid.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use csx_node::client::AsyncNode as _;
use csx_node::query::renewals::{DEFAULT_QUARTERS, Quarter, RenewalCell, Renewals};
use csx_node::query::{Question, line_order};

use super::{Figure, Page, PageError, Table, downloads, line_options, options_html, render};
use crate::accounts::Role;
use crate::api;
use crate::app::App;
use crate::auth::User;
use crate::charts::calendar;
use crate::html::{error_summary, query};

#[derive(Template)]
#[template(path = "renewals.html")]
struct RenewalsPage {
    page: Page,
    errors: String,
    line_options: String,
    quarters: String,
    range: String,
    figure: Option<Figure>,
    yours: Table,
    provenance: String,
    downloads: Vec<(String, String)>,
}

/// The quarters from `from` to `to`, inclusive.
fn quarters(from: Quarter, to: Quarter) -> Vec<Quarter> {
    let mut v = vec![from];
    while let Some(last) = v.last().copied()
        && last < to
        && v.len() < 64
    {
        v.push(last.next());
    }
    v
}

/// A cell's count in words: the number, or why it is withheld (never a figure).
pub fn members_text(c: &RenewalCell) -> String {
    match (c.members, &c.withheld) {
        (Some(n), _) => n.to_string(),
        (None, Some(w)) => format!("withheld ({w})"),
        (None, None) => "withheld".into(),
    }
}

/// The providers of a shown cell: those named (k or more of its members each), then the rest.
pub fn providers_text(c: &RenewalCell) -> String {
    if c.members.is_none() {
        return "–".into();
    }
    let mut parts: Vec<String> = c.providers.iter().map(|p| format!("{} ({})", p.provider_name, p.members)).collect();
    match c.other_members {
        Some(n) if n > 0 => parts.push(format!("other providers ({n})")),
        _ => {}
    }
    if parts.is_empty() { "–".into() } else { parts.join(", ") }
}

/// The grid and its table.
fn figure(r: &Renewals) -> Figure {
    let columns = quarters(r.from, r.to);
    // Lines with a cell or one of your contracts, in the usual order.
    let mut lines: BTreeMap<(usize, String), String> = BTreeMap::new();
    for c in &r.cells {
        lines.insert(line_order(&c.service_line), c.service_line_name.clone());
    }
    for y in &r.yours {
        lines.insert(line_order(&y.service_line), y.service_line_name.clone());
    }
    let rows: Vec<calendar::Row> = lines
        .iter()
        .map(|((_, code), name)| calendar::Row {
            label: name.clone(),
            cells: columns
                .iter()
                .map(|q| match r.cells.iter().find(|c| c.service_line == *code && c.quarter == *q) {
                    None => calendar::Cell::Empty,
                    Some(c) => match c.members {
                        Some(n) => calendar::Cell::Count(n),
                        None => calendar::Cell::Withheld(c.withheld.clone().unwrap_or_else(|| "withheld".into())),
                    },
                })
                .collect(),
            yours: columns.iter().map(|q| r.yours.iter().any(|y| y.service_line == *code && y.quarter == *q)).collect(),
        })
        .collect();
    let headings: Vec<String> = columns.iter().map(|q| q.to_string()).collect();
    let chart = calendar::chart(
        "renewals",
        "Members' contracts ending, by service line and financial quarter",
        &headings,
        &rows,
    );
    let mut table = Table::new(
        "Contracts ending by service line and quarter",
        &[
            ("Service line", false),
            ("Quarter", false),
            ("Members' contracts ending", true),
            ("Providers (members)", false),
            ("Yours", false),
        ],
    );
    for c in &r.cells {
        let mine: Vec<String> = r
            .yours
            .iter()
            .filter(|y| y.service_line == c.service_line && y.quarter == c.quarter)
            .map(|y| format!("yes: {} ends {}", y.provider_name, y.ends))
            .collect();
        table.rows.push(vec![
            c.service_line_name.clone(),
            c.quarter.to_string(),
            members_text(c),
            providers_text(c),
            if mine.is_empty() { "–".into() } else { mine.join("; ") },
        ]);
    }
    Figure::new(
        "renewals",
        "Members' contracts ending: each number is how many members' contracts on the line end in the quarter; hatched cells are withheld; “you” marks your own",
        chart,
        table,
    )
}

/// Your own contracts, soonest notice date first.
fn yours(r: &Renewals) -> Table {
    let mut t = Table::new(
        "Your contracts ending in these quarters, soonest notice date first",
        &[
            ("Provider", false),
            ("Service line", false),
            ("Contract", false),
            ("Started", false),
            ("Ends", false),
            ("Quarter", false),
            ("Give notice by", false),
            ("To give notice", false),
        ],
    );
    for c in &r.yours {
        t.rows.push(vec![
            c.provider_name.clone(),
            c.service_line_name.clone(),
            c.contract_ref.clone().unwrap_or_else(|| "–".into()),
            c.starts.to_string(),
            c.ends.to_string(),
            c.quarter.to_string(),
            c.notice_by.map(|d| d.to_string()).unwrap_or_else(|| "not disclosed".into()),
            match c.days_to_notice {
                None => "–".into(),
                Some(d) if d < 0 => "the notice date has passed".into(),
                Some(0) => "today".into(),
                Some(1) => "1 day".into(),
                Some(d) => format!("{d} days"),
            },
        ]);
    }
    t
}

pub async fn page(
    State(app): State<Arc<App>>,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let line = get("service_line").trim().to_ascii_uppercase();
    let mut t = RenewalsPage {
        page: Page::new(&app, &user, "Renewal calendar", "/renewals"),
        errors: String::new(),
        line_options: options_html(&line_options(Some("All service lines")), &line),
        quarters: if get("quarters").trim().is_empty() { DEFAULT_QUARTERS.to_string() } else { get("quarters") },
        range: String::new(),
        figure: None,
        yours: Table::default(),
        provenance: String::new(),
        downloads: vec![],
    };
    let q = match api::renewal_question(&params) {
        Ok(q) => q,
        Err(PageError::Node(e)) => {
            t.errors = error_summary(&[(Some(super::prices::field_of(&e.message)), e.message)]);
            return render(&t);
        }
        Err(e) => return Err(e),
    };
    let answered = app.node.query(Question::Renewals(q)).await?;
    let r = answered.renewals()?;
    t.range = format!("{} to {}", r.from, r.to);
    t.provenance = answered.provenance.line();
    t.downloads = downloads("renewals", &query(&[("service_line", &line), ("quarters", &get("quarters"))]));
    if !r.cells.is_empty() || !r.yours.is_empty() {
        t.figure = Some(figure(r));
    }
    t.yours = yours(r);
    render(&t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use csx_protocol::FinancialYear;

    #[test]
    fn the_quarters_run_from_the_first_to_the_last() {
        let q = |y: u16, q: u8| Quarter { year: FinancialYear(y), q };
        let v = quarters(q(2025, 3), q(2026, 2));
        let names: Vec<String> = v.iter().map(|q| q.to_string()).collect();
        assert_eq!(names, ["2025/26 Q3", "2025/26 Q4", "2026/27 Q1", "2026/27 Q2"]);
    }
}
