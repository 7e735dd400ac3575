//! `csx import FILE --kind KIND`: bulk entry from a spreadsheet (CSV as Excel saves it) or JSON,
//! all or nothing, remembered as a batch that `csx import undo` withdraws in one signed step.
//!
//! Every row is read and checked before anything is written; errors name the row as the
//! spreadsheet numbers it and the column. Rows identical to records the organisation already
//! holds are skipped and reported (`--allow-duplicates` writes them anyway). See docs/IMPORT.md.

mod headers;
mod read;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use csx_node::import::{BatchInfo, Duplicate, ImportReport, ImportRequest};
use csx_protocol::Body;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::CliError;
use crate::labels::count;
use crate::output::Grid;
use crate::view;
use csx_node::input::kinds::*;
use read::{EncodingChoice, Row, Table};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportKind {
    Provider,
    Review,
    Price,
    Switch,
    SwitchOutcome,
    Motion,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FileFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Delimiter {
    Comma,
    Semicolon,
    Tab,
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:
  csx import contracts.csv --kind price --dry-run     check it and see what would be written
  csx import contracts.csv --kind price               write it (one batch)
  csx import reviews.json --kind review
  csx import list                                     the batches imported from this node
  csx import undo last                                withdraw the last batch in one step
  csx import undo 3 --reason \"imported the wrong year\"

Excel's \"CSV (Comma delimited)\" and \"CSV UTF-8\" both import: the encoding, the separator
(comma, semicolon or tab), headers such as \"Service Line\" or \"Annual value (£)\", UK dates
(01/04/2024) and financial years (2024/25, 24/25) are understood. Rows are numbered as Excel
shows them."
)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub command: Option<ImportCommand>,
    /// The file to import (.csv or .json)
    #[arg(required = true, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// What each row is
    #[arg(long, value_enum, required = true)]
    pub kind: Option<ImportKind>,
    /// The file's format (default: from its extension)
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// What separates columns (default: worked out from the header row)
    #[arg(long, value_enum)]
    pub delimiter: Option<Delimiter>,
    /// The file's character encoding (default: UTF-8 if it reads as UTF-8, else Windows-1252)
    #[arg(long, value_enum)]
    pub encoding: Option<EncodingChoice>,
    /// Check every row and show what would be written, but write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write rows identical to records you already hold (normally skipped)
    #[arg(long)]
    pub allow_duplicates: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Withdraw every record of an import batch in one signed step
    #[command(after_help = "Examples:
  csx import undo last
  csx import undo 3 --reason \"imported the wrong year\"")]
    Undo {
        /// The batch's number (see `csx import list`), or `last`
        batch: String,
        /// Why (shown with the retraction; default: which batch and file)
        #[arg(long)]
        reason: Option<String>,
    },
    /// The import batches made from this node, newest first
    #[command(after_help = "Examples:
  csx import list
  csx import list --csv > batches.csv")]
    List,
}

/// Most row errors listed before the rest are summarised.
const MAX_ERRORS_SHOWN: usize = 20;
/// Imports of at least this many rows show progress on a terminal.
const PROGRESS_FROM: usize = 500;
/// Rows shown as a preview after a dry run or a small import.
const PREVIEW_ROWS: usize = 10;

pub fn run(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ImportCommand::Undo { batch, reason }) => return undo(ctx, &batch, reason),
        Some(ImportCommand::List) => return list(ctx),
        None => {}
    }
    let (Some(file), Some(kind)) = (args.file.clone(), args.kind) else {
        return Err(CliError::new(2, "give a FILE and --kind, or a subcommand (undo, list)").into());
    };
    let format = match args.format {
        Some(f) => f,
        None => match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv" | "txt" | "tsv") => FileFormat::Csv,
            Some("json") => FileFormat::Json,
            _ => {
                return Err(CliError::invalid(format!(
                    "cannot tell the format of {} from its name; pass --format csv or --format json",
                    file.display()
                ))
                .into());
            }
        },
    };
    match kind {
        ImportKind::Provider => import::<ProviderInput>(ctx, &file, format, &args),
        ImportKind::Review => import::<ReviewInput>(ctx, &file, format, &args),
        ImportKind::Price => import::<PriceInput>(ctx, &file, format, &args),
        ImportKind::Switch => import::<SwitchInput>(ctx, &file, format, &args),
        ImportKind::SwitchOutcome => import::<OutcomeInput>(ctx, &file, format, &args),
        ImportKind::Motion => import::<MotionInput>(ctx, &file, format, &args),
    }
}

/// What `--json` prints for an import.
#[derive(Serialize)]
struct Imported<'a> {
    file: String,
    kind: &'static str,
    encoding: read::Encoding,
    delimiter: Option<String>,
    /// Data rows read (blank rows not counted), by the spreadsheet's row numbers.
    rows: usize,
    blank_rows: usize,
    /// Spreadsheet row numbers written (or, on a dry run, to write).
    written_rows: Vec<usize>,
    duplicates: Vec<DuplicateRow>,
    dry_run: bool,
    /// The batch written (none on a dry run or when every row was already held).
    batch: Option<&'a BatchInfo>,
}

#[derive(Serialize)]
struct DuplicateRow {
    row: usize,
    same_as: String,
}

fn fields_of<T: KindInput>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

fn import<T: KindInput>(ctx: &Ctx, path: &Path, format: FileFormat, args: &ImportArgs) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CliError::not_found(format!("cannot open {name}: {e}")))?;
    let fields = fields_of::<T>();
    let table: Table = match format {
        FileFormat::Csv => {
            let (text, encoding) = read::decode(&bytes, args.encoding);
            let delimiter = args.delimiter.map(|d| match d {
                Delimiter::Comma => ',',
                Delimiter::Semicolon => ';',
                Delimiter::Tab => '\t',
            });
            read::csv(&text, &fields, delimiter, encoding)
        }
        FileFormat::Json => {
            let (text, _) = read::decode(&bytes, Some(EncodingChoice::Utf8));
            read::json(&text, &fields)
        }
    }
    .map_err(|e| CliError::invalid(format!("{name}: {e}; nothing was imported")))?;
    let row_word = if matches!(format, FileFormat::Json) { "item" } else { "row" };
    let bodies = convert::<T>(ctx, &name, &table, row_word)?;
    if bodies.is_empty() {
        return Err(CliError::invalid(format!("{name} has no rows to import")).into());
    }
    for warning in csx_node::query::superseding_rows_numbered(&bodies, |i| table.rows[i].number) {
        ctx.out.note(format!("warning: {warning}"));
    }
    let n = bodies.len();
    let previews: Vec<String> = bodies.iter().map(view::summary).collect();
    let progress = progress(ctx, n, if args.dry_run { "checking" } else { "checking, signing and storing" });
    let reply = ctx.node()?.import(ImportRequest {
        bodies,
        source: path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or(name.clone()),
        dry_run: args.dry_run,
        allow_duplicates: args.allow_duplicates,
    });
    progress.finish_and_clear();
    let report = reply?;
    let number = |i: usize| table.rows[i].number;
    if !report.problems.is_empty() {
        let errors: Vec<String> = report
            .problems
            .iter()
            .map(|p| match csx_node::input::field_of_message(&p.message) {
                Some((field, rest)) => format!("{row_word} {}: {field}: {rest}", number(p.row)),
                None => format!("{row_word} {}: {}", number(p.row), p.message),
            })
            .collect();
        return Err(refusal(&name, errors, table.rows.len()).into());
    }
    let duplicates: Vec<DuplicateRow> = report
        .duplicates
        .iter()
        .map(|d| DuplicateRow {
            row: number(d.row()),
            same_as: match d {
                Duplicate::Record { id, .. } => format!("record {}", id.short()),
                Duplicate::Row { earlier, .. } => format!("{row_word} {}", number(*earlier)),
            },
        })
        .collect();
    let shown = Imported {
        file: name.clone(),
        kind: T::KIND,
        encoding: table.encoding,
        delimiter: table.delimiter.map(|d| d.to_string()),
        rows: table.rows.len(),
        blank_rows: table.blank,
        written_rows: report.rows.iter().map(|r| number(*r)).collect(),
        duplicates,
        dry_run: report.dry_run,
        batch: report.batch.as_ref(),
    };
    if ctx.out.json {
        return ctx.out.json(&shown);
    }
    summary(ctx, &shown, &report, &table, row_word, &previews)
}

/// Converts every row; fails with every row's problem (Excel's row numbers) if any is bad.
fn convert<T: KindInput>(ctx: &Ctx, name: &str, table: &Table, row_word: &str) -> anyhow::Result<Vec<Body>> {
    let mut errors: Vec<(usize, String)> = table.bad.clone();
    let mut bodies = Vec::with_capacity(table.rows.len());
    super::write::with_input_ctx(ctx, |ictx| {
        for row in &table.rows {
            match to_body::<T>(row, ictx) {
                Ok(b) => bodies.push(b),
                Err(e) => errors.push((row.number, e)),
            }
        }
    })?;
    if errors.is_empty() {
        return Ok(bodies);
    }
    errors.sort_by_key(|(n, _)| *n);
    let lines = errors.into_iter().map(|(n, e)| format!("{row_word} {n}: {e}")).collect();
    Err(refusal(name, lines, table.rows.len() + table.bad.len()).into())
}

fn to_body<T: KindInput>(row: &Row, ictx: &InputCtx<'_>) -> Result<Body, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        row.values.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    let input: T = serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())?;
    input.to_valid_body(ictx).map_err(|e| e.as_column())
}

fn refusal(name: &str, errors: Vec<String>, rows: usize) -> CliError {
    let more = errors.len().saturating_sub(MAX_ERRORS_SHOWN);
    let mut text = format!(
        "{} of {} rows of {name} are not valid; nothing was imported:\n  {}",
        count(errors.len()),
        count(rows),
        errors.iter().take(MAX_ERRORS_SHOWN).cloned().collect::<Vec<_>>().join("\n  ")
    );
    if more > 0 {
        text.push_str(&format!("\n  … and {} more", count(more)));
    }
    CliError::invalid(text)
}

/// A spinner on stderr while the node checks and writes a long import (hidden when stderr is
/// not a terminal).
fn progress(ctx: &Ctx, rows: usize, what: &str) -> indicatif::ProgressBar {
    if rows < PROGRESS_FROM || ctx.out.json {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(format!("{what} {} records", count(rows)));
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The summary of an import or dry run (never one line per row of a large file).
fn summary(
    ctx: &Ctx,
    s: &Imported<'_>,
    report: &ImportReport,
    table: &Table,
    row_word: &str,
    previews: &[String],
) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    let read_as = match (s.delimiter.as_deref(), table.encoding) {
        (Some(d), e) => format!(
            "Read {} {row_word}s of {} ({}, columns separated by {}).",
            count(s.rows),
            s.file,
            e,
            match d {
                "," => "commas",
                ";" => "semicolons",
                _ => "tabs",
            }
        ),
        (None, _) => format!("Read {} items of {}.", count(s.rows), s.file),
    };
    lines.push(read_as);
    let aliases: Vec<String> = table
        .renamed
        .iter()
        .filter(|(h, f)| headers::normalise(h) != *f)
        .map(|(h, f)| format!("“{h}” as {f}"))
        .collect();
    if !aliases.is_empty() {
        lines.push(format!("Columns read as: {}.", aliases.join(", ")));
    }
    match s.blank_rows {
        0 => {}
        1 => lines.push("Skipped 1 blank row.".into()),
        n => lines.push(format!("Skipped {} blank rows.", count(n))),
    }
    if !s.duplicates.is_empty() {
        let examples: Vec<String> =
            s.duplicates.iter().take(5).map(|d| format!("{row_word} {} (same as {})", d.row, d.same_as)).collect();
        lines.push(format!(
            "Skipped {} {row_word}s identical to what you already hold: {}{} (--allow-duplicates writes them anyway).",
            count(s.duplicates.len()),
            examples.join(", "),
            if s.duplicates.len() > 5 { ", …" } else { "" }
        ));
    }
    let kind = crate::labels::words(s.kind);
    match (&s.batch, s.dry_run) {
        (_, true) => lines.push(format!(
            "Dry run: {} {kind} records would be written; nothing was written.",
            count(s.written_rows.len())
        )),
        (Some(b), false) => lines.push(format!(
            "Imported {} {kind} records as batch {} (undo with `csx import undo {}`).",
            count(b.records),
            b.id,
            b.id
        )),
        (None, false) => lines.push(format!("Nothing to import: every {row_word} is already held.")),
    }
    let mut text = lines.iter().map(|l| crate::output::wrap(l, ctx.out.width, 0)).collect::<Vec<_>>().join("\n");
    // A preview of what is (or would be) written, as understood: the first rows, in words.
    if !report.rows.is_empty() {
        let mut g = Grid::new().num(row_word).text(if s.dry_run { "would write" } else { "wrote" });
        let mut shown = 0;
        for i in report.rows.iter().take(PREVIEW_ROWS) {
            shown += 1;
            g.row(vec![table.rows[*i].number.to_string(), previews[*i].clone()]);
        }
        text.push_str("\n\n");
        text.push_str(&ctx.out.render(&g));
        if s.written_rows.len() > shown {
            text.push_str(&format!("\n… and {} more", count(s.written_rows.len() - shown)));
        }
    }
    ctx.out.emit(&text)
}

/// `csx import undo BATCH`.
fn undo(ctx: &Ctx, batch: &str, reason: Option<String>) -> anyhow::Result<()> {
    let csx_node::client::Undone { retractions, batch } = ctx.node()?.import_undo(batch.to_string(), reason)?;
    let records: Vec<csx_protocol::Record> = retractions.iter().map(|r| r.decode()).collect::<Result<_, _>>()?;
    let withdrawn: usize = records
        .iter()
        .map(|r| match r.body() {
            Body::Retract(x) => 1 + x.also.len(),
            _ => 0,
        })
        .sum();
    #[derive(Serialize)]
    struct Undone<'a> {
        batch: &'a BatchInfo,
        withdrawn: usize,
        retractions: Vec<String>,
    }
    let shown = Undone { batch: &batch, withdrawn, retractions: records.iter().map(|r| r.id().to_hex()).collect() };
    if ctx.out.json {
        return ctx.out.json(&shown);
    }
    let ids: Vec<String> = records.iter().take(3).map(|r| r.id().short()).collect();
    ctx.out.emit(&crate::output::wrap(
        &format!(
            "Withdrew {} records of batch {} ({}, imported {}) in one signed step: {} retraction{} ({}{}).",
            count(withdrawn),
            batch.id,
            batch.source,
            view::time(batch.at),
            records.len(),
            if records.len() == 1 { "" } else { "s" },
            ids.join(", "),
            if records.len() > ids.len() { ", …" } else { "" }
        ),
        ctx.out.width,
        0,
    ))
}

/// `csx import list`.
fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let batches = ctx.node()?.import_batches()?;
    if batches.is_empty() && !ctx.out.json {
        ctx.out.note("No imports have been made from this node.");
    }
    ctx.out.print(&batches, || {
        let mut g = Grid::new()
            .num("batch")
            .keep("imported (UTC)")
            .text("file")
            .text("kind")
            .num("records")
            .keep("state")
            .keep("records in the feed")
            .wide();
        for b in &batches {
            g.row(vec![
                b.id.to_string(),
                view::time(b.at),
                b.source.clone(),
                b.kinds.iter().map(|k| crate::labels::words(k)).collect::<Vec<_>>().join(", "),
                count(b.records),
                if b.undone_by.is_empty() { "current".into() } else { "undone".into() },
                format!("{}–{} of node {}", b.first_seq, b.last_seq, b.node.short()),
            ]);
        }
        g
    })
}
