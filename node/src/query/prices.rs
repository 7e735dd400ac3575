//! What others pay, normalised per head (and per unit), and where the asking member stands.

use std::collections::BTreeMap;

use csx_protocol::body::{Price, PricingModel};
use csx_protocol::{FinancialYear, OrgKey};
use serde::{Deserialize, Serialize};

use super::stats::{Disclosure, Summary, disclosure, percent_rank};
use super::{Ctx, Dataset, Item, Rests, latest_by, line_name, line_order};

/// VAT (standard rate) taken off prices disclosed with VAT, so all compare ex-VAT.
pub const VAT_RATE: f64 = 0.20;

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

/// Where the asking member's own price stands in a statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The member's own value (£ per head or per unit).
    pub value: f64,
    /// Its percent rank among the values (when the statistic is shown).
    pub percentile: Option<f64>,
    /// Value minus median (£ per head or unit).
    pub gap: Option<f64>,
    /// The gap as a percentage of the median.
    pub gap_pct: Option<f64>,
    /// The gap over a year at the member's population covered (pence; per-head statistics).
    pub gap_per_year_pence: Option<i64>,
    /// Beyond the outlier fences.
    pub outlier: bool,
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
    /// Disclosures behind it (the latest per member, provider, line and year).
    pub records: usize,
    /// Distinct members behind it.
    pub members: usize,
    pub disclosure: Disclosure,
    /// In pounds; only when the disclosure rule allows.
    pub stats: Option<Summary>,
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

#[derive(Default)]
struct Cell {
    /// The member behind each disclosure (the disclosure rule counts these data points).
    contributors: Vec<OrgKey>,
    /// Per member: (total value in pence, total denominator) — one point per member.
    points: BTreeMap<OrgKey, (f64, f64)>,
    /// Population the member's own contracts cover (for £ a year).
    my_population: u64,
}

/// Price statistics for `q`, one cell per (line, year) over all providers, per provider, and per
/// unit where contracts are priced per unit.
pub fn prices(d: &Dataset, ctx: &Ctx, q: &PriceQuery, rests: &mut Rests) -> Vec<PriceCell> {
    let current = latest_by(&d.prices, |it: &Item<Price>| {
        (it.org, it.body.provider.clone(), it.body.service_line.clone(), it.body.year)
    });
    let mut cells: BTreeMap<(String, FinancialYear, Option<String>, Basis), Cell> = BTreeMap::new();
    for it in current {
        let p = &it.body;
        if q.service_line.as_ref().is_some_and(|l| *l != p.service_line)
            || q.provider.as_ref().is_some_and(|c| *c != p.provider)
            || q.year.is_some_and(|y| y != p.year)
        {
            continue;
        }
        rests.add(it);
        let pence = ex_vat_pence(p);
        let mut add = |provider: Option<String>, basis: Basis, denominator: f64, population: u64| {
            let c = cells.entry((p.service_line.clone(), p.year, provider, basis)).or_default();
            c.contributors.push(it.org);
            let e = c.points.entry(it.org).or_insert((0.0, 0.0));
            // A member's contracts on one line add up: its total spend over the population it
            // covers (the largest of its contracts' populations).
            e.0 += pence;
            e.1 = if denominator > 0.0 && population > 0 { e.1.max(denominator) } else { e.1 + denominator };
            if it.org == ctx.me {
                c.my_population = c.my_population.max(population);
            }
        };
        let pop = p.population_covered as f64;
        add(None, Basis::PerHead, pop, p.population_covered);
        add(Some(p.provider.clone()), Basis::PerHead, pop, p.population_covered);
        if p.pricing_model == PricingModel::PerUnit
            && let (Some(unit), Some(count)) = (&p.unit_name, p.unit_count)
        {
            let unit = unit.trim().to_lowercase();
            let c = cells.entry((p.service_line.clone(), p.year, None, Basis::PerUnit { unit })).or_default();
            c.contributors.push(it.org);
            let e = c.points.entry(it.org).or_insert((0.0, 0.0));
            e.0 += pence;
            e.1 += count as f64;
        }
    }
    let mut out: Vec<PriceCell> = cells
        .into_iter()
        .filter_map(|((line, year, provider, basis), cell)| {
            let values: Vec<(OrgKey, f64)> = cell
                .points
                .iter()
                .filter(|(_, (_, den))| *den > 0.0)
                .map(|(org, (pence, den))| (*org, pence / den / 100.0))
                .collect();
            if values.is_empty() {
                return None;
            }
            let rule = disclosure(&cell.contributors, ctx.k, ctx.max_share_bp);
            let xs: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
            let stats = if rule.shown() { Summary::of(&xs) } else { None };
            let mine = values.iter().find(|(o, _)| *o == ctx.me).map(|(_, v)| *v);
            let what = match &provider {
                Some(code) => format!("{} from {}", line_name(&line), d.provider_name(code)),
                None => line_name(&line),
            };
            let you = mine.map(|value| position(value, stats.as_ref(), &xs, &basis, cell.my_population, &what, year));
            Some(PriceCell {
                service_line_name: line_name(&line),
                provider_name: provider.as_deref().map(|c| d.provider_name(c)),
                service_line: line,
                provider,
                year,
                basis,
                records: cell.contributors.len(),
                members: values.len(),
                disclosure: rule,
                stats,
                you,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (line_order(&a.service_line), std::cmp::Reverse(a.year), &a.provider, &a.basis).cmp(&(
            line_order(&b.service_line),
            std::cmp::Reverse(b.year),
            &b.provider,
            &b.basis,
        ))
    });
    out
}

fn position(
    value: f64,
    stats: Option<&Summary>,
    values: &[f64],
    basis: &Basis,
    population: u64,
    what: &str,
    year: FinancialYear,
) -> Position {
    let Some(s) = stats else {
        return Position {
            value,
            percentile: None,
            gap: None,
            gap_pct: None,
            gap_per_year_pence: None,
            outlier: false,
            summary: format!(
                "You pay £{value:.2}{} for {what} in {year}; too few members' disclosures to compare.",
                unit_suffix(basis)
            ),
        };
    };
    let gap = value - s.median;
    let gap_pct = (s.median > 0.0).then(|| 100.0 * gap / s.median);
    let per_year =
        (*basis == Basis::PerHead && population > 0).then(|| (gap * population as f64 * 100.0).round() as i64);
    let outlier = s.is_outlier(value);
    let summary = if gap.abs() < 0.005 {
        format!("You pay the median for {what} in {year}.")
    } else {
        let dir = if gap > 0.0 { "above" } else { "below" };
        let pct = gap_pct.map(|p| format!("{:.0}% ", p.abs())).unwrap_or_default();
        let year_part = per_year.map(|p| format!(", {} a year", short_pounds(p.abs()))).unwrap_or_default();
        format!(
            "You pay {pct}(£{:.2}{}{year_part}) {dir} the median for {what} in {year}{}.",
            gap.abs(),
            unit_suffix(basis),
            if outlier { " — outside the usual range" } else { "" }
        )
    };
    Position {
        value,
        percentile: Some(percent_rank(values, value)),
        gap: Some(gap),
        gap_pct,
        gap_per_year_pence: per_year,
        outlier,
        summary,
    }
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

    #[test]
    fn per_head_statistics_and_your_position_by_hand() {
        // Four members pay £1, £2, £3 and £10 per head for contracting (population 100,000).
        let mut d = dataset(4);
        for (i, pounds) in [1u64, 2, 3, 10].iter().enumerate() {
            d.prices.push(price(i as u8, "0DE", "CONTRACT", 2024, pounds * 100_000 * 100, 100_000, 1));
        }
        let cells = prices(&d, &ctx(1), &PriceQuery::default(), &mut Rests::default());
        let all = &cells[0];
        assert_eq!((all.provider.as_deref(), all.members, all.records), (None, 4, 4));
        let s = all.stats.as_ref().expect("shown: 4 members >= 3");
        // 1, 2, 3, 10: median 2.5, p25 1.75, p75 4.75, IQR 3 → fences −2.75 and 9.25: 10 is an outlier.
        assert!((s.median - 2.5).abs() < 1e-9 && (s.p25 - 1.75).abs() < 1e-9 && (s.p75 - 4.75).abs() < 1e-9);
        assert_eq!(s.outliers, 1);
        // Member 1 pays £2: 0.5 below the median, 20% below; 25% of 4 values below plus half a tie → 37.5.
        let you = all.you.as_ref().expect("member 1 disclosed");
        assert!((you.gap.expect("gap") + 0.5).abs() < 1e-9);
        assert!((you.gap_pct.expect("pct") + 20.0).abs() < 1e-9);
        assert!((you.percentile.expect("pct rank") - 37.5).abs() < 1e-9);
        assert_eq!(you.gap_per_year_pence, Some(-5_000_000), "£0.50 × 100,000 heads = £50,000 a year");
        assert_eq!(you.summary, "You pay 20% (£0.50/head, £50k a year) below the median for Contracting in 2024/25.");
    }

    #[test]
    fn fewer_than_k_members_is_suppressed_and_says_so() {
        let mut d = dataset(3);
        d.prices.push(price(0, "0DE", "BI", 2024, 30_000_000, 300_000, 1));
        d.prices.push(price(1, "0DE", "BI", 2024, 45_000_000, 300_000, 1));
        let cells = prices(&d, &ctx(0), &PriceQuery::default(), &mut Rests::default());
        assert_eq!(cells[0].disclosure, Disclosure::TooFewMembers { members: 2, k: 3 });
        assert!(cells[0].stats.is_none(), "never leak two members' prices through a statistic");
        let you = cells[0].you.as_ref().expect("own value is still shown to its owner");
        assert!(you.percentile.is_none() && you.summary.contains("too few members"));
    }

    #[test]
    fn one_member_supplying_most_disclosures_is_suppressed() {
        // Member 0 buys BI from four providers; members 1 and 2 from one each: 4 of 6 points.
        let mut d = dataset(3);
        for code in ["0DE", "0AR", "0CX", "0DF"] {
            d.prices.push(price(0, code, "BI", 2024, 20_000_000, 100_000, 1));
        }
        d.prices.push(price(1, "0DE", "BI", 2024, 30_000_000, 100_000, 1));
        d.prices.push(price(2, "0DE", "BI", 2024, 40_000_000, 100_000, 1));
        let cells = prices(&d, &ctx(1), &PriceQuery::default(), &mut Rests::default());
        let all = cells.iter().find(|c| c.provider.is_none()).expect("all providers");
        assert_eq!(all.disclosure, Disclosure::Dominated { share_bp: 6666, limit_bp: 5000 });
        assert!(all.stats.is_none());
        assert_eq!(all.disclosure.explain(), "not shown: one member supplies 66% of the data (limit 50%)");
        // 0DE alone has one point from each of the three members: shown.
        let de = cells.iter().find(|c| c.provider.as_deref() == Some("0DE")).expect("0DE");
        assert!(de.stats.is_some());
    }

    #[test]
    fn only_the_latest_disclosure_of_a_member_counts() {
        let mut d = dataset(3);
        d.prices.push(price(0, "0DE", "BI", 2024, 10_000_000, 100_000, 1)); // £1/head, superseded
        d.prices.push(price(0, "0DE", "BI", 2024, 40_000_000, 100_000, 2)); // £4/head, later
        d.prices.push(price(1, "0DE", "BI", 2024, 20_000_000, 100_000, 1));
        d.prices.push(price(2, "0DE", "BI", 2024, 30_000_000, 100_000, 1));
        let cells = prices(&d, &ctx(0), &PriceQuery::default(), &mut Rests::default());
        let s = cells[0].stats.as_ref().expect("shown");
        assert_eq!((cells[0].records, s.min, s.max), (3, 2.0, 4.0));
    }

    #[test]
    fn vat_is_taken_off_and_per_unit_prices_are_their_own_statistic() {
        let mut d = dataset(3);
        for i in 0..3u8 {
            let mut p = price(i, "0AR", "HR", 2024, 600_000 * (i as u64 + 1), 200_000, 1);
            p.body.vat_included = i == 2;
            p.body.pricing_model = PricingModel::PerUnit;
            p.body.unit_name = Some("Payslip".into());
            p.body.unit_count = Some(1_000);
            d.prices.push(p);
        }
        let cells = prices(
            &d,
            &ctx(0),
            &PriceQuery { service_line: Some("HR".into()), ..Default::default() },
            &mut Rests::default(),
        );
        let unit =
            cells.iter().find(|c| matches!(&c.basis, Basis::PerUnit { unit } if unit == "payslip")).expect("per unit");
        let s = unit.stats.as_ref().expect("shown");
        // £6, £12 and £18 with VAT → £15 ex VAT per payslip.
        assert!((s.min - 6.0).abs() < 1e-9 && (s.median - 12.0).abs() < 1e-9 && (s.max - 15.0).abs() < 1e-9);
        assert!(cells.iter().any(|c| c.basis == Basis::PerHead), "per-head statistics stay separate");
    }

    #[test]
    fn short_money() {
        assert_eq!(short_pounds(36_000_000), "£360k");
        assert_eq!(short_pounds(120_000_000), "£1.2m");
        assert_eq!(short_pounds(-95_000), "-£950");
        assert_eq!(short_pounds(250_000), "£2.5k");
    }
}
