//! `csx federation create|join|show`: define a federation, adopt one, look at the one adopted.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use csx_node::home::read_identity_file;
use csx_protocol::{Founder, Genesis};

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::fields;
use csx_node::input;

#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// Build a genesis file from the founders' `csx id --json` files
    #[command(after_help = "Examples:
  csx federation create --name \"Yorkshire Commissioning Support Exchange\" --founder \\
      qwo.json --founder 03q.json --out genesis.json")]
    Create(CreateArgs),
    /// Adopt a genesis file: this node becomes part of that federation
    #[command(after_help = "Examples:
  csx federation join genesis.json")]
    Join {
        /// The genesis file (genesis.json)
        file: PathBuf,
    },
    /// Show the federation this node belongs to
    #[command(after_help = "Examples:
  csx federation show
  csx federation show --json")]
    Show,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The federation's name
    #[arg(long)]
    pub name: String,
    /// A founder's identity file (`csx id --json` output); repeat for each founder
    #[arg(long = "founder", value_name = "FILE", required = true)]
    pub founders: Vec<PathBuf>,
    /// Endorsements from distinct members needed to admit a new member (default: 2, or 1 with one founder)
    #[arg(long)]
    pub endorsement_threshold: Option<u16>,
    /// Revocations from distinct members needed to remove a member (default: as endorsements)
    #[arg(long)]
    pub revocation_threshold: Option<u16>,
    /// Distinct members that must contribute before a statistic is shown
    #[arg(long, default_value_t = 3)]
    pub disclosure_threshold: u16,
    /// Largest share of a statistic's data one member may supply, as a percentage
    #[arg(long, default_value = "50")]
    pub max_member_share: String,
    /// A bootstrap server's multiaddress; repeat for several
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Where to write the genesis file
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite --out if it exists
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, cmd: FederationCommand) -> anyhow::Result<()> {
    match cmd {
        FederationCommand::Create(args) => create(ctx, args),
        FederationCommand::Join { file } => join(ctx, &file),
        FederationCommand::Show => show(ctx, &ctx.home.genesis()?),
    }
}

fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let mut founders = Vec::new();
    for path in &args.founders {
        let id = read_identity_file(path).map_err(|e| CliError::invalid(e.to_string()))?;
        founders.push(Founder { org_key: id.org_key, ods_code: id.ods_code, name: id.name });
    }
    let mut g = Genesis::new(&args.name, crate::now_ms(), founders);
    if let Some(t) = args.endorsement_threshold {
        g.endorsement_threshold = t;
        g.revocation_threshold = t;
    }
    if let Some(t) = args.revocation_threshold {
        g.revocation_threshold = t;
    }
    g.disclosure_threshold = args.disclosure_threshold;
    g.max_member_share_bp = input::percent_bp("max_member_share", &args.max_member_share, 10_000)
        .map_err(|e| CliError::invalid(e.as_flag()))?;
    g.bootstrap = args.bootstrap;
    g.federation_id = Some(g.compute_id());
    g.validate().map_err(|e| CliError::invalid(e.to_string()))?;
    if args.out.exists() && !args.force {
        return Err(CliError::invalid(format!("{} exists; pass --force to overwrite it", args.out.display())).into());
    }
    let text = serde_json::to_string_pretty(&g)? + "\n";
    std::fs::write(&args.out, text)
        .map_err(|e| CliError::invalid(format!("cannot write {}: {e}", args.out.display())))?;
    ctx.out.note(format!("wrote {}", args.out.display()));
    show(ctx, &g)
}

/// Reads and checks a genesis file, naming the file in every error.
pub fn read_genesis(path: &std::path::Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::not_found(format!("cannot read genesis file {}: {e}", path.display())))?;
    let g: Genesis = serde_json::from_str(&text)
        .map_err(|e| CliError::invalid(format!("{} is not a csx genesis file: {e}", path.display())))?;
    g.validate().map_err(|e| CliError::invalid(format!("{}: {e}", path.display())))?;
    Ok(g)
}

fn join(ctx: &Ctx, file: &std::path::Path) -> anyhow::Result<()> {
    ctx.home.identity()?;
    let g = read_genesis(file)?;
    ctx.home.set_genesis(&g)?;
    // Writes this node's certificate and profile as the first records of its feed.
    ctx.node()?;
    super::write::publish_setup(ctx)?;
    ctx.out.note(format!("joined federation \"{}\" ({})", g.name, g.id().short()));
    show(ctx, &g)
}

fn show(ctx: &Ctx, g: &Genesis) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct Shown<'a> {
        federation_id: String,
        #[serde(flatten)]
        genesis: &'a Genesis,
    }
    let shown = Shown { federation_id: g.id().to_hex(), genesis: g };
    ctx.out.print(&shown, || {
        let founders = g.founders.iter().map(|f| format!("{} {}", f.ods_code, f.name)).collect::<Vec<_>>().join("\n");
        fields(vec![
            ("federation".into(), g.name.clone()),
            ("id".into(), g.id().to_hex()),
            ("founders".into(), founders),
            ("endorsements to admit".into(), g.endorsement_threshold.to_string()),
            ("revocations to remove".into(), g.revocation_threshold.to_string()),
            ("disclosure threshold".into(), format!("{} members", g.disclosure_threshold)),
            ("max share of one member".into(), format!("{}%", g.max_member_share_bp as f64 / 100.0)),
            ("bootstrap".into(), if g.bootstrap.is_empty() { "–".into() } else { g.bootstrap.join("\n") }),
        ])
    })
}
