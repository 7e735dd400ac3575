//! `csx <kind> list`: the records of one kind, newest first.

use clap::Args;
use csx_node::api::{Request, Response};
use csx_protocol::Kind;

use crate::context::Ctx;
use crate::view;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only records about this service line
    #[arg(long)]
    pub service_line: Option<String>,
    /// Only records about this provider
    #[arg(long)]
    pub provider: Option<String>,
    /// At most this many records
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

pub fn run(ctx: &Ctx, kind: Kind, args: ListArgs) -> anyhow::Result<()> {
    let request = Request::List {
        kind,
        service_line: args.service_line.map(|s| s.trim().to_ascii_uppercase()),
        provider: args.provider.map(|s| s.trim().to_ascii_uppercase()),
        limit: args.limit,
    };
    let Response::Records { records } = ctx.call(request)? else { anyhow::bail!("unexpected reply") };
    let shown = view::decode(records)?;
    ctx.out.print(&shown, || view::records_table(Some(kind), &shown))
}
