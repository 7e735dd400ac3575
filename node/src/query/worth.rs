//! What acting together is worth: the federation's total paid a year above each service line's
//! median price per head (docs/QUERIES.md, "What acting together is worth").
//!
//! For each line, the latest financial year with disclosures: the all-provider per-head cell of
//! that year ([`super::prices::all`], through every disclosure rule). Where that cell shows its
//! exact median (from 5 members), the line's figure is the sum, over the members paying more
//! than the median, of (their £ per head − the median) × the population their contracts cover.
//! Where the cell is withheld or shows only a band, the line's figure is withheld, and the
//! federation's total adds the shown lines only — it says how many lines it leaves out, so no
//! withheld line's figure can be worked out from the total.

use std::collections::BTreeMap;

use csx_protocol::FinancialYear;
use serde::{Deserialize, Serialize};

use super::prices::{Basis, CellKey, RawCell};
use super::stats::{Disclosure, Summary};
use super::{Ctx, Dataset, Rests, line_name, line_order};

/// One line's figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineWorth {
    pub service_line: String,
    pub service_line_name: String,
    pub year: FinancialYear,
    pub members: usize,
    pub disclosure: Disclosure,
    /// The median £ per head (when shown).
    pub median: Option<f64>,
    /// Members paying above it (when shown).
    pub above: Option<usize>,
    /// Paid a year above the median, in pence (when shown).
    pub above_median_pence: Option<u64>,
}

/// The federation's figure: per line, and in all over the lines shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worth {
    pub lines: Vec<LineWorth>,
    /// The sum over the lines shown (pence a year).
    pub total_pence: u64,
    pub lines_shown: usize,
    pub lines_withheld: usize,
}

/// Why a line's figure is withheld when its cell is shown with a band only.
fn band_only(members: usize) -> Disclosure {
    Disclosure::TooFewMembers { members, k: super::stats::QUARTILES_FROM as u16 }
}

pub fn worth(d: &Dataset, ctx: &Ctx, rests: &mut Rests) -> Worth {
    let raw = super::prices::raw_cells(d);
    let rules = super::disclose::price_cells(d, ctx, &raw);
    // Each line's latest year, its all-provider per-head cell.
    let mut latest: BTreeMap<(usize, String), (&RawCell, &Disclosure)> = BTreeMap::new();
    for (c, rule) in raw.iter().zip(&rules) {
        let (line, year, provider, basis): &CellKey = &c.key;
        if provider.is_some() || *basis != Basis::PerHead {
            continue;
        }
        let e = latest.entry(line_order(line)).or_insert((c, rule));
        if year > &e.0.key.1 {
            *e = (c, rule);
        }
    }
    let mut out = Worth { lines: Vec::new(), total_pence: 0, lines_shown: 0, lines_withheld: 0 };
    for ((_, line), (cell, rule)) in latest {
        let points: Vec<(f64, f64)> =
            cell.points.values().filter_map(|p| p.value().map(|v| (v, p.denominator))).collect();
        let xs: Vec<f64> = points.iter().map(|(v, _)| *v).collect();
        let exact = xs.len() >= super::stats::QUARTILES_FROM;
        let disclosure = if !rule.shown() {
            (*rule).clone()
        } else if !exact {
            band_only(xs.len())
        } else {
            Disclosure::Shown
        };
        let mut lw = LineWorth {
            service_line_name: line_name(&line),
            service_line: line,
            year: cell.key.1,
            members: xs.len(),
            disclosure,
            median: None,
            above: None,
            above_median_pence: None,
        };
        if lw.disclosure.shown()
            && let Some(s) = Summary::of(&xs)
        {
            let above: Vec<&(f64, f64)> = points.iter().filter(|(v, _)| *v > s.median).collect();
            // £ per head × heads × 100 = pence.
            let pence: f64 = above.iter().map(|(v, pop)| (v - s.median) * pop * 100.0).sum();
            let pence = pence.round().max(0.0) as u64;
            lw.median = Some(s.median);
            lw.above = Some(above.len());
            lw.above_median_pence = Some(pence);
            out.total_pence += pence;
            out.lines_shown += 1;
            rests.add_all(&cell.records);
        } else {
            out.lines_withheld += 1;
        }
        out.lines.push(lw);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, org, price};

    fn ctx() -> Ctx {
        Ctx { me: org(0), k: 3, max_share_bp: 10_000, now_ms: 1_750_000_000_000 }
    }

    #[test]
    fn paid_above_the_median_by_hand() {
        // BI 2025, five members, £/head 1, 2, 3, 5, 9 over populations 100k, 100k, 100k, 200k,
        // 50k: median £3; above it members 3 (£2 × 200,000 = £400,000) and 4 (£6 × 50,000 =
        // £300,000): £700,000 a year. An older year (2024) does not count.
        let mut d = dataset(5);
        let per_head = [(1u64, 100_000u64), (2, 100_000), (3, 100_000), (5, 200_000), (9, 50_000)];
        for (i, (pounds, pop)) in per_head.iter().enumerate() {
            d.prices.push(price(i as u8, "0DE", "BI", 2025, pounds * pop * 100, *pop, 10));
            d.prices.push(price(i as u8, "0DE", "BI", 2024, 99 * pop * 100, *pop, 5));
        }
        // CHC 2025: three members: the cell shows a band only, so its figure is withheld.
        for i in 0..3u8 {
            d.prices.push(price(i, "AGEM", "CHC", 2025, (i as u64 + 1) * 1_000_000, 10_000, 10));
        }
        let w = worth(&d, &ctx(), &mut Rests::default());
        let bi = w.lines.iter().find(|l| l.service_line == "BI").expect("BI");
        assert_eq!((bi.year, bi.median, bi.above), (FinancialYear(2025), Some(3.0), Some(2)));
        assert_eq!(bi.above_median_pence, Some(70_000_000));
        let chc = w.lines.iter().find(|l| l.service_line == "CHC").expect("CHC");
        assert_eq!(chc.above_median_pence, None);
        assert!(!chc.disclosure.shown());
        // The total adds the shown line only, and says one is left out.
        assert_eq!((w.total_pence, w.lines_shown, w.lines_withheld), (70_000_000, 1, 1));
    }

    #[test]
    fn a_line_below_k_is_withheld_and_left_out_of_the_total() {
        let mut d = dataset(2);
        d.prices.push(price(0, "0DE", "BI", 2025, 100, 1, 1));
        d.prices.push(price(1, "0DE", "BI", 2025, 900, 1, 1));
        let w = worth(&d, &ctx(), &mut Rests::default());
        assert_eq!(w.lines[0].disclosure, Disclosure::TooFewMembers { members: 2, k: 3 });
        assert_eq!((w.total_pence, w.lines_shown, w.lines_withheld), (0, 0, 1));
    }
}
