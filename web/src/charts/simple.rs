//! Horizontal bars (counts by category) and progress bars (support against a threshold).

use std::fmt::Write;

use super::{Chart, Scale, colour, open, text};

const WIDTH: f64 = 900.0;
const LABEL: f64 = 300.0;
const ROW: f64 = 30.0;

/// Bars of `(label, count)`.
pub fn bars(id: &str, title: &str, what: &str, rows: &[(String, usize)]) -> Chart {
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let scale = Scale::new(0.0, max as f64, LABEL + 10.0, WIDTH - 60.0);
    let height = ROW * rows.len().max(1) as f64 + 16.0;
    let desc = format!(
        "Bar chart of {what}: {}.",
        rows.iter().map(|(l, n)| format!("{l} {n}")).collect::<Vec<_>>().join(", ")
    );
    let mut s = open(id, WIDTH, height, title, &desc);
    for (i, (label, n)) in rows.iter().enumerate() {
        let y = 8.0 + ROW * i as f64;
        s.push_str(&text(LABEL, y + 19.0, "end", "csx-chart__label", &super::clip(label, 34)));
        let w = scale.at(*n as f64) - scale.at(0.0);
        let _ = write!(
            s,
            r#"<g data-mark="bar"><title>{}: {n}</title><rect x="{:.1}" y="{:.1}" width="{w:.1}" height="20" fill="{}"/>{}</g>"#,
            crate::html::esc(label),
            LABEL + 10.0,
            y + 4.0,
            colour::BLUE,
            text(LABEL + 16.0 + w, y + 19.0, "start", "csx-chart__label", &n.to_string())
        );
    }
    s.push_str("</svg>");
    Chart { svg: s, marks: rows.len() }
}

/// Bars of amounts of money a year (`None`: withheld, drawn hatched with its reason and no
/// figure), each labelled with its amount in words so the length is never the only signal.
pub fn money_bars(id: &str, title: &str, what: &str, rows: &[(String, Option<u64>, String)]) -> Chart {
    let max = rows.iter().filter_map(|(_, p, _)| *p).max().unwrap_or(1).max(1);
    let scale = Scale::new(0.0, max as f64, LABEL + 10.0, WIDTH - 90.0);
    let height = ROW * rows.len().max(1) as f64 + 16.0;
    let pounds = |p: u64| csx_node::query::prices::short_pounds(p as i64);
    let desc = format!(
        "Bar chart of {what}: {}.",
        rows.iter()
            .map(|(l, p, why)| match p {
                Some(p) => format!("{l} {}", pounds(*p)),
                None => format!("{l} withheld ({why})"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut s = open(id, WIDTH, height, title, &desc);
    let mut marks = 0;
    for (i, (label, pence, why)) in rows.iter().enumerate() {
        let y = 8.0 + ROW * i as f64;
        s.push_str(&text(LABEL, y + 19.0, "end", "csx-chart__label", &super::clip(label, 34)));
        match pence {
            Some(p) => {
                marks += 1;
                let w = (scale.at(*p as f64) - scale.at(0.0)).max(1.0);
                let _ = write!(
                    s,
                    r#"<g data-mark="bar"><title>{}: {}</title><rect x="{:.1}" y="{:.1}" width="{w:.1}" height="20" fill="{}"/>{}</g>"#,
                    crate::html::esc(label),
                    pounds(*p),
                    LABEL + 10.0,
                    y + 4.0,
                    colour::BLUE,
                    text(LABEL + 16.0 + w, y + 19.0, "start", "csx-chart__label", &pounds(*p))
                );
            }
            None => s.push_str(&super::withheld(id, LABEL + 10.0, y + 2.0, 360.0, 24.0, &format!("withheld ({why})"))),
        }
    }
    s.push_str("</svg>");
    Chart { svg: s, marks }
}

/// One motion's support against the support needed.
pub fn progress(id: &str, title: &str, support: usize, needed: usize) -> Chart {
    let w = 420.0;
    let full = (support.max(needed)).max(1) as f64;
    let scale = Scale::new(0.0, full, 2.0, w - 2.0);
    let desc = format!("{support} of the {needed} members needed support it.");
    let mut s =
        open(id, w, 44.0, title, &desc).replacen("class=\"csx-chart\"", "class=\"csx-chart csx-chart--small\"", 1);
    let filled = scale.at(support as f64) - 2.0;
    let fill = if support >= needed { colour::GREEN } else { colour::BLUE };
    let _ = write!(
        s,
        r#"<rect x="2" y="6" width="{:.1}" height="22" fill="white" stroke="{}" stroke-width="2"/><g data-mark="progress"><rect x="2" y="6" width="{filled:.1}" height="22" fill="{fill}"/></g><line x1="{x:.1}" y1="2" x2="{x:.1}" y2="32" stroke="{}" stroke-width="3"/>{}"#,
        w - 4.0,
        colour::SECONDARY_TEXT,
        colour::TEXT,
        text(scale.at(needed as f64).min(w - 60.0), 42.0, "middle", "csx-chart__small", &format!("needed: {needed}")),
        x = scale.at(needed as f64),
    );
    s.push_str("</svg>");
    Chart { svg: s, marks: 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_per_row_and_a_progress_bar_with_its_threshold() {
        let c = bars("b", "Reasons", "reasons", &[("cost".into(), 3), ("quality".into(), 1)]);
        assert_eq!(c.svg.matches(r#"data-mark="bar""#).count(), 2);
        let m = money_bars(
            "m",
            "Paid above the median",
            "pounds",
            &[("BI".into(), Some(5_200_000), String::new()), ("HR".into(), None, "fewer than 5 members".into())],
        );
        assert_eq!((m.marks, m.svg.matches(r#"data-mark="bar""#).count()), (1, 1));
        assert!(m.svg.contains("£52k") && m.svg.contains("withheld (fewer than 5 members)"));
        assert_eq!(m.svg.matches("data-withheld").count(), 1);
        let p = progress("p", "Motion", 2, 5);
        assert!(p.svg.contains("2 of the 5 members") && p.svg.contains("needed: 5"));
    }
}
