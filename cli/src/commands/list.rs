//! `csx <kind> list`: the records of one kind, newest first.

use clap::Args;
use csx_node::api::Selection;
use csx_node::client::Selected;
use csx_protocol::Kind;

use crate::context::Ctx;
use crate::labels::count;
use crate::view;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only records about this service line (code or name)
    #[arg(long, value_name = "LINE")]
    pub service_line: Option<String>,
    /// Only records about this provider (code or name)
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Only your organisation's records
    #[arg(long)]
    pub mine: bool,
    /// At most this many records
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: usize,
    /// Every record (no limit)
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
}

pub fn run(ctx: &Ctx, kind: Kind, args: ListArgs) -> anyhow::Result<()> {
    let service_line = args
        .service_line
        .as_deref()
        .map(|l| csx_node::input::service_line("service_line", l))
        .transpose()
        .map_err(|e| crate::error::CliError::invalid(e.as_flag()))?;
    let names = ctx.provider_names()?;
    let provider = args.provider.as_deref().map(|p| ctx.provider_code(&names, p)).transpose()?;
    let limit = if args.all { usize::MAX } else { args.limit };
    let Selected { records, total } =
        ctx.node()?.select(Selection { kind, service_line, provider, mine: args.mine, limit })?;
    let shown = view::decode(records)?;
    if shown.len() < total {
        ctx.out.note(format!("showing the newest {} of {} (use --limit N or --all)", count(shown.len()), count(total)));
    } else if shown.is_empty() && !ctx.out.json {
        ctx.out.note(format!("No {} records held match.", crate::labels::words(kind.name())));
    }
    if ctx.out.csv {
        return ctx.out.csv(&view::records_csv(&shown));
    }
    ctx.out.print(&shown, || view::records_table(Some(kind), &shown, &names))
}
