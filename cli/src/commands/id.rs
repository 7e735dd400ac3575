//! `csx id`: this member's public identity, to hand to other members.

use crate::context::Ctx;
use crate::output::fields;

#[derive(serde::Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    identity: &'a csx_node::home::PublicIdentity,
    peer_id: String,
}

pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let id = ctx.home.identity()?;
    let peer_id = csx_node::net::identity::peer_id(&id.node_key).to_string();
    ctx.out.print(&Shown { identity: &id, peer_id: peer_id.clone() }, || {
        fields(vec![
            ("organisation".into(), format!("{} ({})", id.name, id.ods_code)),
            ("organisation key".into(), id.org_key.to_hex()),
            ("node key".into(), id.node_key.to_hex()),
            ("peer id".into(), peer_id.clone()),
        ])
    })?;
    if !ctx.out.json {
        ctx.out.note("To hand this to other members: csx id --json > identity.json");
    }
    Ok(())
}
