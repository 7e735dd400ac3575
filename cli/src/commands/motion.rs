//! `csx motion propose|list`: proposals for collective action.

use clap::Subcommand;
use csx_protocol::Kind;

use crate::context::Ctx;
use csx_node::input::kinds::MotionInput;

use super::list::ListArgs;

#[derive(Debug, Subcommand)]
pub enum MotionCommand {
    /// Propose collective action on a contract term
    #[command(after_help = "Examples:
  csx motion propose --title \"Notice periods of at most 6 months\" --text \\
      \"We will not sign for more.\" --term max_notice_months=6 --support-needed 5 \\
      --closes-on \"in 3 months\"
  csx motion propose --title \"Outcome KPIs\" --text \"KPIs on outcomes.\" --term \\
      kpi_basis=outcome --service-line BI --support-needed 3 --closes-on 31/03/2027")]
    Propose(MotionInput),
    /// List motion records, newest first (`csx motions` shows their support and status)
    #[command(after_help = "Examples:
  csx motion list
  csx motions --status open")]
    List(ListArgs),
    /// One motion: its terms, supporters, support against threshold, status and compliance
    #[command(after_help = "Examples:
  csx motion show 1a2b3c4d")]
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
