//! Providers: scorecards of one service line as a heat map of providers by rating dimension
//! (age-weighted means), with would-recommend, reviewers, trend, switching and prices in the
//! table beneath and the latest comments; and a provider's page with every line.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use csx_node::client::AsyncNode as _;
use csx_node::query::Question;
use csx_node::query::providers::{ProviderQuery, Scorecard};

use super::{
    Figure, Page, PageError, Table, downloads, line_options, median_text, middle_half, options_html, or_dash, render,
};
use crate::accounts::Role;
use crate::api;
use crate::app::App;
use crate::auth::User;
use crate::charts::{heatmap, trend};
use crate::html::{error_summary, query, url_encode};

/// A comment as the page quotes it.
#[derive(Debug, Clone)]
pub struct Quote {
    pub provider: String,
    pub text: String,
    pub by: String,
}

#[derive(Template)]
#[template(path = "providers.html")]
struct Providers {
    page: Page,
    errors: String,
    line_options: String,
    heading: String,
    figures: Vec<Figure>,
    quotes: Vec<Quote>,
    links: Vec<(String, String)>,
    provenance: String,
    downloads: Vec<(String, String)>,
    empty: bool,
}

#[derive(Template)]
#[template(path = "provider.html")]
struct ProviderPage {
    page: Page,
    name: String,
    code: String,
    facts: Vec<(String, String)>,
    figures: Vec<Figure>,
    quotes: Vec<Quote>,
    provenance: String,
    downloads: Vec<(String, String)>,
}

fn score(x: f64) -> String {
    format!("{x:.2}")
}

fn columns(cards: &[&Scorecard]) -> Vec<String> {
    let mut cols: Vec<String> =
        cards.first().map(|c| c.dimensions.iter().map(|d| d.name.replace('_', " ")).collect()).unwrap_or_default();
    cols.push("overall".into());
    cols
}

fn heat_row(label: String, c: &Scorecard) -> heatmap::Row {
    let mut cells: Vec<Option<f64>> = c.dimensions.iter().map(|d| d.mean).collect();
    cells.push(c.overall);
    heatmap::Row { label, cells }
}

/// The scorecards as a table: a withheld scorecard says why instead of showing scores.
fn scorecard_table(caption: &str, cards: &[&Scorecard], first: &str, label: impl Fn(&Scorecard) -> String) -> Table {
    let dims: Vec<String> = columns(cards);
    let mut head: Vec<(&str, bool)> = vec![(first, false), ("Rank", true), ("Reviewers", true)];
    let dim_heads: Vec<String> = dims.iter().map(|d| format!("{d} /5")).collect();
    head.extend(dim_heads.iter().map(|d| (d.as_str(), true)));
    head.extend([
        ("Would recommend (net)", true),
        ("Still customers", true),
        ("Trend", false),
        ("Joined / left", false),
        ("£/head median (middle half)", false),
    ]);
    let mut t = Table::new(caption, &head);
    for c in cards {
        let mut r = vec![label(c), or_dash(c.rank, |r| r.to_string()), c.reviewers.to_string()];
        if c.disclosure.shown() {
            r.extend(c.dimensions.iter().map(|d| or_dash(d.mean, score)));
            r.push(or_dash(c.overall, score));
        } else {
            r.push(c.disclosure.explain());
            r.extend(std::iter::repeat_n(String::new(), c.dimensions.len()));
        }
        r.push(or_dash(c.recommend.as_ref(), |x| format!("{:+.0}", x.score)));
        r.push(c.still_customers.to_string());
        r.push(
            c.trend.iter().map(|y| format!("{} {}", y.year, or_dash(y.overall, score))).collect::<Vec<_>>().join(" → "),
        );
        r.push(format!("{} joined, {} left", c.switches.joined, c.switches.left));
        r.push(match &c.prices {
            None => "–".into(),
            Some(p) => match &p.stats {
                Some(s) if s.median.is_some() => format!("{} ({}) in {}", median_text(s), middle_half(s), p.year),
                Some(s) => format!("{} in {}", median_text(s), p.year),
                None => format!("{} in {}", p.disclosure.explain(), p.year),
            },
        });
        t.rows.push(r);
    }
    t
}

fn quotes(cards: &[&Scorecard]) -> Vec<Quote> {
    cards
        .iter()
        .flat_map(|c| {
            c.comments.iter().map(|q| Quote {
                provider: format!("{} — {}", c.provider_name, c.service_line_name),
                text: q.text.clone(),
                by: format!(
                    "{}, {} ({}; written {}{})",
                    q.reviewer_role,
                    q.org.name,
                    q.year,
                    q.written,
                    if q.still_customer { "" } else { "; no longer a customer" }
                ),
            })
        })
        .collect()
}

pub async fn page(
    State(app): State<Arc<App>>,
    user: User,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let mut t = Providers {
        page: Page::new(&app, &user, "Providers", "/providers"),
        errors: String::new(),
        line_options: String::new(),
        heading: "Providers".into(),
        figures: vec![],
        quotes: vec![],
        links: vec![],
        provenance: String::new(),
        downloads: vec![],
        empty: false,
    };
    // With no line chosen, show the line with the most reviewers.
    let chosen = params.get("service_line").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let all = if chosen.is_none() {
        let a = app.node.query(Question::Providers(ProviderQuery::default())).await?;
        {
            let scorecards = a.scorecards()?;
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for c in scorecards {
                *counts.entry(c.service_line.as_str()).or_default() += c.reviewers;
            }
            if let Some((line, _)) =
                counts.iter().max_by_key(|(l, n)| (**n, std::cmp::Reverse(csx_node::query::line_order(l))))
            {
                params.insert("service_line".into(), line.to_string());
            }
        }
        Some(a)
    } else {
        None
    };
    let line = params.get("service_line").cloned().unwrap_or_default().to_ascii_uppercase();
    t.line_options = options_html(&line_options(None), &line);
    let q = match api::provider_question(&params) {
        Ok(q) => q,
        Err(PageError::Node(e)) => {
            t.errors = error_summary(&[(Some(super::prices::field_of(&e.message)), e.message)]);
            return render(&t);
        }
        Err(e) => return Err(e),
    };
    let answered = match (all, q.service_line.is_some()) {
        (Some(a), false) => a,
        _ => app.node.query(Question::Providers(q)).await?,
    };
    let scorecards = answered.scorecards()?;
    t.provenance = answered.provenance.line();
    t.downloads = downloads("providers", &query(&[("service_line", &line)]));
    let cards: Vec<&Scorecard> = scorecards.iter().filter(|c| line.is_empty() || c.service_line == line).collect();
    t.empty = cards.is_empty();
    if cards.is_empty() {
        return render(&t);
    }
    let name = cards[0].service_line_name.clone();
    t.heading = format!("Providers of {name}");
    let rows: Vec<heatmap::Row> = cards.iter().map(|c| heat_row(c.provider_name.clone(), c)).collect();
    let k = app.home.genesis().map(|g| g.disclosure_threshold).unwrap_or(3);
    let chart = heatmap::chart(
        "providers-heat",
        &format!("Ratings of {name} providers, by dimension"),
        &columns(&cards),
        &rows,
        &format!("not enough data: fewer than {k} members rated it"),
    );
    let table = scorecard_table(&format!("{name}: provider scorecards, best first"), &cards, "Provider", |c| {
        c.provider_name.clone()
    });
    t.figures.push(Figure::new(
        "providers-heat",
        format!("{name}: members' ratings (1 poor to 5 excellent, recent years count most)"),
        chart,
        table,
    ));
    t.quotes = quotes(&cards);
    t.links =
        cards.iter().map(|c| (format!("/providers/{}", url_encode(&c.provider)), c.provider_name.clone())).collect();
    render(&t)
}

pub async fn one(State(app): State<Arc<App>>, user: User, Path(code): Path<String>) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let answered = app.node.query(Question::Provider { code: code.clone() }).await?;
    let p = answered.provider()?;
    let cards: Vec<&Scorecard> = p.scorecards.iter().collect();
    let mut facts = vec![("Code".to_string(), p.code.clone())];
    if let Some(k) = &p.kind {
        facts.push(("Kind".into(), k.replace('_', " ")));
    }
    if let Some(n) = &p.note {
        facts.push(("Note".into(), n.clone()));
    }
    facts.push(("Service lines with members' records".into(), p.scorecards.len().to_string()));
    let mut figures = Vec::new();
    if !cards.is_empty() {
        let rows: Vec<heatmap::Row> = cards.iter().map(|c| heat_row(c.service_line_name.clone(), c)).collect();
        let chart = heatmap::chart(
            "provider-heat",
            &format!("Ratings of {} on each service line", p.name),
            &columns(&cards),
            &rows,
            "not enough members rated it",
        );
        let table = scorecard_table(&format!("{}: scorecards by service line", p.name), &cards, "Service line", |c| {
            c.service_line_name.clone()
        });
        figures.push(Figure::new("provider-heat", format!("{}: members' ratings on every line", p.name), chart, table));
        for (i, c) in cards.iter().enumerate().filter(|(_, c)| !c.trend.is_empty()) {
            let id = format!("provider-trend-{i}");
            let points: Vec<trend::Point> = c
                .trend
                .iter()
                .map(|y| trend::Point {
                    label: y.year.to_string(),
                    value: y.overall.map(|v| (v, None)),
                    withheld: (!y.disclosure.shown()).then(|| y.disclosure.explain()),
                    you: None,
                })
                .collect();
            let chart = trend::chart(
                &id,
                &format!("{} on {}: score by year", p.name, c.service_line_name),
                "Mean review score out of 5",
                &points,
                score,
            );
            let mut table = Table::new(
                format!("{} on {}: reviews by year", p.name, c.service_line_name),
                &[("Year", false), ("Reviews", true), ("Members", true), ("Score /5", true)],
            );
            for y in &c.trend {
                table.rows.push(vec![
                    y.year.to_string(),
                    y.reviews.to_string(),
                    y.members.to_string(),
                    y.overall.map(score).unwrap_or_else(|| y.disclosure.explain()),
                ]);
            }
            figures.push(Figure::new(&id, format!("{}: score year by year", c.service_line_name), chart, table));
        }
    }
    let t = ProviderPage {
        page: Page::new(&app, &user, &p.name, "/providers"),
        name: p.name.clone(),
        code: p.code.clone(),
        facts,
        figures,
        quotes: quotes(&cards),
        provenance: answered.provenance.line(),
        downloads: downloads(&format!("providers/{}", url_encode(&p.code)), ""),
    };
    render(&t)
}
