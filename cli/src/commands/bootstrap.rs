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
      /dns4/boot.example.nhs.uk/tcp/4000 --log-format json
  csx bootstrap --genesis genesis.json --write-address /run/csx/bootstrap.addr")]
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
    /// Once listening, write the addresses members configure to FILE, one a line (replaced
    /// whole, never half-written; removed when the server stops)
    #[arg(long, value_name = "FILE")]
    pub write_address: Option<PathBuf>,
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
    // An address file from an earlier run would tell scripts waiting for it a server listens.
    let address_file = args.write_address.clone().map(AddressFile::new).transpose()?;
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
        let mut signals = crate::signals::Shutdown::install()?;
        let shutdown = async move {
            let stop = signals.recv().await;
            tracing::info!("{}; shutting down", stop.describe());
            crate::systemd::stopping();
        };
        let federation = options.genesis.name.clone();
        let mut ready = false;
        let mut addresses: Vec<String> = Vec::new();
        let result = bootstrap::run(
            &key,
            options,
            |addr| {
                let _ = crate::output::write_stdout(format!("bootstrap address: {addr}\n").as_bytes());
                if let Some(file) = &address_file {
                    addresses.push(addr.to_string());
                    if let Err(e) = file.write(&addresses) {
                        tracing::error!("--write-address: {e}");
                    }
                }
                // It listens once it has an address to give out: ready for systemd.
                if !std::mem::replace(&mut ready, true) {
                    crate::systemd::ready(&format!("bootstrap server for {federation}"));
                }
            },
            shutdown,
        )
        .await;
        if let Some(file) = &address_file {
            file.remove();
        }
        result.map_err(|e| CliError::invalid(e).into())
    })
}

/// The file `--write-address` keeps: the server's addresses, one a line.
#[derive(Debug)]
struct AddressFile {
    path: PathBuf,
}

impl AddressFile {
    /// Removes what an earlier run left; checks the directory can be written to.
    fn new(path: PathBuf) -> anyhow::Result<AddressFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(CliError::invalid(format!("--write-address: no directory {}", dir.display())).into());
        }
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(
                    CliError::invalid(format!("--write-address: cannot replace {}: {e}", path.display())).into()
                );
            }
            _ => {}
        }
        Ok(AddressFile { path })
    }

    /// Writes `addresses` to a temporary file beside the target and renames it over the
    /// target: a reader sees the old file or the new one, never part of one.
    fn write(&self, addresses: &[String]) -> std::io::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        use std::io::Write;
        for a in addresses {
            writeln!(tmp, "{a}")?;
        }
        // Others (scripts, a member's setup) read it: not only this server's user.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
