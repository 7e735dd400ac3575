//! `csx init`: create this organisation's key and this node's key and certificate.

use clap::Args;
use csx_node::home::InitParams;
use csx_protocol::body::{OrgKind, Profile};
use csx_protocol::{Body, FinancialYear};

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::fields;
use csx_node::input;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx init --org-code QWO --name \"NHS West Yorkshire ICB\" --population 2400000 \\
      --population-year 2024/25
  csx init --org-code 02A --name \"NHS Test CCG\" --kind ccg --protect-org-key
  csx init --org-code QWO --name \"NHS West Yorkshire ICB\" --port 4101
  csx init --org-code QWO --name \"NHS West Yorkshire ICB\" --listen 10.0.0.5:4001")]
pub struct InitArgs {
    /// Your organisation's ODS code, e.g. QWO or 02A
    #[arg(long)]
    pub org_code: Option<String>,
    /// Your organisation's name, e.g. "NHS West Yorkshire ICB"
    #[arg(long)]
    pub name: Option<String>,
    /// ccg | icb | sub_icb | other
    #[arg(long, default_value = "icb")]
    pub kind: String,
    /// Registered population (used to compare prices per head)
    #[arg(long, requires = "population_year")]
    pub population: Option<String>,
    /// Financial year of the population figure, e.g. 2024
    #[arg(long, requires = "population")]
    pub population_year: Option<String>,
    /// NHS England region, e.g. "North East and Yorkshire"
    #[arg(long)]
    pub region: Option<String>,
    /// Protect the organisation key with a passphrase (asked for on a terminal, or from
    /// --passphrase-file / CSX_PASSPHRASE)
    #[arg(long)]
    pub protect_org_key: bool,
    /// File whose first line is the organisation key's passphrase
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<std::path::PathBuf>,
    /// Years until this node's certificate expires
    #[arg(long, default_value_t = 5)]
    pub cert_years: u32,
    /// The address the daemon listens on, written to config.toml's `listen`: host:port or a
    /// multiaddress (repeat for several; default /ip4/0.0.0.0/tcp/4001)
    #[arg(long, value_name = "ADDR", conflicts_with = "port")]
    pub listen: Vec<String>,
    /// The TCP port the daemon listens on, on every address (config.toml's `listen`)
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
}

pub fn run(ctx: &Ctx, args: InitArgs) -> anyhow::Result<()> {
    let ask = |prompt: &str, given: Option<String>| -> anyhow::Result<String> {
        match given {
            Some(v) => Ok(v),
            None if ctx.interactive => Ok(dialoguer::Input::new().with_prompt(prompt).interact_text()?),
            None => Err(CliError::invalid(format!("--{} is required", prompt.replace(' ', "-"))).into()),
        }
    };
    let org_code = ask("org code", args.org_code)?.trim().to_ascii_uppercase();
    let name = ask("name", args.name)?.trim().to_string();
    let org_kind: OrgKind = input::choice("kind", &args.kind).map_err(|e| CliError::invalid(e.as_flag()))?;
    let population = input::opt_with("population", &args.population, input::population)
        .map_err(|e| CliError::invalid(e.as_flag()))?;
    let population_year: Option<FinancialYear> = input::opt_with("population_year", &args.population_year, input::year)
        .map_err(|e| CliError::invalid(e.as_flag()))?;
    if !(1..=50).contains(&args.cert_years) {
        return Err(CliError::invalid("--cert-years: must be between 1 and 50").into());
    }
    let profile = Profile {
        name,
        org_kind,
        population,
        population_year,
        region: input::opt_string(&args.region),
        predecessors: vec![],
        successors: vec![],
    };
    Body::Profile(profile.clone()).validate().map_err(|e| CliError::invalid(e.to_string()))?;
    let passphrase = if args.protect_org_key || args.passphrase_file.is_some() {
        Some(super::secret::passphrase(ctx, args.passphrase_file.as_deref(), true)?)
    } else {
        None
    };
    // The configuration is checked before anything is written.
    let config = ctx.home.path("config.toml");
    let listen = listen_addresses(&args.listen, args.port)?;
    if config.exists() && !listen.is_empty() {
        return Err(CliError::invalid(format!(
            "--listen/--port: {} exists already; set `listen` in it instead",
            config.display()
        ))
        .into());
    }
    let now = crate::now_ms();
    let params = InitParams {
        ods_code: org_code,
        profile,
        cert_expires_at: now + u64::from(args.cert_years) * 365 * 24 * 3600 * 1000,
    };
    let identity = ctx.home.init(&params, passphrase.as_ref().map(|p| p.as_bytes()))?;
    if !config.exists() {
        let mut settings = csx_node::config::Config::default();
        if !listen.is_empty() {
            settings.listen = listen;
        }
        std::fs::write(&config, settings.documented())
            .map_err(|e| CliError::invalid(format!("cannot write {}: {e}", config.display())))?;
    }
    ctx.out.print(&identity, || {
        fields(vec![
            ("organisation".into(), format!("{} ({})", identity.name, identity.ods_code)),
            ("organisation key".into(), identity.org_key.to_hex()),
            ("node key".into(), identity.node_key.to_hex()),
            ("home".into(), ctx.home.root().display().to_string()),
        ])
    })?;
    ctx.out.note(
        "Next: share `csx id --json` with the federation's founder (or members), then `csx federation join GENESIS.json`.\nBack up org.key (and its passphrase) somewhere safe and offline.",
    );
    Ok(())
}

/// `--listen` (host:port or a multiaddress) and `--port` as config.toml's `listen`
/// multiaddresses; empty when neither is given.
fn listen_addresses(listen: &[String], port: Option<u16>) -> anyhow::Result<Vec<String>> {
    if let Some(port) = port {
        if port == 0 {
            return Err(CliError::invalid("--port: give a port from 1 to 65535 (other members dial it)").into());
        }
        return Ok(vec![format!("/ip4/0.0.0.0/tcp/{port}")]);
    }
    listen
        .iter()
        .map(|a| {
            let a = a.trim();
            if let Ok(addr) = a.parse::<std::net::SocketAddr>() {
                let ip = if addr.is_ipv4() { "ip4" } else { "ip6" };
                return Ok(format!("/{ip}/{}/tcp/{}", addr.ip(), addr.port()));
            }
            a.parse::<libp2p::Multiaddr>().map(|m| m.to_string()).map_err(|e| {
                CliError::invalid(format!(
                    "--listen: `{a}` is neither host:port (e.g. 0.0.0.0:4001) nor a multiaddress \
                     (e.g. /ip4/0.0.0.0/tcp/4001): {e}"
                ))
                .into()
            })
        })
        .collect()
}
