//! `csx switch add|outcome|list`: switching reports and how they turned out.

use clap::Subcommand;
use csx_protocol::Kind;

use crate::context::Ctx;
use csx_node::input::kinds::{OutcomeInput, SwitchInput};

use super::list::ListArgs;

#[derive(Debug, Subcommand)]
pub enum SwitchCommand {
    /// Report that you moved a service line from one provider to another
    #[command(after_help = "Examples:
  csx switch add --service-line CHC --from 0DE --to in_house --effective 01/10/2024 \\
      --reasons cost,quality
  csx switch add --service-line BI --from AGEM --to shared:QOQ --effective 2025-04-01 \\
      --reasons strategy --exit-costs 40k --notice-months 6")]
    Add(SwitchInput),
    /// Report how an earlier switch turned out (cost and satisfaction change)
    #[command(after_help = "Examples:
  csx switch outcome --switch 1a2b3c4d --cost-change -40k --satisfaction-change 2")]
    Outcome(OutcomeInput),
    /// List switching reports, newest first
    #[command(after_help = "Examples:
  csx switch list
  csx switch list --service-line CHC --wide")]
    List(ListArgs),
    /// List switch outcomes, newest first
    #[command(after_help = "Examples:
  csx switch outcomes --all")]
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
