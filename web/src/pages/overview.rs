//! Overview — where you stand: your £/head on every line you disclose against the market,
//! motions closing soon, switches away from your providers, your contracts' notice dates.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use csx_node::client::AsyncNode as _;
use csx_node::query::Question;
use csx_node::query::motions::{MotionQuery, MotionStatus};
use csx_node::query::prices::short_pounds;
use csx_node::query::prices::{Basis, PriceCell, PriceQuery};
use csx_node::query::switches::SwitchQuery;
use csx_node::query::worth::Worth;
use csx_protocol::body::{Party, Price};
use csx_protocol::{Body, Date};

use super::{Figure, Page, PageError, Table, median_text, middle_half, per_head, provenance, render};
use crate::accounts::Role;
use crate::app::App;
use crate::auth::User;
use crate::charts::{ranges, simple};

/// Motions shown as closing soon.
const MOTIONS: usize = 5;
/// Switches away from your providers shown.
const SWITCHES: usize = 10;

#[derive(Debug)]
pub struct MotionRow {
    pub id: String,
    pub title: String,
    pub support: String,
    pub closes: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    page: Page,
    position: Option<Figure>,
    sentences: Vec<String>,
    motions: Vec<MotionRow>,
    switches: Table,
    switches_total: usize,
    switches_shown: usize,
    contracts: Table,
    provenance: String,
    worth: Option<Figure>,
    worth_total: String,
    worth_cover: String,
    worth_provenance: String,
}

/// For each line, the latest year in which you disclosed a per-head price (all providers).
pub fn your_cells(cells: &[PriceCell]) -> Vec<&PriceCell> {
    let mut best: BTreeMap<(usize, String), &PriceCell> = BTreeMap::new();
    for c in cells.iter().filter(|c| c.provider.is_none() && c.basis == Basis::PerHead && c.you.is_some()) {
        let key = csx_node::query::line_order(&c.service_line);
        if best.get(&key).is_none_or(|b| b.year < c.year) {
            best.insert(key, c);
        }
    }
    best.into_values().collect()
}

pub async fn page(State(app): State<Arc<App>>, user: User) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let prices = app.node.query(Question::Prices(PriceQuery::default())).await?;
    let cells = prices.prices()?;
    let mine = your_cells(cells);
    let chart_rows: Vec<ranges::Row> = mine
        .iter()
        .map(|c| ranges::Row {
            label: format!("{} {}", c.service_line_name, c.year),
            stats: c.stats.clone(),
            withheld: (!c.disclosure.shown()).then(|| c.disclosure.explain()),
            you: c.you.as_ref().map(|y| y.value),
        })
        .collect();
    let chart = ranges::chart(
        "position",
        "Your price per head against members' prices, by service line",
        "£ per head of population covered",
        &chart_rows,
    );
    let mut table = Table::new(
        "Your price per head and the market's, latest year you disclosed",
        &[
            ("Service line", false),
            ("Year", false),
            ("You pay", true),
            ("Median", true),
            ("Middle half", true),
            ("Members", true),
            ("Your position", false),
        ],
    );
    let mut sentences = Vec::new();
    for c in &mine {
        let you = c.you.as_ref().expect("filtered to cells with a position");
        sentences.push(you.summary.clone());
        table.rows.push(vec![
            c.service_line_name.clone(),
            c.year.to_string(),
            per_head(you.value),
            c.stats.as_ref().map(median_text).unwrap_or_else(|| c.disclosure.explain()),
            c.stats.as_ref().map(middle_half).unwrap_or_default(),
            c.members.to_string(),
            you.percentile.map(|p| format!("{p:.0}th percentile")).unwrap_or_else(|| "–".into()),
        ]);
    }
    let position = (!mine.is_empty()).then(|| {
        Figure::new(
            "position",
            "Your price per head (diamond) against members' prices: the box is the middle half, the bar the median, the line the range",
            chart,
            table,
        )
    });

    let motions_answer = app
        .node
        .query(Question::Motions(MotionQuery { status: Some(MotionStatus::Open), ..Default::default() }))
        .await?;
    let mut motions = motions_answer.motions()?.clone();
    motions.sort_by_key(|m| m.days_left);
    let motions = motions
        .iter()
        .take(MOTIONS)
        .map(|m| MotionRow {
            id: m.id.to_string(),
            title: m.title.clone(),
            support: format!("{} of {} needed", m.support, m.support_needed),
            closes: match m.days_left {
                0 => format!("{} (today)", m.closes_on),
                1 => format!("{} (tomorrow)", m.closes_on),
                d => format!("{} (in {d} days)", m.closes_on),
            },
        })
        .collect();

    // Your providers: those you disclose a price for.
    let my_providers: Vec<String> =
        cells.iter().filter(|c| c.you.is_some()).filter_map(|c| c.provider.clone()).collect();
    let switched = app.node.query(Question::Switches(SwitchQuery::default())).await?;
    let mut away = Table::new(
        "Members who left your providers, newest first",
        &[("Member", false), ("Service line", false), ("Left", false), ("For", false), ("From", false), ("Why", false)],
    );
    let mut rows: Vec<_> = switched
        .switches()?
        .switches
        .iter()
        .filter(|r| matches!(&r.from.party, Party::Provider(p) if my_providers.contains(p)))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.effective));
    let switches_total = rows.len();
    away.rows = rows
        .iter()
        .take(SWITCHES)
        .map(|r| {
            vec![
                format!("{} {}", r.org.ods, r.org.name),
                r.service_line_name.clone(),
                r.from.name.clone(),
                r.to.name.clone(),
                r.effective.to_string(),
                r.reasons.iter().map(|x| x.to_string().replace('_', " ")).collect::<Vec<_>>().join(", "),
            ]
        })
        .collect();

    let today = Date::from_unix_ms(app.now()).ok_or_else(|| PageError::Internal("the clock is out of range".into()))?;
    let contracts = contracts(&app, today).await?;
    let tenders = app.node.query(Question::Tenders(Default::default())).await?;
    let worth = tenders.tender_worth()?;
    let (worth, worth_total, worth_cover) = worth_figure(worth);
    let t = Overview {
        page: Page::new(&app, &user, "Where you stand", "/"),
        position,
        sentences,
        motions,
        switches_shown: away.rows.len(),
        switches: away,
        switches_total,
        contracts,
        provenance: provenance(&prices.provenance),
        worth,
        worth_total,
        worth_cover,
        worth_provenance: provenance(&tenders.provenance),
    };
    render(&t)
}

/// What acting together is worth: the federation's total paid a year above each line's median
/// £/head (each line's latest year), line by line as bars with the table beneath, and in all
/// over the lines shown — a withheld line gives its reason and no figure, and the total says
/// how many lines it leaves out. Returns the figure, the amount and what it covers.
pub fn worth_figure(w: &Worth) -> (Option<Figure>, String, String) {
    let mut t = Table::new(
        "Paid a year above each line's median price per head, the latest year of each line",
        &[
            ("Service line", false),
            ("Year", false),
            ("Members", true),
            ("Median per head", true),
            ("Members above it", true),
            ("Paid a year above the median", true),
        ],
    );
    let mut bars = Vec::new();
    for l in &w.lines {
        let shown = l.disclosure.shown() && l.above_median_pence.is_some();
        let why = l.disclosure.explain();
        bars.push((l.service_line_name.clone(), l.above_median_pence.filter(|_| shown), why.clone()));
        t.rows.push(vec![
            l.service_line_name.clone(),
            l.year.to_string(),
            l.members.to_string(),
            if shown { l.median.map(per_head).unwrap_or_else(|| "–".into()) } else { "–".into() },
            if shown { l.above.map(|a| a.to_string()).unwrap_or_else(|| "–".into()) } else { "–".into() },
            match l.above_median_pence.filter(|_| shown) {
                Some(p) => short_pounds(p as i64),
                None => format!("withheld ({why})"),
            },
        ]);
    }
    let amount = format!("{} a year", short_pounds(w.total_pence as i64));
    let cover = format!(
        "{} line{} shown{}",
        w.lines_shown,
        if w.lines_shown == 1 { "" } else { "s" },
        match w.lines_withheld {
            0 => String::new(),
            n => format!("; {n} line{} withheld and left out", if n == 1 { "" } else { "s" }),
        }
    );
    let figure = (!w.lines.is_empty()).then(|| {
        let chart = simple::money_bars(
            "worth",
            "Paid a year above each line's median price per head",
            "what members pay a year above each line's median price per head",
            &bars,
        );
        Figure::new(
            "worth",
            "Paid a year above each line's median price per head: what acting together could save",
            chart,
            t,
        )
    });
    (figure, amount, cover)
}

/// Your organisation's current contracts (latest disclosure per provider and line among this
/// node's newest [`super::record::OWN_RECORDS`] records) with their end and notice dates,
/// soonest notice first.
async fn contracts(app: &App, today: Date) -> Result<Table, PageError> {
    let (records, _) = super::record::own_records(app, super::record::OWN_RECORDS).await?;
    let mut latest: BTreeMap<(String, String), (u64, Price)> = BTreeMap::new();
    for l in records.iter().filter(|l| l.retracted_by.is_none()) {
        let Ok(r) = l.record.decode() else { continue };
        if let Body::Price(p) = r.body() {
            let key = (p.provider.clone(), p.service_line.clone());
            if latest.get(&key).is_none_or(|(t, old)| (old.year, *t) <= (p.year, r.created_at())) {
                latest.insert(key, (r.created_at(), p.clone()));
            }
        }
    }
    let mut rows: Vec<(Option<Date>, Vec<String>)> = latest
        .into_values()
        .filter_map(|(_, p)| {
            let start = p.contract_start?;
            let months = p.contract_months?;
            let ends = add_months(start, months as i32)?;
            let notice_by = p.notice_months.and_then(|n| add_months(ends, -(n as i32)));
            let status = match notice_by {
                Some(d) if d < today && ends >= today => "notice date passed".to_string(),
                _ if ends < today => "ended".to_string(),
                Some(d) => format!("{} days to give notice", d.days() as i64 - today.days() as i64),
                None => "notice period not disclosed".to_string(),
            };
            Some((
                notice_by,
                vec![
                    csx_protocol::refdata::builtin_provider(&p.provider)
                        .map(|b| b.name.to_string())
                        .unwrap_or_else(|| p.provider.clone()),
                    csx_node::query::line_name(&p.service_line),
                    p.year.to_string(),
                    csx_node::query::prices::short_pounds(p.annual_value_pence as i64),
                    ends.to_string(),
                    notice_by.map(|d| d.to_string()).unwrap_or_else(|| "–".into()),
                    status,
                ],
            ))
        })
        .collect();
    rows.sort_by_key(|(d, _)| d.map(|d| d.days()).unwrap_or(u32::MAX));
    let mut t = Table::new(
        format!(
            "From your latest disclosure of each contract (among this node's newest {} records), soonest notice date first",
            super::record::OWN_RECORDS
        ),
        &[
            ("Provider", false),
            ("Service line", false),
            ("Year", false),
            ("Annual value", true),
            ("Ends", false),
            ("Give notice by", false),
            ("Status", false),
        ],
    );
    t.rows = rows.into_iter().map(|(_, r)| r).collect();
    Ok(t)
}

/// `date` moved by `months` (the day clamped to the month's length).
pub fn add_months(date: Date, months: i32) -> Option<Date> {
    let day: u8 = date.to_string().get(8..10)?.parse().ok()?;
    let total = date.year() * 12 + (date.month() as i32 - 1) + months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    (0..4).find_map(|back| Date::from_ymd(ny, nm as u8, day.saturating_sub(back)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_added_with_the_day_clamped() {
        let d = |s: &str| s.parse::<Date>().expect("date");
        assert_eq!(add_months(d("2024-04-01"), 36), Some(d("2027-04-01")));
        assert_eq!(add_months(d("2027-04-01"), -6), Some(d("2026-10-01")));
        assert_eq!(add_months(d("2024-01-31"), 1), Some(d("2024-02-29")));
    }
}
