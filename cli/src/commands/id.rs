//! `csx id`: this member's public identity, to hand to other members.

use crate::context::Ctx;
use crate::output::fields;

pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let id = ctx.home.identity()?;
    ctx.out.print(&id, || {
        fields(vec![
            ("organisation".into(), format!("{} ({})", id.name, id.ods_code)),
            ("organisation key".into(), id.org_key.to_hex()),
            ("node key".into(), id.node_key.to_hex()),
        ])
    })?;
    if !ctx.out.json {
        ctx.out
            .note("To hand this to other members: csx id --json > identity.json");
    }
    Ok(())
}
