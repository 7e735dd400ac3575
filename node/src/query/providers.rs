//! Provider scorecards: what members say about each provider, service line by service line.
//!
//! Every scorecard of the lines loaded is computed and audited together ([`all`]); questions
//! pick from them, so ranks and withheld figures never depend on a filter.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use csx_protocol::body::{Party, RATING_DIMENSIONS, Review};
use csx_protocol::{Date, FinancialYear, OrgKey, RecordId};
use serde::{Deserialize, Serialize};

use super::disclose::{Figure, audit};
use super::modp;
use super::prices::{Backed, Basis, PriceCell};
use super::stats::{Disclosure, Distribution, age_weight, disclosure, net_score};
use super::{Ctx, Dataset, Item, OrgRef, Rests, latest_by, line_name, line_order};

/// Which scorecards to show.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderQuery {
    #[serde(default)]
    pub service_line: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
}

/// How many comments a scorecard quotes.
pub const COMMENTS: usize = 3;

/// One rating dimension's age-weighted mean (1–5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimensionScore {
    pub name: String,
    /// Reviews that rated it.
    pub answers: usize,
    pub disclosure: Disclosure,
    /// Only when the disclosure rules allow.
    pub mean: Option<f64>,
}

/// Would-recommend answers (0–10) as a net score: % promoters (9–10) minus % detractors (0–6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommend {
    pub answers: usize,
    pub promoters: usize,
    pub passives: usize,
    pub detractors: usize,
    pub score: f64,
}

/// A financial year's reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YearScore {
    pub year: FinancialYear,
    pub reviews: usize,
    pub members: usize,
    pub disclosure: Disclosure,
    /// The mean of the year's ratings (no age weighting within a year).
    pub overall: Option<f64>,
}

/// What members pay this provider for this line per head, in the latest year whose figures
/// are shown (or the latest year disclosed, withheld, when none is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceRange {
    /// The year these figures are from.
    pub year: FinancialYear,
    /// The latest year disclosed: later than `year` when that year's figures are withheld.
    pub latest_year: FinancialYear,
    pub members: usize,
    pub disclosure: Disclosure,
    /// £ per head, as much as the member count and the disclosure rules allow.
    pub stats: Option<Distribution>,
    /// Values in it to check ("check this figure"), when shown.
    pub checks: Option<usize>,
}

/// Buyers who moved this line to the provider (`joined`) and away from it (`left`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchCounts {
    pub joined: usize,
    pub left: usize,
    pub net: i64,
}

/// A reviewer's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub org: OrgRef,
    pub reviewer_role: String,
    pub year: FinancialYear,
    pub written: Date,
    pub still_customer: bool,
    pub text: String,
}

/// A provider's record on one service line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    pub provider: String,
    pub provider_name: String,
    pub service_line: String,
    pub service_line_name: String,
    /// Reviews counted (each member's latest per financial year).
    pub reviews: usize,
    /// Distinct members who reviewed it.
    pub reviewers: usize,
    /// Reviewers whose latest review says they still buy from it.
    pub still_customers: usize,
    /// Whether the overall score may be shown.
    pub disclosure: Disclosure,
    /// Age-weighted mean of all its ratings (1–5).
    pub overall: Option<f64>,
    /// Position by `overall` among the line's shown scores (1 = best).
    pub rank: Option<usize>,
    pub dimensions: Vec<DimensionScore>,
    /// Reviewers with a would-recommend answer (each one's latest answer counts).
    pub recommend_answers: usize,
    pub recommend_disclosure: Disclosure,
    pub recommend: Option<Recommend>,
    pub trend: Vec<YearScore>,
    pub prices: Option<PriceRange>,
    pub switches: SwitchCounts,
    pub comments: Vec<Comment>,
}

/// A provider's scorecards on every line it appears on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderProfile {
    pub code: String,
    pub name: String,
    pub kind: Option<String>,
    pub note: Option<String>,
    pub scorecards: Vec<Scorecard>,
    /// Reviews of it the provider has replied to, with its replies (always marked as the
    /// provider's words), newest review first.
    #[serde(default)]
    pub replies: Vec<super::replies::Answered>,
}

type Key = (String, String); // (service line, provider)

/// Full years between `year` and the current financial year (none for this year or later).
fn age(ctx: &Ctx, year: FinancialYear) -> u64 {
    ctx.this_year().0.saturating_sub(year.0) as u64
}

/// Every scorecard in `d` — one per (line, provider) with reviews, prices or switches — through
/// the disclosure rules, ranked, with the records behind each. `cells` are the price cells
/// ([`super::prices::all`]), for the price ranges.
pub(crate) fn all(d: &Dataset, ctx: &Ctx, cells: &[Backed<PriceCell>]) -> Vec<Backed<Scorecard>> {
    // A member's latest review of a provider's line in each year counts.
    let reviews = latest_by(&d.reviews, |it: &Item<Review>| {
        (it.org, it.body.provider.clone(), it.body.service_line.clone(), it.body.year)
    });
    let mut by_key: BTreeMap<Key, Vec<&Item<Review>>> = BTreeMap::new();
    for it in reviews {
        by_key.entry((it.body.service_line.clone(), it.body.provider.clone())).or_default().push(it);
    }
    // Switches in and out.
    let mut switches: HashMap<Key, (SwitchCounts, Vec<(RecordId, OrgKey)>)> = HashMap::new();
    for it in &d.switches {
        let s = &it.body;
        for (party, joined) in [(&s.to, true), (&s.from, false)] {
            if let Party::Provider(code) = party {
                let (c, backing) = switches.entry((s.service_line.clone(), code.clone())).or_default();
                backing.push((it.id, it.org));
                if joined {
                    c.joined += 1;
                } else {
                    c.left += 1;
                }
                c.net = c.joined as i64 - c.left as i64;
            }
        }
    }
    // Price ranges: the latest year with figures shown, for each provider and line.
    let mut ranges: HashMap<Key, Backed<PriceRange>> = HashMap::new();
    let mut latest: HashMap<Key, FinancialYear> = HashMap::new();
    for (c, _) in cells.iter().filter(|(c, _)| c.basis == Basis::PerHead) {
        if let Some(p) = &c.provider {
            let y = latest.entry((c.service_line.clone(), p.clone())).or_insert(c.year);
            *y = (*y).max(c.year);
        }
    }
    for (c, backing) in cells.iter().filter(|(c, _)| c.basis == Basis::PerHead) {
        let Some(provider) = &c.provider else { continue };
        let key = (c.service_line.clone(), provider.clone());
        let better = match ranges.get(&key) {
            None => true,
            Some((r, _)) => (c.stats.is_some(), c.year) > (r.stats.is_some(), r.year),
        };
        if better {
            let range = PriceRange {
                year: c.year,
                latest_year: latest.get(&key).copied().unwrap_or(c.year),
                members: c.members,
                disclosure: c.disclosure.clone(),
                stats: c.stats.clone(),
                checks: c.checks,
            };
            ranges.insert(key, (range, backing.clone()));
        }
    }
    let mut keys: Vec<Key> = by_key.keys().cloned().collect();
    keys.extend(switches.keys().cloned());
    keys.extend(ranges.keys().cloned());
    keys.sort();
    keys.dedup();
    let mut out: Vec<Backed<Scorecard>> = keys
        .into_iter()
        .map(|key| {
            let items = by_key.remove(&key).unwrap_or_default();
            let mut backing: Vec<(RecordId, OrgKey)> = items.iter().map(|it| (it.id, it.org)).collect();
            let mut card = score(d, ctx, &key, &items);
            if let Some((counts, b)) = switches.remove(&key) {
                card.switches = counts;
                backing.extend(b);
            }
            if let Some((range, b)) = ranges.remove(&key) {
                card.prices = Some(range);
                backing.extend(b);
            }
            (card, backing)
        })
        .collect();
    out.sort_by(|(a, _), (b, _)| {
        line_order(&a.service_line)
            .cmp(&line_order(&b.service_line))
            .then_with(|| b.overall.is_some().cmp(&a.overall.is_some()))
            .then_with(|| b.overall.unwrap_or(0.0).total_cmp(&a.overall.unwrap_or(0.0)))
            .then_with(|| b.reviewers.cmp(&a.reviewers))
            .then_with(|| a.provider.cmp(&b.provider))
    });
    let mut rank = 0;
    for i in 0..out.len() {
        if i > 0 && out[i].0.service_line != out[i - 1].0.service_line {
            rank = 0;
        }
        if out[i].0.overall.is_some() {
            rank += 1;
            out[i].0.rank = Some(rank);
        }
    }
    out
}

/// Scorecards for `q`, ordered by line, then best score first (withheld scores last). Ranks
/// are among all the line's providers whatever the filter.
pub fn scorecards(d: &Dataset, ctx: &Ctx, q: &ProviderQuery, rests: &mut Rests) -> Vec<Scorecard> {
    let cells = super::prices::all(d, ctx);
    all(d, ctx, &cells)
        .into_iter()
        .filter(|(c, _)| {
            q.service_line.as_deref().is_none_or(|l| l == c.service_line)
                && q.provider.as_deref().is_none_or(|p| p == c.provider)
        })
        .map(|(c, backing)| {
            rests.add_all(&backing);
            c
        })
        .collect()
}

/// The figures of one scorecard, as the audit weighs them.
enum Fig {
    Overall,
    Dimension(usize),
    Year(FinancialYear),
}

/// The scorecard of one provider and line from its counted reviews (without prices and
/// switches). All its scores are means of ratings, each weighted by its age, so each is a
/// linear function of the sums of ratings per (year, dimension) — the base cells the audit
/// works on.
fn score(d: &Dataset, ctx: &Ctx, (line, provider): &Key, items: &[&Item<Review>]) -> Scorecard {
    let (k, cap) = (ctx.k, ctx.max_share_bp);
    let weight = |y: FinancialYear| age_weight(age(ctx, y) as f64);
    // Base cells: (year, dimension) → sum of ratings, how many, and whose.
    type Base = (f64, usize, BTreeSet<OrgKey>);
    let mut base: BTreeMap<(FinancialYear, usize), Base> = BTreeMap::new();
    for it in items {
        for (dim, r) in it.body.ratings().iter().enumerate() {
            if let Some(v) = r {
                let c = base.entry((it.body.year, dim)).or_default();
                c.0 += *v as f64;
                c.1 += 1;
                c.2.insert(it.org);
            }
        }
    }
    let ratings = |f: &dyn Fn(FinancialYear, usize) -> bool, by_age: bool| {
        let mut w: Vec<(OrgKey, f64)> = Vec::new();
        let (mut sum, mut total) = (0.0, 0.0);
        for it in items {
            for (dim, r) in it.body.ratings().iter().enumerate() {
                if let Some(v) = r
                    && f(it.body.year, dim)
                {
                    let x = if by_age { weight(it.body.year) } else { 1.0 };
                    w.push((it.org, x));
                    sum += x * *v as f64;
                    total += x;
                }
            }
        }
        (disclosure(w, k, cap), (total > 0.0).then(|| sum / total))
    };
    let years: BTreeSet<FinancialYear> = items.iter().map(|it| it.body.year).collect();
    let mut figs: Vec<(Fig, Disclosure, Option<f64>)> = vec![{
        let (rule, mean) = ratings(&|_, _| true, true);
        (Fig::Overall, rule, mean)
    }];
    for dim in 0..RATING_DIMENSIONS.len() {
        let (rule, mean) = ratings(&|_, d| d == dim, true);
        figs.push((Fig::Dimension(dim), rule, mean));
    }
    for y in &years {
        let (rule, mean) = ratings(&|year, _| year == *y, false);
        figs.push((Fig::Year(*y), rule, mean));
    }
    // The audit: each figure as a row over the base cells.
    let cells: Vec<(&(FinancialYear, usize), &Base)> = base.iter().collect();
    let mut audited: Vec<Figure> = figs
        .iter()
        .map(|(fig, rule, mean)| {
            let row = cells
                .iter()
                .map(|((y, dim), _)| {
                    let w = modp::seven_tenths(age(ctx, *y));
                    match fig {
                        Fig::Overall => w,
                        Fig::Dimension(d) if d == dim => w,
                        Fig::Year(year) if year == y => 1,
                        _ => 0,
                    }
                })
                .collect();
            let members = |f: &dyn Fn(&(FinancialYear, usize)) -> bool| {
                cells.iter().filter(|(c, _)| f(c)).flat_map(|(_, (_, _, m))| m.iter()).collect::<BTreeSet<_>>().len()
            };
            let (priority, label) = match fig {
                Fig::Year(y) => ((0, members(&|c| c.0 == *y), y.0), format!("the {y} score")),
                Fig::Dimension(d) => {
                    ((1, members(&|c| c.1 == *d), *d as u16), format!("the {} score", RATING_DIMENSIONS[*d]))
                }
                Fig::Overall => ((2, 0, 0), "the overall score".to_string()),
            };
            Figure { row, shown: rule.shown() && mean.is_some(), priority, label }
        })
        .collect();
    let cell_members: Vec<(BTreeSet<OrgKey>, String)> =
        cells.iter().map(|((y, _), (_, _, m))| (m.clone(), y.to_string())).collect();
    for (i, protects) in audit(&cell_members, &mut audited, k) {
        figs[i].1 = Disclosure::Complementary { protects };
    }
    let shown = |i: usize| figs[i].1.shown().then_some(figs[i].2).flatten();
    let answered = |dim: usize| items.iter().filter(|it| it.body.ratings()[dim].is_some()).count();
    let dimensions = RATING_DIMENSIONS
        .iter()
        .enumerate()
        .map(|(dim, name)| DimensionScore {
            name: name.to_string(),
            answers: answered(dim),
            disclosure: figs[1 + dim].1.clone(),
            mean: shown(1 + dim),
        })
        .collect();
    let trend = years
        .iter()
        .enumerate()
        .map(|(j, y)| {
            let i = 1 + RATING_DIMENSIONS.len() + j;
            let its: Vec<&&Item<Review>> = items.iter().filter(|it| it.body.year == *y).collect();
            let members: BTreeSet<OrgKey> = its.iter().map(|it| it.org).collect();
            YearScore {
                year: *y,
                reviews: its.len(),
                members: members.len(),
                disclosure: figs[i].1.clone(),
                overall: shown(i),
            }
        })
        .collect();
    // Would recommend: each reviewer's latest answer, from its latest review that gives one.
    let answers: Vec<(OrgKey, u8)> =
        latest_by(items.iter().copied().filter(|it| it.body.would_recommend.is_some()), |it| it.org)
            .iter()
            .filter_map(|it| it.body.would_recommend.map(|a| (it.org, a)))
            .collect();
    let recommend_disclosure = disclosure(answers.iter().map(|(o, _)| (*o, 1.0)), k, cap);
    let values: Vec<u8> = answers.iter().map(|(_, a)| *a).collect();
    let recommend = recommend_disclosure
        .shown()
        .then(|| {
            net_score(&values).map(|score| Recommend {
                answers: values.len(),
                promoters: values.iter().filter(|a| **a >= 9).count(),
                passives: values.iter().filter(|a| (7..=8).contains(*a)).count(),
                detractors: values.iter().filter(|a| **a <= 6).count(),
                score,
            })
        })
        .flatten();
    // Each reviewer's latest review: the latest period, then the latest written.
    let latest = latest_by(items.iter().copied(), |it| it.org);
    let mut commented: Vec<&&Item<Review>> = items.iter().filter(|it| it.body.comment.is_some()).collect();
    commented.sort_by_key(|it| std::cmp::Reverse(it.order()));
    let comments = commented
        .into_iter()
        .take(COMMENTS)
        .map(|it| Comment {
            org: d.directory.org(&it.org),
            reviewer_role: it.body.reviewer_role.clone(),
            year: it.body.year,
            written: Date::from_unix_ms(it.created_at).unwrap_or_else(|| ctx.today()),
            still_customer: it.body.still_customer,
            text: it.body.comment.clone().unwrap_or_default(),
        })
        .collect();
    Scorecard {
        provider: provider.clone(),
        provider_name: d.provider_name(provider),
        service_line: line.clone(),
        service_line_name: line_name(line),
        reviews: items.len(),
        reviewers: latest.len(),
        still_customers: latest.iter().filter(|it| it.body.still_customer).count(),
        disclosure: figs[0].1.clone(),
        overall: shown(0),
        rank: None,
        dimensions,
        recommend_answers: answers.len(),
        recommend_disclosure,
        recommend,
        trend,
        prices: None,
        switches: SwitchCounts::default(),
        comments,
    }
}

/// One provider's scorecards on every line, with what the registry says about it.
pub fn profile(d: &Dataset, ctx: &Ctx, code: &str, rests: &mut Rests) -> ProviderProfile {
    let cards = scorecards(d, ctx, &ProviderQuery { service_line: None, provider: Some(code.to_string()) }, rests);
    let builtin = csx_protocol::refdata::builtin_provider(code);
    let kind =
        d.providers.get(code).map(|p| p.provider_kind.to_string()).or_else(|| builtin.map(|b| b.kind.to_string()));
    ProviderProfile {
        code: code.to_string(),
        name: d.provider_name(code),
        kind,
        note: builtin.map(|b| b.note.to_string()),
        scorecards: cards,
        replies: super::replies::answered(d, Some(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, org, review};

    /// Financial year 2025/26 (June 2025).
    const NOW: u64 = 1_750_000_000_000;

    fn ctx(k: u16) -> Ctx {
        Ctx { me: org(0), k, max_share_bp: 5000, now_ms: NOW }
    }

    fn cards(d: &Dataset, k: u16) -> Vec<Scorecard> {
        scorecards(d, &ctx(k), &ProviderQuery::default(), &mut Rests::default())
    }

    #[test]
    fn scores_are_weighted_by_age_and_recommend_is_a_net_score() {
        let mut d = dataset(3);
        // This year (2025): 5 and 4; two years ago (2023): 2. Weights 1, 1, 0.49.
        d.reviews.push(review(0, "0DE", "CONTRACT", 2025, 5, Some(10), 1));
        d.reviews.push(review(1, "0DE", "CONTRACT", 2025, 4, Some(8), 1));
        d.reviews.push(review(2, "0DE", "CONTRACT", 2023, 2, Some(3), 1));
        let c = &cards(&d, 3)[0];
        assert_eq!((c.reviews, c.reviewers, c.still_customers), (3, 3, 3));
        let expected = (5.0 + 4.0 + 2.0 * 0.49) / 2.49;
        assert!((c.overall.expect("shown") - expected).abs() < 1e-9);
        assert!(c.dimensions.iter().all(|dim| (dim.mean.expect("shown") - expected).abs() < 1e-9 && dim.answers == 3));
        // One promoter (10), one passive (8), one detractor (3): (1 − 1) / 3 = 0.
        let r = c.recommend.as_ref().expect("shown");
        assert_eq!((r.promoters, r.passives, r.detractors, r.score), (1, 1, 1, 0.0));
        // Trend: 2023 has one member (suppressed), 2025 two (suppressed at k = 3).
        assert_eq!(c.trend.len(), 2);
        assert!(c.trend.iter().all(|y| y.overall.is_none()));
        assert_eq!(c.comments.len(), COMMENTS);
    }

    #[test]
    fn too_few_reviewers_or_one_dominant_reviewer_hides_the_scores() {
        let mut d = dataset(3);
        d.reviews.push(review(0, "0DE", "BI", 2025, 5, Some(10), 1));
        d.reviews.push(review(1, "0DE", "BI", 2025, 1, Some(0), 1));
        let c = &cards(&d, 3)[0];
        assert_eq!(c.disclosure, Disclosure::TooFewMembers { members: 2, k: 3 });
        assert!(c.overall.is_none() && c.recommend.is_none() && c.dimensions.iter().all(|x| x.mean.is_none()));
        assert_eq!(c.rank, None);
        // A third reviewer, but member 0 reviews four years: its ratings weigh 1 + 0.7 + 0.49 +
        // 0.343 = 2.533 against 1 each for the others, 55.87% of the score → dominated.
        for y in 2022..2025 {
            d.reviews.push(review(0, "0DE", "BI", y, 5, Some(10), 1));
        }
        d.reviews.push(review(2, "0DE", "BI", 2025, 3, Some(7), 1));
        let c = &cards(&d, 3)[0];
        assert_eq!(c.disclosure, Disclosure::Dominated { share_bp: 5587, limit_bp: 5000 });
        assert!(c.overall.is_none());
        // With two years only (1.7 of 3.7 = 45.9%) the score is shown: a member that reviews
        // every year is not hidden for that alone.
        d.reviews.retain(|r| r.body.year.0 >= 2024);
        let c = &cards(&d, 3)[0];
        assert!(c.disclosure.shown(), "{:?}", c.disclosure);
        let expected = (5.0 * 1.7 + 1.0 + 3.0) / 3.7;
        assert!((c.overall.expect("shown") - expected).abs() < 1e-9);
    }

    #[test]
    fn a_later_review_of_the_same_year_supersedes_and_ranks_follow_scores() {
        let mut d = dataset(3);
        for i in 0..3 {
            d.reviews.push(review(i, "0DE", "CONTRACT", 2025, 2, None, 1));
            d.reviews.push(review(i, "0AR", "CONTRACT", 2025, 4, None, 1));
        }
        // Member 0 changes its mind about 0DE: 5 replaces 2.
        d.reviews.push(review(0, "0DE", "CONTRACT", 2025, 5, None, 2));
        let c = cards(&d, 3);
        assert_eq!(c.len(), 2);
        let de = c.iter().find(|c| c.provider == "0DE").expect("0DE");
        assert_eq!(de.reviews, 3);
        assert!((de.overall.expect("shown") - 3.0).abs() < 1e-9, "(5 + 2 + 2) / 3");
        assert_eq!((c[0].provider.as_str(), c[0].rank), ("0AR", Some(1)));
        assert_eq!((c[1].provider.as_str(), c[1].rank), ("0DE", Some(2)));
    }

    #[test]
    fn would_recommend_counts_each_reviewers_latest_answer() {
        // Member 0 answered 10 in its 2024/25 review and skipped the question in 2025/26: its 10
        // still counts. Members 1 and 2 answered 3 and 8 this year: (1 − 1) / 3 = 0.
        let mut d = dataset(3);
        d.reviews.push(review(0, "0DE", "BI", 2024, 4, Some(10), 1));
        d.reviews.push(review(0, "0DE", "BI", 2025, 4, None, 2));
        d.reviews.push(review(1, "0DE", "BI", 2025, 2, Some(3), 1));
        d.reviews.push(review(2, "0DE", "BI", 2025, 3, Some(8), 1));
        let c = &cards(&d, 3)[0];
        assert_eq!((c.recommend_answers, c.recommend_disclosure.clone()), (3, Disclosure::Shown));
        let r = c.recommend.as_ref().expect("three answers");
        assert_eq!((r.promoters, r.passives, r.detractors, r.score), (1, 1, 1, 0.0));
    }

    #[test]
    fn a_members_current_view_is_its_latest_year_not_its_last_written_review() {
        // Member 0 reviewed 2025/26 (it has left them) and then, later, filled in 2024/25 (when
        // it was still a customer, and would have recommended them). Its current view is
        // 2025/26's, whatever the order it wrote them in.
        let mut d = dataset(3);
        let mut left = review(0, "0DE", "BI", 2025, 2, Some(2), 1);
        left.body.still_customer = false;
        left.body.comment = Some("We left them in March.".into());
        d.reviews.push(left);
        d.reviews.push(review(0, "0DE", "BI", 2024, 4, Some(9), 5));
        d.reviews.push(review(1, "0DE", "BI", 2025, 3, Some(7), 1));
        d.reviews.push(review(2, "0DE", "BI", 2025, 3, Some(7), 1));
        let c = &cards(&d, 3)[0];
        assert_eq!((c.reviews, c.reviewers, c.still_customers), (4, 3, 2));
        // Answers 2, 7, 7: one detractor of three: −33.3.
        let r = c.recommend.as_ref().expect("shown");
        assert!((r.score + 100.0 / 3.0).abs() < 1e-9, "{}", r.score);
        // The three latest comments are 2025/26's, though member 0's 2024/25 one was written last.
        assert!(c.comments.iter().all(|x| x.year == FinancialYear(2025)), "{:?}", c.comments);
        assert!(c.comments.iter().any(|x| x.text == "We left them in March."));
    }

    #[test]
    fn a_withheld_year_cannot_be_worked_out_from_the_overall_and_the_other_years() {
        // 2023/24: member 0 alone rated 1 (withheld: 1 of 3). 2024/25: members 1–3 rated 4;
        // 2025/26: members 4–6 rated 3; every review rates all seven dimensions. The overall is
        // (0.49 × 7 × 1 + 0.7 × 21 × 4 + 21 × 3) ÷ (0.49 × 7 + 0.7 × 21 + 21) = 125.23 ÷ 39.13.
        // With both other years shown, 39.13 × overall − 0.7 × 21 × m₂₄ − 21 × m₂₅ = 3.43 × r₀
        // would give member 0's ratings away; so 2024/25 (the older of two years of three
        // members) is withheld with it, and one equation in two unknowns remains.
        let mut d = dataset(7);
        d.reviews.push(review(0, "0DE", "BI", 2023, 1, None, 1));
        for i in 1..4 {
            d.reviews.push(review(i, "0DE", "BI", 2024, 4, None, 1));
        }
        for i in 4..7 {
            d.reviews.push(review(i, "0DE", "BI", 2025, 3, None, 1));
        }
        let c = &cards(&d, 3)[0];
        let overall = c.overall.expect("shown");
        assert!((overall - 125.23 / 39.13).abs() < 1e-9, "{overall}");
        assert_eq!(c.trend[0].disclosure, Disclosure::TooFewMembers { members: 1, k: 3 });
        assert!(
            matches!(&c.trend[1].disclosure, Disclosure::Complementary { protects } if protects.contains("2023/24")),
            "{:?}",
            c.trend[1].disclosure
        );
        assert_eq!((c.trend[1].overall, c.trend[2].overall), (None, Some(3.0)));
        assert!(c.dimensions.iter().all(|x| x.mean.is_some()), "the dimension scores stay");
    }

    #[test]
    fn the_price_range_is_the_latest_year_shown_and_says_which() {
        use crate::query::tests::price;
        // 0DE's BI prices: three members in 2024/25 (shown), two in 2025/26 (withheld).
        let mut d = dataset(3);
        for i in 0..3 {
            d.prices.push(price(i, "0DE", "BI", 2024, 10_000_000 * (i as u64 + 1), 100_000, 1));
        }
        for i in 0..2 {
            d.prices.push(price(i, "0DE", "BI", 2025, 10_000_000, 100_000, 1));
        }
        let c = &cards(&d, 3)[0];
        let range = c.prices.as_ref().expect("priced");
        assert_eq!((range.year, range.latest_year, range.members), (FinancialYear(2024), FinancialYear(2025), 3));
        assert_eq!(range.stats.as_ref().and_then(|s| s.median_band), Some([2.0, 2.5]));
    }

    #[test]
    fn ranks_and_figures_do_not_depend_on_a_filter() {
        let mut d = dataset(3);
        for i in 0..3 {
            d.reviews.push(review(i, "0DE", "CONTRACT", 2025, 2, None, 1));
            d.reviews.push(review(i, "0AR", "CONTRACT", 2025, 4, None, 1));
        }
        let all = cards(&d, 3);
        let q = ProviderQuery { service_line: None, provider: Some("0DE".into()) };
        let one = scorecards(&d, &ctx(3), &q, &mut Rests::default());
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].rank, Some(2), "second of the line's two, not first of one");
        assert_eq!(Some(&one[0]), all.iter().find(|c| c.provider == "0DE"));
    }

    #[test]
    fn switching_in_and_out_is_counted() {
        use crate::query::tests::item;
        use csx_protocol::body::{Switch, SwitchReason};
        let mut d = dataset(3);
        let sw = |i: u8, from: Party, to: Party| {
            item(
                3,
                i,
                1,
                Switch {
                    service_line: "BI".into(),
                    from,
                    to,
                    effective: Date::from_ymd(2025, 4, 1).expect("date"),
                    reasons: vec![SwitchReason::Cost],
                    reason_text: None,
                    notice_months: None,
                    exit_costs_pence: None,
                    transition_months: None,
                },
            )
        };
        d.switches.push(sw(0, Party::Provider("0DE".into()), Party::Provider("0AR".into())));
        d.switches.push(sw(1, Party::Provider("0DE".into()), Party::InHouse));
        d.switches.push(sw(2, Party::InHouse, Party::Provider("0DE".into())));
        let c = cards(&d, 3);
        let de = c.iter().find(|c| c.provider == "0DE").expect("0DE");
        assert_eq!(de.switches, SwitchCounts { joined: 1, left: 2, net: -1 });
        let ar = c.iter().find(|c| c.provider == "0AR").expect("0AR");
        assert_eq!(ar.switches, SwitchCounts { joined: 1, left: 0, net: 1 });
        assert_eq!(ar.reviews, 0);
    }
}
