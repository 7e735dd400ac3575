//! Tables that fit the terminal: columns of amounts, dates and codes are never wrapped (so £1,234
//! is never split into "£1," and "234"), text columns wrap between words, and columns marked wide
//! appear only with `--wide` (and always in CSV).

use comfy_table::{Attribute, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width, presets};

/// How a column behaves when the table is narrower than its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Never wrapped: amounts, numbers, dates, ids, codes.
    Keep,
    /// Wrapped between words (a word longer than [`LONGEST_WORD`] may be broken).
    Wrap,
}

/// Words longer than this (long ids, URLs) may be broken to fit; shorter ones never are.
const LONGEST_WORD: usize = 24;

#[derive(Debug, Clone)]
struct Column {
    title: String,
    fit: Fit,
    right: bool,
    /// Shown only with `--wide`.
    wide: bool,
    /// Left out when every cell is empty.
    optional: bool,
}

/// A table being built: columns, then rows of cells as text.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Grid {
    pub fn new() -> Grid {
        Grid::default()
    }

    fn push(mut self, title: &str, fit: Fit, right: bool) -> Grid {
        self.columns.push(Column { title: title.to_string(), fit, right, wide: false, optional: false });
        self
    }

    /// A column of text that may wrap between words.
    pub fn text(self, title: &str) -> Grid {
        self.push(title, Fit::Wrap, false)
    }

    /// A column that is never wrapped (dates, ids, codes, short labels).
    pub fn keep(self, title: &str) -> Grid {
        self.push(title, Fit::Keep, false)
    }

    /// A right-aligned column of numbers or amounts, never wrapped.
    pub fn num(self, title: &str) -> Grid {
        self.push(title, Fit::Keep, true)
    }

    /// Marks the last column as shown only with `--wide`.
    pub fn wide(mut self) -> Grid {
        if let Some(c) = self.columns.last_mut() {
            c.wide = true;
        }
        self
    }

    /// Marks the last column as left out when all its cells are empty.
    pub fn optional(mut self) -> Grid {
        if let Some(c) = self.columns.last_mut() {
            c.optional = true;
        }
        self
    }

    /// Adds a row (one cell per column; missing cells are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn cell(&self, row: &[String], i: usize) -> String {
        row.get(i).cloned().unwrap_or_default()
    }

    /// Indexes of the columns shown: with `wide`, all; otherwise the narrow ones; optional
    /// columns only when some cell has content.
    fn shown(&self, wide: bool) -> Vec<usize> {
        (0..self.columns.len())
            .filter(|i| wide || !self.columns[*i].wide)
            .filter(|i| !self.columns[*i].optional || self.rows.iter().any(|r| !self.cell(r, *i).trim().is_empty()))
            .collect()
    }

    /// The table as text, fitted to `width` columns when given.
    pub fn render(&self, width: Option<u16>, wide: bool, color: bool) -> String {
        let shown = self.shown(wide);
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .remove_style(comfy_table::TableComponent::HorizontalLines)
            .remove_style(comfy_table::TableComponent::MiddleIntersections)
            .remove_style(comfy_table::TableComponent::LeftBorderIntersections)
            .remove_style(comfy_table::TableComponent::RightBorderIntersections);
        if color {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        match width {
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic).set_width(w);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        t.set_header(
            shown
                .iter()
                .map(|i| {
                    let cell = Cell::new(&self.columns[*i].title);
                    if color { cell.add_attribute(Attribute::Bold) } else { cell }
                })
                .collect::<Vec<_>>(),
        );
        for row in &self.rows {
            t.add_row(shown.iter().map(|i| self.cell(row, *i)).collect::<Vec<_>>());
        }
        let least = self.least_widths(&shown, width);
        for (pos, (i, least)) in shown.iter().zip(least).enumerate() {
            let Some(col) = t.column_mut(pos) else { continue };
            if self.columns[*i].right {
                col.set_cell_alignment(CellAlignment::Right);
            }
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed((least + 2) as u16)));
        }
        t.to_string()
    }

    /// The least width of each shown column: a kept column is as wide as its widest cell (its
    /// title may wrap between words), a text column as its longest word. When the kept columns
    /// cannot all fit in `width`, they too wrap between words — an amount has no space in it, so
    /// it is still never split ("£1.35 (85th)" becomes "£1.35" over "(85th)").
    fn least_widths(&self, shown: &[usize], width: Option<u16>) -> Vec<usize> {
        let words = |i: usize| {
            std::iter::once(self.columns[i].title.as_str())
                .chain(self.rows.iter().map(move |r| r.get(i).map(String::as_str).unwrap_or("")))
                .flat_map(str::split_whitespace)
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(1)
                .min(LONGEST_WORD)
        };
        let widest_cell =
            |i: usize| self.rows.iter().flat_map(|r| r.get(i)).flat_map(|c| c.lines()).map(|l| l.chars().count()).max();
        let kept: Vec<usize> = shown
            .iter()
            .map(|&i| match self.columns[i].fit {
                Fit::Keep => widest_cell(i).unwrap_or(0).max(words(i)),
                Fit::Wrap => words(i),
            })
            .collect();
        // Each column takes its padding (2) and a border (1), and the table one more border.
        let needed = kept.iter().map(|w| w + 3).sum::<usize>() + 1;
        match width {
            Some(w) if needed > w as usize => shown.iter().map(|&i| words(i)).collect(),
            _ => kept,
        }
    }

    /// The table as CSV rows (every column, header first).
    pub fn csv_rows(&self) -> Vec<Vec<String>> {
        let mut out = vec![self.columns.iter().map(|c| c.title.clone()).collect::<Vec<_>>()];
        for row in &self.rows {
            out.push((0..self.columns.len()).map(|i| self.cell(row, i)).collect());
        }
        out
    }
}

/// A two-column table of names and values.
pub fn fields(rows: Vec<(String, String)>) -> Grid {
    let mut g = Grid::new().keep("field").text("value");
    for (k, v) in rows {
        g.row(vec![k, v]);
    }
    g
}

/// `text` wrapped to `width` columns between words, each line after the first indented by
/// `indent` spaces.
pub fn wrap(text: &str, width: Option<u16>, indent: usize) -> String {
    let Some(width) = width.map(usize::from) else { return text.to_string() };
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split(' ') {
        let w = word.chars().count();
        if line_len > indent && line_len + 1 + w > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            line_len = indent;
        } else if !out.is_empty() {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Grid {
        let mut g = Grid::new().text("provider").num("median").keep("year").text("note").wide().optional();
        g.row(vec!["NHS Arden and Greater East Midlands CSU (AGEM)".into(), "£1,234,567.89".into(), "2024/25".into()]);
        g.row(vec!["Optum".into(), "£0.62".into(), "2023/24".into()]);
        g
    }

    #[test]
    fn amounts_are_never_split_and_lines_fit() {
        for width in [30u16, 40, 60, 80] {
            let text = sample().render(Some(width), false, false);
            assert!(text.contains("£1,234,567.89"), "{text}");
            for line in text.lines() {
                assert!(line.chars().count() <= width as usize || width < 40, "{width}: {line}");
            }
            assert!(!text.contains("Gre\n"), "words are not broken: {text}");
        }
    }

    #[test]
    fn wide_and_optional_columns() {
        let g = sample();
        assert!(!g.render(None, false, false).contains("note"));
        assert!(!g.render(None, true, false).contains("note"), "optional and empty");
        assert_eq!(g.csv_rows()[0], vec!["provider", "median", "year", "note"]);
    }

    #[test]
    fn wrapping_prose() {
        assert_eq!(wrap("a bb ccc dddd", Some(8), 2), "a bb ccc\n  dddd");
        assert_eq!(wrap("a bb", None, 2), "a bb");
    }
}
