//! `csx review add|list`.

use clap::Subcommand;
use csx_protocol::Kind;

use crate::context::Ctx;
use csx_node::input::kinds::ReviewInput;

use super::list::ListArgs;

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum ReviewCommand {
    /// Review a provider's service line
    Add(ReviewInput),
    /// List reviews, newest first
    List(ListArgs),
}

pub fn run(ctx: &Ctx, cmd: ReviewCommand) -> anyhow::Result<()> {
    match cmd {
        ReviewCommand::Add(input) => super::write::add(ctx, input),
        ReviewCommand::List(args) => super::list::run(ctx, Kind::Review, args),
    }
}
