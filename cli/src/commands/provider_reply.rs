//! `csx provider-reply keygen|sign|publish`: the provider's right of reply.
//!
//! `keygen` and `sign` are for the provider: they need no home, no network and no data beyond
//! the review's id and the text. `publish` is for a member: it puts the signed reply inside one
//! of its own records, which every node checks (docs/OPERATIONS.md, "A provider's reply").

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use csx_protocol::body::ProviderReply;
use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, RecordId};
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Grid;

/// The `format` of a signed reply file.
pub const REPLY_FORMAT: &str = "csx-provider-reply-v1";
/// The `purpose` of a provider key file.
const KEY_PURPOSE: &str = "provider-reply";
/// Largest signed reply file read (a reply is at most 4,000 characters).
const MAX_FILE: u64 = 64 * 1024;

#[derive(Debug, Subcommand)]
pub enum ProviderReplyCommand {
    /// For the provider: create a reply key (owner-only file) and print its public key
    #[command(after_help = "Examples:
  csx provider-reply keygen --out acme-reply.key
Hand the public key it prints to a member, who registers it with `csx provider key add`.")]
    Keygen {
        /// Where to write the secret key (refused if the file exists)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// For the provider: sign a reply to one review, offline, into a file for a member
    #[command(after_help = "Examples:
  csx provider-reply sign --key acme-reply.key --out reply.json \\
      --review 52b849ce94c8406f80d144685cdb45f4c295fe3b6cf03721a87bf32293f78c85 \\
      --text \"Thank you: the data feed was fixed in May.\"
Needs no home and no network: only the key, the review's full id and the text.")]
    Sign(SignArgs),
    /// For a member: publish a provider's signed reply in one of your records
    #[command(after_help = "Examples:
  csx provider-reply publish reply.json")]
    Publish {
        /// The signed reply file the provider handed you
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The provider's reply key file (from `csx provider-reply keygen`)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The review's full id (64 hex digits), as the member who asked for the reply gave it
    #[arg(long, value_name = "ID")]
    pub review: String,
    /// The reply (at most 4,000 characters)
    #[arg(long)]
    pub text: String,
    /// Write the signed reply here instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// A signed reply as a file: the statement the provider signed, with its key and signature.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplyFile {
    pub format: String,
    #[serde(flatten)]
    pub reply: ProviderReply,
}

pub fn run(ctx: &Ctx, cmd: ProviderReplyCommand) -> anyhow::Result<()> {
    match cmd {
        ProviderReplyCommand::Keygen { out } => keygen(ctx, &out),
        ProviderReplyCommand::Sign(args) => sign(ctx, args),
        ProviderReplyCommand::Publish { file } => publish(ctx, &file),
    }
}

fn keygen(ctx: &Ctx, out: &Path) -> anyhow::Result<()> {
    let key = SecretKey::generate()?;
    csx_node::keyfile::write(out, KEY_PURPOSE, &key, None).map_err(|e| CliError::invalid(e.to_string()))?;
    let public = hex::encode(key.public_bytes());
    #[derive(Serialize)]
    struct Made<'a> {
        key_file: String,
        public_key: &'a str,
    }
    ctx.out.print(&Made { key_file: out.display().to_string(), public_key: &public }, || {
        let mut g = Grid::new().keep("").text("");
        g.row(vec!["secret key (keep it; owner-only)".into(), out.display().to_string()]);
        g.row(vec!["public key (give it to a member)".into(), public.clone()]);
        g
    })
}

fn sign(ctx: &Ctx, args: SignArgs) -> anyhow::Result<()> {
    let review: RecordId = args.review.trim().to_ascii_lowercase().parse().map_err(|_| {
        CliError::invalid(format!(
            "--review: `{}` is not a full record id: give all 64 hex digits of the review's id (no home is read to complete a prefix)",
            args.review.trim().chars().take(70).collect::<String>()
        ))
    })?;
    let key = csx_node::keyfile::read(&args.key, None).map_err(|e| CliError::invalid(e.to_string()))?;
    let reply = ProviderReply::sign(&key, review, &args.text, crate::now_ms())
        .map_err(|e| CliError::invalid(format!("--text: {}", e.rule)))?;
    let file = ReplyFile { format: REPLY_FORMAT.into(), reply };
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    match &args.out {
        Some(path) => {
            write_new(path, text.as_bytes())?;
            ctx.out.note(format!(
                "Signed a reply to review {}: hand {} to a member, who publishes it with `csx provider-reply publish`.",
                review.short(),
                path.display()
            ));
            Ok(())
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

/// Writes a new file, refusing to replace one.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| CliError::invalid(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Reads and checks a signed reply file: its format and the provider's signature.
pub fn read_reply(path: &Path) -> anyhow::Result<ProviderReply> {
    let meta =
        std::fs::metadata(path).map_err(|e| CliError::invalid(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_FILE {
        return Err(CliError::invalid(format!(
            "{} is {} bytes: a signed reply file is at most {MAX_FILE}",
            path.display(),
            meta.len()
        ))
        .into());
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::invalid(format!("cannot read {}: {e}", path.display())))?;
    let file: ReplyFile = serde_json::from_str(&text).map_err(|e| {
        CliError::invalid(format!("{} is not a signed reply file ({REPLY_FORMAT}): {e}", path.display()))
    })?;
    if file.format != REPLY_FORMAT {
        return Err(CliError::invalid(format!(
            "{}: format `{}` is not {REPLY_FORMAT}",
            path.display(),
            file.format.chars().take(40).collect::<String>()
        ))
        .into());
    }
    if !file.reply.signature_valid() {
        return Err(CliError::invalid(format!(
            "{}: the provider's signature does not verify (bad_provider_signature): the file was changed after signing, or not signed with the key it names",
            path.display()
        ))
        .into());
    }
    Ok(file.reply)
}

fn publish(ctx: &Ctx, path: &Path) -> anyhow::Result<()> {
    let reply = read_reply(path)?;
    super::write::publish(ctx, vec![Body::ProviderReply(reply)])
}
