//! `csx bootstrap`: run a bootstrap server for one federation. It helps members' nodes find
//! each other and relays for nodes that cannot be dialled — for members' nodes only, which it
//! knows by following the federation's membership records (it reads no other record).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use csx_node::bootstrap::{self, BootstrapLimits, BootstrapOptions};
use csx_node::net::TransportKind;
use csx_protocol::Genesis;

use crate::context::Ctx;
use crate::error::CliError;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx bootstrap --show-address --external /dns4/boot.example.nhs.uk/tcp/4000
  csx bootstrap --genesis genesis.json --listen /ip4/0.0.0.0/tcp/4000 --external \\
      /dns4/boot.example.nhs.uk/tcp/4000 --log-format json")]
pub struct BootstrapArgs {
    /// Listen on this multiaddress (repeat for several)
    #[arg(long, env = "CSX_LISTEN", value_delimiter = ',', default_value = "/ip4/0.0.0.0/tcp/4000")]
    pub listen: Vec<String>,
    /// The public address members should use (repeat for several); default: the listen addresses
    #[arg(long, env = "CSX_EXTERNAL", value_delimiter = ',')]
    pub external: Vec<String>,
    /// The federation's genesis file (default: genesis.json in this server's home)
    #[arg(long, env = "CSX_GENESIS", value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// Print the address members configure (creating the server's key the first time), and exit
    #[arg(long)]
    pub show_address: bool,
    /// Most connections at once
    #[arg(long, default_value_t = 2048)]
    pub max_connections: u32,
    /// Bytes one relayed connection may carry before the relay closes it
    #[arg(long, value_name = "BYTES", default_value_t = BootstrapLimits::default().relay_max_circuit_bytes)]
    pub relay_max_bytes: u64,
    /// How long one relayed connection may last, e.g. 1h
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1h")]
    pub relay_max_duration: Duration,
    /// Log format on stderr: text or json
    #[arg(long, env = "CSX_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Log filter
    #[arg(long, env = "CSX_LOG", default_value = "info")]
    pub log: String,
}

fn read_genesis(path: &std::path::Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::invalid(format!("--genesis: cannot read {}: {e}", path.display())))?;
    let g: Genesis = serde_json::from_str(&text)
        .map_err(|e| CliError::invalid(format!("--genesis: {} is not a genesis file: {e}", path.display())))?;
    g.validate().map_err(|e| CliError::invalid(format!("--genesis: {}: {e}", path.display())))?;
    Ok(g)
}

pub fn run(ctx: &Ctx, args: BootstrapArgs) -> anyhow::Result<()> {
    let parse = |setting: &str, list: &[String]| -> anyhow::Result<Vec<libp2p::Multiaddr>> {
        list.iter()
            .map(|a| {
                a.parse()
                    .map_err(|e| CliError::invalid(format!("--{setting}: `{a}` is not a multiaddress: {e}")).into())
            })
            .collect()
    };
    let (listen, external) = (parse("listen", &args.listen)?, parse("external", &args.external)?);
    std::fs::create_dir_all(ctx.home.root())?;
    let key = bootstrap::load_or_create_key(&ctx.home.path("bootstrap.key"))?;
    if args.show_address {
        for addr in bootstrap::addresses_of(&key, &listen, &external) {
            println!("bootstrap address: {addr}");
        }
        return Ok(());
    }
    let genesis_path = args.genesis.clone().unwrap_or_else(|| ctx.home.path("genesis.json"));
    if !genesis_path.exists() {
        return Err(CliError::invalid(format!(
            "a bootstrap server serves one federation: pass its genesis file with --genesis FILE \
             (nothing at {}); `csx bootstrap --show-address` prints the address to put in it first",
            genesis_path.display()
        ))
        .into());
    }
    let genesis = read_genesis(&genesis_path)?;
    super::daemon::init_logging(&args.log_format, &args.log, ctx.out.err_color && std::io::stderr().is_terminal())?;
    let options = BootstrapOptions {
        listen,
        external,
        max_connections: args.max_connections,
        genesis,
        transport: TransportKind::Tcp,
        state: Some(ctx.home.path("membership.bin")),
        limits: BootstrapLimits {
            relay_max_circuit_bytes: args.relay_max_bytes,
            relay_max_circuit_duration: args.relay_max_duration,
            ..BootstrapLimits::default()
        },
        clock: csx_node::service::system_clock(),
        counters: Arc::new(csx_node::ingest::Counters::default()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            crate::systemd::stopping();
        };
        let federation = options.genesis.name.clone();
        let mut ready = false;
        bootstrap::run(
            &key,
            options,
            |addr| {
                let _ = crate::output::write_stdout(format!("bootstrap address: {addr}\n").as_bytes());
                // It listens once it has an address to give out: ready for systemd.
                if !std::mem::replace(&mut ready, true) {
                    crate::systemd::ready(&format!("bootstrap server for {federation}"));
                }
            },
            shutdown,
        )
        .await
        .map_err(|e| CliError::invalid(e).into())
    })
}
