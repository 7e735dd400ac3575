//! A heat map of providers (rows) by rating dimension (columns): each shown cell is shaded
//! from pale (1) to dark blue (5) and carries its score as text, so colour is never the only
//! signal; a withheld cell is hatched, with no figure.

use std::fmt::Write;

use super::{Chart, colour, open, text};

/// One row: a label and a cell per column (`None`: withheld or not rated).
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub cells: Vec<Option<f64>>,
}

const LABEL: f64 = 250.0;
const CELL_W: f64 = 88.0;
const CELL_H: f64 = 34.0;
const HEAD: f64 = 52.0;

/// Mixes white and NHS dark blue: the fill for a score from 1 to 5, and the text colour that
/// keeps at least 4.5:1 contrast on it.
pub fn shade(score: f64) -> (String, &'static str) {
    let t = ((score - 1.0) / 4.0).clamp(0.0, 1.0);
    let (r0, g0, b0) = (232.0, 240.0, 250.0);
    let (r1, g1, b1) = (0.0, 48.0, 135.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    let fill = format!("#{:02x}{:02x}{:02x}", mix(r0, r1), mix(g0, g1), mix(b0, b1));
    (fill, if t > 0.45 { "#ffffff" } else { colour::TEXT })
}

/// Draws the heat map; `columns` are the column headings.
pub fn chart(id: &str, title: &str, columns: &[String], rows: &[Row], withheld_words: &str) -> Chart {
    let width = LABEL + CELL_W * columns.len() as f64 + 10.0;
    let height = HEAD + CELL_H * rows.len().max(1) as f64 + 40.0;
    let shown: usize = rows.iter().map(|r| r.cells.iter().filter(|c| c.is_some()).count()).sum();
    let desc = format!(
        "Heat map of age-weighted mean ratings (1 poor to 5 excellent) for {} providers on {} dimensions: {shown} scores shown; hatched cells are withheld ({withheld_words}). Darker is better, and every shown cell gives its score as a number. The table below the chart gives every figure.",
        rows.len(),
        columns.len()
    );
    let mut s = open(id, width, height, title, &desc);
    for (j, c) in columns.iter().enumerate() {
        let x = LABEL + CELL_W * j as f64 + CELL_W / 2.0;
        for (k, line) in c.split(' ').collect::<Vec<_>>().chunks(2).enumerate() {
            s.push_str(&text(x, 18.0 + 15.0 * k as f64, "middle", "csx-chart__small", &line.join(" ")));
        }
    }
    let mut marks = 0;
    for (i, r) in rows.iter().enumerate() {
        let y = HEAD + CELL_H * i as f64;
        s.push_str(&text(LABEL - 8.0, y + CELL_H / 2.0 + 5.0, "end", "csx-chart__label", &super::clip(&r.label, 32)));
        for (j, cell) in r.cells.iter().enumerate() {
            let x = LABEL + CELL_W * j as f64;
            match cell {
                Some(v) => {
                    marks += 1;
                    let (fill, ink) = shade(*v);
                    let _ = write!(
                        s,
                        r#"<g data-mark="cell"><title>{} – {}: {v:.2}</title><rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="white" stroke-width="2"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="csx-chart__label" fill="{ink}">{v:.1}</text></g>"#,
                        crate::html::esc(&r.label),
                        crate::html::esc(&columns[j]),
                        x,
                        CELL_W,
                        CELL_H,
                        x + CELL_W / 2.0,
                        y + CELL_H / 2.0 + 5.0
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        r#"<g class="csx-withheld" data-withheld="1"><rect x="{x:.1}" y="{y:.1}" width="{CELL_W:.1}" height="{CELL_H:.1}" fill="url(#{id}-hatch)" stroke="white" stroke-width="2"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="csx-chart__small" fill="{}">–</text></g>"#,
                        x + CELL_W / 2.0,
                        y + CELL_H / 2.0 + 5.0,
                        colour::SECONDARY_TEXT
                    );
                }
            }
        }
    }
    // Legend: five steps from 1 to 5.
    let ly = HEAD + CELL_H * rows.len().max(1) as f64 + 14.0;
    s.push_str(&text(LABEL - 8.0, ly + 13.0, "end", "csx-chart__small muted", "score"));
    for k in 1..=5 {
        let (fill, ink) = shade(k as f64);
        let x = LABEL + 36.0 * (k - 1) as f64;
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{ly:.1}" width="34" height="18" fill="{fill}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="csx-chart__small" fill="{ink}">{k}</text>"#,
            x + 17.0,
            ly + 13.0
        );
    }
    s.push_str("</svg>");
    Chart { svg: s, marks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_cells_are_marks_and_withheld_cells_hold_no_score() {
        let rows = vec![
            Row { label: "Arden & GEM CSU".into(), cells: vec![Some(3.6), None] },
            Row { label: "NEL CSU".into(), cells: vec![None, None] },
        ];
        let c = chart("h", "BI", &["quality".into(), "value for money".into()], &rows, "fewer than 3 members");
        assert_eq!(c.marks, 1);
        assert_eq!(c.svg.matches("data-withheld").count(), 3);
        assert!(c.svg.contains(">3.6<"));
    }

    #[test]
    fn text_stays_readable_on_every_shade() {
        assert_eq!(shade(5.0).1, "#ffffff");
        assert_eq!(shade(1.0).1, colour::TEXT);
    }
}
