//! `csx price add|list`.

use clap::Subcommand;
use csx_protocol::Kind;

use crate::context::Ctx;
use csx_node::input::kinds::PriceInput;

use super::list::ListArgs;

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum PriceCommand {
    /// Disclose what you pay a provider for a service line
    Add(PriceInput),
    /// List prices, newest first
    List(ListArgs),
}

pub fn run(ctx: &Ctx, cmd: PriceCommand) -> anyhow::Result<()> {
    match cmd {
        PriceCommand::Add(input) => super::write::add(ctx, input),
        PriceCommand::List(args) => super::list::run(ctx, Kind::Price, args),
    }
}
