//! `csx member endorse|revoke` and `csx members`: who belongs to the federation.

use std::path::Path;

use clap::{Args, Subcommand};
use csx_node::api::MembersView;
use csx_node::home::read_identity_file;
use csx_protocol::body::{Endorse, Revoke, RevokedNode};
use csx_protocol::{Body, OrgKey};

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Grid;

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Endorse an organisation for membership (its `csx id --json` file, or its organisation key)
    #[command(after_help = "Examples:
  csx member endorse applicant.json
  csx member endorse applicant.json --yes --comment \"Known to us\"")]
    Endorse(EndorseArgs),
    /// Sign a revocation of a member (by ODS code or organisation key prefix)
    #[command(after_help = "Examples:
  csx member revoke 03Q --reason \"Left the federation\" --yes")]
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct EndorseArgs {
    /// The applicant's identity file (from `csx id --json`), or its organisation key
    pub applicant: String,
    /// The applicant's ODS code (with an organisation key instead of a file)
    #[arg(long)]
    pub ods: Option<String>,
    /// The applicant's name (with an organisation key instead of a file)
    #[arg(long)]
    pub name: Option<String>,
    /// A note for other members
    #[arg(long)]
    pub comment: Option<String>,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The member: its ODS code, or a prefix of its organisation key
    pub member: String,
    /// Why (required; shown to every member)
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
}

pub fn run(ctx: &Ctx, cmd: MemberCommand) -> anyhow::Result<()> {
    match cmd {
        MemberCommand::Endorse(a) => endorse(ctx, a),
        MemberCommand::Revoke(a) => revoke(ctx, a),
    }
}

/// Asks a person to confirm `what`; without a terminal, `--yes` is required.
pub fn confirm(ctx: &Ctx, what: &str, yes: bool) -> anyhow::Result<()> {
    ctx.out.note(what);
    if yes {
        return Ok(());
    }
    if !ctx.interactive {
        return Err(CliError::invalid("confirmation needed: run on a terminal, or pass --yes").into());
    }
    if dialoguer::Confirm::new().with_prompt("Sign this?").default(false).interact()? {
        Ok(())
    } else {
        Err(CliError::invalid("not confirmed; nothing was signed").into())
    }
}

pub fn members(ctx: &Ctx) -> anyhow::Result<MembersView> {
    Ok(ctx.node()?.members()?)
}

fn endorse(ctx: &Ctx, a: EndorseArgs) -> anyhow::Result<()> {
    let (org_key, ods_code, name) = if Path::new(&a.applicant).is_file() {
        let id = read_identity_file(Path::new(&a.applicant)).map_err(|e| CliError::invalid(e.to_string()))?;
        (id.org_key, id.ods_code, id.name)
    } else {
        let key: OrgKey = a.applicant.parse().map_err(|_| {
            CliError::invalid(format!(
                "`{}` is neither an identity file nor a 64-hex-digit organisation key",
                a.applicant
            ))
        })?;
        let ods = a.ods.ok_or_else(|| CliError::invalid("--ods: required with an organisation key"))?;
        let name = a.name.ok_or_else(|| CliError::invalid("--name: required with an organisation key"))?;
        (key, ods.trim().to_ascii_uppercase(), name.trim().to_string())
    };
    let federation = ctx.home.genesis()?.name;
    confirm(
        ctx,
        &format!("Endorse {ods_code} {name} (organisation key {org_key}) as a member of \"{federation}\"."),
        a.yes,
    )?;
    let body = Body::Endorse(Endorse { org_key, ods_code, name, comment: csx_node::input::opt_string(&a.comment) });
    super::write::publish(ctx, vec![body])?;
    let m = members(ctx)?;
    if let Some(app) = m.applicants.iter().find(|x| x.org_key == org_key) {
        ctx.out.note(format!("{} now has {} of {} endorsements needed", app.ods_code, app.endorsements, app.needed));
    } else if m.members.iter().any(|x| x.org_key == org_key) {
        ctx.out.note("that was the last endorsement needed: the organisation is now a member");
    }
    Ok(())
}

/// Finds a member by ODS code or organisation key prefix.
pub fn find_member<'a>(m: &'a MembersView, text: &str) -> anyhow::Result<&'a csx_node::api::MemberView> {
    let t = text.trim();
    if let Some(x) = m.members.iter().find(|x| x.ods_code.eq_ignore_ascii_case(t)) {
        return Ok(x);
    }
    let lower = t.to_ascii_lowercase();
    let found: Vec<_> =
        m.members.iter().filter(|x| lower.len() >= 4 && x.org_key.to_hex().starts_with(&lower)).collect();
    match found.as_slice() {
        [x] => Ok(x),
        [] => {
            Err(CliError::not_found(format!("no member with ODS code or organisation key `{t}`; see `csx members`"))
                .into())
        }
        _ => Err(CliError::not_found(format!("`{t}` matches several members; give more of the key")).into()),
    }
}

fn revoke(ctx: &Ctx, a: RevokeArgs) -> anyhow::Result<()> {
    let reason = match csx_node::input::opt_string(&a.reason) {
        Some(r) => r,
        None => return Err(CliError::invalid("--reason: is required (every member sees it)").into()),
    };
    let m = members(ctx)?;
    let target = find_member(&m, &a.member)?;
    if !target.current {
        return Err(CliError::invalid(format!("{} is already revoked", target.ods_code)).into());
    }
    let nodes: Vec<RevokedNode> = target
        .nodes
        .iter()
        .map(|n| RevokedNode { node_key: n.node_key, last_valid_seq: n.head.unwrap_or(0) })
        .collect();
    let summary: Vec<String> =
        nodes.iter().map(|n| format!("node {} up to record {}", n.node_key.short(), n.last_valid_seq)).collect();
    confirm(
        ctx,
        &format!(
            "Revoke {} {} ({}). Records its nodes signed so far stay valid ({}); nothing after. {} revocations are needed.",
            target.ods_code,
            target.name,
            target.org_key.short(),
            if summary.is_empty() { "no nodes known".to_string() } else { summary.join(", ") },
            m.revocation_threshold
        ),
        a.yes,
    )?;
    let body = Body::Revoke(Revoke { org_key: target.org_key, reason, nodes });
    super::write::publish(ctx, vec![body])
}

/// `csx members`.
pub fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let m = members(ctx)?;
    ctx.out.print(&m, || {
        let mut t = Grid::new()
            .keep("member")
            .text("name")
            .text("status")
            .text("admitted by")
            .text("nodes")
            .wide()
            .keep("organisation key")
            .wide();
        for x in &m.members {
            let status = if !x.current {
                format!("revoked by {}", x.revoked_by.join(", "))
            } else if x.founder {
                "founder".into()
            } else {
                "member".into()
            };
            let nodes = x
                .nodes
                .iter()
                .map(|n| {
                    let state = if n.retired {
                        " retired"
                    } else if n.limit.is_some() {
                        " limited"
                    } else {
                        ""
                    };
                    format!("{} (record {}){}", n.node_key.short(), n.head.unwrap_or(0), state)
                })
                .collect::<Vec<_>>()
                .join("\n");
            t.row(vec![
                x.ods_code.clone(),
                x.name.clone(),
                status,
                if x.founder { "genesis".into() } else { x.endorsed_by.join(", ") },
                if nodes.is_empty() { "–".into() } else { nodes },
                x.org_key.short(),
            ]);
        }
        for a in &m.applicants {
            t.row(vec![
                a.ods_code.clone(),
                a.name.clone(),
                format!("applicant: {} of {} endorsements", a.endorsements, a.needed),
                a.endorsed_by.join(", "),
                "–".into(),
                a.org_key.short(),
            ]);
        }
        t
    })
}
