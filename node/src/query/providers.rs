//! Provider scorecards: what members say about each provider, service line by service line.

use std::collections::{BTreeMap, HashMap};

use csx_protocol::body::{Party, RATING_DIMENSIONS, Review};
use csx_protocol::{Date, FinancialYear, OrgKey};
use serde::{Deserialize, Serialize};

use super::prices::{Basis, PriceQuery, prices};
use super::stats::{Disclosure, Summary, age_weight, disclosure, net_score, weighted_mean};
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
    /// Only when enough members rated it.
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
    /// The mean of the year's review scores (no age weighting within a year).
    pub overall: Option<f64>,
}

/// What members pay this provider for this line per head, in the latest year disclosed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceRange {
    pub year: FinancialYear,
    pub members: usize,
    pub disclosure: Disclosure,
    /// £ per head, when the disclosure rule allows.
    pub stats: Option<Summary>,
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
    /// Whether the scores may be shown.
    pub disclosure: Disclosure,
    /// Age-weighted mean of each review's mean rating (1–5).
    pub overall: Option<f64>,
    /// Position by `overall` among the line's shown scorecards (1 = best).
    pub rank: Option<usize>,
    pub dimensions: Vec<DimensionScore>,
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
}

type Key = (String, String); // (service line, provider)

/// One review's mean over the dimensions it rated.
fn review_mean(r: &Review) -> Option<f64> {
    let rated: Vec<f64> = r.ratings().iter().flatten().map(|v| *v as f64).collect();
    (!rated.is_empty()).then(|| rated.iter().sum::<f64>() / rated.len() as f64)
}

fn age_years(ctx: &Ctx, year: FinancialYear) -> f64 {
    (ctx.this_year().0 as f64 - year.0 as f64).max(0.0)
}

/// Scorecards for `q`: one per (service line, provider) that has reviews, prices or switches,
/// ordered by line, then best score first (suppressed scores last).
pub fn scorecards(d: &Dataset, ctx: &Ctx, q: &ProviderQuery, rests: &mut Rests) -> Vec<Scorecard> {
    let wanted = |line: &str, provider: &str| {
        q.service_line.as_deref().is_none_or(|l| l == line) && q.provider.as_deref().is_none_or(|p| p == provider)
    };
    // A member's latest review of a provider's line in each year counts.
    let reviews = latest_by(&d.reviews, |it: &Item<Review>| {
        (it.org, it.body.provider.clone(), it.body.service_line.clone(), it.body.year)
    });
    let mut by_key: BTreeMap<Key, Vec<&Item<Review>>> = BTreeMap::new();
    for it in reviews {
        if wanted(&it.body.service_line, &it.body.provider) {
            rests.add(it);
            by_key.entry((it.body.service_line.clone(), it.body.provider.clone())).or_default().push(it);
        }
    }
    // Switches in and out.
    let mut switches: HashMap<Key, SwitchCounts> = HashMap::new();
    for it in &d.switches {
        let s = &it.body;
        for (party, joined) in [(&s.to, true), (&s.from, false)] {
            if let Party::Provider(code) = party
                && wanted(&s.service_line, code)
            {
                rests.add(it);
                let c = switches.entry((s.service_line.clone(), code.clone())).or_default();
                if joined {
                    c.joined += 1;
                } else {
                    c.left += 1;
                }
                c.net = c.joined as i64 - c.left as i64;
            }
        }
    }
    // Price ranges: the latest year's per-head statistic for each provider and line.
    let cells = prices(
        d,
        ctx,
        &PriceQuery { service_line: q.service_line.clone(), provider: q.provider.clone(), year: None },
        rests,
    );
    let mut ranges: HashMap<Key, PriceRange> = HashMap::new();
    for c in cells {
        let Some(provider) = c.provider else { continue };
        if c.basis != Basis::PerHead {
            continue;
        }
        let key = (c.service_line, provider);
        if ranges.get(&key).is_none_or(|r| r.year < c.year) {
            ranges
                .insert(key, PriceRange { year: c.year, members: c.members, disclosure: c.disclosure, stats: c.stats });
        }
    }
    let mut keys: Vec<Key> = by_key.keys().cloned().collect();
    keys.extend(switches.keys().cloned());
    keys.extend(ranges.keys().cloned());
    keys.sort();
    keys.dedup();
    let mut out: Vec<Scorecard> = keys
        .into_iter()
        .map(|key| {
            let items = by_key.remove(&key).unwrap_or_default();
            let mut card = score(d, ctx, &key, &items);
            card.switches = switches.remove(&key).unwrap_or_default();
            card.prices = ranges.remove(&key);
            card
        })
        .collect();
    out.sort_by(|a, b| {
        line_order(&a.service_line)
            .cmp(&line_order(&b.service_line))
            .then_with(|| b.overall.is_some().cmp(&a.overall.is_some()))
            .then_with(|| b.overall.unwrap_or(0.0).total_cmp(&a.overall.unwrap_or(0.0)))
            .then_with(|| b.reviewers.cmp(&a.reviewers))
            .then_with(|| a.provider.cmp(&b.provider))
    });
    let mut rank = 0;
    for i in 0..out.len() {
        if i > 0 && out[i].service_line != out[i - 1].service_line {
            rank = 0;
        }
        if out[i].overall.is_some() {
            rank += 1;
            out[i].rank = Some(rank);
        }
    }
    out
}

/// The scorecard of one provider and line from its counted reviews.
fn score(d: &Dataset, ctx: &Ctx, (line, provider): &Key, items: &[&Item<Review>]) -> Scorecard {
    let contributors: Vec<OrgKey> = items.iter().map(|it| it.org).collect();
    let rule = disclosure(&contributors, ctx.k, ctx.max_share_bp);
    let shown = rule.shown();
    let weight = |it: &Item<Review>| age_weight(age_years(ctx, it.body.year));
    let overall = shown
        .then(|| weighted_mean(items.iter().filter_map(|it| review_mean(&it.body).map(|m| (m, weight(it))))))
        .flatten();
    let dimensions = RATING_DIMENSIONS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let rated: Vec<(&Item<Review>, f64)> =
                items.iter().filter_map(|it| it.body.ratings()[i].map(|v| (*it, v as f64))).collect();
            let orgs: Vec<OrgKey> = rated.iter().map(|(it, _)| it.org).collect();
            let mean = (shown && disclosure(&orgs, ctx.k, ctx.max_share_bp).shown())
                .then(|| weighted_mean(rated.iter().map(|(it, v)| (*v, weight(it)))))
                .flatten();
            DimensionScore { name: name.to_string(), answers: rated.len(), mean }
        })
        .collect();
    // Each reviewer's latest view.
    let latest = latest_by(items.iter().copied(), |it| it.org);
    let answers: Vec<(OrgKey, u8)> =
        latest.iter().filter_map(|it| it.body.would_recommend.map(|a| (it.org, a))).collect();
    let answer_orgs: Vec<OrgKey> = answers.iter().map(|(o, _)| *o).collect();
    let recommend = (shown && disclosure(&answer_orgs, ctx.k, ctx.max_share_bp).shown())
        .then(|| {
            let values: Vec<u8> = answers.iter().map(|(_, a)| *a).collect();
            net_score(&values).map(|score| Recommend {
                answers: values.len(),
                promoters: values.iter().filter(|a| **a >= 9).count(),
                passives: values.iter().filter(|a| (7..=8).contains(*a)).count(),
                detractors: values.iter().filter(|a| **a <= 6).count(),
                score,
            })
        })
        .flatten();
    let mut years: BTreeMap<FinancialYear, Vec<&Item<Review>>> = BTreeMap::new();
    for it in items {
        years.entry(it.body.year).or_default().push(it);
    }
    let trend = years
        .into_iter()
        .map(|(year, its)| {
            let orgs: Vec<OrgKey> = its.iter().map(|it| it.org).collect();
            let rule = disclosure(&orgs, ctx.k, ctx.max_share_bp);
            let overall = rule
                .shown()
                .then(|| weighted_mean(its.iter().filter_map(|it| review_mean(&it.body).map(|m| (m, 1.0)))))
                .flatten();
            let mut members = orgs.clone();
            members.sort();
            members.dedup();
            YearScore { year, reviews: its.len(), members: members.len(), disclosure: rule, overall }
        })
        .collect();
    let mut commented: Vec<&&Item<Review>> = items.iter().filter(|it| it.body.comment.is_some()).collect();
    commented.sort_by_key(|it| std::cmp::Reverse((it.created_at, it.id)));
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
    let mut reviewers = contributors.clone();
    reviewers.sort();
    reviewers.dedup();
    Scorecard {
        provider: provider.clone(),
        provider_name: d.provider_name(provider),
        service_line: line.clone(),
        service_line_name: line_name(line),
        reviews: items.len(),
        reviewers: reviewers.len(),
        still_customers: latest.iter().filter(|it| it.body.still_customer).count(),
        disclosure: rule,
        overall,
        rank: None,
        dimensions,
        recommend,
        trend,
        prices: None,
        switches: SwitchCounts::default(),
        comments,
    }
}

/// One provider's scorecards on every line, with what the registry says about it.
pub fn profile(d: &Dataset, ctx: &Ctx, code: &str, rests: &mut Rests) -> ProviderProfile {
    // Ranks are among all the line's providers, so score every provider on the lines this one is on.
    let all = scorecards(d, ctx, &ProviderQuery::default(), &mut Rests::default());
    let cards: Vec<Scorecard> = all.into_iter().filter(|c| c.provider == code).collect();
    // What this answer rests on: the provider's own records only.
    scorecards(d, ctx, &ProviderQuery { service_line: None, provider: Some(code.to_string()) }, rests);
    let builtin = csx_protocol::refdata::builtin_provider(code);
    let kind =
        d.providers.get(code).map(|p| p.provider_kind.to_string()).or_else(|| builtin.map(|b| b.kind.to_string()));
    ProviderProfile {
        code: code.to_string(),
        name: d.provider_name(code),
        kind,
        note: builtin.map(|b| b.note.to_string()),
        scorecards: cards,
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
        // A third reviewer, but member 0 reviews four years: 4 of 6 points → dominated.
        for y in 2022..2025 {
            d.reviews.push(review(0, "0DE", "BI", y, 5, Some(10), 1));
        }
        d.reviews.push(review(2, "0DE", "BI", 2025, 3, Some(7), 1));
        let c = &cards(&d, 3)[0];
        assert_eq!(c.disclosure, Disclosure::Dominated { share_bp: 6666, limit_bp: 5000 });
        assert!(c.overall.is_none());
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
