//! `csx motion propose|list`: proposals for collective action.

use clap::Subcommand;
use csx_protocol::Kind;

use crate::context::Ctx;
use crate::input::kinds::MotionInput;

use super::list::ListArgs;

#[derive(Debug, Subcommand)]
pub enum MotionCommand {
    /// Propose collective action on a contract term
    Propose(MotionInput),
    /// List motions, newest first
    List(ListArgs),
}

pub fn run(ctx: &Ctx, cmd: MotionCommand) -> anyhow::Result<()> {
    match cmd {
        MotionCommand::Propose(input) => super::write::add(ctx, input),
        MotionCommand::List(args) => super::list::run(ctx, Kind::Motion, args),
    }
}
