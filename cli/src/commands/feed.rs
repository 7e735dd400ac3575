//! `csx feed`: one node's feed, in order.

use clap::Args;

use crate::context::Ctx;
use crate::labels::count;
use crate::view;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx feed                        this node's own records, oldest first
  csx feed --author 8139 --all    every record of the node whose key starts 8139
  csx feed --from-seq 100 --limit 20")]
pub struct FeedArgs {
    /// The feed's node key (or a unique prefix); default this node's own feed
    #[arg(long, value_name = "KEY")]
    pub author: Option<String>,
    /// Start at this record number of the feed
    #[arg(long, value_name = "N")]
    pub from_seq: Option<u64>,
    /// At most this many records
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: usize,
    /// Every record from the start (no limit)
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
}

pub fn run(ctx: &Ctx, args: FeedArgs) -> anyhow::Result<()> {
    let limit = if args.all { usize::MAX } else { args.limit };
    let mut records = ctx.node()?.feed(args.author, args.from_seq, limit.saturating_add(1))?;
    let more = records.len() > limit;
    records.truncate(limit);
    let shown = view::decode(records)?;
    if more {
        ctx.out.note(format!(
            "showing {} records from record {}; more follow (use --from-seq, --limit N or --all)",
            count(shown.len()),
            shown.first().map(|s| s.record.seq()).unwrap_or(1)
        ));
    }
    if ctx.out.csv {
        return ctx.out.csv(&view::records_csv(&shown));
    }
    let names = ctx.provider_names()?;
    ctx.out.print(&shown, || view::records_table(None, &shown, &names))
}
