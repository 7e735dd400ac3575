//! The statistics behind every answer, as plain functions (see docs/QUERIES.md for the methods).

use serde::{Deserialize, Serialize};

/// The `p`-th percentile (0–100) of `sorted` (ascending, non-empty) by linear interpolation
/// between closest ranks: the value at rank `1 + p/100 × (n − 1)` (Excel's PERCENTILE.INC,
/// numpy's default, Hyndman–Fan type 7).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let h = (sorted.len() - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Where `x` stands among `values`, as a percentage: the share strictly below plus half the share
/// equal ("mid-rank" percent rank). 50 for the only value; 0 below everything; 100 above.
pub fn percent_rank(values: &[f64], x: f64) -> f64 {
    let below = values.iter().filter(|v| **v < x).count() as f64;
    let equal = values.iter().filter(|v| **v == x).count() as f64;
    100.0 * (below + equal / 2.0) / values.len() as f64
}

/// A distribution of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p90: f64,
    pub max: f64,
    /// Tukey's fences: values below `low_fence` or above `high_fence` are outliers.
    pub low_fence: f64,
    pub high_fence: f64,
    /// How many values lie beyond the fences (flagged, not removed).
    pub outliers: usize,
}

impl Summary {
    /// The summary of `values` (any order); `None` if empty.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let (p25, p75) = (percentile(&v, 25.0), percentile(&v, 75.0));
        let iqr = p75 - p25;
        let (low_fence, high_fence) = (p25 - 1.5 * iqr, p75 + 1.5 * iqr);
        Some(Summary {
            n: v.len(),
            min: v[0],
            p25,
            median: percentile(&v, 50.0),
            p75,
            p90: percentile(&v, 90.0),
            max: v[v.len() - 1],
            low_fence,
            high_fence,
            outliers: v.iter().filter(|x| **x < low_fence || **x > high_fence).count(),
        })
    }

    pub fn is_outlier(&self, x: f64) -> bool {
        x < self.low_fence || x > self.high_fence
    }
}

/// The mean of `(value, weight)` pairs; `None` when the weights sum to zero.
pub fn weighted_mean(pairs: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    let (mut sum, mut weight) = (0.0, 0.0);
    for (v, w) in pairs {
        sum += v * w;
        weight += w;
    }
    (weight > 0.0).then(|| sum / weight)
}

/// How much an opinion `age_years` old counts: ×0.7 per year.
pub fn age_weight(age_years: f64) -> f64 {
    0.7f64.powf(age_years.max(0.0))
}

/// Net recommendation score from 0–10 answers: % promoters (9–10) minus % detractors (0–6),
/// from −100 to +100. `None` without answers.
pub fn net_score(answers: &[u8]) -> Option<f64> {
    if answers.is_empty() {
        return None;
    }
    let n = answers.len() as f64;
    let promoters = answers.iter().filter(|a| **a >= 9).count() as f64;
    let detractors = answers.iter().filter(|a| **a <= 6).count() as f64;
    Some(100.0 * (promoters - detractors) / n)
}

/// Whether a statistic over data points contributed by members may be shown, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Disclosure {
    Shown,
    /// Fewer than `k` distinct members contributed.
    TooFewMembers {
        members: usize,
        k: u16,
    },
    /// Fewer than `k` distinct members, for a statistic that is itself a count of members (how
    /// many renew, how many intend): how many fewer is the figure withheld, so it is not given.
    FewerThan {
        k: u16,
    },
    /// One member carries more than the allowed share of the statistic's weight.
    Dominated {
        share_bp: u32,
        limit_bp: u16,
    },
    /// A price statistic over all providers in which all but `others` members buy only from one
    /// provider: that provider knows what they pay, and would learn the rest's prices from it.
    ProviderKnowsRest {
        provider: String,
        others: usize,
        k: u16,
    },
    /// Withheld so that a withheld figure cannot be worked out from the figures shown
    /// (secondary suppression): `protects` names it.
    Complementary {
        protects: String,
    },
}

impl Disclosure {
    pub fn shown(&self) -> bool {
        matches!(self, Disclosure::Shown)
    }

    /// The verdict for a statistic that is a count of members: "2 of 3 members" would give
    /// away the very count withheld, so a too-small count says only "fewer than k".
    pub fn of_a_count(self) -> Disclosure {
        match self {
            Disclosure::TooFewMembers { k, .. } => Disclosure::FewerThan { k },
            other => other,
        }
    }

    /// The words for a suppressed statistic, short enough for a table cell (the JSON gives the
    /// details: which provider, what a complementary suppression protects).
    pub fn explain(&self) -> String {
        match self {
            Disclosure::Shown => "shown".into(),
            Disclosure::TooFewMembers { members, k } => format!("not enough data ({members} of {k} members)"),
            Disclosure::FewerThan { k } => format!("fewer than {k} members"),
            Disclosure::Dominated { share_bp, limit_bp } => {
                format!("not shown: one member supplies {}% of the data (limit {}%)", share_bp / 100, limit_bp / 100)
            }
            Disclosure::ProviderKnowsRest { others, .. } => {
                format!("not shown: one provider supplies all but {others} of its members")
            }
            Disclosure::Complementary { .. } => "not shown: it would give away a withheld figure".into(),
        }
    }
}

/// The disclosure rule: at least `k` distinct members, and no member carrying more than
/// `max_share_bp` of the statistic's weight. `weights` has one entry per data point: who
/// contributed it and how much it counts in the statistic (1 for a price point; a rating's age
/// weight for a score), so the cap measures one member's weight in the figure, not how many
/// records it wrote.
pub fn disclosure<T: Ord>(weights: impl IntoIterator<Item = (T, f64)>, k: u16, max_share_bp: u16) -> Disclosure {
    let mut by: std::collections::BTreeMap<T, f64> = Default::default();
    let mut total = 0.0;
    for (member, w) in weights {
        *by.entry(member).or_default() += w;
        total += w;
    }
    if by.len() < k as usize {
        return Disclosure::TooFewMembers { members: by.len(), k };
    }
    let top = by.values().copied().fold(0.0, f64::max);
    // Integer basis points, rounded down, compared with the cap: exactly half is allowed.
    let share_bp = if total > 0.0 { (top / total * 10_000.0 + 1e-9).floor() as u32 } else { 0 };
    if share_bp > max_share_bp as u32 {
        return Disclosure::Dominated { share_bp, limit_bp: max_share_bp };
    }
    Disclosure::Shown
}

/// How much of a price distribution a cell may show, by how many members are behind it
/// (docs/QUERIES.md, "What a cell may show"). With type-7 percentiles, three values are given
/// away by their min, median and max, and five by min, quartiles and max, so small cells show
/// less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// k to 4 members: only the band the median lies in.
    Band,
    /// 5 to 9 members: the median and quartiles (with the fences they give), no min, max or p90.
    Quartiles,
    /// 10 members or more: min, quartiles, median, p90 and max.
    Full,
}

/// Members from which a cell shows its median and quartiles.
pub const QUARTILES_FROM: usize = 5;
/// Members from which a cell shows its min, max and 90th percentile too.
pub const FULL_FROM: usize = 10;

impl Detail {
    pub fn for_members(n: usize) -> Detail {
        match n {
            n if n >= FULL_FROM => Detail::Full,
            n if n >= QUARTILES_FROM => Detail::Quartiles,
            _ => Detail::Band,
        }
    }
}

/// The preferred numbers of the R10 series (ISO 3): band edges ×1.25 apart in each decade.
const R10: [f64; 10] = [1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0];

/// The R10 band `[low, high)` that `x` (> 0) lies in: for £1.18, £1.00 to £1.25.
pub fn band(x: f64) -> [f64; 2] {
    if x <= 0.0 || !x.is_finite() {
        return [0.0, 0.0];
    }
    let decade = 10f64.powi(x.log10().floor() as i32);
    let m = x / decade;
    let i = R10.iter().rposition(|r| *r <= m + 1e-12).unwrap_or(0);
    let high = R10.get(i + 1).map_or(10.0, |h| *h);
    [round4(R10[i] * decade), round4(high * decade)]
}

fn round4(x: f64) -> f64 {
    let scale = 10f64.powi(4 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// A price distribution as a cell of a given [`Detail`] shows it: what it may not show is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub n: usize,
    pub detail: Detail,
    /// From 5 members.
    pub median: Option<f64>,
    /// Below 5 members: the band `[low, high)` the median lies in, instead of the median.
    pub median_band: Option<[f64; 2]>,
    pub p25: Option<f64>,
    pub p75: Option<f64>,
    /// From 10 members.
    pub p90: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Tukey's fences (from the quartiles): values beyond them are outliers.
    pub low_fence: Option<f64>,
    pub high_fence: Option<f64>,
    /// How many values lie beyond the fences (flagged, not removed).
    pub outliers: Option<usize>,
}

impl Distribution {
    /// What a cell of `detail` shows of `values`; `None` if there are none.
    pub fn of(values: &[f64], detail: Detail) -> Option<Distribution> {
        let s = Summary::of(values)?;
        let quartiles = detail != Detail::Band;
        let full = detail == Detail::Full;
        let q = |x: f64| quartiles.then_some(x);
        let f = |x: f64| full.then_some(x);
        Some(Distribution {
            n: s.n,
            detail,
            median: q(s.median),
            median_band: (!quartiles).then(|| band(s.median)),
            p25: q(s.p25),
            p75: q(s.p75),
            p90: f(s.p90),
            min: f(s.min),
            max: f(s.max),
            low_fence: q(s.low_fence),
            high_fence: q(s.high_fence),
            outliers: quartiles.then_some(s.outliers),
        })
    }

    /// Whether `x` lies beyond the fences (false where the cell shows none).
    pub fn is_outlier(&self, x: f64) -> bool {
        matches!((self.low_fence, self.high_fence), (Some(l), Some(h)) if x < l || x > h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn percentiles_by_hand() {
        // 1, 2, 3, 4, 10: ranks 1..5; p25 at rank 2 → 2; median rank 3 → 3; p75 rank 4 → 4;
        // p90 at rank 4.6 → 4 + 0.6 × (10 − 4) = 7.6.
        let v = [4.0, 1.0, 10.0, 3.0, 2.0];
        let s = Summary::of(&v).expect("some");
        assert_eq!((s.min, s.p25, s.median, s.p75, s.max), (1.0, 2.0, 3.0, 4.0, 10.0));
        assert!(close(s.p90, 7.6));
        // IQR 2: fences at 2 − 3 = −1 and 4 + 3 = 7: 10 is an outlier, kept.
        assert_eq!((s.low_fence, s.high_fence, s.outliers), (-1.0, 7.0, 1));
        assert!(s.is_outlier(10.0) && !s.is_outlier(4.0));
    }

    #[test]
    fn even_counts_interpolate() {
        // 1, 2, 3, 4: median at rank 2.5 → 2.5; p25 at rank 1.75 → 1.75; p90 at 3.7 → 3.7.
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0]).expect("some");
        assert!(close(s.median, 2.5) && close(s.p25, 1.75) && close(s.p75, 3.25) && close(s.p90, 3.7));
    }

    #[test]
    fn a_single_value_and_all_equal_values() {
        let s = Summary::of(&[5.0]).expect("some");
        assert_eq!((s.min, s.p25, s.median, s.p75, s.p90, s.max, s.outliers), (5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 0));
        let s = Summary::of(&[3.0, 3.0, 3.0]).expect("some");
        assert_eq!((s.p25, s.median, s.p90, s.outliers), (3.0, 3.0, 3.0, 0), "IQR 0: nothing is an outlier");
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn percent_rank_counts_ties_as_half() {
        let v = [1.0, 2.0, 2.0, 3.0];
        assert!(close(percent_rank(&v, 2.0), 50.0)); // 1 below + 2 equal / 2 = 2 of 4
        assert!(close(percent_rank(&v, 3.0), 87.5)); // 3 below + 0.5
        assert!(close(percent_rank(&v, 0.5), 0.0));
        assert!(close(percent_rank(&[7.0], 7.0), 50.0));
    }

    #[test]
    fn age_weights_and_weighted_means() {
        assert!(close(age_weight(0.0), 1.0) && close(age_weight(1.0), 0.7) && close(age_weight(2.0), 0.49));
        // Ratings 4 (this year) and 2 (two years ago): (4 × 1 + 2 × 0.49) / 1.49 = 3.3423…
        let m = weighted_mean([(4.0, age_weight(0.0)), (2.0, age_weight(2.0))]).expect("some");
        assert!(close(m, 4.98 / 1.49));
        assert!(weighted_mean(std::iter::empty()).is_none());
    }

    #[test]
    fn net_score_is_promoters_minus_detractors() {
        // 10, 9 promoters; 8, 7 passive; 6, 0 detractors: (2 − 2) / 6 = 0.
        assert_eq!(net_score(&[10, 9, 8, 7, 6, 0]), Some(0.0));
        assert_eq!(net_score(&[9, 9, 9, 5]), Some(50.0));
        assert_eq!(net_score(&[0]), Some(-100.0));
        assert_eq!(net_score(&[]), None);
    }

    fn ones<'a>(members: &[&'a str]) -> Vec<(&'a str, f64)> {
        members.iter().map(|m| (*m, 1.0)).collect()
    }

    #[test]
    fn the_disclosure_threshold() {
        assert_eq!(disclosure(ones(&["a", "b"]), 3, 5000), Disclosure::TooFewMembers { members: 2, k: 3 });
        assert_eq!(disclosure(ones(&["a", "b", "c"]), 3, 5000), Disclosure::Shown);
        // Three members, but one carries 4 of 6 equal weights: 66% > 50%.
        assert_eq!(
            disclosure(ones(&["a", "a", "a", "a", "b", "c"]), 3, 5000),
            Disclosure::Dominated { share_bp: 6666, limit_bp: 5000 }
        );
        // Exactly half is allowed.
        assert_eq!(disclosure(ones(&["a", "a", "a", "b", "c", "d"]), 3, 5000), Disclosure::Shown);
        assert_eq!(Disclosure::TooFewMembers { members: 2, k: 3 }.explain(), "not enough data (2 of 3 members)");
    }

    #[test]
    fn the_cap_weighs_what_a_member_contributes_to_the_figure() {
        // Member a reviewed in four years (weights 1, 0.7, 0.49, 0.343 = 2.533), b and c this
        // year (1 each): a carries 2.533 / 4.533 = 55.87% of the age-weighted score.
        let w = [("a", 1.0), ("a", 0.7), ("a", 0.49), ("a", 0.343), ("b", 1.0), ("c", 1.0)];
        assert_eq!(disclosure(w, 3, 5000), Disclosure::Dominated { share_bp: 5587, limit_bp: 5000 });
        // Two years: 1.7 / 3.7 = 45.9%, shown. Three: 2.19 / 4.19 = 52.26%, over the cap (as a
        // count of member-years it would be 3 of 5 = 60%).
        assert_eq!(disclosure([("a", 1.0), ("a", 0.7), ("b", 1.0), ("c", 1.0)], 3, 5000), Disclosure::Shown);
        assert_eq!(
            disclosure([("a", 1.0), ("a", 0.7), ("a", 0.49), ("b", 1.0), ("c", 1.0)], 3, 5000),
            Disclosure::Dominated { share_bp: 5226, limit_bp: 5000 }
        );
    }

    #[test]
    fn what_a_cell_may_show_by_its_members() {
        let three = Distribution::of(&[1.0, 1.18, 2.0], Detail::for_members(3)).expect("some");
        assert_eq!((three.detail, three.median, three.median_band), (Detail::Band, None, Some([1.0, 1.25])));
        assert!(three.min.is_none() && three.p25.is_none() && three.max.is_none() && three.outliers.is_none());
        let five = Distribution::of(&[1.0, 2.0, 3.0, 4.0, 10.0], Detail::for_members(5)).expect("some");
        assert_eq!((five.median, five.p25, five.p75, five.outliers), (Some(3.0), Some(2.0), Some(4.0), Some(1)));
        assert!(five.min.is_none() && five.max.is_none() && five.p90.is_none() && five.median_band.is_none());
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let ten = Distribution::of(&ten, Detail::for_members(10)).expect("some");
        assert_eq!((ten.min, ten.max, ten.p90), (Some(1.0), Some(10.0), Some(9.1)));
    }

    #[test]
    fn bands_are_preferred_numbers() {
        assert_eq!(band(1.18), [1.0, 1.25]);
        assert_eq!(band(0.62), [0.5, 0.63]);
        assert_eq!(band(1.25), [1.25, 1.6]);
        assert_eq!(band(7.9), [6.3, 8.0]);
        assert_eq!(band(9.5), [8.0, 10.0]);
        assert_eq!(band(0.045), [0.04, 0.05]);
        assert_eq!(band(312.0), [250.0, 315.0]);
    }
}
