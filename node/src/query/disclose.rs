//! The disclosure rules, in one place: which figures every answer may show (docs/QUERIES.md,
//! "The disclosure rules"). Prices and scores are computed whole, for every line the question
//! loads, and put through here before any answer picks from them, so a figure is shown or
//! withheld alike in every answer, and no filter changes it.
//!
//! - **Primary**: a figure needs `k` distinct members and no member carrying more than the cap
//!   of its weight ([`super::stats::disclosure`]).
//! - **Prices** ([`price_cells`]): an all-provider cell is withheld when one provider supplies
//!   all but a few (1 to k − 1) of its members — that provider knows what they pay, so the
//!   cell would tell it the rest's prices; and when the members outside the provider cells
//!   shown are 1 to k − 1, the smallest shown provider cells are withheld too (complementary
//!   suppression), so the all-provider figures cannot be pinned on them.
//! - **Scores** ([`audit`]): a scorecard's overall score, dimension scores and trend years are
//!   linear in the ratings behind them. The audit withholds further figures until no linear
//!   combination of the figures shown pins down anything about fewer than `k` members, nor any
//!   withheld figure.

use std::collections::{BTreeMap, BTreeSet};

use csx_protocol::OrgKey;

use super::modp::Span;
use super::prices::{Basis, RawCell};
use super::stats::{Disclosure, disclosure};
use super::{Ctx, Dataset};

/// The disclosure of each of `cells` (same order): the primary rule, then the two price rules.
pub(crate) fn price_cells(d: &Dataset, ctx: &Ctx, cells: &[RawCell]) -> Vec<Disclosure> {
    let k = ctx.k as usize;
    // One point per member: a member's weight in a price statistic is one of its n values.
    let mut out: Vec<Disclosure> = cells
        .iter()
        .map(|c| disclosure(c.values().into_iter().map(|(o, _)| (o, 1.0)), ctx.k, ctx.max_share_bp))
        .collect();
    // A provider knows what each of its customers pays it. Where it supplies every contract of
    // all but 1..k−1 of an all-provider cell's members, the cell would give those few away.
    for (c, rule) in cells.iter().zip(out.iter_mut()) {
        if c.key.2.is_some() || !rule.shown() {
            continue;
        }
        let n = c.points.len();
        let mut sole: BTreeMap<&str, usize> = BTreeMap::new();
        for p in c.points.values() {
            if let [only] = p.providers.iter().collect::<Vec<_>>()[..] {
                *sole.entry(only.as_str()).or_default() += 1;
            } else {
                for provider in &p.providers {
                    sole.entry(provider.as_str()).or_default();
                }
            }
        }
        let worst = sole.iter().map(|(p, known)| (n - known, *p)).filter(|(others, _)| (1..k).contains(others)).min();
        if let Some((others, provider)) = worst {
            *rule = Disclosure::ProviderKnowsRest { provider: d.provider_name(provider), others, k: ctx.k };
        }
    }
    // Complementary suppression: the members of a shown all-provider cell not accounted for by
    // a shown provider cell (their only provider's cell is withheld, or they buy from several)
    // must be none or at least k; otherwise withhold the smallest shown provider cells.
    // (line, year) → (its all-provider per-head cell, its provider per-head cells), as indices.
    type Group = (Option<usize>, Vec<usize>);
    let mut groups: BTreeMap<(&str, csx_protocol::FinancialYear), Group> = BTreeMap::new();
    for (i, c) in cells.iter().enumerate() {
        if c.key.3 != Basis::PerHead {
            continue;
        }
        let g = groups.entry((c.key.0.as_str(), c.key.1)).or_default();
        match c.key.2 {
            None => g.0 = Some(i),
            Some(_) => g.1.push(i),
        }
    }
    for (all, providers) in groups.into_values() {
        let Some(all) = all.filter(|a| out[*a].shown()) else { continue };
        loop {
            let shown: BTreeSet<&str> =
                providers.iter().filter(|i| out[**i].shown()).filter_map(|i| cells[*i].key.2.as_deref()).collect();
            let outside = cells[all]
                .points
                .values()
                .filter(|p| !(p.providers.len() == 1 && p.providers.iter().all(|x| shown.contains(x.as_str()))))
                .count();
            if outside == 0 || outside >= k {
                break;
            }
            let smallest = providers
                .iter()
                .copied()
                .filter(|i| out[*i].shown())
                .min_by_key(|i| (cells[*i].points.len(), cells[*i].key.2.clone()));
            let Some(i) = smallest else { break };
            out[i] = Disclosure::Complementary {
                protects: format!(
                    "what the {outside} member{} outside the providers shown pay{}",
                    if outside == 1 { "" } else { "s" },
                    if outside == 1 { "s" } else { "" }
                ),
            };
        }
    }
    out
}

/// A figure the audit weighs: a linear functional of the base cells (exact, modulo p).
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    /// Its coefficient on each base cell.
    pub row: Vec<u64>,
    pub shown: bool,
    /// Which to withhold first when one must go: lowest first.
    pub priority: (u8, usize, u16),
    /// What it is, in words ("the 2023/24 score").
    pub label: String,
}

/// Most coalitions of members the audit tries one by one; beyond this it withholds until no
/// combination of the figures shown rests on small cells alone (stricter, never looser).
const MAX_COALITIONS: u64 = 20_000;

/// Withholds figures until none of those withheld, and nothing about fewer than `k` members,
/// can be worked out from the ones shown. `cells` holds each base cell's members and what to
/// call it ("2023/24"). Returns the figures it withheld, each with what it protects.
pub(crate) fn audit(cells: &[(BTreeSet<OrgKey>, String)], figures: &mut [Figure], k: u16) -> Vec<(usize, String)> {
    let mut withheld = Vec::new();
    loop {
        let span = Span::of(figures.iter().filter(|f| f.shown).map(|f| &f.row));
        let Some((leak, protects)) = leak(&span, cells, figures, k) else { break };
        let mut candidates: Vec<usize> = (0..figures.len()).filter(|i| figures[*i].shown).collect();
        candidates.sort_by_key(|i| figures[*i].priority);
        let fixes = |i: &usize| {
            let rest = Span::of(figures.iter().enumerate().filter(|(j, f)| f.shown && j != i).map(|(_, f)| &f.row));
            !rest.contains(&leak)
        };
        let Some(pick) = candidates.iter().copied().find(fixes).or(candidates.first().copied()) else { break };
        figures[pick].shown = false;
        withheld.push((pick, protects));
    }
    withheld
}

/// Something the figures shown (spanning `span`) give away, as a vector in their span, with
/// what it is in words; `None` when they give nothing away.
fn leak(span: &Span, cells: &[(BTreeSet<OrgKey>, String)], figures: &[Figure], k: u16) -> Option<(Vec<u64>, String)> {
    // A withheld figure that the shown ones add up to.
    if let Some(f) = figures.iter().find(|f| !f.shown && f.row.iter().any(|x| *x != 0) && span.contains(&f.row)) {
        return Some((f.row.clone(), f.label.clone()));
    }
    // Anything about fewer than k members lies on cells of fewer than k members: the span's
    // part that is zero on every larger cell.
    let large: Vec<bool> = cells.iter().map(|(m, _)| m.len() >= k as usize).collect();
    let small = Span::of(&span.zero_on(&large));
    if small.rank() == 0 {
        return None;
    }
    let members: BTreeSet<OrgKey> =
        cells.iter().zip(&large).filter(|(_, l)| !**l).flat_map(|((m, _), _)| m.iter().copied()).collect();
    let size = members.len().min(k as usize - 1);
    let words = |v: &[u64]| {
        let years: BTreeSet<&str> =
            v.iter().zip(cells).filter(|(x, _)| **x != 0).map(|(_, (_, label))| label.as_str()).collect();
        let years: Vec<&str> = years.into_iter().collect();
        format!("ratings from {} given by fewer than {k} members", years.join(" and "))
    };
    if binomial(members.len() as u64, size as u64) > MAX_COALITIONS {
        let v = small.zero_on(&vec![false; cells.len()]).into_iter().next()?;
        return Some((v.clone(), words(&v)));
    }
    let members: Vec<OrgKey> = members.into_iter().collect();
    let mut leak = None;
    for_each_subset(members.len(), size, &mut |pick: &[usize]| {
        if leak.is_some() {
            return;
        }
        let coalition: BTreeSet<&OrgKey> = pick.iter().map(|i| &members[*i]).collect();
        // Zero on every cell with a member outside the coalition.
        let outside: Vec<bool> = cells.iter().map(|(m, _)| m.iter().any(|o| !coalition.contains(o))).collect();
        if let Some(v) = small.zero_on(&outside).into_iter().next() {
            leak = Some(v);
        }
    });
    leak.map(|v| {
        let w = words(&v);
        (v, w)
    })
}

fn binomial(n: u64, r: u64) -> u64 {
    (0..r).fold(1u64, |acc, i| acc.saturating_mul(n - i) / (i + 1))
}

/// Calls `f` with each `r`-element subset of `0..n` (as ascending indices).
fn for_each_subset(n: usize, r: usize, f: &mut dyn FnMut(&[usize])) {
    fn go(start: usize, n: usize, r: usize, pick: &mut Vec<usize>, f: &mut dyn FnMut(&[usize])) {
        if pick.len() == r {
            f(pick);
            return;
        }
        for i in start..n {
            if n - i < r - pick.len() {
                break;
            }
            pick.push(i);
            go(i + 1, n, r, pick, f);
            pick.pop();
        }
    }
    go(0, n, r, &mut Vec::with_capacity(r), f);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::modp::seven_tenths;

    fn org(i: u8) -> OrgKey {
        OrgKey([i; 32])
    }

    fn members(is: &[u8]) -> BTreeSet<OrgKey> {
        is.iter().map(|i| org(*i)).collect()
    }

    #[test]
    fn subsets_and_binomials() {
        let mut all = Vec::new();
        for_each_subset(4, 2, &mut |p| all.push(p.to_vec()));
        assert_eq!(all, [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]);
        assert_eq!(binomial(20, 2), 190);
        assert_eq!(binomial(5, 0), 1);
    }

    /// The defect the issue found, by hand: one reviewer in 2023/24 (withheld), three in
    /// 2024/25 and 2025/26 (shown), and the overall score shown. With weights 0.49, 0.7 and 1 the
    /// overall is (0.49 S₂₃ + 0.7 S₂₄ + S₂₅) ÷ (0.49 n₂₃ + 0.7 n₂₄ + n₂₅): knowing the two years
    /// shown and the counts, S₂₃ — one member's ratings — follows.
    #[test]
    fn the_overall_and_the_other_years_would_give_a_withheld_year_away() {
        // Base cells: one per year (one dimension).
        let cells = vec![
            (members(&[1]), "2023/24".into()),
            (members(&[2, 3, 4]), "2024/25".into()),
            (members(&[5, 6, 7]), "2025/26".into()),
        ];
        let w = [seven_tenths(2), seven_tenths(1), 1];
        let year = |i: usize, shown: bool, n: usize| Figure {
            row: (0..3).map(|j| u64::from(i == j)).collect(),
            shown,
            priority: (0, n, i as u16),
            label: format!("the {} score", cells[i].1),
        };
        let mut figures =
            vec![Figure { row: w.to_vec(), shown: true, priority: (2, 7, 0), label: "the overall score".into() }];
        figures.extend([year(0, false, 1), year(1, true, 3), year(2, true, 3)]);
        let withheld = audit(&cells, &mut figures, 3);
        // One more year goes (of two with three members, the older), and then the overall and
        // the remaining year give only 0.49 S₂₃ + 0.7 S₂₄: four members' ratings together.
        assert_eq!(withheld.len(), 1, "{withheld:?}");
        assert_eq!(withheld[0].0, 2);
        assert!(withheld[0].1.contains("2023/24"), "{}", withheld[0].1);
        assert!(figures[0].shown && figures[3].shown && !figures[2].shown);
        // Without the overall, nothing needs withholding.
        let mut without: Vec<Figure> = figures.clone();
        without[0].shown = false;
        without[2].shown = true;
        assert!(audit(&cells, &mut without[1..], 3).is_empty());
    }

    #[test]
    fn a_dimension_rated_by_one_reviewer_in_a_shown_year_is_protected() {
        // 2024/25: members 1, 2, 3 rate quality; only member 1 rates timeliness. 2025/26: members
        // 4, 5, 6 rate timeliness only. Quality (3 raters), timeliness (4) and both years (3
        // each) pass the primary rule, yet 2024/25's total minus quality's is member 1's
        // timeliness rating. Any three of the four figures still give it away, so the audit
        // withholds two: both years (trend years go first), keeping the two dimension scores.
        let cells = vec![
            (members(&[1, 2, 3]), "2024/25".into()), // (2024, quality)
            (members(&[1]), "2024/25".into()),       // (2024, timeliness)
            (members(&[4, 5, 6]), "2025/26".into()), // (2025, timeliness)
        ];
        let v = seven_tenths(1);
        let mut figures = vec![
            Figure { row: vec![v, 0, 0], shown: true, priority: (1, 3, 0), label: "quality".into() },
            Figure { row: vec![0, v, 1], shown: true, priority: (1, 4, 1), label: "timeliness".into() },
            Figure { row: vec![1, 1, 0], shown: true, priority: (0, 3, 2024), label: "2024/25".into() },
            Figure { row: vec![0, 0, 1], shown: true, priority: (0, 3, 2025), label: "2025/26".into() },
        ];
        let withheld = audit(&cells, &mut figures, 3);
        assert_eq!(withheld.iter().map(|w| w.0).collect::<Vec<_>>(), [2, 3], "{withheld:?}");
        assert!(withheld[0].1.contains("fewer than 3 members"));
    }
}
