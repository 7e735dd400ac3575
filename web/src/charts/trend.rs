//! A trend over financial years: a line through the shown values (with a band, e.g. the middle
//! half of members' prices), the asking member's own values as diamonds, and withheld years
//! named under the axis instead of drawn.

use std::fmt::Write;

use super::{Chart, Scale, colour, open, text, ticks};

/// One year of the trend.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    /// The value and, optionally, a band around it (low, high); `None` when withheld.
    pub value: Option<(f64, Option<(f64, f64)>)>,
    /// Why it is withheld, when it is.
    pub withheld: Option<String>,
    pub you: Option<f64>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 200.0;

/// Draws `points` (oldest first); `fmt` labels the y axis (e.g. money or a score).
pub fn chart(id: &str, title: &str, what: &str, points: &[Point], fmt: fn(f64) -> String) -> Chart {
    let mut values: Vec<f64> = Vec::new();
    for p in points {
        if let Some((v, band)) = p.value {
            values.push(v);
            if let Some((a, b)) = band {
                values.extend([a, b]);
            }
        }
        values.extend(p.you);
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (tks, lo, hi) = if values.is_empty() { ticks(0.0, 1.0, 4) } else { ticks(lo, hi, 4) };
    let y = Scale::new(lo, hi, BOTTOM, TOP);
    let n = points.len().max(1);
    let step = (WIDTH - LEFT - 30.0) / n as f64;
    let x = |i: usize| LEFT + step * (i as f64 + 0.5);
    let mut s = open(id, WIDTH, HEIGHT, title, &describe(points, what, fmt));
    for t in &tks {
        let yy = y.at(*t);
        let _ = write!(
            s,
            r#"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{}"/>"#,
            WIDTH - 20.0,
            colour::GREY_4
        );
        s.push_str(&text(LEFT - 8.0, yy + 5.0, "end", "csx-chart__tick muted", &fmt(*t)));
    }
    // Bands and lines run between consecutive shown years only: a withheld year breaks them.
    let mut marks = 0;
    for i in 0..points.len() {
        if i + 1 < points.len()
            && let (Some((a, ba)), Some((b, bb))) = (points[i].value, points[i + 1].value)
        {
            if let (Some((a0, a1)), Some((b0, b1))) = (ba, bb) {
                let _ = write!(
                    s,
                    r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{}" opacity="0.6"/>"#,
                    x(i),
                    y.at(a0),
                    x(i + 1),
                    y.at(b0),
                    x(i + 1),
                    y.at(b1),
                    x(i),
                    y.at(a1),
                    colour::PALE_BLUE
                );
            }
            let _ = write!(
                s,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/>"#,
                x(i),
                y.at(a),
                x(i + 1),
                y.at(b),
                colour::BLUE
            );
        }
    }
    for (i, p) in points.iter().enumerate() {
        s.push_str(&text(x(i), BOTTOM + 20.0, "middle", "csx-chart__tick", &p.label));
        match p.value {
            Some((v, band)) => {
                marks += 1;
                if let Some((a, b)) = band {
                    let _ = write!(
                        s,
                        r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2"/>"#,
                        x(i),
                        y.at(a),
                        x(i),
                        y.at(b),
                        colour::BLUE
                    );
                }
                let _ = write!(
                    s,
                    r#"<g data-mark="point"><title>{}: {}</title><circle cx="{:.1}" cy="{:.1}" r="5" fill="{}"/></g>"#,
                    crate::html::esc(&p.label),
                    fmt(v),
                    x(i),
                    y.at(v),
                    colour::DARK_BLUE
                );
            }
            None => {
                let words = p.withheld.clone().unwrap_or_else(|| "not enough data".into());
                let _ = write!(
                    s,
                    r#"<g class="csx-withheld" data-withheld="1"><rect x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="url(#{id}-hatch)"/></g>"#,
                    x(i) - step * 0.3,
                    step * 0.6,
                    BOTTOM - TOP
                );
                for (j, line) in wrap(&words, 16).iter().enumerate() {
                    s.push_str(&text(x(i), BOTTOM + 38.0 + 15.0 * j as f64, "middle", "csx-chart__small muted", line));
                }
            }
        }
        if let Some(v) = p.you {
            let (cx, cy) = (x(i) + 12.0, y.at(v));
            let _ = write!(
                s,
                r#"<g data-mark="you"><title>You: {}</title><path d="M{cx:.1} {:.1} l6 6 l-6 6 l-6 -6 z" fill="{}" stroke="{}"/></g>"#,
                fmt(v),
                cy - 6.0,
                colour::WARM_YELLOW,
                colour::TEXT
            );
        }
    }
    s.push_str("</svg>");
    Chart { svg: s, marks }
}

fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![String::new()];
    for word in s.split_whitespace() {
        let last = lines.last_mut().expect("one line");
        if !last.is_empty() && last.len() + word.len() + 1 > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

fn describe(points: &[Point], what: &str, fmt: fn(f64) -> String) -> String {
    let mut parts = vec![format!("{what}, year by year.")];
    for p in points {
        match p.value {
            Some((v, Some((a, b)))) => parts.push(format!("{}: {} ({} to {}).", p.label, fmt(v), fmt(a), fmt(b))),
            Some((v, None)) => parts.push(format!("{}: {}.", p.label, fmt(v))),
            None => parts.push(format!("{}: {}.", p.label, p.withheld.as_deref().unwrap_or("not enough data"))),
        }
        if let Some(v) = p.you {
            parts.push(format!("You: {}.", fmt(v)));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withheld_years_break_the_line_and_carry_no_figure() {
        let p = |label: &str, v: Option<f64>| Point {
            label: label.into(),
            value: v.map(|v| (v, Some((v - 0.5, v + 0.5)))),
            withheld: v.is_none().then(|| "not enough data (1 of 3 members)".into()),
            you: None,
        };
        let c = chart(
            "t",
            "BI",
            "£ per head",
            &[p("2022/23", Some(1.0)), p("2023/24", None), p("2024/25", Some(1.4))],
            super::super::money,
        );
        assert_eq!(c.marks, 2);
        assert_eq!(c.svg.matches("<polygon").count(), 0, "no band across the withheld year");
        assert!(c.svg.contains("not enough data"));
    }
}
