//! Printing: human tables or JSON on stdout; notes and errors on stderr.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or the table `human` builds.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> Table) -> anyhow::Result<()> {
        if self.json {
            self.json(value)
        } else {
            println!("{}", human());
            Ok(())
        }
    }

    pub fn json<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }

    /// A line for people (on stderr, so stdout stays data).
    pub fn note(&self, text: impl AsRef<str>) {
        eprintln!("{}", text.as_ref());
    }
}

/// A table with `headers`, in the house style.
pub fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .remove_style(comfy_table::TableComponent::HorizontalLines)
        .remove_style(comfy_table::TableComponent::MiddleIntersections)
        .remove_style(comfy_table::TableComponent::LeftBorderIntersections)
        .remove_style(comfy_table::TableComponent::RightBorderIntersections)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.to_vec());
    t
}

/// A two-column table of names and values.
pub fn fields(rows: Vec<(String, String)>) -> Table {
    let mut t = table(&["field", "value"]);
    for (k, v) in rows {
        t.add_row(vec![k, v]);
    }
    t
}
