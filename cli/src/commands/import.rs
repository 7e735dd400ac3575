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
    let mut bodies = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    super::write::with_input_ctx(ctx, |ictx| {
        for (i, row) in rows.into_iter().enumerate() {
            let converted = row.and_then(|input| input.to_valid_body(ictx).map_err(|e| e.as_column()));
            match converted {
                Ok(b) => bodies.push(b),
                Err(e) => errors.push(format!("row {}: {e}", i + 1)),
            }
        }
    })?;
    if !errors.is_empty() {
        let more = errors.len().saturating_sub(MAX_ERRORS_SHOWN);
        let mut text = format!(
            "{} of {} rows of {} are not valid; nothing was imported:\n  {}",
            errors.len(),
            errors.len() + bodies.len(),
            path.display(),
            errors.iter().take(MAX_ERRORS_SHOWN).cloned().collect::<Vec<_>>().join("\n  ")
        );
        if more > 0 {
            text.push_str(&format!("\n  … and {more} more"));
        }
        return Err(CliError::invalid(text).into());
    }
    Ok(bodies)
}

fn open(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| CliError::not_found(format!("cannot open {}: {e}", path.display())).into())
}

fn read_csv<T: KindInput>(path: &Path) -> anyhow::Result<Vec<Result<T, String>>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(open(path)?);
    let headers = reader
        .headers()
        .map_err(|e| CliError::invalid(format!("{}: cannot read the header row: {e}", path.display())))?
        .clone();
    let allowed: Vec<String> = match serde_json::to_value(T::default())? {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        _ => vec![],
    };
    for h in headers.iter() {
        if !allowed.iter().any(|a| a == h) {
            return Err(CliError::invalid(format!(
                "{}: `{h}` is not a {} column; columns are: {}",
                path.display(),
                T::KIND,
                allowed.join(", ")
            ))
            .into());
        }
    }
    Ok(reader.deserialize::<T>().map(|r| r.map_err(|e| csv_error(&e))).collect())
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("has {len} cells but the header has {expected_len}")
        }
        _ => e.to_string(),
    }
}

/// A JSON file is an array of objects; numbers and booleans are taken as their text.
fn read_json<T: KindInput>(path: &Path) -> anyhow::Result<Vec<Result<T, String>>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::not_found(format!("cannot read {}: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::invalid(format!("{} is not valid JSON: {e}", path.display())))?;
    let serde_json::Value::Array(items) = value else {
        return Err(
            CliError::invalid(format!("{}: expected a JSON array of {} objects", path.display(), T::KIND)).into()
        );
    };
    Ok(items
        .into_iter()
        .map(|item| {
            let serde_json::Value::Object(map) = item else {
                return Err("is not a JSON object".to_string());
            };
            let mut strings = serde_json::Map::new();
            for (k, v) in map {
                let s = match v {
                    serde_json::Value::Null => continue,
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                strings.insert(k, serde_json::Value::String(s));
            }
            serde_json::from_value::<T>(serde_json::Value::Object(strings)).map_err(|e| e.to_string())
        })
        .collect())
}
