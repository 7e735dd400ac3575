//! `csx node init|add|install|retire`: the nodes of this organisation.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use csx_node::home::{BUNDLE_FORMAT, NodeBundle, PublicIdentity};
use csx_protocol::body::{NodeCert, RetireNode};
use csx_protocol::{Body, NodeKey};

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::fields;

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// On a new machine: create only a node key, for the organisation to certify
    #[command(after_help = "Examples:
  csx node init")]
    Init,
    /// Certify another node of this organisation (needs the organisation key): writes a bundle
    /// to install on the new node
    #[command(after_help = "Examples:
  csx node add 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394 --out \\
      node-bundle.json")]
    Add(AddArgs),
    /// On the new machine: install the bundle from `csx node add`
    #[command(after_help = "Examples:
  csx node install node-bundle.json")]
    Install {
        /// The bundle file
        bundle: PathBuf,
    },
    /// Retire a node of this organisation (lost, compromised or decommissioned); needs the
    /// organisation key
    #[command(after_help = "Examples:
  csx node retire 8139770e --reason \"Laptop lost\" --yes")]
    Retire(RetireArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The new node's key, as `csx node init` printed it
    pub node_key: String,
    /// Where to write the bundle
    #[arg(long, default_value = "node-bundle.json")]
    pub out: PathBuf,
    /// Years until the certificate expires
    #[arg(long, default_value_t = 5)]
    pub cert_years: u32,
    /// File whose first line is the organisation key's passphrase
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RetireArgs {
    /// The node's key, or a unique prefix of it
    pub node: String,
    /// The last of its records that stays valid (default: the last one held here)
    #[arg(long)]
    pub last_valid_seq: Option<u64>,
    /// Why (required)
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// File whose first line is the organisation key's passphrase
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Init => init(ctx),
        NodeCommand::Add(a) => add(ctx, a),
        NodeCommand::Install { bundle } => install(ctx, &bundle),
        NodeCommand::Retire(a) => retire(ctx, a),
    }
}

fn org_key(ctx: &Ctx, file: Option<&std::path::Path>) -> anyhow::Result<csx_protocol::keys::SecretKey> {
    let pass = if ctx.home.org_key_is_encrypted()? { Some(super::secret::passphrase(ctx, file, false)?) } else { None };
    Ok(ctx.home.org_key(pass.as_ref().map(|p| p.as_bytes()))?)
}

fn init(ctx: &Ctx) -> anyhow::Result<()> {
    let key = ctx.home.init_node_only()?;
    let peer_id = csx_node::net::identity::peer_id(&key).to_string();
    #[derive(serde::Serialize)]
    struct Shown {
        node_key: NodeKey,
        peer_id: String,
    }
    ctx.out.print(&Shown { node_key: key, peer_id: peer_id.clone() }, || {
        fields(vec![("node key".into(), key.to_hex()), ("peer id".into(), peer_id.clone())])
    })?;
    ctx.out.note(format!(
        "Next: where the organisation key is kept, run `csx node add {}`, and bring the bundle back here for `csx node install`.",
        key.to_hex()
    ));
    Ok(())
}

fn add(ctx: &Ctx, a: AddArgs) -> anyhow::Result<()> {
    let id = ctx.home.identity()?;
    let node: NodeKey = a.node_key.parse().map_err(|_| {
        CliError::invalid(format!("`{}` is not a node key: 64 hex digits from `csx node init`", a.node_key))
    })?;
    if node == id.node_key {
        return Err(CliError::invalid("that is this node's own key; give the new node's key").into());
    }
    if !(1..=50).contains(&a.cert_years) {
        return Err(CliError::invalid("--cert-years: between 1 and 50").into());
    }
    let org = org_key(ctx, a.passphrase_file.as_deref())?;
    let expires = crate::now_ms() + u64::from(a.cert_years) * 365 * 24 * 3600 * 1000;
    let cert = NodeCert::issue(&org, node, &id.ods_code, expires).map_err(|e| CliError::invalid(e.to_string()))?;
    let bundle = NodeBundle {
        format: BUNDLE_FORMAT.into(),
        identity: PublicIdentity { node_key: node, ..id },
        cert,
        profile: ctx.home.profile()?,
        genesis: ctx.home.genesis().ok(),
    };
    if a.out.exists() {
        return Err(CliError::invalid(format!("{} exists; choose another --out", a.out.display())).into());
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&bundle)? + "\n")
        .map_err(|e| CliError::invalid(format!("cannot write {}: {e}", a.out.display())))?;
    ctx.out.note(format!(
        "wrote {}: copy it to the new node and run `csx node install {}` there (it holds no secret)",
        a.out.display(),
        a.out.display()
    ));
    Ok(())
}

fn install(ctx: &Ctx, path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::not_found(format!("cannot read {}: {e}", path.display())))?;
    let bundle: NodeBundle = serde_json::from_str(&text)
        .map_err(|e| CliError::invalid(format!("{} is not a node bundle: {e}", path.display())))?;
    let id = ctx.home.install(&bundle)?;
    let config = ctx.home.path("config.toml");
    if !config.exists() {
        std::fs::write(&config, csx_node::config::Config::documented_default())?;
    }
    ctx.out.note(format!(
        "this node now acts for {} ({}); start it with `csx daemon`: its certificate goes to the federation first",
        id.name, id.ods_code
    ));
    Ok(())
}

fn retire(ctx: &Ctx, a: RetireArgs) -> anyhow::Result<()> {
    let id = ctx.home.identity()?;
    let reason = csx_node::input::opt_string(&a.reason).ok_or_else(|| CliError::invalid("--reason: is required"))?;
    let m = super::member::members(ctx)?;
    let me = m
        .members
        .iter()
        .find(|x| x.org_key == id.org_key)
        .ok_or_else(|| CliError::invalid("this organisation is not a member of the federation"))?;
    let t = a.node.trim().to_ascii_lowercase();
    let found: Vec<_> = me.nodes.iter().filter(|n| t.len() >= 4 && n.node_key.to_hex().starts_with(&t)).collect();
    let node = match found.as_slice() {
        [n] => *n,
        [] => {
            return Err(CliError::not_found(format!(
                "no node of {} starts with `{t}`; see `csx members`",
                id.ods_code
            ))
            .into());
        }
        _ => return Err(CliError::not_found(format!("`{t}` matches several nodes; give more digits")).into()),
    };
    let own = node.node_key == id.node_key;
    // A node retiring itself carries the retirement as its next record, which must stay valid.
    let last = match (a.last_valid_seq, own) {
        (Some(n), _) => n,
        (None, true) => node.head.unwrap_or(0) + 1,
        (None, false) => node.head.unwrap_or(0),
    };
    let this = if own { " (this node: it will stop being able to write)" } else { "" };
    super::member::confirm(
        ctx,
        &format!("Retire node {}{this}: its records up to {last} stay valid, nothing after.", node.node_key.short()),
        a.yes,
    )?;
    let org = org_key(ctx, a.passphrase_file.as_deref())?;
    let federation = ctx.home.genesis()?.id();
    let body = Body::RetireNode(RetireNode::sign(&org, &federation, node.node_key, last, &reason));
    super::write::publish(ctx, vec![body])
}
