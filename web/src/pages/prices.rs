//! Prices: per service line and year, the distribution of members' £/head (box plots with the
//! median, the middle half, outliers flagged and your own price marked), the trend over years,
//! small multiples by provider, and every statistic in tables. Withheld cells are drawn as
//! "not enough data (n of k)", never plotted.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use csx_node::query::prices::{Basis, PriceCell};

use super::{
    Figure, Page, PageError, Table, downloads, line_options, median_text, middle_half, options_html, or_dash, per_head,
    render,
};
use crate::accounts::Role;
use crate::api;
use crate::app::App;
use crate::auth::User;
use crate::charts::{ranges, trend};
use crate::html::{error_summary, query};

#[derive(Template)]
#[template(path = "prices.html")]
struct Prices {
    page: Page,
    errors: String,
    line_options: String,
    provider: String,
    year: String,
    heading: String,
    figures: Vec<Figure>,
    sentences: Vec<String>,
    provenance: String,
    downloads: Vec<(String, String)>,
    empty: bool,
}

fn row(c: &PriceCell, label: String) -> ranges::Row {
    ranges::Row {
        label,
        stats: c.stats.clone(),
        withheld: (!c.disclosure.shown()).then(|| c.disclosure.explain()),
        you: c.you.as_ref().map(|y| y.value),
    }
}

/// The statistics of `cells` as a table: a withheld cell shows the reason, never a figure.
pub fn cell_table(caption: &str, cells: &[&PriceCell], first: &str, label: impl Fn(&PriceCell) -> String) -> Table {
    let mut t = Table::new(
        caption,
        &[
            (first, false),
            ("Basis", false),
            ("Members", true),
            ("Lowest", true),
            ("25th percentile", true),
            ("Median", true),
            ("75th percentile", true),
            ("90th percentile", true),
            ("Highest", true),
            ("Outliers", true),
            ("You", true),
            ("Your percentile", true),
        ],
    );
    for c in cells {
        let mut r = vec![label(c), c.basis.label(), c.members.to_string()];
        match &c.stats {
            Some(s) => {
                r.push(or_dash(s.min, per_head));
                r.push(or_dash(s.p25, per_head));
                r.push(median_text(s));
                r.extend([s.p75, s.p90, s.max].map(|v| or_dash(v, per_head)));
                r.push(or_dash(s.outliers, |n| n.to_string()));
            }
            None => {
                r.push(c.disclosure.explain());
                r.extend(std::iter::repeat_n(String::new(), 6));
            }
        }
        r.push(or_dash(c.you.as_ref(), |y| per_head(y.value)));
        r.push(or_dash(c.you.as_ref().and_then(|y| y.percentile), |p| format!("{p:.0}")));
        t.rows.push(r);
    }
    t
}

pub async fn page(
    State(app): State<Arc<App>>,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let line = params.get("service_line").cloned().unwrap_or_default().trim().to_ascii_uppercase();
    let provider = params.get("provider").cloned().unwrap_or_default();
    let year = params.get("year").cloned().unwrap_or_default();
    let mut t = Prices {
        page: Page::new(&app, &user, "Prices", "/prices"),
        errors: String::new(),
        line_options: options_html(&line_options(Some("All service lines")), &line),
        provider: provider.clone(),
        year: year.clone(),
        heading: "What members pay".into(),
        figures: vec![],
        sentences: vec![],
        provenance: String::new(),
        downloads: vec![],
        empty: false,
    };
    let answered = match api::prices_answer(&app, &params).await {
        Ok(a) => a,
        Err(PageError::Node(e)) if e.kind == csx_node::api::ErrorKind::InvalidInput => {
            t.errors = error_summary(&[(Some(field_of(&e.message)), e.message)]);
            return render(&t);
        }
        Err(e) => return Err(e),
    };
    let cells = answered.prices()?;
    t.provenance = answered.provenance.line();
    t.downloads = downloads("prices", &query(&[("service_line", &line), ("provider", &provider), ("year", &year)]));
    t.empty = cells.is_empty();
    t.sentences = cells
        .iter()
        .filter(|c| c.provider.is_none())
        .filter_map(|c| c.you.as_ref())
        .map(|y| y.summary.clone())
        .collect();
    let per_head_market: Vec<&PriceCell> =
        cells.iter().filter(|c| c.provider.is_none() && c.basis == Basis::PerHead).collect();
    if line.is_empty() {
        // Every line: its latest year's market.
        let mut latest: Vec<&PriceCell> = Vec::new();
        for c in &per_head_market {
            match latest.iter_mut().find(|x| x.service_line == c.service_line) {
                Some(x) if x.year < c.year => *x = c,
                Some(_) => {}
                None => latest.push(c),
            }
        }
        let rows: Vec<ranges::Row> =
            latest.iter().map(|c| row(c, format!("{} {}", c.service_line_name, c.year))).collect();
        let chart =
            ranges::chart("prices-lines", "Members' price per head by service line, latest year", "£ per head", &rows);
        let table = cell_table("Price per head by service line, latest year disclosed", &latest, "Service line", |c| {
            format!("{} {}", c.service_line_name, c.year)
        });
        t.figures.push(Figure::new(
            "prices-lines",
            "Price per head by service line (latest year of each)",
            chart,
            table,
        ));
        let others: Vec<&PriceCell> = cells.iter().filter(|c| !latest.iter().any(|l| std::ptr::eq(*l, *c))).collect();
        if !others.is_empty() {
            t.figures.push(Figure {
                id: "prices-all".into(),
                caption: "Every other year and basis".into(),
                table: cell_table("Every other statistic held", &others, "Service line and year", |c| {
                    format!("{} {}", c.service_line_name, c.year)
                }),
                ..Figure::default()
            });
        }
        return render(&t);
    }
    let name = csx_node::query::line_name(&line);
    t.heading = format!("What members pay for {name}");
    // By year.
    let rows: Vec<ranges::Row> = per_head_market.iter().map(|c| row(c, c.year.to_string())).collect();
    let chart =
        ranges::chart("prices-years", &format!("Members' price per head for {name} by year"), "£ per head", &rows);
    let table = cell_table(&format!("{name}: price per head by year, all providers"), &per_head_market, "Year", |c| {
        c.year.to_string()
    });
    t.figures.push(Figure::new("prices-years", format!("{name}: members' price per head, year by year"), chart, table));
    // The trend: medians with the middle half, oldest first.
    let mut asc = per_head_market.clone();
    asc.sort_by_key(|c| c.year);
    let points: Vec<trend::Point> = asc
        .iter()
        .map(|c| trend::Point {
            label: c.year.to_string(),
            value: c.stats.as_ref().and_then(|s| s.median.map(|m| (m, s.p25.zip(s.p75)))),
            withheld: match &c.stats {
                None => Some(c.disclosure.explain()),
                Some(s) if s.median.is_none() => Some(format!("{} members: {}", s.n, ranges::median_words(s))),
                Some(_) => None,
            },
            you: c.you.as_ref().map(|y| y.value),
        })
        .collect();
    let chart = trend::chart(
        "prices-trend",
        &format!("Median price per head for {name} over the years"),
        &format!("Median price per head for {name} with the middle half of members"),
        &points,
        per_head,
    );
    let mut table = Table::new(
        format!("{name}: median and middle half by year"),
        &[("Year", false), ("Median", true), ("Middle half", true), ("You", true)],
    );
    for c in &asc {
        table.rows.push(vec![
            c.year.to_string(),
            c.stats.as_ref().map(median_text).unwrap_or_else(|| c.disclosure.explain()),
            c.stats.as_ref().map(middle_half).unwrap_or_default(),
            or_dash(c.you.as_ref(), |y| per_head(y.value)),
        ]);
    }
    t.figures.push(Figure::new(
        "prices-trend",
        format!("{name}: the median over the years (band: the middle half)"),
        chart,
        table,
    ));
    // Small multiples: each provider's members in the latest year with provider cells.
    let by_provider: Vec<&PriceCell> =
        cells.iter().filter(|c| c.provider.is_some() && c.basis == Basis::PerHead).collect();
    let latest_provider_year = by_provider.iter().map(|c| c.year).max();
    if let Some(latest) = latest_provider_year {
        let these: Vec<&PriceCell> = by_provider.iter().copied().filter(|c| c.year == latest).collect();
        let rows: Vec<ranges::Row> =
            these.iter().map(|c| row(c, c.provider_name.clone().unwrap_or_default())).collect();
        let chart = ranges::chart(
            "prices-providers",
            &format!("{name} {latest}: price per head by provider"),
            "£ per head",
            &rows,
        );
        let table = cell_table(&format!("{name} {latest}: price per head by provider"), &these, "Provider", |c| {
            c.provider_name.clone().unwrap_or_default()
        });
        t.figures.push(Figure::new(
            "prices-providers",
            format!("{name} {latest}: each provider's customers"),
            chart,
            table,
        ));
    }
    let rest: Vec<&PriceCell> = cells
        .iter()
        .filter(|c| c.basis != Basis::PerHead || (c.provider.is_some() && Some(c.year) != latest_provider_year))
        .collect();
    if !rest.is_empty() {
        t.figures.push(Figure {
            id: "prices-rest".into(),
            caption: "Earlier years by provider, and prices per unit".into(),
            table: cell_table(&format!("{name}: other statistics"), &rest, "Provider and year", |c| {
                format!("{} {}", c.provider_name.clone().unwrap_or_else(|| "All providers".into()), c.year)
            }),
            ..Figure::default()
        });
    }
    render(&t)
}

/// The form field an error message is about (`year: …` → `year`).
pub fn field_of(message: &str) -> String {
    message.split(':').next().unwrap_or("").trim().to_string()
}
