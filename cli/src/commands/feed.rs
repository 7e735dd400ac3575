//! `csx feed`: one node's feed, in order.

use clap::Args;
use csx_node::api::{Request, Response};

use crate::context::Ctx;
use crate::view;

#[derive(Debug, Args)]
pub struct FeedArgs {
    /// The feed's node key (or a unique prefix); default this node's own feed
    #[arg(long)]
    pub author: Option<String>,
    /// Start at this seq
    #[arg(long)]
    pub from_seq: Option<u64>,
    /// At most this many records
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

pub fn run(ctx: &Ctx, args: FeedArgs) -> anyhow::Result<()> {
    let Response::Records { records } =
        ctx.call(Request::Feed { author: args.author, from_seq: args.from_seq, limit: args.limit })?
    else {
        anyhow::bail!("unexpected reply")
    };
    let shown = view::decode(records)?;
    ctx.out.print(&shown, || view::records_table(None, &shown))
}
