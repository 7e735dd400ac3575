//! Printing: data on stdout (a table for people, `--json` for programs, `--csv` for
//! spreadsheets), notes and errors on stderr.
//!
//! Tables fit the width given by `--width`, else `COLUMNS`, else the terminal's; with none of
//! these (output to a file or a pipe) they are not wrapped. A document longer than the terminal
//! goes through the pager (`PAGER`, default `less`) when stdout is a terminal, unless
//! `--no-pager`. Colour (bold headers, a red `error:`) only on a terminal, never with `NO_COLOR`
//! or `--color never`. A reader that goes away (`csx review list | head`) ends the command
//! quietly with exit code 0.

mod grid;
mod pager;

use std::io::{IsTerminal, Write};

use serde::Serialize;

pub use grid::{Grid, fields, wrap};

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that is (or is not) a terminal.
    pub fn enabled(self, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
    }
}

/// The reader of stdout went away: the command stops quietly (exit code 0).
#[derive(Debug, thiserror::Error)]
#[error("the output was closed")]
pub struct Closed;

/// How results are printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub json: bool,
    pub csv: bool,
    pub wide: bool,
    /// Width to fit tables to; `None`: do not wrap.
    pub width: Option<u16>,
    /// Colour stdout.
    pub color: bool,
    /// Colour stderr.
    pub err_color: bool,
    /// Page long documents (stdout is a terminal and paging is not turned off).
    pub page: bool,
}

/// How output was asked for on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub json: bool,
    pub csv: bool,
    pub wide: bool,
    pub width: Option<u16>,
    pub color: ColorChoice,
    pub no_pager: bool,
}

/// The width of tables: `--width`, else `COLUMNS`, else the terminal's when stdout is one.
pub fn table_width(flag: Option<u16>) -> Option<u16> {
    if let Some(w) = flag {
        return Some(w.max(20));
    }
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()).filter(|w| *w > 0) {
        return Some(w.max(20));
    }
    if std::io::stdout().is_terminal() {
        return terminal_size::terminal_size().map(|(w, _)| w.0);
    }
    None
}

impl Output {
    pub fn new(o: Options) -> Output {
        let tty = std::io::stdout().is_terminal();
        Output {
            json: o.json,
            csv: o.csv,
            wide: o.wide,
            width: table_width(o.width),
            color: !o.json && !o.csv && o.color.enabled(tty),
            err_color: o.color.enabled(std::io::stderr().is_terminal()),
            page: tty && !o.no_pager,
        }
    }

    /// Prints `value` as JSON, the grid `human` builds as CSV, or that grid as a table.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> Grid) -> anyhow::Result<()> {
        if self.json {
            return self.json(value);
        }
        let grid = human();
        if self.csv {
            return self.csv(&grid.csv_rows());
        }
        self.emit(&self.render(&grid))
    }

    /// Prints `value` as JSON, `csv` rows as CSV (when given; else the text as one), or the
    /// document `human` writes.
    pub fn show<T: Serialize>(
        &self,
        value: &T,
        csv: impl FnOnce() -> Vec<Vec<String>>,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            return self.json(value);
        }
        if self.csv {
            return self.csv(&csv());
        }
        self.emit(&human())
    }

    /// A grid as text, fitted to the width.
    pub fn render(&self, grid: &Grid) -> String {
        grid.render(self.width, self.wide, self.color)
    }

    pub fn json<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(value)?;
        text.push('\n');
        write_stdout(text.as_bytes())
    }

    /// Rows (the first is the header) as CSV for spreadsheets: UTF-8 with a byte-order mark, so
    /// that Excel reads `£` and accents right (docs/IMPORT.md, "Exporting").
    pub fn csv(&self, rows: &[Vec<String>]) -> anyhow::Result<()> {
        write_stdout(&csv_bytes(rows)?)
    }

    /// A document for people: through the pager when it is longer than the terminal.
    pub fn emit(&self, text: &str) -> anyhow::Result<()> {
        let mut text = text.trim_end_matches('\n').to_string();
        text.push('\n');
        if self.page && pager::should_page(&text) && pager::page(&text)? {
            return Ok(());
        }
        write_stdout(text.as_bytes())
    }

    /// A line for people (on stderr, so stdout stays data).
    pub fn note(&self, text: impl AsRef<str>) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}", text.as_ref());
    }

    /// An error line for people: `error: …`, red on a terminal.
    pub fn error(&self, text: &str) {
        let label = if self.err_color { "\x1b[1;31merror:\x1b[0m" } else { "error:" };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{label} {text}");
    }
}

/// CSV bytes: a UTF-8 byte-order mark, then the rows.
pub fn csv_bytes(rows: &[Vec<String>]) -> anyhow::Result<Vec<u8>> {
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut bytes);
        for row in rows {
            w.write_record(row)?;
        }
        w.flush()?;
    }
    Ok(bytes)
}

/// Writes to stdout; a closed reader gives [`Closed`].
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Closed.into()),
        other => Ok(other?),
    }
}

/// Whether an error chain is the reader going away.
pub fn is_closed(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<Closed>().is_some()
            || c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_starts_with_a_byte_order_mark() {
        let bytes = csv_bytes(&[vec!["a".into(), "£".into()]]).expect("csv");
        assert_eq!(&bytes[..3], b"\xef\xbb\xbf");
        assert_eq!(String::from_utf8(bytes[3..].to_vec()).expect("utf8"), "a,£\n");
    }

    #[test]
    fn colour_follows_the_choice() {
        assert!(ColorChoice::Always.enabled(false));
        assert!(!ColorChoice::Never.enabled(true));
        assert!(!ColorChoice::Auto.enabled(false));
    }
}
