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
    #[command(after_help = "Examples:
  csx review add --provider 0DE --service-line BI --year 2024/25 --quality 4 \\
      --timeliness 3 --would-recommend 7 --still-customer yes --reviewer-role \\
      \"Head of BI\"
  csx review add --provider AGEM --service-line \"Business intelligence\" --year 24/25 \\
      --value-for-money 2 --still-customer no --reviewer-role \"Head of Contracting\" \\
      --comment \"Dashboards late\"")]
    Add(ReviewInput),
    /// List reviews, newest first
    #[command(after_help = "Examples:
  csx review list
  csx review list --provider 0DE --service-line BI --wide
  csx review list --mine --all --csv > my-reviews.csv")]
    List(ListArgs),
}

pub fn run(ctx: &Ctx, cmd: ReviewCommand) -> anyhow::Result<()> {
    match cmd {
        ReviewCommand::Add(input) => super::write::add(ctx, input),
        ReviewCommand::List(args) => super::list::run(ctx, Kind::Review, args),
    }
}
