//! What others pay, normalised per head (and per unit), and where the asking member stands.
//!
//! Every cell of every line in the dataset is computed and put through the disclosure rules
//! together ([`all`]); a question then picks cells, so a filter never changes what a cell holds.

use std::collections::{BTreeMap, BTreeSet};

use csx_protocol::body::{Price, PricingModel};
use csx_protocol::{FinancialYear, OrgKey, RecordId};
use serde::{Deserialize, Serialize};

use super::stats::{Detail, Disclosure, Distribution, Summary, percent_rank};
use super::{Ctx, Dataset, Item, Rests, latest_by, line_name, line_order};

/// VAT (standard rate) taken off prices disclosed with VAT, so all compare ex-VAT.
pub const VAT_RATE: f64 = 0.20;

/// Per-head prices below this (£) are flagged "check this figure": no commissioning support
/// line costs less than a penny a head (a typing slip such as `£1,2,3` for £1.2m gives this).
pub const MIN_PLAUSIBLE_PER_HEAD: f64 = 0.01;
/// Per-head prices above this (£) are flagged: all of commissioning support costs £5–£15 a head.
pub const MAX_PLAUSIBLE_PER_HEAD: f64 = 100.0;
/// A value this many times the cell's median (or this many times below it) is flagged.
pub const MEDIAN_FACTOR: f64 = 100.0;

/// Which prices to compare.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PriceQuery {
    #[serde(default)]
    pub service_line: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub year: Option<FinancialYear>,
}

/// What a statistic is per.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum Basis {
    /// £ per head of population covered.
    PerHead,
    /// £ per unit (only contracts priced per unit, one unit name per statistic).
    PerUnit { unit: String },
}

impl Basis {
    pub fn label(&self) -> String {
        match self {
            Basis::PerHead => "£/head".into(),
            Basis::PerUnit { unit } => format!("£/{unit}"),
        }
    }
}

/// Where a value lies against a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Below,
    Within,
    Above,
}

/// Where the asking member's own price stands in a statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The member's own value (£ per head or per unit).
    pub value: f64,
    /// Its percent rank among the values (when the statistic is shown).
    pub percentile: Option<f64>,
    /// Value minus median (£ per head or unit), where the cell shows its median.
    pub gap: Option<f64>,
    /// The gap as a percentage of the median.
    pub gap_pct: Option<f64>,
    /// The gap over a year at the member's population covered (pence; per-head statistics).
    pub gap_per_year_pence: Option<i64>,
    /// Where a cell shows only the band of its median: the value against that band.
    pub against_band: Option<Side>,
    /// Beyond the outlier fences.
    pub outlier: bool,
    /// Why the member should check its own figure ("check this figure"); it still counts.
    pub checks: Vec<String>,
    /// The position in words.
    pub summary: String,
}

/// One statistic: a service line (optionally one provider) in one year, on one basis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceCell {
    pub service_line: String,
    pub service_line_name: String,
    /// `None`: all providers.
    pub provider: Option<String>,
    pub provider_name: Option<String>,
    pub year: FinancialYear,
    #[serde(flatten)]
    pub basis: Basis,
    /// Disclosures behind it (each member's current contracts: latest per provider, line, year
    /// and contract reference).
    pub records: usize,
    /// Distinct members behind it.
    pub members: usize,
    pub disclosure: Disclosure,
    /// In pounds, as much as its member count allows; only when the disclosure rules allow.
    pub stats: Option<Distribution>,
    /// How many members' values in it look implausible ("check this figure"); they are counted
    /// in its figures. Only for a shown cell.
    pub checks: Option<usize>,
    pub you: Option<Position>,
}

/// A price disclosure's amount without VAT, in pence.
pub fn ex_vat_pence(p: &Price) -> f64 {
    let v = p.annual_value_pence as f64;
    if p.vat_included { v / (1.0 + VAT_RATE) } else { v }
}

/// `£360k`, `£1.2m`, `£950`: pence in short form for sentences.
pub fn short_pounds(pence: i64) -> String {
    let p = pence.unsigned_abs() as f64 / 100.0;
    let sign = if pence < 0 { "-" } else { "" };
    if p >= 1_000_000.0 {
        format!("{sign}£{:.1}m", p / 1_000_000.0)
    } else if p >= 10_000.0 {
        format!("{sign}£{:.0}k", p / 1_000.0)
    } else if p >= 1_000.0 {
        format!("{sign}£{:.1}k", p / 1_000.0)
    } else {
        format!("{sign}£{p:.0}")
    }
}

/// A cell's place: service line, year, provider (`None`: all), basis.
pub(crate) type CellKey = (String, FinancialYear, Option<String>, Basis);

/// One member's point in a cell: its current contracts in it, added up.
#[derive(Debug, Default)]
pub(crate) struct Point {
    pub pence: f64,
    /// The largest population its contracts cover (per head), or its units added up (per unit).
    pub denominator: f64,
    /// The populations its contracts cover.
    pub populations: BTreeSet<u64>,
    /// Who supplies those contracts: a provider that supplies all of them knows the point.
    pub providers: BTreeSet<String>,
}

impl Point {
    pub fn value(&self) -> Option<f64> {
        (self.denominator > 0.0).then(|| self.pence / self.denominator / 100.0)
    }
}

/// A cell before the disclosure rules: every member's point and the records behind them.
#[derive(Debug)]
pub(crate) struct RawCell {
    pub key: CellKey,
    pub points: BTreeMap<OrgKey, Point>,
    pub records: Vec<(RecordId, OrgKey)>,
}

impl RawCell {
    pub fn values(&self) -> Vec<(OrgKey, f64)> {
        self.points.iter().filter_map(|(o, p)| p.value().map(|v| (*o, v))).collect()
    }
}

/// A cell with the records it rests on.
pub(crate) type Backed<T> = (T, Vec<(RecordId, OrgKey)>);

/// Every member's current disclosures in `d` as cells: one per (line, year) over all providers,
/// per provider, and per unit name where contracts are priced per unit.
pub(crate) fn raw_cells(d: &Dataset) -> Vec<RawCell> {
    let current = latest_by(&d.prices, |it: &Item<Price>| {
        (it.org, it.body.provider.clone(), it.body.service_line.clone(), it.body.year, it.body.contract_key())
    });
    let mut cells: BTreeMap<CellKey, RawCell> = BTreeMap::new();
    for it in current {
        let p = &it.body;
        let pence = ex_vat_pence(p);
        let mut add = |provider: Option<String>, basis: Basis, denominator: f64| {
            let key = (p.service_line.clone(), p.year, provider, basis);
            let c = cells.entry(key.clone()).or_insert_with(|| RawCell {
                key,
                points: BTreeMap::new(),
                records: Vec::new(),
            });
            c.records.push((it.id, it.org));
            let point = c.points.entry(it.org).or_default();
            point.pence += pence;
            point.providers.insert(p.provider.clone());
            match &c.key.3 {
                // A member's contracts on one line add up: its total spend over the population
                // it covers (the largest of its contracts' populations).
                Basis::PerHead => {
                    point.denominator = point.denominator.max(denominator);
                    point.populations.insert(p.population_covered);
                }
                Basis::PerUnit { .. } => point.denominator += denominator,
            }
        };
        let pop = p.population_covered as f64;
        add(None, Basis::PerHead, pop);
        add(Some(p.provider.clone()), Basis::PerHead, pop);
        if p.pricing_model == PricingModel::PerUnit
            && let (Some(unit), Some(count)) = (&p.unit_name, p.unit_count)
        {
            add(None, Basis::PerUnit { unit: unit.trim().to_lowercase() }, count as f64);
        }
    }
    cells.into_values().filter(|c| !c.values().is_empty()).collect()
}

/// Every price cell in `d`, through the disclosure rules, with the records behind each, in
/// display order (line, newest year first, all providers first).
pub(crate) fn all(d: &Dataset, ctx: &Ctx) -> Vec<Backed<PriceCell>> {
    let raw = raw_cells(d);
    let rules = super::disclose::price_cells(d, ctx, &raw);
    let mut out: Vec<Backed<PriceCell>> =
        raw.into_iter().zip(rules).map(|(c, rule)| (render(d, ctx, &c, rule), c.records)).collect();
    out.sort_by(|(a, _), (b, _)| {
        (line_order(&a.service_line), std::cmp::Reverse(a.year), &a.provider, &a.basis).cmp(&(
            line_order(&b.service_line),
            std::cmp::Reverse(b.year),
            &b.provider,
            &b.basis,
        ))
    });
    out
}

/// Price statistics for `q`. A filter picks cells and never changes one: with `--provider`,
/// the provider's cells come with the whole market's cells (all providers) of the same lines
/// and years, for comparison (docs/QUERIES.md, "Filters").
pub fn prices(d: &Dataset, ctx: &Ctx, q: &PriceQuery, rests: &mut Rests) -> Vec<PriceCell> {
    let cells = all(d, ctx);
    let provider_years: BTreeSet<(String, FinancialYear)> = match &q.provider {
        Some(code) => cells
            .iter()
            .filter(|(c, _)| c.provider.as_ref() == Some(code))
            .map(|(c, _)| (c.service_line.clone(), c.year))
            .collect(),
        None => BTreeSet::new(),
    };
    cells
        .into_iter()
        .filter(|(c, _)| {
            q.service_line.as_ref().is_none_or(|l| *l == c.service_line)
                && q.year.is_none_or(|y| y == c.year)
                && match (&q.provider, &c.provider) {
                    (None, _) => true,
                    (Some(code), Some(p)) => code == p,
                    (Some(_), None) => provider_years.contains(&(c.service_line.clone(), c.year)),
                }
        })
        .map(|(c, backing)| {
            rests.add_all(&backing);
            c
        })
        .collect()
}

/// Why a member's value deserves a second look; `median` only where the cell shows it.
fn implausible(value: f64, basis: &Basis, median: Option<f64>) -> Option<String> {
    let unit = unit_suffix(basis);
    if *basis == Basis::PerHead && value < MIN_PLAUSIBLE_PER_HEAD {
        return Some(format!("check this figure: £{value:.4}{unit} is less than a penny a head"));
    }
    if *basis == Basis::PerHead && value > MAX_PLAUSIBLE_PER_HEAD {
        return Some(format!("check this figure: £{value:.2}{unit} is more than £100 a head"));
    }
    match median {
        Some(m) if m > 0.0 && value > m * MEDIAN_FACTOR => {
            Some(format!("check this figure: £{value:.2}{unit} is more than 100 times the median (£{m:.2})"))
        }
        Some(m) if m > 0.0 && value < m / MEDIAN_FACTOR => {
            Some(format!("check this figure: £{value:.4}{unit} is less than a hundredth of the median (£{m:.2})"))
        }
        _ => None,
    }
}

/// The answer form of a cell, showing what `rule` and its member count allow.
pub(crate) fn render(d: &Dataset, ctx: &Ctx, cell: &RawCell, rule: Disclosure) -> PriceCell {
    let (line, year, provider, basis) = cell.key.clone();
    let values = cell.values();
    let xs: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
    let median = Summary::of(&xs).map(|s| s.median);
    let stats = if rule.shown() { Distribution::of(&xs, Detail::for_members(xs.len())) } else { None };
    let checks = stats.as_ref().map(|_| xs.iter().filter(|v| implausible(**v, &basis, median).is_some()).count());
    let what = match &provider {
        Some(code) => format!("{} from {}", line_name(&line), d.provider_name(code)),
        None => line_name(&line),
    };
    let you = cell.points.get(&ctx.me).and_then(|point| {
        let value = point.value()?;
        let mut notes: Vec<String> =
            implausible(value, &basis, stats.as_ref().and(median)).into_iter().collect();
        if basis == Basis::PerHead && point.populations.len() > 1 {
            let pops: Vec<String> = point.populations.iter().map(|p| p.to_string()).collect();
            notes.push(format!(
                "check this figure: your contracts here cover different populations ({}); csx divides their total by the largest",
                pops.join(", ")
            ));
        }
        let population = if basis == Basis::PerHead { point.denominator as u64 } else { 0 };
        Some(position(value, &rule, stats.as_ref(), &xs, &basis, population, &what, year, notes))
    });
    PriceCell {
        service_line_name: line_name(&line),
        provider_name: provider.as_deref().map(|c| d.provider_name(c)),
        service_line: line,
        provider,
        year,
        basis,
        records: cell.records.len(),
        members: xs.len(),
        disclosure: rule,
        stats,
        checks,
        you,
    }
}

#[allow(clippy::too_many_arguments)]
fn position(
    value: f64,
    rule: &Disclosure,
    stats: Option<&Distribution>,
    values: &[f64],
    basis: &Basis,
    population: u64,
    what: &str,
    year: FinancialYear,
    checks: Vec<String>,
) -> Position {
    let unit = unit_suffix(basis);
    let mut p = Position {
        value,
        percentile: None,
        gap: None,
        gap_pct: None,
        gap_per_year_pence: None,
        against_band: None,
        outlier: false,
        checks,
        summary: String::new(),
    };
    let Some(s) = stats else {
        p.summary =
            format!("You pay £{value:.2}{unit} for {what} in {year}; no market figure to compare: {}.", rule.explain());
        return p;
    };
    p.percentile = Some(percent_rank(values, value));
    if let Some([low, high]) = s.median_band {
        let side = if value < low {
            Side::Below
        } else if value >= high {
            Side::Above
        } else {
            Side::Within
        };
        p.against_band = Some(side);
        let words = match side {
            Side::Below => "below the median",
            Side::Within => "about the median",
            Side::Above => "above the median",
        };
        p.summary = format!(
            "You pay £{value:.2}{unit} for {what} in {year}: {words}, which lies between £{low:.2} and £{high:.2} ({} members; exact figures are shown from {}).",
            s.n,
            super::stats::QUARTILES_FROM
        );
        return p;
    }
    let Some(median) = s.median else { return p };
    let gap = value - median;
    p.gap = Some(gap);
    p.gap_pct = (median > 0.0).then(|| 100.0 * gap / median);
    p.gap_per_year_pence =
        (*basis == Basis::PerHead && population > 0).then(|| (gap * population as f64 * 100.0).round() as i64);
    p.outlier = s.is_outlier(value);
    p.summary = if gap.abs() < 0.005 {
        format!("You pay the median for {what} in {year}.")
    } else {
        let dir = if gap > 0.0 { "above" } else { "below" };
        let pct = p.gap_pct.map(|x| format!("{:.0}% ", x.abs())).unwrap_or_default();
        let year_part = p.gap_per_year_pence.map(|x| format!(", {} a year", short_pounds(x.abs()))).unwrap_or_default();
        format!(
            "You pay {pct}(£{:.2}{unit}{year_part}) {dir} the median for {what} in {year}{}.",
            gap.abs(),
            if p.outlier { " — outside the usual range" } else { "" }
        )
    };
    p
}

fn unit_suffix(basis: &Basis) -> String {
    match basis {
        Basis::PerHead => "/head".into(),
        Basis::PerUnit { unit } => format!("/{unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, org, price};

    fn ctx(me: u8) -> Ctx {
        Ctx { me: org(me), k: 3, max_share_bp: 5000, now_ms: 1_750_000_000_000 }
    }

    fn cells(d: &Dataset, me: u8) -> Vec<PriceCell> {
        prices(d, &ctx(me), &PriceQuery::default(), &mut Rests::default())
    }

    fn cell<'a>(cells: &'a [PriceCell], provider: Option<&str>) -> &'a PriceCell {
        cells.iter().find(|c| c.provider.as_deref() == provider && c.basis == Basis::PerHead).expect("cell")
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn per_head_statistics_and_your_position_by_hand() {
        // Five members pay £1, £2, £3, £4 and £10 per head for contracting (population 100,000).
        let mut d = dataset(5);
        for (i, pounds) in [1u64, 2, 3, 4, 10].iter().enumerate() {
            d.prices.push(price(i as u8, "0DE", "CONTRACT", 2024, pounds * 100_000 * 100, 100_000, 1));
        }
        let cells = cells(&d, 1);
        let all = cell(&cells, None);
        assert_eq!((all.members, all.records, all.disclosure.clone()), (5, 5, Disclosure::Shown));
        let s = all.stats.as_ref().expect("shown: 5 members >= 3");
        // Five members: median and quartiles, not min, max or p90 (docs: "What a cell may show").
        // Ranks 2, 3 and 4: p25 £2, median £3, p75 £4; IQR 2, fences −1 and 7: £10 is an outlier.
        assert_eq!((s.detail, s.p25, s.median, s.p75), (Detail::Quartiles, Some(2.0), Some(3.0), Some(4.0)));
        assert_eq!((s.min, s.max, s.p90, s.outliers), (None, None, None, Some(1)));
        // Member 1 pays £2: £1 (33%) below the median; 1 value below it and itself → 1.5 of 5 = 30.
        let you = all.you.as_ref().expect("member 1 disclosed");
        assert!(close(you.gap, -1.0) && close(you.percentile, 30.0));
        assert!(close(you.gap_pct, -100.0 / 3.0));
        assert_eq!(you.gap_per_year_pence, Some(-10_000_000), "£1 × 100,000 heads = £100,000 a year");
        assert_eq!(you.summary, "You pay 33% (£1.00/head, £100k a year) below the median for Contracting in 2024/25.");
        assert!(you.checks.is_empty() && all.checks == Some(0));
    }

    #[test]
    fn fewer_than_k_members_is_suppressed_and_says_so() {
        let mut d = dataset(3);
        d.prices.push(price(0, "0DE", "BI", 2024, 30_000_000, 300_000, 1));
        d.prices.push(price(1, "0DE", "BI", 2024, 45_000_000, 300_000, 1));
        let cells = cells(&d, 0);
        assert_eq!(cells[0].disclosure, Disclosure::TooFewMembers { members: 2, k: 3 });
        assert!(cells[0].stats.is_none() && cells[0].checks.is_none(), "never leak two members' prices");
        let you = cells[0].you.as_ref().expect("own value is still shown to its owner");
        assert!(you.percentile.is_none());
        assert_eq!(
            you.summary,
            "You pay £1.00/head for Business intelligence in 2024/25; no market figure to compare: not enough data (2 of 3 members)."
        );
    }

    #[test]
    fn a_small_cell_shows_the_band_of_its_median_and_where_you_are_against_it() {
        // £0.80, £1.18 and £1.35 a head: the median (£1.18) lies in the band £1.00–£1.25.
        let mut d = dataset(3);
        for (i, pence) in [8_000_000u64, 11_800_000, 13_500_000].iter().enumerate() {
            d.prices.push(price(i as u8, "0DE", "BI", 2024, *pence, 100_000, 1));
        }
        let cells = cells(&d, 2);
        let c = cell(&cells, None);
        let s = c.stats.as_ref().expect("three members: shown, as a band");
        assert_eq!(
            (s.detail, s.median, s.median_band, s.min, s.p25),
            (Detail::Band, None, Some([1.0, 1.25]), None, None)
        );
        let you = c.you.as_ref().expect("member 2");
        assert_eq!((you.against_band, you.gap), (Some(Side::Above), None));
        assert_eq!(
            you.summary,
            "You pay £1.35/head for Business intelligence in 2024/25: above the median, which lies between £1.00 and £1.25 (3 members; exact figures are shown from 5)."
        );
    }

    #[test]
    fn a_member_with_many_contracts_is_one_point_and_so_never_dominates_a_price() {
        // Member 0 buys BI from four providers, members 1–3 from one each: the all-provider cell
        // has four points, one per member (each a quarter of the statistic), so the cap cannot
        // bite. Member 0's point: £(2 + 2 + 2 + 2)m over its largest population (1m) = £8/head.
        let mut d = dataset(4);
        for code in ["0DE", "0AR", "0CX", "0DF"] {
            d.prices.push(price(0, code, "BI", 2024, 200_000_000, 1_000_000, 1));
        }
        for (i, code) in [(1u8, "0AR"), (2, "0CX"), (3, "0DF")] {
            d.prices.push(price(i, code, "BI", 2024, 30_000_000, 100_000, 1));
        }
        let cells = cells(&d, 0);
        let all = cell(&cells, None);
        assert_eq!((all.records, all.members, all.disclosure.clone()), (7, 4, Disclosure::Shown));
        assert!(close(all.you.as_ref().map(|y| y.value), 8.0), "£8m over 1m heads");
    }

    #[test]
    fn a_provider_that_supplies_all_but_a_few_members_does_not_get_their_prices() {
        // Four members buy BI only from 0DE, one from 0AR: 0DE knows four of the five values,
        // and the whole market's figures would tell it about the fifth.
        let mut d = dataset(5);
        for i in 0..4u8 {
            d.prices.push(price(i, "0DE", "BI", 2024, 10_000_000 * (i as u64 + 1), 100_000, 1));
        }
        d.prices.push(price(4, "0AR", "BI", 2024, 25_000_000, 100_000, 1));
        let cells = cells(&d, 0);
        let all = cell(&cells, None);
        assert_eq!(
            all.disclosure,
            Disclosure::ProviderKnowsRest {
                provider: "NHS Arden and Greater East Midlands CSU (AGEM)".into(),
                others: 1,
                k: 3
            }
        );
        assert_eq!(all.disclosure.explain(), "not shown: one provider supplies all but 1 of its members");
        assert!(all.stats.is_none());
        // Two more 0AR customers: 0DE then knows four of seven, the other three are safe.
        d = dataset(7);
        for i in 0..4u8 {
            d.prices.push(price(i, "0DE", "BI", 2024, 10_000_000, 100_000, 1));
        }
        for i in 4..7u8 {
            d.prices.push(price(i, "0AR", "BI", 2024, 25_000_000, 100_000, 1));
        }
        assert!(cell(&cells_of(&d), None).stats.is_some());
    }

    fn cells_of(d: &Dataset) -> Vec<PriceCell> {
        cells(d, 0)
    }

    #[test]
    fn provider_cells_are_withheld_with_one_another_so_the_whole_market_does_not_give_a_withheld_one_away() {
        // 0AR: members 0–2; 0DE: members 3–5; 0CX: member 6 alone (withheld). Only one member of
        // the whole-market cell lies outside the provider cells shown: with 0AR's and 0DE's
        // figures and the market's, it could be pinned on 0CX's one customer. So the smaller
        // (tied: the first by code) shown provider cell is withheld too: now four lie outside.
        let mut d = dataset(7);
        for i in 0..7u8 {
            let code = ["0AR", "0DE", "0CX"][(i / 3) as usize];
            d.prices.push(price(i, code, "BI", 2024, 10_000_000 + i as u64 * 1_000_000, 100_000, 1));
        }
        let cells = cells(&d, 0);
        assert!(cell(&cells, None).stats.is_some());
        assert_eq!(cell(&cells, Some("0CX")).disclosure, Disclosure::TooFewMembers { members: 1, k: 3 });
        assert_eq!(
            cell(&cells, Some("0AR")).disclosure,
            Disclosure::Complementary { protects: "what the 1 member outside the providers shown pays".into() }
        );
        assert!(cell(&cells, Some("0AR")).stats.is_none() && cell(&cells, Some("0DE")).stats.is_some());
        assert_eq!(cell(&cells, Some("0AR")).disclosure.explain(), "not shown: it would give away a withheld figure");
    }

    #[test]
    fn a_provider_filter_picks_cells_and_never_changes_one() {
        // 0DE has three customers, 0AR, 0CX and 0DF one each: the market cell (six members) is
        // shown; asked about 0AR, the answer is 0AR's (withheld) cell and that same market cell
        // — not a market made of 0AR's one disclosure.
        let mut d = dataset(6);
        for i in 0..6u8 {
            let code = ["0DE", "0DE", "0DE", "0AR", "0CX", "0DF"][i as usize];
            d.prices.push(price(i, code, "BI", 2024, 10_000_000 * (i as u64 + 1), 100_000, 1));
        }
        let whole = cells(&d, 0);
        let q = PriceQuery { provider: Some("0AR".into()), ..Default::default() };
        let mut rests = Rests::default();
        let picked = prices(&d, &ctx(0), &q, &mut rests);
        assert_eq!(picked.len(), 2);
        assert_eq!(cell(&picked, None), cell(&whole, None), "the market cell is the whole market's");
        assert_eq!(cell(&picked, None).members, 6);
        assert!(cell(&picked, Some("0AR")).stats.is_none());
        assert_eq!((rests.records(), rests.members()), (6, 6), "what the picked cells rest on");
        // Line and year filters pick whole cells too.
        let q = PriceQuery { service_line: Some("BI".into()), year: Some(FinancialYear(2024)), provider: None };
        assert_eq!(prices(&d, &ctx(0), &q, &mut Rests::default()), whole);
    }

    #[test]
    fn contracts_told_apart_by_reference_add_up_to_one_point() {
        // Member 0 has two lots with 0DE for BI 2024/25 (£100k and £50k, both for its 100,000
        // people) and revised lot 1 later to £120k: its point is (£120k + £50k) / 100,000 = £1.70.
        let mut d = dataset(3);
        let lot = |r: &str, pence: u64, at: u64, n: u8| {
            let mut p = price(0, "0DE", "BI", 2024, pence, 100_000, at);
            p.body.contract_ref = Some(r.into());
            p.id = crate::query::tests::id(1, 0, at * 10 + n as u64);
            p
        };
        d.prices.extend([
            lot("Lot 1", 10_000_000, 1, 0),
            lot("Lot 2", 5_000_000, 1, 1),
            lot("LOT 1", 12_000_000, 2, 0),
        ]);
        d.prices.push(price(1, "0DE", "BI", 2024, 10_000_000, 100_000, 1));
        d.prices.push(price(2, "0DE", "BI", 2024, 20_000_000, 100_000, 1));
        let cells = cells(&d, 0);
        let all = cell(&cells, None);
        assert_eq!((all.records, all.members), (4, 3));
        assert!(close(all.you.as_ref().map(|y| y.value), 1.7));
    }

    #[test]
    fn rows_written_at_one_time_supersede_in_file_order_not_by_id() {
        // One import wrote member 0's disclosure twice at the same moment: the row written second
        // (later in its feed) is the current one, whatever the records' ids.
        let mut d = dataset(3);
        let mut first = price(0, "0DE", "BI", 2024, 40_000_000, 100_000, 5);
        let mut second = price(0, "0DE", "BI", 2024, 10_000_000, 100_000, 5);
        (first.seq, second.seq) = (7, 8);
        (first.id, second.id) = (crate::query::tests::id(1, 0, 99), crate::query::tests::id(1, 0, 1));
        assert!(first.id > second.id, "the first row has the greater id");
        d.prices.extend([first, second]);
        d.prices.push(price(1, "0DE", "BI", 2024, 20_000_000, 100_000, 1));
        d.prices.push(price(2, "0DE", "BI", 2024, 30_000_000, 100_000, 1));
        let cells = cells(&d, 0);
        assert!(close(cell(&cells, None).you.as_ref().map(|y| y.value), 1.0), "the second row: £1.00/head");
    }

    #[test]
    fn vat_is_taken_off_and_per_unit_prices_are_their_own_statistic() {
        let mut d = dataset(5);
        for i in 0..5u8 {
            let mut p = price(i, "0AR", "HR", 2024, 600_000 * (i as u64 + 1), 200_000, 1);
            p.body.vat_included = i == 4;
            p.body.pricing_model = PricingModel::PerUnit;
            p.body.unit_name = Some("Payslip".into());
            p.body.unit_count = Some(1_000);
            d.prices.push(p);
        }
        let cells = cells(&d, 4);
        let unit =
            cells.iter().find(|c| matches!(&c.basis, Basis::PerUnit { unit } if unit == "payslip")).expect("per unit");
        let s = unit.stats.as_ref().expect("shown");
        // £6, £12, £18, £24 and £30 with VAT → £25 ex VAT per payslip: p25 £12, median £18, p75 £24.
        assert_eq!((s.p25, s.median, s.p75), (Some(12.0), Some(18.0), Some(24.0)));
        assert!(close(unit.you.as_ref().map(|y| y.value), 25.0));
        assert!(cells.iter().any(|c| c.basis == Basis::PerHead), "per-head statistics stay separate");
    }

    #[test]
    fn implausible_figures_are_flagged_and_still_counted() {
        // Member 0 typed `£1,2,3` and saved £123 for a 300,000 population: £0.0004 a head.
        let mut d = dataset(5);
        d.prices.push(price(0, "0DE", "BI", 2024, 12_300, 300_000, 1));
        for i in 1..5u8 {
            d.prices.push(price(i, "0DE", "BI", 2024, i as u64 * 100 * 100_000, 100_000, 1));
        }
        let mine = cells(&d, 0);
        let all = cell(&mine, None);
        assert_eq!((all.members, all.checks), (5, Some(1)), "counted in the figures, and flagged");
        assert_eq!(all.stats.as_ref().and_then(|s| s.median), Some(2.0), "£0.0004, £1, £2, £3, £4");
        let you = all.you.as_ref().expect("member 0");
        assert_eq!(you.checks, ["check this figure: £0.0004/head is less than a penny a head"]);
        // Member 4 pays £90 a head (typed in pence?): within £100, but over 100 × the median £0.70.
        let mut d = dataset(5);
        for (i, pence) in [5_000_000u64, 6_000_000, 7_000_000, 8_000_000, 900_000_000].iter().enumerate() {
            d.prices.push(price(i as u8, "0DE", "BI", 2024, *pence, 100_000, 1));
        }
        let theirs = cells(&d, 4);
        let you = cell(&theirs, None).you.as_ref().expect("member 4");
        assert_eq!(you.checks, ["check this figure: £90.00/head is more than 100 times the median (£0.70)"]);
        assert_eq!(cell(&cells(&d, 0), None).you.as_ref().map(|y| y.checks.len()), Some(0));
        // A member whose contracts in a cell cover different populations is told how csx divides.
        let mut d = dataset(3);
        d.prices.push(price(0, "0DE", "BI", 2024, 10_000_000, 100_000, 1));
        let mut other = price(0, "0DE", "BI", 2024, 10_000_000, 250_000, 1);
        other.body.contract_ref = Some("North".into());
        d.prices.push(other);
        let c = cells(&d, 0);
        let you = c[0].you.as_ref().expect("member 0");
        assert_eq!(you.value, 0.8, "£200k over the larger population, 250,000");
        assert!(you.checks[0].contains("different populations (100000, 250000)"), "{:?}", you.checks);
    }

    #[test]
    fn short_money() {
        assert_eq!(short_pounds(36_000_000), "£360k");
        assert_eq!(short_pounds(120_000_000), "£1.2m");
        assert_eq!(short_pounds(-95_000), "-£950");
        assert_eq!(short_pounds(250_000), "£2.5k");
    }
}
