//! `csx switch add|outcome|list`: switching reports and how they turned out.

use clap::Subcommand;
use csx_protocol::Kind;

use crate::context::Ctx;
use csx_node::input::kinds::{OutcomeInput, SwitchInput};

use super::list::ListArgs;

#[derive(Debug, Subcommand)]
pub enum SwitchCommand {
    /// Report that you moved a service line from one provider to another
    Add(SwitchInput),
    /// Report how an earlier switch turned out (cost and satisfaction change)
    Outcome(OutcomeInput),
    /// List switching reports, newest first
    List(ListArgs),
    /// List switch outcomes, newest first
    Outcomes(ListArgs),
}

pub fn run(ctx: &Ctx, cmd: SwitchCommand) -> anyhow::Result<()> {
    match cmd {
        SwitchCommand::Add(input) => super::write::add(ctx, input),
        SwitchCommand::Outcome(input) => super::write::add(ctx, input),
        SwitchCommand::List(args) => super::list::run(ctx, Kind::Switch, args),
        SwitchCommand::Outcomes(args) => super::list::run(ctx, Kind::SwitchOutcome, args),
    }
}
