//! `csx dashboard`: the dashboard for one person on their own machine, over this home — through
//! the running daemon if there is one, else over the store directly (offline; a daemon cannot
//! start for this home while it runs). It prints a one-time link that signs the person in as
//! the home's administrator; `--open` opens it in the browser.

use std::sync::Arc;

use clap::Args;
use csx_node::config::{Config, DEFAULT_WEB_PORT};
use csx_node::control::ControlClient;
use csx_node::service::Service;
use csx_node::store::{SledStore, StoreError};
use csx_web::NodeLink;

use crate::context::Ctx;
use crate::error::CliError;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx dashboard --open
  csx dashboard --listen 127.0.0.1:8080")]
pub struct DashboardArgs {
    /// host:port to serve on (default: 127.0.0.1:4080, or a free port if that is taken)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Open the sign-in link in the web browser
    #[arg(long)]
    pub open: bool,
}

pub fn run(ctx: &Ctx, args: DashboardArgs) -> anyhow::Result<()> {
    let identity = ctx.home.identity()?;
    ctx.home.genesis()?;
    let mut config = Config::load(&ctx.home.path("config.toml")).map_err(|e| CliError::invalid(e.to_string()))?.web;
    // The owner link signs in as administrator: keep it to this machine unless told otherwise.
    config.listen = args.listen.clone().unwrap_or_else(|| format!("127.0.0.1:{DEFAULT_WEB_PORT}"));
    config.public_url = String::new();
    if config.listen_addr().map_err(|e| CliError::invalid(format!("--listen: {e}")))?.is_none() {
        return Err(CliError::invalid("--listen: give host:port, e.g. 127.0.0.1:4080").into());
    }
    let node = match ControlClient::connect(&ctx.home)? {
        Some(client) => NodeLink::Control(Arc::new(client)),
        None => {
            let store = SledStore::open(
                &ctx.home.store_dir(),
                Config::load(&ctx.home.path("config.toml")).map(|c| c.store_config()).unwrap_or_default(),
            )
            .map_err(|e| match e {
                StoreError::Locked { .. } => anyhow::Error::from(CliError::new(
                    crate::error::exit::UNAVAILABLE,
                    format!("{e}; a daemon may be starting for this home: try again in a moment"),
                )),
                other => anyhow::Error::from(other),
            })?;
            NodeLink::Offline(Arc::new(Service::open(&ctx.home, Arc::new(store), Arc::new(crate::now_ms), "offline")?))
        }
    };
    let mode = match node {
        NodeLink::Control(_) => "through the running daemon",
        _ => "offline, over this home's store (no daemon runs; nothing is synced meanwhile)",
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let mut signals = crate::signals::Shutdown::install()?;
        let started = csx_web::start(node.clone(), ctx.home.clone(), &config, Arc::new(crate::now_ms)).await;
        let web = match started {
            Err(csx_web::StartError::Bind { .. }) if args.listen.is_none() => {
                config.listen = "127.0.0.1:0".into();
                csx_web::start(node, ctx.home.clone(), &config, Arc::new(crate::now_ms)).await
            }
            other => other,
        }
        .map_err(|e| CliError::invalid(e.to_string()))?
        .ok_or_else(|| CliError::invalid("the dashboard is off"))?;
        let link = format!(
            "{}{}",
            web.base_url,
            web.app.owner_link().ok_or_else(|| anyhow::anyhow!("no randomness for the sign-in link"))?
        );
        println!("csx dashboard for {} {} at {}, {mode}.", identity.ods_code, identity.name, web.base_url);
        println!("Sign in with this link (it works once, for 24 hours): {link}");
        println!("Press Ctrl-C to stop.");
        if args.open {
            open_browser(&link);
        }
        let stop = signals.recv().await;
        // A closed terminal (SIGHUP) has nobody to read this: that is no failure.
        let _ = crate::output::write_stdout(format!("{}: stopping the dashboard …\n", stop.describe()).as_bytes());
        web.stop().await;
        Ok::<(), anyhow::Error>(())
    })
}

/// Opens `url` in the desktop's browser; says so when it cannot.
fn open_browser(url: &str) {
    let (program, args): (&str, Vec<&str>) = if cfg!(target_os = "windows") {
        ("cmd", vec!["/C", "start", "", url])
    } else if cfg!(target_os = "macos") {
        ("open", vec![url])
    } else {
        ("xdg-open", vec![url])
    };
    if let Err(e) = std::process::Command::new(program).args(&args).spawn() {
        eprintln!("could not open a browser ({program}: {e}); open the link above yourself");
    }
}
