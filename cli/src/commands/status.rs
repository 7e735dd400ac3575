//! `csx status`: this node, its federation and its store.

use csx_node::api::{Request, Response};

use crate::context::Ctx;
use crate::output::fields;

pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let Response::Status(status) = ctx.call(Request::Status)? else {
        anyhow::bail!("unexpected reply")
    };
    ctx.out.print(&status, || {
        let s = &status;
        let forks = if s.forks.is_empty() {
            "none".to_string()
        } else {
            s.forks
                .iter()
                .map(|f| format!("node {} at seq {}", f.author.short(), f.seq))
                .collect::<Vec<_>>()
                .join("\n")
        };
        fields(vec![
            (
                "organisation".into(),
                format!("{} ({})", s.identity.name, s.identity.ods_code),
            ),
            ("node key".into(), s.identity.node_key.to_hex()),
            (
                "federation".into(),
                format!("{} ({})", s.federation.name, s.federation.id.short()),
            ),
            ("mode".into(), s.mode.clone()),
            (
                "records".into(),
                format!(
                    "{} in {} feeds ({} bytes)",
                    s.store.records, s.store.feeds, s.store.record_bytes
                ),
            ),
            ("waiting for gaps".into(), s.store.pending.to_string()),
            (
                "own feed".into(),
                s.own_head
                    .map(|h| format!("seq {} ({})", h.seq, h.id.short()))
                    .unwrap_or_else(|| "empty".into()),
            ),
            ("forks seen".into(), forks),
        ])
    })
}
