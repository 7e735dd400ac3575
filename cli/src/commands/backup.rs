//! `csx backup FILE` and `csx restore FILE`: a node's home in one checked file, and back.

use std::path::PathBuf;

use clap::Args;
use csx_node::backup::BackupSummary;

use crate::context::Ctx;
use crate::error::CliError;
use crate::labels;
use crate::output::fields;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx backup /var/backups/csx/csx-2026-11-30.backup
  csx backup node.backup --json

Taken through the running daemon when there is one (it keeps running and writing; the backup is
the store as it was at one instant), else from the home directly. The file holds the node's and
the organisation's secret keys: it is written owner-only (0600); keep it like the keys.")]
pub struct BackupArgs {
    /// The backup file to write (must not exist)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx --home /var/lib/csx restore /var/backups/csx/csx-2026-11-30.backup

Restores into an empty home only. The whole file is checked first (its format, counts and
checksum), then every record's signature and place in its feed; a damaged file is refused and
nothing is written. A restored node signs nothing until a member's node has confirmed its own
feed: start the daemon and run `csx sync` before writing.")]
pub struct RestoreArgs {
    /// The backup file (written by `csx backup`)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

fn absolute(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(path))
}

fn summary_rows(s: &BackupSummary) -> Vec<(String, String)> {
    vec![
        ("file".into(), s.path.clone()),
        ("taken at".into(), crate::view::time(s.created_at)),
        ("node key".into(), s.node_key.clone()),
        (
            "records".into(),
            format!(
                "{} from {} node{}",
                labels::count(s.records as usize),
                s.feeds,
                if s.feeds == 1 { "" } else { "s" }
            ),
        ),
        ("home files".into(), s.files.join(", ")),
        ("node metadata entries".into(), s.metadata.to_string()),
        ("fork proofs".into(), s.fork_proofs.to_string()),
        ("data fingerprint".into(), s.heads_digest.clone()),
        ("size".into(), format!("{} bytes", labels::count(s.bytes as usize))),
        ("checksum (SHA-256)".into(), s.checksum.clone()),
    ]
}

pub fn backup(ctx: &Ctx, args: BackupArgs) -> anyhow::Result<()> {
    let path = absolute(&args.file)?;
    let summary = ctx.node()?.backup(path.display().to_string())?;
    ctx.out.print(&summary, || fields(summary_rows(&summary)))?;
    ctx.out.note("the file holds this node's secret keys: keep it where only you can read it");
    Ok(())
}

pub fn restore(ctx: &Ctx, args: RestoreArgs) -> anyhow::Result<()> {
    let summary = csx_node::backup::restore(&args.file, ctx.home.root(), crate::now_ms()).map_err(CliError::from)?;
    ctx.out.print(&summary, || fields(summary_rows(&summary)))?;
    ctx.out.note(format!(
        "restored into {}; this node signs nothing until a member's node confirms its feed: \
         start the daemon, run `csx sync`, then write",
        ctx.home.root().display()
    ));
    Ok(())
}
