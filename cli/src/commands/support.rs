//! `csx support MOTION`: support a motion, or withdraw support.

use clap::Args;
use csx_protocol::Body;
use csx_protocol::body::{Stance, Support};

use crate::context::Ctx;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx support 1a2b3c4d --comment \"Yes: our notice period is 12 months\"
  csx support 1a2b3c4d --withdraw")]
pub struct SupportArgs {
    /// The motion's id, or a unique prefix of it
    pub motion: String,
    /// Withdraw your organisation's support instead
    #[arg(long)]
    pub withdraw: bool,
    /// A comment to go with it
    #[arg(long)]
    pub comment: Option<String>,
}

pub fn run(ctx: &Ctx, args: SupportArgs) -> anyhow::Result<()> {
    let motion = ctx.resolve(&args.motion)?;
    let stance = if args.withdraw { Stance::Withdraw } else { Stance::Support };
    let body = Body::Support(Support { motion, stance, comment: csx_node::input::opt_string(&args.comment) });
    super::write::publish(ctx, vec![body])
}
