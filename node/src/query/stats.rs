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

/// Whether a statistic over data points contributed by members may be shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Disclosure {
    Shown,
    /// Fewer than `k` distinct members contributed.
    TooFewMembers {
        members: usize,
        k: u16,
    },
    /// One member supplies more than the allowed share of the data points.
    Dominated {
        share_bp: u32,
        limit_bp: u16,
    },
}

impl Disclosure {
    pub fn shown(&self) -> bool {
        matches!(self, Disclosure::Shown)
    }

    /// The words for a suppressed statistic.
    pub fn explain(&self) -> String {
        match self {
            Disclosure::Shown => "shown".into(),
            Disclosure::TooFewMembers { members, k } => format!("not enough data ({members} of {k} members)"),
            Disclosure::Dominated { share_bp, limit_bp } => {
                format!("not shown: one member supplies {}% of the data (limit {}%)", share_bp / 100, limit_bp / 100)
            }
        }
    }
}

/// The disclosure rule: at least `k` distinct contributors, and no contributor supplying more
/// than `max_share_bp` of the points. `contributors` has one entry per data point.
pub fn disclosure<T: Ord>(contributors: &[T], k: u16, max_share_bp: u16) -> Disclosure {
    let mut counts: std::collections::BTreeMap<&T, usize> = Default::default();
    for c in contributors {
        *counts.entry(c).or_default() += 1;
    }
    if counts.len() < k as usize {
        return Disclosure::TooFewMembers { members: counts.len(), k };
    }
    let top = counts.values().copied().max().unwrap_or(0);
    let share_bp = (top * 10_000 / contributors.len().max(1)) as u32;
    if share_bp > max_share_bp as u32 {
        return Disclosure::Dominated { share_bp, limit_bp: max_share_bp };
    }
    Disclosure::Shown
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

    #[test]
    fn the_disclosure_threshold() {
        assert_eq!(disclosure(&["a", "b"], 3, 5000), Disclosure::TooFewMembers { members: 2, k: 3 });
        assert_eq!(disclosure(&["a", "b", "c"], 3, 5000), Disclosure::Shown);
        // Three members, but one supplies 4 of 6 points: 66% > 50%.
        assert_eq!(
            disclosure(&["a", "a", "a", "a", "b", "c"], 3, 5000),
            Disclosure::Dominated { share_bp: 6666, limit_bp: 5000 }
        );
        // Exactly half is allowed.
        assert_eq!(disclosure(&["a", "a", "a", "b", "c", "d"], 3, 5000), Disclosure::Shown);
        assert_eq!(Disclosure::TooFewMembers { members: 2, k: 3 }.explain(), "not enough data (2 of 3 members)");
    }
}
