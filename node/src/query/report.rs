//! A market report for every service line: price spreads and the member's own position, the
//! best and worst providers by score, switching flows, and open motions.

use csx_protocol::Date;
use serde::{Deserialize, Serialize};

use super::motions::{MotionQuery, MotionStatus, MotionView, motions};
use super::prices::{Basis, PriceCell};
use super::providers::Scorecard;
use super::switches::{Flow, SwitchQuery, switches};
use super::{Ctx, Dataset, OrgRef, Rests, line_name, line_order};

/// Providers listed at each end of a line's ranking.
pub const TOP: usize = 3;

/// A provider's standing on a line, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub rank: usize,
    pub provider: String,
    pub provider_name: String,
    pub overall: f64,
    pub reviewers: usize,
    pub recommend: Option<f64>,
}

impl Ranked {
    fn of(c: &Scorecard) -> Option<Ranked> {
        Some(Ranked {
            rank: c.rank?,
            provider: c.provider.clone(),
            provider_name: c.provider_name.clone(),
            overall: c.overall?,
            reviewers: c.reviewers,
            recommend: c.recommend.as_ref().map(|r| r.score),
        })
    }
}

/// One service line's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineReport {
    pub service_line: String,
    pub service_line_name: String,
    /// The per-head spread over all providers in the latest year with a statistic shown (or
    /// the latest year disclosed, suppressed, when none is).
    pub prices: Option<PriceCell>,
    /// The best providers by score, best first.
    pub top: Vec<Ranked>,
    /// The worst providers by score (not already in `top`), worst last.
    pub bottom: Vec<Ranked>,
    /// Providers with any figures on this line: reviews, prices or switches.
    pub providers: usize,
    /// Of those, providers members have reviewed on this line.
    pub reviewed: usize,
    /// Of those, providers whose score is shown (ranked).
    pub scored: usize,
    pub flows: Vec<Flow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub member: OrgRef,
    pub generated: Date,
    pub lines: Vec<LineReport>,
    /// Open motions, closest to carrying first.
    pub motions: Vec<MotionView>,
    /// What the federation pays a year above each line's median, and in all.
    pub worth: super::worth::Worth,
    /// Joint tenders forming, with what their members would buy together.
    pub tenders: Vec<super::tenders::TenderGroup>,
    /// Providers' replies to reviews, under the reviews they answer.
    pub replies: Vec<super::replies::Answered>,
}

/// The report over everything in `d`.
pub fn report(d: &Dataset, ctx: &Ctx, rests: &mut Rests) -> Report {
    let backed_cells = super::prices::all(d, ctx);
    let backed_cards = super::providers::all(d, ctx, &backed_cells);
    for backing in backed_cells.iter().map(|(_, b)| b).chain(backed_cards.iter().map(|(_, b)| b)) {
        rests.add_all(backing);
    }
    let cells: Vec<PriceCell> = backed_cells.into_iter().map(|(c, _)| c).collect();
    let cards: Vec<Scorecard> = backed_cards.into_iter().map(|(c, _)| c).collect();
    let answer = switches(d, ctx, &SwitchQuery::default(), rests);
    let open = motions(d, ctx, &MotionQuery { status: Some(MotionStatus::Open), ..Default::default() }, rests);
    let mut codes: Vec<String> = cells.iter().map(|c| c.service_line.clone()).collect();
    codes.extend(cards.iter().map(|c| c.service_line.clone()));
    codes.extend(answer.flows.iter().map(|f| f.service_line.clone()));
    codes.sort_by_key(|c| line_order(c));
    codes.dedup();
    let lines = codes
        .into_iter()
        .map(|line| {
            // Cells come newest year first within a line.
            let per_head: Vec<&PriceCell> = cells
                .iter()
                .filter(|c| c.service_line == line && c.provider.is_none() && c.basis == Basis::PerHead)
                .collect();
            let prices = per_head.iter().find(|c| c.stats.is_some()).or(per_head.first()).map(|c| (*c).clone());
            let ranked: Vec<Ranked> = cards.iter().filter(|c| c.service_line == line).filter_map(Ranked::of).collect();
            let top: Vec<Ranked> = ranked.iter().take(TOP).cloned().collect();
            let rest = ranked.len().saturating_sub(top.len());
            let bottom: Vec<Ranked> = ranked.iter().skip(ranked.len() - rest.min(TOP)).cloned().collect();
            LineReport {
                service_line_name: line_name(&line),
                prices,
                top,
                bottom,
                providers: cards.iter().filter(|c| c.service_line == line).count(),
                reviewed: cards.iter().filter(|c| c.service_line == line && c.reviews > 0).count(),
                scored: cards.iter().filter(|c| c.service_line == line && c.rank.is_some()).count(),
                flows: answer.flows.iter().filter(|f| f.service_line == line).cloned().collect(),
                service_line: line,
            }
        })
        .collect();
    Report {
        member: d.directory.org(&ctx.me),
        generated: ctx.today(),
        lines,
        motions: open,
        worth: super::worth::worth(d, ctx, rests),
        tenders: super::tenders::tenders(d, ctx, &Default::default(), rests),
        replies: super::replies::answered(d, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, org, price, review};

    #[test]
    fn the_report_ranks_both_ends_without_overlap_and_picks_a_shown_year() {
        let mut d = dataset(3);
        let providers = ["0AR", "0CX", "0DE", "0DF", "0DG"];
        for (p, code) in providers.iter().enumerate() {
            for i in 0..3 {
                d.reviews.push(review(i, code, "BI", 2025, 1 + p as u8, None, 1));
            }
        }
        // 2025: two members (suppressed); 2024: three (shown).
        for i in 0..3 {
            d.prices.push(price(i, "0AR", "BI", 2024, 10_000_000 * (i as u64 + 1), 100_000, 1));
        }
        for i in 0..2 {
            d.prices.push(price(i, "0AR", "BI", 2025, 10_000_000, 100_000, 1));
        }
        let ctx = Ctx { me: org(0), k: 3, max_share_bp: 5000, now_ms: 1_750_000_000_000 };
        let r = report(&d, &ctx, &mut Rests::default());
        assert_eq!(r.lines.len(), 1);
        let bi = &r.lines[0];
        assert_eq!(bi.top.iter().map(|x| x.provider.as_str()).collect::<Vec<_>>(), ["0DG", "0DF", "0DE"]);
        assert_eq!(bi.bottom.iter().map(|x| x.provider.as_str()).collect::<Vec<_>>(), ["0CX", "0AR"]);
        let cell = bi.prices.as_ref().expect("prices");
        assert_eq!(cell.year, csx_protocol::FinancialYear(2024));
        assert!(cell.you.as_ref().is_some_and(|y| y.percentile.is_some()));
        assert_eq!((bi.providers, bi.reviewed, bi.scored), (5, 5, 5));
    }

    #[test]
    fn providers_with_prices_but_no_reviews_are_not_called_reviewed() {
        // HR: 0AR priced by three members, 0DE reviewed by two (too few to score).
        let mut d = dataset(3);
        for i in 0..3 {
            d.prices.push(price(i, "0AR", "HR", 2024, 10_000_000, 100_000, 1));
        }
        for i in 0..2 {
            d.reviews.push(review(i, "0DE", "HR", 2025, 3, None, 1));
        }
        let ctx = Ctx { me: org(0), k: 3, max_share_bp: 5000, now_ms: 1_750_000_000_000 };
        let r = report(&d, &ctx, &mut Rests::default());
        let hr = &r.lines[0];
        assert_eq!((hr.providers, hr.reviewed, hr.scored), (2, 1, 0));
        assert!(hr.top.is_empty());
    }
}
