//! `csx bootstrap`: run a bootstrap server. It helps members find each other and relays for
//! nodes that cannot be dialled; it stores and reads no records.

use std::io::IsTerminal;

use clap::Args;
use csx_node::bootstrap::{self, BootstrapOptions};

use crate::context::Ctx;
use crate::error::CliError;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx bootstrap --listen /ip4/0.0.0.0/tcp/4000
  csx bootstrap --listen /ip4/0.0.0.0/tcp/4000 --external \\
      /dns4/boot.example.nhs.uk/tcp/4000 --log-format json")]
pub struct BootstrapArgs {
    /// Listen on this multiaddress (repeat for several)
    #[arg(long, env = "CSX_LISTEN", value_delimiter = ',', default_value = "/ip4/0.0.0.0/tcp/4000")]
    pub listen: Vec<String>,
    /// The public address members should use (repeat for several); default: the listen addresses
    #[arg(long, env = "CSX_EXTERNAL", value_delimiter = ',')]
    pub external: Vec<String>,
    /// Most connections at once
    #[arg(long, default_value_t = 2048)]
    pub max_connections: u32,
    /// Log format on stderr: text or json
    #[arg(long, env = "CSX_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Log filter
    #[arg(long, env = "CSX_LOG", default_value = "info")]
    pub log: String,
}

pub fn run(ctx: &Ctx, args: BootstrapArgs) -> anyhow::Result<()> {
    super::daemon::init_logging(&args.log_format, &args.log, ctx.out.err_color && std::io::stderr().is_terminal())?;
    let parse = |setting: &str, list: &[String]| -> anyhow::Result<Vec<libp2p::Multiaddr>> {
        list.iter()
            .map(|a| {
                a.parse()
                    .map_err(|e| CliError::invalid(format!("--{setting}: `{a}` is not a multiaddress: {e}")).into())
            })
            .collect()
    };
    let options = BootstrapOptions {
        listen: parse("listen", &args.listen)?,
        external: parse("external", &args.external)?,
        max_connections: args.max_connections,
    };
    std::fs::create_dir_all(ctx.home.root())?;
    let key = bootstrap::load_or_create_key(&ctx.home.path("bootstrap.key"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        bootstrap::run(
            &key,
            options,
            |addr| {
                let _ = crate::output::write_stdout(format!("bootstrap address: {addr}\n").as_bytes());
            },
            shutdown,
        )
        .await
        .map_err(|e| CliError::invalid(e).into())
    })
}
