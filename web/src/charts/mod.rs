//! Charts drawn on the server as SVG (docs/ARCHITECTURE.md says why): no script, no network,
//! the same figures as the answer they are drawn from, and nothing drawn for a withheld cell
//! but the words "not enough data (n of k)". Every chart is an `img` with a title and a
//! description (its text alternative); each page puts the chart's data table beneath it.
//! Every mark carries `data-mark` (what it is), so tests count what was drawn.

pub mod calendar;
pub mod flow;
pub mod heatmap;
pub mod ranges;
pub mod simple;
pub mod trend;

use std::fmt::Write;

use crate::html::esc;

/// A drawn chart and how many data marks it holds.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub svg: String,
    pub marks: usize,
}

/// NHS.UK colours used in charts.
pub mod colour {
    pub const BLUE: &str = "#005eb8";
    pub const DARK_BLUE: &str = "#003087";
    pub const PALE_BLUE: &str = "#b3cfe9";
    pub const TEXT: &str = "#212b32";
    pub const SECONDARY_TEXT: &str = "#4c6272";
    pub const GREY_4: &str = "#d8dde0";
    pub const GREY_5: &str = "#f0f4f5";
    pub const WARM_YELLOW: &str = "#ffb81c";
    pub const ORANGE: &str = "#ed8b00";
    pub const GREEN: &str = "#007f3b";
    pub const RED: &str = "#d5281b";
    pub const PURPLE: &str = "#330072";
    pub const AQUA: &str = "#00a499";
}

/// Maps a domain interval onto a range of pixels.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        let d1 = if (d1 - d0).abs() < 1e-12 { d0 + 1.0 } else { d1 };
        Scale { d0, d1, r0, r1 }
    }
    pub fn at(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// Round ticks covering `[lo, hi]`, about `n` of them: (ticks, low end, high end).
pub fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64, f64) {
    let (lo, hi) =
        if hi - lo < 1e-9 { (lo - 0.5_f64.max(lo.abs() * 0.1), hi + 0.5_f64.max(hi.abs() * 0.1)) } else { (lo, hi) };
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let mut t = Vec::new();
    let mut v = start;
    while v <= end + step * 1e-6 {
        t.push((v / step).round() * step);
        v += step;
    }
    (t, start, end)
}

/// The opening of a chart: an `img` labelled by its title and described by `desc`.
pub fn open(id: &str, width: f64, height: f64, title: &str, desc: &str) -> String {
    format!(
        r#"<svg class="csx-chart" id="{id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-labelledby="{id}-title {id}-desc" focusable="false"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc><defs><pattern id="{id}-hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="{}"/><line x1="0" y1="0" x2="0" y2="8" stroke="{}" stroke-width="3"/></pattern></defs>"#,
        esc(title),
        esc(desc),
        colour::GREY_5,
        colour::GREY_4
    )
}

/// Text at (x, y).
pub fn text(x: f64, y: f64, anchor: &str, class: &str, s: &str) -> String {
    format!(
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" class="{class}" fill="{}">{}</text>"#,
        if class.contains("muted") { colour::SECONDARY_TEXT } else { colour::TEXT },
        esc(s)
    )
}

/// A withheld cell: hatched, with the reason in words and no figure.
pub fn withheld(id: &str, x: f64, y: f64, w: f64, h: f64, words: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<g class="csx-withheld" data-withheld="1"><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="url(#{id}-hatch)" stroke="{}"/>{}</g>"#,
        colour::GREY_4,
        text(x + 8.0, y + h / 2.0 + 5.0, "start", "csx-chart__label", words)
    );
    s
}

/// An x axis at `y` with gridlines up to `top`, labelled with `fmt`.
pub fn x_axis(scale: &Scale, ticks: &[f64], y: f64, top: f64, fmt: impl Fn(f64) -> String) -> String {
    let mut s = String::new();
    for t in ticks {
        let x = scale.at(*t);
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{y:.1}" stroke="{}" stroke-width="1"/>"#,
            colour::GREY_4
        );
        s.push_str(&text(x, y + 16.0, "middle", "csx-chart__tick muted", &fmt(*t)));
    }
    s
}

/// £ with two decimals (per head) or whole pounds.
pub fn money(v: f64) -> String {
    if v.abs() >= 100.0 { format!("£{v:.0}") } else { format!("£{v:.2}") }
}

/// Cuts `s` to `n` characters with an ellipsis.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let (t, lo, hi) = ticks(0.62, 1.93, 5);
        assert!(lo <= 0.62 && hi >= 1.93);
        // A step of 0.262 rounds up to 0.5: four intervals from 0.5 to 2.
        assert_eq!(t, vec![0.5, 1.0, 1.5, 2.0]);
        let (t, _, _) = ticks(3.0, 3.0, 4);
        assert!(t.len() >= 2, "a single value still gets an axis");
    }

    #[test]
    fn titles_are_escaped() {
        let s = open("c", 10.0, 10.0, "<b>", "a & b");
        assert!(s.contains("&lt;b&gt;") && s.contains("a &amp; b"));
    }
}
