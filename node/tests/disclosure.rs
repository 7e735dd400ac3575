//! No figure gives a member away: over generated markets, an attacker with every figure the
//! answers show — prices, scorecards, a provider's profile, the report — and a spreadsheet's
//! worth of linear algebra finds nothing withheld and nothing about fewer than k members.
//!
//! Scores are linear in the ratings behind them, so the attacker is exact: it knows every
//! rating's place (whose it is, which year and dimension, every weight and count — more than
//! the answers say), writes each shown score as an equation in the ratings, and tries every
//! linear combination of them (the overall minus the years shown, a dimension minus the
//! others, …) by Gaussian elimination. It checks that no withheld figure lies in their span,
//! and that no combination rests on the ratings of fewer than k members — which covers a
//! member subtracting its own ratings (an insider) as well as an outsider. Its arithmetic is
//! floating point, the engine's modular: two independent computations.
//!
//! Price statistics are order statistics, not sums: the attacker checks the invariants that
//! protect them (docs/QUERIES.md): small cells show only what their member count allows, no
//! provider knows all but a few of a market cell's members, and the members outside the
//! provider cells shown are none or at least k. And every answer shows a figure alike.

use std::collections::{BTreeMap, BTreeSet};

use csx_node::query::prices::{Basis, PriceCell, PriceQuery, prices};
use csx_node::query::providers::{ProviderQuery, Scorecard, profile, scorecards};
use csx_node::query::report::report;
use csx_node::query::stats::{Detail, Disclosure};
use csx_node::query::{Ctx, Dataset, Item, Rests};
use csx_protocol::body::{Price, PricingModel, RATING_DIMENSIONS, Review};
use csx_protocol::{FinancialYear, NodeKey, OrgKey, RecordId};
use proptest::prelude::*;

/// 2025-06-15: financial year 2025/26; reviews of 2022–2025 weigh 0.343 to 1.
const NOW: u64 = 1_749_945_600_000;
const PROVIDERS: [&str; 3] = ["0DE", "0AR", "0CX"];
const LINES: [&str; 2] = ["BI", "CONTRACT"];

#[derive(Debug, Clone)]
enum Row {
    Review { member: u8, line: usize, provider: usize, year: u16, ratings: [Option<u8>; 7], recommend: Option<u8> },
    Price { member: u8, line: usize, provider: usize, year: u16, pence: u64, population: u64, lot: Option<u8> },
}

#[derive(Debug, Clone)]
struct Market {
    members: u8,
    k: u16,
    cap_bp: u16,
    rows: Vec<Row>,
}

fn row(members: u8) -> impl Strategy<Value = Row> {
    let rating = proptest::option::weighted(0.7, 1u8..=5);
    let review = (
        0..members,
        0..LINES.len(),
        0..PROVIDERS.len(),
        2022u16..=2025,
        proptest::array::uniform7(rating),
        proptest::option::of(0u8..=10),
    )
        .prop_map(|(member, line, provider, year, ratings, recommend)| Row::Review {
            member,
            line,
            provider,
            year,
            ratings,
            recommend,
        });
    let price = (
        0..members,
        0..LINES.len(),
        0..PROVIDERS.len(),
        2024u16..=2025,
        1_000_000u64..50_000_000,
        prop_oneof![Just(100_000u64), Just(250_000), Just(400_000)],
        proptest::option::weighted(0.2, 0u8..2),
    )
        .prop_map(|(member, line, provider, year, pence, population, lot)| Row::Price {
            member,
            line,
            provider,
            year,
            pence,
            population,
            lot,
        });
    prop_oneof![3 => review, 2 => price]
}

fn market() -> impl Strategy<Value = Market> {
    (3u8..=8, 2u16..=4, prop_oneof![Just(5000u16), Just(6000), Just(10_000)]).prop_flat_map(|(members, k, cap_bp)| {
        proptest::collection::vec(row(members), 0..70).prop_map(move |rows| Market { members, k, cap_bp, rows })
    })
}

fn org(i: u8) -> OrgKey {
    OrgKey([i + 1; 32])
}

/// The market's records, each member's in the order of `rows` (one import: one write time,
/// the feed order decides).
fn dataset(m: &Market) -> Dataset {
    let mut d = Dataset::default();
    for i in 0..m.members {
        d.directory.insert(org(i), &format!("M{i}"), &format!("Member {i}"), None, true);
    }
    for (n, r) in m.rows.iter().enumerate() {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(n as u64).to_be_bytes());
        let item = |member: u8| (RecordId(id), org(member), NodeKey([member + 1; 32]));
        match r {
            Row::Review { member, line, provider, year, ratings, recommend } => {
                let (id, org, node) = item(*member);
                let [q, t, r, a, f, v, k] = *ratings;
                let body = Review {
                    provider: PROVIDERS[*provider].into(),
                    service_line: LINES[*line].into(),
                    year: FinancialYear(*year),
                    quality: q,
                    timeliness: t,
                    responsiveness: r,
                    data_accuracy: a,
                    flexibility: f,
                    value_for_money: v,
                    kpi_delivery: k,
                    would_recommend: *recommend,
                    still_customer: true,
                    reviewer_role: "Head of BI".into(),
                    comment: None,
                };
                d.reviews.push(Item { id, org, created_at: NOW - 1_000, seq: n as u64 + 2, node, body });
            }
            Row::Price { member, line, provider, year, pence, population, lot } => {
                let (id, org, node) = item(*member);
                let body = Price {
                    provider: PROVIDERS[*provider].into(),
                    service_line: LINES[*line].into(),
                    year: FinancialYear(*year),
                    annual_value_pence: *pence,
                    vat_included: false,
                    pricing_model: PricingModel::Fixed,
                    population_covered: *population,
                    unit_name: None,
                    unit_count: None,
                    scope: None,
                    contract_start: None,
                    contract_months: None,
                    notice_months: None,
                    efficiency_bp: None,
                    kpi_basis: None,
                    buying_route: None,
                    satisfaction_survey: None,
                    contract_ref: lot.map(|l| format!("Lot {l}")),
                };
                d.prices.push(Item { id, org, created_at: NOW - 1_000, seq: n as u64 + 2, node, body });
            }
        }
    }
    d
}

// ── the attacker's arithmetic ──────────────────────────────────────────────────────────────

/// The rank of `rows` restricted to the columns `keep` says to keep (Gaussian elimination with
/// partial pivoting; entries here are sums of weights ≥ 0.343 over small counts).
fn rank(rows: &[Vec<f64>], keep: &dyn Fn(usize) -> bool) -> usize {
    let cols: Vec<usize> = (0..rows.first().map_or(0, Vec::len)).filter(|c| keep(*c)).collect();
    let mut m: Vec<Vec<f64>> = rows.iter().map(|r| cols.iter().map(|c| r[*c]).collect()).collect();
    let scale = m.iter().flatten().fold(0.0f64, |a, x| a.max(x.abs())).max(1e-300);
    let (mut rank, mut col) = (0, 0);
    while rank < m.len() && col < cols.len() {
        let pivot = (rank..m.len()).max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs())).expect("rows");
        if m[pivot][col].abs() <= 1e-9 * scale {
            col += 1;
            continue;
        }
        m.swap(rank, pivot);
        let pivot_row = m[rank].clone();
        for (r, row) in m.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            if r != rank && f != 0.0 {
                for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
        rank += 1;
        col += 1;
    }
    rank
}

fn in_span(rows: &[Vec<f64>], v: &[f64]) -> bool {
    let mut with = rows.to_vec();
    with.push(v.to_vec());
    rank(&with, &|_| true) == rank(rows, &|_| true)
}

/// One rating: whose, which year, which dimension, and its value.
#[derive(Debug, Clone, Copy)]
struct Rating {
    member: u8,
    year: u16,
    dim: usize,
    value: f64,
}

fn weight(year: u16) -> f64 {
    0.7f64.powi(2025 - year as i32)
}

/// The ratings a scorecard rests on, by the documented rule: each member's latest review of
/// each year (the one written last in its feed, all being written at one time).
fn ratings(m: &Market, line: &str, provider: &str) -> Vec<Rating> {
    let mut latest: BTreeMap<(u8, u16), &Row> = BTreeMap::new();
    for r in &m.rows {
        if let Row::Review { member, line: l, provider: p, year, .. } = r
            && LINES[*l] == line
            && PROVIDERS[*p] == provider
        {
            latest.insert((*member, *year), r);
        }
    }
    let mut out = Vec::new();
    for r in latest.values() {
        if let Row::Review { member, year, ratings, .. } = r {
            for (dim, v) in ratings.iter().enumerate() {
                if let Some(v) = v {
                    out.push(Rating { member: *member, year: *year, dim, value: *v as f64 });
                }
            }
        }
    }
    out
}

/// A score as an equation in the ratings: its coefficients (the documented formula).
fn equation(rs: &[Rating], counts: &dyn Fn(&Rating) -> bool, age_weighted: bool) -> Vec<f64> {
    let w = |r: &Rating| if age_weighted { weight(r.year) } else { 1.0 };
    let total: f64 = rs.iter().filter(|r| counts(r)).map(w).sum();
    rs.iter().map(|r| if counts(r) { w(r) / total } else { 0.0 }).collect()
}

fn value(eq: &[f64], rs: &[Rating]) -> f64 {
    eq.iter().zip(rs).map(|(c, r)| c * r.value).sum()
}

/// Checks one scorecard against the attacker; `Err` names what it found.
fn attack(m: &Market, card: &Scorecard) -> Result<(), String> {
    let rs = ratings(m, &card.service_line, &card.provider);
    let mut shown: Vec<Vec<f64>> = Vec::new();
    let mut withheld: Vec<(String, Vec<f64>)> = Vec::new();
    let mut figure = |name: String, eq: Vec<f64>, figure: Option<f64>, rule: &Disclosure| -> Result<(), String> {
        if eq.iter().all(|c| *c == 0.0) {
            return Ok(());
        }
        match figure {
            Some(v) => {
                // Recomputed from the documented formula, outside csx.
                let expected = value(&eq, &rs);
                if (v - expected).abs() > 1e-9 {
                    return Err(format!("{name} is {v}, the formula gives {expected}"));
                }
                shown.push(eq);
            }
            None => {
                if rule.shown() {
                    return Err(format!("{name} has ratings and is said shown, but no figure"));
                }
                withheld.push((name, eq));
            }
        }
        Ok(())
    };
    figure("the overall score".into(), equation(&rs, &|_| true, true), card.overall, &card.disclosure)?;
    for (dim, d) in card.dimensions.iter().enumerate() {
        figure(
            format!("the {} score", RATING_DIMENSIONS[dim]),
            equation(&rs, &|r| r.dim == dim, true),
            d.mean,
            &d.disclosure,
        )?;
    }
    for y in &card.trend {
        figure(
            format!("the {} score", y.year),
            equation(&rs, &|r| r.year == y.year.0, false),
            y.overall,
            &y.disclosure,
        )?;
    }
    if shown.is_empty() {
        return Ok(());
    }
    for (name, eq) in &withheld {
        if in_span(&shown, eq) {
            return Err(format!("{name} is withheld but the figures shown add up to it"));
        }
    }
    // Nothing about fewer than k members: removing any such coalition's ratings must not lower
    // the rank (else some combination rests on theirs alone).
    let members: Vec<u8> = rs.iter().map(|r| r.member).collect::<BTreeSet<_>>().into_iter().collect();
    let full = rank(&shown, &|_| true);
    for size in 1..(m.k as usize).min(members.len() + 1) {
        for coalition in subsets(&members, size) {
            let without = rank(&shown, &|c| !coalition.contains(&rs[c].member));
            if without < full {
                return Err(format!("the figures shown give away something about members {coalition:?} alone"));
            }
        }
    }
    Ok(())
}

fn subsets(items: &[u8], size: usize) -> Vec<Vec<u8>> {
    if size == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for (i, x) in items.iter().enumerate() {
        for mut rest in subsets(&items[i + 1..], size - 1) {
            rest.insert(0, *x);
            out.push(rest);
        }
    }
    out
}

// ── price invariants ──────────────────────────────────────────────────────────────────────

/// Each member's providers in a (line, year): the current contracts by the documented rule.
fn providers_of(m: &Market, line: &str, year: u16) -> BTreeMap<u8, BTreeSet<&'static str>> {
    let mut current: BTreeMap<(u8, usize, Option<u8>), usize> = BTreeMap::new();
    for r in &m.rows {
        if let Row::Price { member, line: l, provider, year: y, lot, .. } = r
            && LINES[*l] == line
            && *y == year
        {
            current.insert((*member, *provider, *lot), *provider);
        }
    }
    let mut out: BTreeMap<u8, BTreeSet<&str>> = BTreeMap::new();
    for ((member, _, _), p) in current {
        out.entry(member).or_default().insert(PROVIDERS[p]);
    }
    out
}

fn check_prices(m: &Market, cells: &[PriceCell]) -> Result<(), String> {
    let k = m.k as usize;
    for c in cells {
        let name = format!("{} {} {:?}", c.service_line, c.year, c.provider);
        let Some(s) = &c.stats else {
            if c.you.as_ref().is_some_and(|y| y.percentile.is_some() || y.gap.is_some()) {
                return Err(format!("{name}: withheld, yet your position compares"));
            }
            continue;
        };
        if c.members < k || !c.disclosure.shown() {
            return Err(format!("{name}: shown with {} members", c.members));
        }
        // What a cell may show by its members.
        let detail = Detail::for_members(c.members);
        let exact = [s.median, s.p25, s.p75].iter().filter(|x| x.is_some()).count();
        let extremes = [s.min, s.max, s.p90].iter().filter(|x| x.is_some()).count();
        match detail {
            Detail::Band if exact + extremes > 0 || s.median_band.is_none() => {
                return Err(format!("{name}: {} members but exact figures shown", c.members));
            }
            Detail::Quartiles if extremes > 0 => return Err(format!("{name}: min, max or p90 below 10 members")),
            _ => {}
        }
        if detail == Detail::Band && c.you.as_ref().is_some_and(|y| y.gap.is_some()) {
            return Err(format!("{name}: your gap gives the hidden median away"));
        }
        if c.provider.is_some() || c.basis != Basis::PerHead {
            continue;
        }
        // No provider knows all but 1..k−1 of the members.
        let by = providers_of(m, &c.service_line, c.year.0);
        for p in PROVIDERS {
            let others = by.values().filter(|ps| !(ps.len() == 1 && ps.contains(p))).count();
            if (1..k).contains(&others) {
                return Err(format!("{name}: {p} knows all but {others} members"));
            }
        }
        // The members outside the provider cells shown are none or at least k.
        let shown: BTreeSet<&str> = cells
            .iter()
            .filter(|x| x.service_line == c.service_line && x.year == c.year && x.basis == Basis::PerHead)
            .filter(|x| x.stats.is_some())
            .filter_map(|x| x.provider.as_deref())
            .collect();
        let outside = by.values().filter(|ps| !(ps.len() == 1 && ps.iter().all(|p| shown.contains(p)))).count();
        if (1..k).contains(&outside) {
            return Err(format!("{name}: {outside} members outside the provider cells shown"));
        }
    }
    Ok(())
}

/// Every answer shows a figure alike, and a filter never changes one.
fn check_answers_agree(d: &Dataset, ctx: &Ctx, cells: &[PriceCell], cards: &[Scorecard]) -> Result<(), String> {
    for p in PROVIDERS {
        for l in LINES {
            for y in [None, Some(FinancialYear(2024)), Some(FinancialYear(2025))] {
                let q = PriceQuery { service_line: Some(l.into()), provider: Some(p.into()), year: y };
                for c in prices(d, ctx, &q, &mut Rests::default()) {
                    if !cells.contains(&c) {
                        return Err(format!("filtered prices changed a cell: {c:?}"));
                    }
                }
            }
            let q = ProviderQuery { service_line: Some(l.into()), provider: Some(p.into()) };
            for c in scorecards(d, ctx, &q, &mut Rests::default()) {
                if !cards.contains(&c) {
                    return Err(format!("a filtered scorecard differs: {c:?}"));
                }
            }
        }
        for c in profile(d, ctx, p, &mut Rests::default()).scorecards {
            if !cards.contains(&c) {
                return Err(format!("provider show differs: {c:?}"));
            }
        }
    }
    let r = report(d, ctx, &mut Rests::default());
    for l in &r.lines {
        for x in l.top.iter().chain(&l.bottom) {
            let card = cards.iter().find(|c| c.service_line == l.service_line && c.provider == x.provider);
            if card.and_then(|c| c.overall) != Some(x.overall) {
                return Err(format!(
                    "the report scores {} {} {}, its scorecard not",
                    l.service_line, x.provider, x.overall
                ));
            }
        }
        if let Some(c) = &l.prices
            && !cells.contains(c)
        {
            return Err(format!("the report's prices differ: {c:?}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_withheld_figure_and_nothing_about_fewer_than_k_members_can_be_worked_out(m in market()) {
        let d = dataset(&m);
        let ctx = Ctx { me: org(0), k: m.k, max_share_bp: m.cap_bp, now_ms: NOW };
        let cells = prices(&d, &ctx, &PriceQuery::default(), &mut Rests::default());
        let cards = scorecards(&d, &ctx, &ProviderQuery::default(), &mut Rests::default());
        for card in &cards {
            if let Err(e) = attack(&m, card) {
                prop_assert!(false, "{} {}: {e}\n{card:#?}", card.service_line, card.provider);
            }
        }
        if let Err(e) = check_prices(&m, &cells) {
            prop_assert!(false, "{e}");
        }
        if let Err(e) = check_answers_agree(&d, &ctx, &cells, &cards) {
            prop_assert!(false, "{e}");
        }
    }
}

/// The attacker is not toothless: on the market the issue reported (one member alone in a year,
/// the overall and the other years shown) it solves the withheld year.
#[test]
fn the_attacker_finds_the_differencing_leak_when_nothing_is_suppressed() {
    let ratings: Vec<Rating> = [
        (0u8, 2023u16, 1.0),
        (1, 2024, 4.0),
        (2, 2024, 4.0),
        (3, 2024, 4.0),
        (4, 2025, 3.0),
        (5, 2025, 3.0),
        (6, 2025, 3.0),
    ]
    .iter()
    .map(|(member, year, value)| Rating { member: *member, year: *year, dim: 0, value: *value })
    .collect();
    let overall = equation(&ratings, &|_| true, true);
    let year = |y: u16| equation(&ratings, &|r| r.year == y, false);
    let shown = vec![overall.clone(), year(2024), year(2025)];
    assert!(in_span(&shown, &year(2023)), "overall − the years shown = the withheld year");
    assert!(!in_span(&[overall, year(2025)], &year(2023)), "with 2024/25 withheld too, it is not");
}
