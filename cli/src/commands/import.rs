//! `csx import FILE --kind KIND`: bulk entry from CSV or JSON, all or nothing.
//!
//! One kind per file. CSV columns (and JSON keys) are the kind's field names, as the `add`
//! command's flags without `--` and with `_` for `-` (see docs/IMPORT.md). Every row is checked
//! before anything is written; errors name the row and the column.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use csx_protocol::Body;

use crate::context::Ctx;
use crate::error::CliError;
use csx_node::input::kinds::*;

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

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import
    pub file: PathBuf,
    /// What each row is
    #[arg(long, value_enum)]
    pub kind: ImportKind,
    /// The file's format (default: from its extension)
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
}

/// Most row errors listed before the rest are summarised.
const MAX_ERRORS_SHOWN: usize = 20;

pub fn run(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<()> {
    let format = match args.format {
        Some(f) => f,
        None => match args.file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => FileFormat::Csv,
            Some("json") => FileFormat::Json,
            _ => {
                return Err(CliError::invalid(format!(
                    "cannot tell the format of {} from its name; pass --format csv or --format json",
                    args.file.display()
                ))
                .into());
            }
        },
    };
    let bodies = match args.kind {
        ImportKind::Provider => convert::<ProviderInput>(ctx, &args.file, format)?,
        ImportKind::Review => convert::<ReviewInput>(ctx, &args.file, format)?,
        ImportKind::Price => convert::<PriceInput>(ctx, &args.file, format)?,
        ImportKind::Switch => convert::<SwitchInput>(ctx, &args.file, format)?,
        ImportKind::SwitchOutcome => convert::<OutcomeInput>(ctx, &args.file, format)?,
        ImportKind::Motion => convert::<MotionInput>(ctx, &args.file, format)?,
    };
    if bodies.is_empty() {
        return Err(CliError::invalid(format!("{} has no rows to import", args.file.display())).into());
    }
    let n = bodies.len();
    for warning in csx_node::query::superseding_rows(&bodies) {
        ctx.out.note(format!("warning: {warning}"));
    }
    super::write::publish(ctx, bodies)?;
    ctx.out.note(format!("imported {n} records from {}", args.file.display()));
    Ok(())
}

/// Reads every row and converts it; fails with every row's problem if any row is bad.
fn convert<T: KindInput>(ctx: &Ctx, path: &Path, format: FileFormat) -> anyhow::Result<Vec<Body>> {
    let rows: Vec<Result<T, String>> = match format {
        FileFormat::Csv => read_csv(path)?,
        FileFormat::Json => read_json(path)?,
    };
    let converted = super::write::with_input_ctx(ctx, |ictx| csx_node::input::file::convert_rows(rows, ictx));
    match converted {
        Ok(bodies) => Ok(bodies),
        Err(bad) => {
            let more = bad.errors.len().saturating_sub(MAX_ERRORS_SHOWN);
            let listed: Vec<String> =
                bad.errors.iter().take(MAX_ERRORS_SHOWN).map(|(row, e)| format!("row {row}: {e}")).collect();
            let mut text = format!(
                "{} of {} rows of {} are not valid; nothing was imported:\n  {}",
                bad.errors.len(),
                bad.rows,
                path.display(),
                listed.join("\n  ")
            );
            if more > 0 {
                text.push_str(&format!("\n  … and {more} more"));
            }
            Err(CliError::invalid(text).into())
        }
    }
}

fn open(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| CliError::not_found(format!("cannot open {}: {e}", path.display())).into())
}

fn read_csv<T: KindInput>(path: &Path) -> anyhow::Result<Vec<Result<T, String>>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open(path)?, &mut bytes)
        .map_err(|e| CliError::not_found(format!("cannot read {}: {e}", path.display())))?;
    csx_node::input::file::csv_rows(&bytes).map_err(|e| CliError::invalid(format!("{}: {e}", path.display())).into())
}

/// A JSON file is an array of objects; numbers and booleans are taken as their text.
fn read_json<T: KindInput>(path: &Path) -> anyhow::Result<Vec<Result<T, String>>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::not_found(format!("cannot read {}: {e}", path.display())))?;
    csx_node::input::file::json_rows(&text).map_err(|e| CliError::invalid(format!("{} {e}", path.display())).into())
}
