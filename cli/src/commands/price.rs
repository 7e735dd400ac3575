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
    #[command(after_help = "Examples:
  csx price add --provider 0DE --service-line BI --year 2024/25 --annual-value \\
      \"£1,680,000\" --vat-included no --pricing-model fixed
  csx price add --provider 0CX --service-line HR --year 2025 --annual-value 276k \\
      --vat-included yes --pricing-model per_unit --unit-name payslip --unit-count \\
      60000 --contract-start 01/04/2025 --notice-months 6 --efficiency 2.5%")]
    Add(PriceInput),
    /// List prices, newest first
    #[command(after_help = "Examples:
  csx price list
  csx price list --service-line BI --wide
  csx price list --mine --all --csv > my-prices.csv")]
    List(ListArgs),
}

pub fn run(ctx: &Ctx, cmd: PriceCommand) -> anyhow::Result<()> {
    match cmd {
        PriceCommand::Add(input) => super::write::add(ctx, input),
        PriceCommand::List(args) => super::list::run(ctx, Kind::Price, args),
    }
}
