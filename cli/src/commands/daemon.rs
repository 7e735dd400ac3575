//! `csx daemon`: run this member's node in the foreground (for systemd or a container).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use csx_node::config::Config;
use csx_node::control::ControlServer;
use csx_node::net::TransportKind;
use csx_node::runtime::{NodeOptions, RunningNode};
use csx_node::service::system_clock;

use crate::context::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx daemon
  csx daemon --listen /ip4/0.0.0.0/tcp/4001 --external \\
      /dns4/csx.example.nhs.uk/tcp/4001 --log-format json
  csx daemon --metrics 127.0.0.1:9464")]
pub struct DaemonArgs {
    /// Configuration file (default: config.toml in the home directory)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen on this multiaddress (repeat, or comma-separate in CSX_LISTEN); replaces `listen`
    #[arg(long, env = "CSX_LISTEN", value_delimiter = ',', value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// A bootstrap server (…/p2p/<peer id>); added to the genesis file's and the config's
    #[arg(long, env = "CSX_BOOTSTRAP", value_delimiter = ',', value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// An address other members can reach this node at; replaces `external`
    #[arg(long, env = "CSX_EXTERNAL", value_delimiter = ',', value_name = "MULTIADDR")]
    pub external: Vec<String>,
    /// Another member's node to dial at start (…/p2p/<peer id>)
    #[arg(long = "peer", env = "CSX_PEERS", value_delimiter = ',', value_name = "MULTIADDR")]
    pub peers: Vec<String>,
    /// Log format on stderr
    #[arg(long, env = "CSX_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or debug or info,csx_node=debug
    #[arg(long, env = "CSX_LOG")]
    pub log: Option<String>,
    /// Also listen through bootstrap servers' relays (for a node others cannot dial)
    #[arg(long)]
    pub relay: bool,
    /// Time between sync rounds with a random member, e.g. 30s
    #[arg(long, value_parser = humantime::parse_duration)]
    pub sync_interval: Option<std::time::Duration>,
    /// Serve the dashboard on host:port, or `off`; replaces [web] listen
    #[arg(long, env = "CSX_WEB_LISTEN", value_name = "ADDR")]
    pub web_listen: Option<String>,
    /// Serve Prometheus metrics, /healthz and /readyz on host:port, or `off`; replaces `metrics`
    #[arg(long, env = "CSX_METRICS", value_name = "ADDR")]
    pub metrics: Option<String>,
}

pub fn run(ctx: &Ctx, args: DaemonArgs) -> anyhow::Result<()> {
    let identity = ctx.home.identity()?;
    let genesis = ctx.home.genesis()?;
    // Held until the daemon exits: a second daemon for this home fails here, at once.
    let _lock = crate::context::lock_daemon(&ctx.home)?;
    let path = args.config.clone().unwrap_or_else(|| ctx.home.path("config.toml"));
    let mut config = Config::load(&path).map_err(|e| CliError::invalid(e.to_string()))?;
    apply_overrides(&mut config, &args);
    config.web.listen_addr().map_err(|e| CliError::invalid(e.to_string()))?;
    let metrics = csx_node::metrics::parse_addr(&config.metrics).map_err(CliError::invalid)?;
    config.alerts.validate().map_err(|e| CliError::invalid(format!("{}: {e}", path.display())))?;
    init_logging(&config.log_format, &config.log_filter, ctx.out.err_color && std::io::stderr().is_terminal())?;

    let net = config.net_config(&genesis.bootstrap).map_err(|e| CliError::invalid(e.to_string()))?;
    let options =
        NodeOptions { net, transport: TransportKind::Tcp, store: config.store_config(), clock: system_clock() };

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        // First: a signal while the node starts is kept and stops it once it has started.
        let mut signals = crate::signals::Shutdown::install()?;
        let mut node = RunningNode::start(&ctx.home, options).await.map_err(|e| match e {
            csx_node::runtime::StartError::Api(a) => anyhow::Error::from(CliError::from(a)),
            other => anyhow::Error::from(CliError::invalid(other.to_string())),
        })?;
        // Alerts link to the dashboard's pages when it is served.
        let dashboard = config.web.listen_addr().ok().flatten().and_then(|_| config.web.base_url().ok());
        let problems = node.start_alerts(&ctx.home, config.alerts.clone(), dashboard)?;
        for p in problems {
            tracing::error!("alert target not started: {p}");
        }
        let control = ControlServer::bind(&ctx.home)?;
        let web = csx_web::start(
            csx_web::NodeLink::InProcess(node.api().clone()),
            ctx.home.clone(),
            &config.web,
            system_clock(),
        )
        .await
        .map_err(|e| CliError::invalid(e.to_string()));
        let web = match web {
            Ok(w) => w,
            Err(e) => {
                drop(control);
                node.shutdown().await;
                return Err(e.into());
            }
        };
        let metrics = match metrics {
            None => None,
            Some(addr) => {
                let build = csx_node::metrics::BuildInfo {
                    version: env!("CARGO_PKG_VERSION").into(),
                    commit: env!("CSX_COMMIT").into(),
                    protocol: csx_protocol::record::PROTOCOL_VERSION.to_string(),
                    store_layout: csx_node::store::SCHEMA_VERSION.to_string(),
                };
                match csx_node::metrics::serve(addr, node.api().clone(), build, ctx.home.store_dir()).await {
                    Ok(m) => Some(m),
                    Err(e) => {
                        drop(control);
                        if let Some(web) = web {
                            web.stop().await;
                        }
                        node.shutdown().await;
                        return Err(CliError::invalid(e).into());
                    }
                }
            }
        };
        tracing::info!(
            org = %identity.ods_code,
            node = %identity.node_key.short(),
            peer_id = %node.peer_id(),
            federation = %genesis.name,
            dashboard = %web.as_ref().map(|w| w.base_url.clone()).unwrap_or_else(|| "off".into()),
            "csx daemon started"
        );
        crate::systemd::ready(&format!("member node of {} for {}", identity.ods_code, genesis.name));
        let api = node.api().clone();
        tokio::select! {
            _ = control.serve(api.clone()) => {}
            stop = signals.recv() => tracing::info!("{}; shutting down", stop.describe()),
            _ = api.stop_requested() => tracing::info!("asked to stop; shutting down"),
        }
        crate::systemd::stopping();
        drop(control);
        if let Some(metrics) = metrics {
            metrics.stop().await;
        }
        if let Some(web) = web {
            web.stop().await;
        }
        node.shutdown().await;
        tracing::info!("csx daemon stopped; the store is flushed");
        Ok(())
    })
}

/// Where an overridden setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
}

/// Whether `flag` was given on this process's command line (else its value came from its
/// environment variable).
fn on_command_line(flag: &str) -> bool {
    std::env::args().any(|a| a == flag || a.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')))
}

fn origin(flag: &'static str, env: &'static str) -> Origin {
    if on_command_line(flag) { Origin::Flag(flag) } else { Origin::Env(env) }
}

/// Applies the flags and environment variables of `csx daemon` over the configuration file's
/// settings; returns which settings they set, and from where (for `csx config show`).
pub fn apply_overrides(config: &mut Config, args: &DaemonArgs) -> Vec<(&'static str, Origin)> {
    let mut set = Vec::new();
    let non_empty = |v: &[String]| v.iter().filter(|s| !s.trim().is_empty()).cloned().collect::<Vec<_>>();
    let (listen, external) = (non_empty(&args.listen), non_empty(&args.external));
    if !listen.is_empty() {
        config.listen = listen;
        set.push(("listen", origin("--listen", "CSX_LISTEN")));
    }
    if !external.is_empty() {
        config.external = external;
        set.push(("external", origin("--external", "CSX_EXTERNAL")));
    }
    let (bootstrap, peers) = (non_empty(&args.bootstrap), non_empty(&args.peers));
    if !bootstrap.is_empty() {
        config.bootstrap.extend(bootstrap);
        set.push(("bootstrap", origin("--bootstrap", "CSX_BOOTSTRAP")));
    }
    if !peers.is_empty() {
        config.peers.extend(peers);
        set.push(("peers", origin("--peer", "CSX_PEERS")));
    }
    if args.relay {
        config.relay = true;
        set.push(("relay", Origin::Flag("--relay")));
    }
    if let Some(d) = args.sync_interval {
        config.sync_interval_secs = d.as_secs().max(1);
        set.push(("sync_interval_secs", Origin::Flag("--sync-interval")));
    }
    if let Some(f) = args.log_format {
        config.log_format = match f {
            LogFormat::Text => "text".into(),
            LogFormat::Json => "json".into(),
        };
        set.push(("log_format", origin("--log-format", "CSX_LOG_FORMAT")));
    }
    if let Some(l) = &args.log {
        config.log_filter = l.clone();
        set.push(("log_filter", origin("--log", "CSX_LOG")));
    }
    if let Some(w) = args.web_listen.as_ref().filter(|w| !w.trim().is_empty()) {
        config.web.listen = w.clone();
        set.push(("web.listen", origin("--web-listen", "CSX_WEB_LISTEN")));
    }
    if let Some(m) = args.metrics.as_ref().filter(|m| !m.trim().is_empty()) {
        config.metrics = m.clone();
        set.push(("metrics", origin("--metrics", "CSX_METRICS")));
    }
    set
}

/// Logs to stderr as `text` or `json`; colour only when stderr is a terminal and colour is on
/// (never in a file, a pipe or the journal).
pub fn init_logging(format: &str, filter: &str, color: bool) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| CliError::invalid(format!("log filter `{filter}`: {e}")))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(color);
    let result = match format {
        "json" => builder.json().try_init(),
        "text" => builder.try_init(),
        other => return Err(CliError::invalid(format!("log_format: `{other}` is not text or json")).into()),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
