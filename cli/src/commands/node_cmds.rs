//! `csx peers`, `csx sync`, `csx shutdown`: the running daemon.

use std::time::Duration;

use clap::Args;
use csx_node::client::Node as _;

use crate::context::Ctx;
use crate::error::{CliError, exit};
use crate::output::Grid;

fn ago(now: u64, ms: Option<u64>) -> String {
    match ms {
        None => "never".into(),
        Some(t) => format!("{}s ago", now.saturating_sub(t) / 1000),
    }
}

pub fn peers(ctx: &Ctx) -> anyhow::Result<()> {
    let peers = ctx.node()?.peers()?;
    let now = crate::now_ms();
    ctx.out.print(&peers, || {
        let mut t = Grid::new()
            .keep("peer")
            .keep("member")
            .keep("role")
            .keep("connected")
            .keep("last sync")
            .keep("in step")
            .num("records they have that we lack")
            .num("we have that they lack")
            .wide()
            .text("address")
            .wide();
        for p in &peers {
            t.row(vec![
                p.peer_id.chars().rev().take(10).collect::<String>().chars().rev().collect(),
                p.org.clone().unwrap_or_else(|| "–".into()),
                if p.bootstrap { "bootstrap" } else { "member" }.into(),
                if p.connected { ago(now, p.connected_since) } else { "no".into() },
                ago(now, p.last_sync_at),
                match p.in_sync {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "–".into(),
                },
                p.behind.to_string(),
                p.ahead.to_string(),
                p.addresses.first().cloned().unwrap_or_default(),
            ]);
        }
        t
    })
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx sync
  csx sync --timeout 2m")]
pub struct SyncArgs {
    /// Give up after this long, e.g. 30s or 2m (exit code 7)
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// How long `csx sync` waits for a daemon to start when none runs for the home (one started a
/// moment before, e.g. `csx daemon &`), at most its timeout.
const DAEMON_GRACE: Duration = Duration::from_secs(3);

pub fn sync(ctx: &Ctx, args: SyncArgs) -> anyhow::Result<()> {
    ctx.await_daemon(DAEMON_GRACE.min(args.timeout))?;
    let _progress = ProgressReport::start(ctx);
    let report = ctx.node()?.sync(args.timeout.as_millis() as u64)?;
    ctx.out.print(&report, || {
        let mut t =
            Grid::new().keep("peer").keep("member").keep("in step").num("records received").text("problem").optional();
        for p in &report.peers {
            t.row(vec![
                p.peer_id.chars().rev().take(10).collect::<String>().chars().rev().collect(),
                p.org.clone().unwrap_or_else(|| "–".into()),
                if p.in_sync { "yes" } else { "no" }.into(),
                p.received.to_string(),
                p.error.clone().unwrap_or_default(),
            ]);
        }
        t
    })?;
    if !report.level {
        return Err(CliError::new(exit::TIMEOUT, "not level with every connected member (see the table)").into());
    }
    ctx.out.note(format!(
        "in step with {} members' nodes (data fingerprint {})",
        report.peers.len(),
        &report.heads_digest[..16.min(report.heads_digest.len())]
    ));
    Ok(())
}

pub fn shutdown(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.home.identity()?;
    if csx_node::control::ControlClient::connect(&ctx.home)?.is_none() {
        return Err(CliError::new(exit::UNAVAILABLE, "no daemon is running for this home").into());
    }
    ctx.node()?.shutdown()?;
    let socket = csx_node::control::socket_path(&ctx.home);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while socket.exists() {
        if std::time::Instant::now() > deadline {
            return Err(CliError::new(exit::TIMEOUT, "the daemon did not stop within 30s").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The socket goes before the store is flushed and released; wait for the store too.
    let store = ctx.home.store_dir();
    while csx_node::store::SledStore::open(&store, Default::default()).is_err() {
        if std::time::Instant::now() > deadline {
            return Err(CliError::new(exit::TIMEOUT, "the daemon did not release its store within 30s").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ctx.out.note("the daemon has stopped");
    Ok(())
}

/// While `csx sync` waits for its answer: a line on stderr every 2 seconds with the daemon's
/// catch-up progress (records and bytes received, rate, time left), while one runs.
struct ProgressReport {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressReport {
    fn start(ctx: &Ctx) -> Option<ProgressReport> {
        use std::sync::atomic::Ordering;
        let client = csx_node::control::ControlClient::connect(&ctx.home).ok().flatten()?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            loop {
                for _ in 0..20 {
                    if stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let Ok(s) = client.timed(Duration::from_secs(5)).status() else { continue };
                if let Some(p) = s.network.and_then(|n| n.progress).filter(|p| p.active) {
                    eprintln!("catching up: {}", super::status::progress_line(&p));
                }
            }
        });
        Some(ProgressReport { stop, thread: Some(thread) })
    }
}

impl Drop for ProgressReport {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
