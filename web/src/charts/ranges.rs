//! Box plots in rows: for each row, what the cell may show (docs/QUERIES.md, *what a cell may
//! show*) — from 10 members the range (min to max) as whiskers, from 5 the middle half (p25 to
//! p75) as a box and the median as a bar, below 5 only the band the median lies in, as a dashed
//! bar — values beyond the outlier fences flagged, and the asking member's own value as a diamond. Used for where you stand (one row per service line), a
//! line's prices by year, and the small multiples by provider.

use std::fmt::Write;

use csx_node::query::stats::Distribution;

use super::{Chart, Scale, colour, money, open, text, ticks, withheld, x_axis};

/// One row of the chart.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    /// The statistic, when it may be shown.
    pub stats: Option<Distribution>,
    /// Why it is withheld (`not enough data (2 of 3 members)`), when it is.
    pub withheld: Option<String>,
    /// The asking member's own value.
    pub you: Option<f64>,
}

const WIDTH: f64 = 900.0;
const LABEL: f64 = 300.0;
const ROW: f64 = 46.0;
const TOP: f64 = 12.0;

/// Draws `rows` on one axis of `unit` (e.g. "£ per head").
pub fn chart(id: &str, title: &str, unit: &str, rows: &[Row]) -> Chart {
    let mut values: Vec<f64> = Vec::new();
    for r in rows {
        if let Some(s) = &r.stats {
            values.extend([s.min, s.max, s.p25, s.p75].into_iter().flatten());
            values.extend(s.median_band.into_iter().flatten());
        }
        values.extend(r.you);
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (tks, lo, hi) = if values.is_empty() { ticks(0.0, 1.0, 5) } else { ticks(lo, hi, 6) };
    let height = TOP + ROW * rows.len().max(1) as f64 + 40.0;
    let scale = Scale::new(lo, hi, LABEL + 10.0, WIDTH - 20.0);
    let axis_y = TOP + ROW * rows.len().max(1) as f64;
    let desc = describe(rows, unit);
    let mut s = open(id, WIDTH, height, title, &desc);
    s.push_str(&x_axis(&scale, &tks, axis_y, TOP, money));
    s.push_str(&text((LABEL + WIDTH) / 2.0, axis_y + 34.0, "middle", "csx-chart__axis-title muted", unit));
    let mut marks = 0;
    for (i, r) in rows.iter().enumerate() {
        let y0 = TOP + ROW * i as f64;
        let cy = y0 + ROW / 2.0;
        s.push_str(&text(LABEL, cy + 5.0, "end", "csx-chart__label", &super::clip(&r.label, 36)));
        match &r.stats {
            Some(st) => {
                marks += 1;
                s.push_str(&shape(&scale, cy, &r.label, st));
            }
            None => {
                let words = r.withheld.clone().unwrap_or_else(|| "not enough data".into());
                s.push_str(&withheld(id, LABEL + 10.0, y0 + 8.0, WIDTH - LABEL - 30.0, ROW - 16.0, &words));
            }
        }
        if let Some(v) = r.you {
            let x = scale.at(v);
            let _ = write!(
                s,
                r#"<g data-mark="you"><title>You: {}</title><path d="M{x:.1} {:.1} l7 7 l-7 7 l-7 -7 z" fill="{}" stroke="{}" stroke-width="1.5"/>{}</g>"#,
                money(v),
                cy - 7.0,
                colour::WARM_YELLOW,
                colour::TEXT,
                text(x, cy + 22.0, "middle", "csx-chart__small", &format!("you {}", money(v)))
            );
        }
    }
    s.push_str("</svg>");
    Chart { svg: s, marks }
}

/// The marks of one shown row: whiskers, box and median bar as far as the cell shows them, or
/// the band of its median; the extremes beyond the fences flagged as outliers.
fn shape(scale: &Scale, cy: f64, label: &str, st: &Distribution) -> String {
    let mut s = String::new();
    let label = crate::html::esc(label);
    if let (Some(p25), Some(median), Some(p75)) = (st.p25, st.median, st.p75) {
        let (x25, x75, xm) = (scale.at(p25), scale.at(p75), scale.at(median));
        let mut title = format!("{label}: median {}, middle half {} to {}", money(median), money(p25), money(p75));
        let mut whiskers = String::new();
        if let (Some(min), Some(max)) = (st.min, st.max) {
            let _ = write!(title, ", range {} to {}", money(min), money(max));
            let (x_min, x_max) = (scale.at(min), scale.at(max));
            let grey = colour::SECONDARY_TEXT;
            let _ = write!(
                whiskers,
                r#"<line x1="{x_min:.1}" y1="{cy:.1}" x2="{x_max:.1}" y2="{cy:.1}" stroke="{grey}" stroke-width="2"/><line x1="{x_min:.1}" y1="{:.1}" x2="{x_min:.1}" y2="{:.1}" stroke="{grey}" stroke-width="2"/><line x1="{x_max:.1}" y1="{:.1}" x2="{x_max:.1}" y2="{:.1}" stroke="{grey}" stroke-width="2"/>"#,
                cy - 7.0,
                cy + 7.0,
                cy - 7.0,
                cy + 7.0,
            );
        }
        let _ = write!(
            s,
            r#"<g class="csx-box" data-mark="box"><title>{title} ({} members)</title>{whiskers}<rect x="{x25:.1}" y="{:.1}" width="{:.1}" height="20" fill="{}" stroke="{}" stroke-width="1.5"/><line x1="{xm:.1}" y1="{:.1}" x2="{xm:.1}" y2="{:.1}" stroke="{}" stroke-width="4"/></g>"#,
            st.n,
            cy - 10.0,
            (x75 - x25).max(1.5),
            colour::PALE_BLUE,
            colour::BLUE,
            cy - 13.0,
            cy + 13.0,
            colour::DARK_BLUE,
        );
        // The extremes beyond Tukey's fences are outliers: flagged with a ring and a word.
        for (v, end) in [(st.min, "low"), (st.max, "high")] {
            if let Some(v) = v.filter(|v| st.is_outlier(*v)) {
                let x = scale.at(v);
                let _ = write!(
                    s,
                    r#"<g data-mark="outlier"><circle cx="{x:.1}" cy="{cy:.1}" r="6" fill="white" stroke="{}" stroke-width="2"/>{}</g>"#,
                    colour::RED,
                    text(x, cy - 12.0, "middle", "csx-chart__small", &format!("{end} outlier"))
                );
            }
        }
    } else if let Some([low, high]) = st.median_band {
        let (x0, x1) = (scale.at(low), scale.at(high));
        let _ = write!(
            s,
            r#"<g class="csx-band" data-mark="band"><title>{label}: the median lies between {} and {} ({} members; exact figures are shown from 5)</title><rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="20" fill="{}" fill-opacity="0.5" stroke="{}" stroke-width="1.5" stroke-dasharray="4 3"/>{}</g>"#,
            money(low),
            money(high),
            st.n,
            cy - 10.0,
            (x1 - x0).max(1.5),
            colour::PALE_BLUE,
            colour::BLUE,
            text((x0 + x1) / 2.0, cy + 24.0, "middle", "csx-chart__small", "median in this band"),
        );
    }
    s
}

fn describe(rows: &[Row], unit: &str) -> String {
    let shown = rows.iter().filter(|r| r.stats.is_some()).count();
    let mut parts = vec![format!(
        "Box plots of {unit} for {} rows ({shown} shown, {} withheld for too few members). Each box runs from the 25th to the 75th percentile with a bar at the median; lines run from the lowest to the highest value; a diamond marks your own value. The table below the chart gives every figure.",
        rows.len(),
        rows.len() - shown
    )];
    for r in rows {
        match &r.stats {
            Some(s) => parts.push(format!("{}: {}.", r.label, median_words(s))),
            None => parts.push(format!("{}: {}.", r.label, r.withheld.as_deref().unwrap_or("not enough data"))),
        }
        if let Some(v) = r.you {
            parts.push(format!("You: {}.", money(v)));
        }
    }
    parts.join(" ")
}

/// The median in words, or the band it lies in where the cell shows no exact figure.
pub fn median_words(s: &Distribution) -> String {
    match (s.median, s.median_band) {
        (Some(m), _) => format!("median {}", money(m)),
        (None, Some([low, high])) => format!("median between {} and {}", money(low), money(high)),
        (None, None) => "no median shown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use csx_node::query::stats::Detail;

    fn summary(v: &[f64]) -> Distribution {
        Distribution::of(v, Detail::Full).expect("values")
    }

    #[test]
    fn one_box_per_shown_row_and_no_figure_for_a_withheld_row() {
        let rows = vec![
            Row {
                label: "2025/26".into(),
                stats: Some(summary(&[1.0, 2.0, 3.0, 10.0])),
                withheld: None,
                you: Some(2.0),
            },
            Row {
                label: "2024/25".into(),
                stats: None,
                withheld: Some("not enough data (2 of 3 members)".into()),
                you: None,
            },
        ];
        let c = chart("p", "BI", "£ per head", &rows);
        assert_eq!(c.marks, 1);
        assert_eq!(c.svg.matches(r#"data-mark="box""#).count(), 1);
        assert_eq!(c.svg.matches(r#"data-mark="outlier""#).count(), 1, "10 is beyond the fence");
        assert_eq!(c.svg.matches(r#"data-mark="you""#).count(), 1);
        assert!(c.svg.contains("not enough data (2 of 3 members)"));
        assert!(c.svg.contains(r#"role="img""#) && c.svg.contains("<desc"));
    }
}
