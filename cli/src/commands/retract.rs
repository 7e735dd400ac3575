//! `csx retract ID`: withdraw one of your organisation's records.

use clap::Args;
use csx_protocol::Body;
use csx_protocol::body::Retract;

use crate::context::Ctx;
use crate::error::CliError;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx retract 1a2b3c4d --reason \"Entered against the wrong service line\"
  csx import undo last              (withdraws a whole import)")]
pub struct RetractArgs {
    /// The record's id, or a unique prefix of it
    pub id: String,
    /// Why it is withdrawn (required)
    #[arg(long)]
    pub reason: Option<String>,
}

pub fn run(ctx: &Ctx, args: RetractArgs) -> anyhow::Result<()> {
    let target = ctx.resolve(&args.id)?;
    let reason = match csx_node::input::opt_string(&args.reason) {
        Some(r) => r,
        None if ctx.interactive => dialoguer::Input::new().with_prompt("reason").interact_text()?,
        None => return Err(CliError::invalid("--reason: is required").into()),
    };
    super::write::publish(ctx, vec![Body::Retract(Retract::one(target, reason))])
}
