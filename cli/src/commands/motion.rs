//! `csx motion propose|list`: proposals for collective action.

use clap::Subcommand;
use csx_protocol::Kind;

use crate::context::Ctx;
use csx_node::input::kinds::MotionInput;

use super::list::ListArgs;

#[derive(Debug, Subcommand)]
pub enum MotionCommand {
    /// Propose collective action on a contract term
    Propose(MotionInput),
    /// List motion records, newest first (`csx motions` shows their support and status)
    List(ListArgs),
    /// One motion: its terms, supporters, support against threshold, status and compliance
    Show {
        /// Motion id or a unique prefix of at least 4 hex digits
        id: String,
    },
}

pub fn run(ctx: &Ctx, cmd: MotionCommand) -> anyhow::Result<()> {
    match cmd {
        MotionCommand::Propose(input) => super::write::add(ctx, input),
        MotionCommand::List(args) => super::list::run(ctx, Kind::Motion, args),
        MotionCommand::Show { id } => super::market::motion_show(ctx, &id),
    }
}
