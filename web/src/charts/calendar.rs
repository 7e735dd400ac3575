//! The renewal calendar as a grid: service lines (rows) by financial quarter (columns). A cell
//! where members' contracts end is shaded by how many and carries the count as text; a withheld
//! cell is hatched with a dash and no figure; the quarters in which your own contracts end are
//! outlined and marked "you" in words, so neither the count nor your own dates rest on colour.

use std::fmt::Write;

use super::{Chart, colour, open, text};

/// One cell of the grid.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No member's contract on the line is known to end in the quarter.
    Empty,
    /// This many members' contracts end.
    Count(usize),
    /// Too few members to say; the reason in words.
    Withheld(String),
}

/// One service line.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    /// One per column.
    pub cells: Vec<Cell>,
    /// Columns in which one of your own contracts on the line ends.
    pub yours: Vec<bool>,
}

const LABEL: f64 = 270.0;
const CELL_W: f64 = 58.0;
const CELL_H: f64 = 36.0;
const HEAD: f64 = 46.0;

/// Shade from pale to dark blue by `n` against the largest count, with a text colour that keeps
/// 4.5:1 contrast.
fn shade(n: usize, max: usize) -> (String, &'static str) {
    let score = 1.0 + 4.0 * (n as f64 / max.max(1) as f64);
    super::heatmap::shade(score)
}

/// Draws the grid; `columns` are the quarters' headings (`2025/26 Q2`).
pub fn chart(id: &str, title: &str, columns: &[String], rows: &[Row]) -> Chart {
    // Wide enough for the legend however few the quarters.
    let width = (LABEL + CELL_W * columns.len().max(1) as f64 + 10.0).max(LABEL + 600.0);
    let height = HEAD + CELL_H * rows.len().max(1) as f64 + 44.0;
    let max = rows
        .iter()
        .flat_map(|r| r.cells.iter())
        .filter_map(|c| if let Cell::Count(n) = c { Some(*n) } else { None })
        .max()
        .unwrap_or(1);
    let shown: usize = rows.iter().map(|r| r.cells.iter().filter(|c| matches!(c, Cell::Count(_))).count()).sum();
    let withheld: usize = rows.iter().map(|r| r.cells.iter().filter(|c| matches!(c, Cell::Withheld(_))).count()).sum();
    let yours: usize = rows.iter().map(|r| r.yours.iter().filter(|y| **y).count()).sum();
    let desc = format!(
        "Grid of {} service lines by {} financial quarters: in {shown} cells members' contracts end (the number of members is written in each, darker for more); {withheld} cells are hatched because too few members' contracts end there to say how many; {yours} cells are outlined and marked “you” where one of your own contracts ends. The table below the chart gives every figure.",
        rows.len(),
        columns.len()
    );
    let mut s = open(id, width, height, title, &desc);
    for (j, c) in columns.iter().enumerate() {
        let x = LABEL + CELL_W * j as f64 + CELL_W / 2.0;
        let (year, q) = c.split_once(' ').unwrap_or((c.as_str(), ""));
        s.push_str(&text(x, 18.0, "middle", "csx-chart__small", year));
        s.push_str(&text(x, 34.0, "middle", "csx-chart__small", q));
    }
    let mut marks = 0;
    for (i, r) in rows.iter().enumerate() {
        let y = HEAD + CELL_H * i as f64;
        s.push_str(&text(LABEL - 8.0, y + CELL_H / 2.0 + 5.0, "end", "csx-chart__label", &super::clip(&r.label, 34)));
        for (j, cell) in r.cells.iter().enumerate() {
            let x = LABEL + CELL_W * j as f64;
            let mine = r.yours.get(j).copied().unwrap_or(false);
            let label = crate::html::esc(&r.label);
            let column = crate::html::esc(&columns[j]);
            match cell {
                Cell::Count(n) => {
                    marks += 1;
                    let (fill, ink) = shade(*n, max);
                    let _ = write!(
                        s,
                        r#"<g data-mark="cell"><title>{label}, {column}: {n} members' contracts end{}</title><rect x="{x:.1}" y="{y:.1}" width="{CELL_W:.1}" height="{CELL_H:.1}" fill="{fill}" stroke="white" stroke-width="2"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="csx-chart__label" fill="{ink}">{n}</text></g>"#,
                        if mine { ", one of them yours" } else { "" },
                        x + CELL_W / 2.0,
                        y + CELL_H / 2.0 + if mine { 0.0 } else { 5.0 },
                    );
                }
                Cell::Withheld(why) => {
                    let _ = write!(
                        s,
                        r#"<g class="csx-withheld" data-withheld="1"><title>{label}, {column}: withheld ({})</title><rect x="{x:.1}" y="{y:.1}" width="{CELL_W:.1}" height="{CELL_H:.1}" fill="url(#{id}-hatch)" stroke="white" stroke-width="2"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="csx-chart__small" fill="{}">–</text></g>"#,
                        crate::html::esc(why),
                        x + CELL_W / 2.0,
                        y + CELL_H / 2.0 + if mine { 0.0 } else { 5.0 },
                        colour::SECONDARY_TEXT
                    );
                }
                Cell::Empty => {
                    let _ = write!(
                        s,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{CELL_W:.1}" height="{CELL_H:.1}" fill="{}" stroke="white" stroke-width="2"/>"#,
                        colour::GREY_5
                    );
                }
            }
            if mine {
                let ink = match cell {
                    Cell::Count(n) => shade(*n, max).1,
                    _ => colour::TEXT,
                };
                let _ = write!(
                    s,
                    r#"<g data-mark="yours"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="{}" stroke-width="4"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="csx-chart__small" fill="{ink}">you</text></g>"#,
                    x + 3.0,
                    y + 3.0,
                    CELL_W - 6.0,
                    CELL_H - 6.0,
                    colour::WARM_YELLOW,
                    x + CELL_W / 2.0,
                    y + CELL_H - 7.0,
                );
            }
        }
    }
    // Legend: what the three kinds of cell mean, in words.
    let ly = HEAD + CELL_H * rows.len().max(1) as f64 + 14.0;
    let (fill, ink) = shade(max, max);
    let _ = write!(
        s,
        r#"<rect x="{LABEL:.1}" y="{ly:.1}" width="34" height="20" fill="{fill}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="csx-chart__small" fill="{ink}">{max}</text>"#,
        LABEL + 17.0,
        ly + 14.0
    );
    s.push_str(&text(LABEL + 42.0, ly + 14.0, "start", "csx-chart__small", "members' contracts end"));
    let lx = LABEL + 200.0;
    let _ = write!(s, r#"<rect x="{lx:.1}" y="{ly:.1}" width="34" height="20" fill="url(#{id}-hatch)"/>"#);
    s.push_str(&text(lx + 42.0, ly + 14.0, "start", "csx-chart__small", "withheld (too few)"));
    let yx = lx + 170.0;
    let _ = write!(
        s,
        r#"<rect x="{:.1}" y="{:.1}" width="30" height="16" fill="none" stroke="{}" stroke-width="4"/>"#,
        yx + 2.0,
        ly + 2.0,
        colour::WARM_YELLOW
    );
    s.push_str(&text(yx + 42.0, ly + 14.0, "start", "csx-chart__small", "“you”: your contract ends"));
    s.push_str("</svg>");
    Chart { svg: s, marks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_marks_withheld_cells_hold_no_figure_and_your_quarters_are_marked_in_words() {
        let rows = vec![
            Row {
                label: "Business intelligence".into(),
                cells: vec![Cell::Count(4), Cell::Withheld("fewer than 3 members".into()), Cell::Empty],
                yours: vec![false, true, false],
            },
            Row {
                label: "Finance".into(),
                cells: vec![Cell::Empty, Cell::Count(7), Cell::Empty],
                yours: vec![false; 3],
            },
        ];
        let columns: Vec<String> = ["2025/26 Q1", "2025/26 Q2", "2025/26 Q3"].iter().map(|s| s.to_string()).collect();
        let c = chart("cal", "Renewals", &columns, &rows);
        assert_eq!(c.marks, 2);
        assert_eq!(c.svg.matches(r#"data-mark="cell""#).count(), 2);
        assert!(c.svg.contains(">4<") && c.svg.contains(">7<"));
        // The withheld cell: hatched, its reason, a dash and no count.
        assert_eq!(c.svg.matches(r#"data-withheld="1""#).count(), 1);
        assert!(c.svg.contains("withheld (fewer than 3 members)"));
        assert_eq!(c.svg.matches(r#"data-mark="yours""#).count(), 1);
        assert!(c.svg.contains(">you<"));
    }
}
