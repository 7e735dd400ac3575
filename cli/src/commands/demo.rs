//! `csx demo`: a local federation on loopback — a bootstrap server and several member daemons as
//! separate processes, each with its own home and port, seeded with a realistic market — that
//! shows every node holding every record, then keeps running for you to try things.
//! `csx demo seed` writes this node's share of the sample market; `csx demo sandbox DIR` builds
//! an offline home holding a whole sample federation's records, to query with no network.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use csx_node::api::Status;
use csx_node::client::{Node as _, Timed};
use csx_node::control::ControlClient;
use csx_node::home::Home;
use csx_node::net::ports::free_loopback_port;
use csx_node::sample::{Market, SampleOrg, pick_members};
use csx_protocol::body::{Kind, Motion};
use csx_protocol::{Body, Date, Record};

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Grid;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx demo                         a federation of four nodes on this machine, until Ctrl-C
  csx demo --members 6 --exit
  csx demo sandbox /tmp/market     a sample market to query offline")]
pub struct DemoArgs {
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
    /// Where to put the homes, logs and genesis (default: a new temporary directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How many member organisations (2 to 12)
    #[arg(long, default_value_t = 4)]
    pub members: usize,
    /// Seed of the sample market (the same seed gives the same records)
    #[arg(long, default_value_t = 2024)]
    pub seed: u64,
    /// Stop everything and exit once every node holds every record (instead of running on)
    #[arg(long)]
    pub exit: bool,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Write this organisation's share of the sample market to its node
    #[command(after_help = "Examples:
  csx demo seed --seed 7")]
    Seed {
        /// Seed of the sample market
        #[arg(long, default_value_t = 2024)]
        seed: u64,
    },
    /// Build, in a new directory, the home of one member of a sample federation holding every
    /// member's records: a market to query offline (keys derive from the seed: never use it for
    /// real records)
    #[command(after_help = "Examples:
  csx demo sandbox /tmp/market --members 40
  CSX_HOME=/tmp/market csx prices --service-line BI")]
    Sandbox {
        /// The new home (a new or empty directory)
        dir: PathBuf,
        /// Seed of the sample market
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        /// How many member organisations (3 to 134)
        #[arg(long, default_value_t = 20)]
        members: usize,
    },
}

/// How long the demo waits for the federation to converge.
const CONVERGE: Duration = Duration::from_secs(120);

pub fn run(ctx: &Ctx, args: DemoArgs) -> anyhow::Result<()> {
    match args.command {
        Some(DemoCommand::Seed { seed }) => return seed_this_node(ctx, seed),
        Some(DemoCommand::Sandbox { dir, seed, members }) => return sandbox(ctx, &dir, seed, members),
        None => {}
    }
    if !(2..=12).contains(&args.members) {
        return Err(CliError::invalid("--members: between 2 and 12").into());
    }
    let dir = args.dir.unwrap_or_else(|| std::env::temp_dir().join(format!("csx-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir)?;
    if std::fs::read_dir(&dir)?.next().is_some() {
        return Err(CliError::invalid(format!("{} is not empty; give an empty --dir", dir.display())).into());
    }
    let mut demo = Demo {
        exe: std::env::current_exe()?,
        dir: dir.clone(),
        children: Arc::default(),
        running: Arc::new(AtomicBool::new(false)),
    };
    // Before the first child starts: any of SIGINT, SIGTERM, SIGHUP stops them all.
    demo.stop_on_signals()?;
    let result = demo.run(args.members, args.seed, args.exit);
    if result.is_err() || args.exit {
        demo.stop_all();
    }
    result
}

struct Demo {
    exe: PathBuf,
    dir: PathBuf,
    /// The bootstrap server and the daemons (shared with the thread that waits for signals).
    children: Arc<Mutex<Vec<(String, Child)>>>,
    /// Whether the federation is up and running on for the user (a signal then ends the demo
    /// as intended: exit status 0).
    running: Arc<AtomicBool>,
}

/// How long a stopping child has to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

struct Node {
    org: SampleOrg,
    home: PathBuf,
    port: u16,
}

/// A line of the demo's story on stdout (a reader that went away does not stop the federation).
fn say(text: &str) {
    let _ = crate::output::write_stdout(format!("{text}\n").as_bytes());
}

impl Demo {
    fn csx(&self, home: &Path, args: &[&str]) -> anyhow::Result<String> {
        say(&format!("$ CSX_HOME={} csx {}", home.display(), args.join(" ")));
        let out = Command::new(&self.exe)
            .env("CSX_HOME", home)
            .arg("--no-input")
            .args(args)
            .current_dir(&self.dir)
            .output()?;
        if !out.status.success() {
            anyhow::bail!("`csx {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts a long-running child from this (the main) thread; it is told to stop when the
    /// demo dies, even by SIGKILL (see [`crate::signals::exit_with_parent`]).
    fn spawn(&mut self, name: &str, home: &Path, args: &[&str]) -> anyhow::Result<()> {
        let log = std::fs::File::create(home.join(format!("{name}.log")))?;
        let mut children = lock(&self.children);
        let child = Command::new(&self.exe)
            .env("CSX_HOME", home)
            .env(crate::signals::EXIT_WITH_PARENT_ENV, std::process::id().to_string())
            .args(args)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        children.push((name.to_string(), child));
        Ok(())
    }

    /// Starts the thread that, at SIGINT, SIGTERM or SIGHUP, stops every child cleanly and ends
    /// the demo; returns once the signals are taken over.
    fn stop_on_signals(&self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut signals = runtime.block_on(async { crate::signals::Shutdown::install() })?;
        let (children, running) = (self.children.clone(), self.running.clone());
        std::thread::Builder::new().name("signals".into()).spawn(move || {
            let stop = runtime.block_on(signals.recv());
            say(&format!("\n{}: stopping every node …", stop.describe()));
            // The lock is kept to the end: the main thread starts no child and reports nothing
            // meanwhile.
            let mut list = lock(&children);
            stop_children(&mut list);
            let code = if running.load(Ordering::SeqCst) { 0 } else { 128 + stop.number() };
            std::process::exit(code);
        })?;
        Ok(())
    }

    fn run(&mut self, n: usize, seed: u64, exit: bool) -> anyhow::Result<()> {
        say(&format!("csx demo: a federation of {n} buyer organisations on this machine, in {}\n", self.dir.display()));
        // 1. A bootstrap server's address (the server starts once the genesis names it).
        let bhome = self.dir.join("bootstrap");
        std::fs::create_dir_all(&bhome)?;
        let bport = free_loopback_port()?;
        let blisten = format!("/ip4/127.0.0.1/tcp/{bport}");
        say(&format!(
            "── A bootstrap server's address, for the genesis\n$ csx bootstrap --listen {blisten} --show-address"
        ));
        let line = self.csx(&bhome, &["bootstrap", "--listen", &blisten, "--show-address"])?;
        let bootstrap = line
            .trim()
            .strip_prefix("bootstrap address: ")
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("`csx bootstrap --show-address` printed no address: {}", line.trim()))?;
        say(&format!("{}\n", line.trim()));

        // 2. Members: real CCGs with their registered populations.
        say("── Set up each member's node");
        let mut nodes = Vec::new();
        for org in pick_members(seed, n) {
            let home = self.dir.join(org.ods.to_ascii_lowercase());
            let region = org.region.clone().unwrap_or_else(|| "England".into());
            let population = org.population.to_string();
            self.csx(
                &home,
                &[
                    "init",
                    "--org-code",
                    &org.ods,
                    "--name",
                    &org.name,
                    "--kind",
                    "ccg",
                    "--population",
                    &population,
                    "--population-year",
                    "2019",
                    "--region",
                    &region,
                ],
            )?;
            std::fs::write(self.dir.join(format!("{}.json", org.ods)), self.csx(&home, &["id", "--json"])?)?;
            nodes.push(Node { org, home, port: free_loopback_port()? });
        }
        say("\n── Found the federation with every member as a founder, and join it");
        let mut create = vec![
            "federation".to_string(),
            "create".into(),
            "--name".into(),
            "Demo Commissioning Support Exchange".into(),
            "--bootstrap".into(),
            bootstrap.clone(),
            "--disclosure-threshold".into(),
            "3".into(),
            "--out".into(),
            "genesis.json".into(),
        ];
        for node in &nodes {
            create.push("--founder".into());
            create.push(format!("{}.json", node.org.ods));
        }
        self.csx(&nodes[0].home, &create.iter().map(String::as_str).collect::<Vec<_>>())?;
        // The first member serves the dashboard (on a free loopback port); the others do not.
        let web_port = free_loopback_port()?;
        for (i, node) in nodes.iter().enumerate() {
            self.csx(&node.home, &["federation", "join", "genesis.json"])?;
            let web = if i == 0 { format!("127.0.0.1:{web_port}") } else { "off".into() };
            let config = format!(
                "{}\nlisten = [\"/ip4/127.0.0.1/tcp/{}\"]\nsync_interval_secs = 5\n\n[web]\nlisten = \"{web}\"\n",
                "# Written by `csx demo`: this node listens on loopback only.", node.port
            );
            std::fs::write(node.home.join("config.toml"), config)?;
        }

        // 3. The bootstrap server for this federation, and the members' daemons, as separate processes.
        say(&format!("\n── Start the bootstrap server\n$ csx bootstrap --listen {blisten} --genesis genesis.json"));
        let genesis = self.dir.join("genesis.json").display().to_string();
        self.spawn("bootstrap", &bhome, &["bootstrap", "--listen", &blisten, "--genesis", &genesis])?;
        say("\n── Start each member's daemon (logs in <home>/daemon.log)");
        for node in &nodes {
            say(&format!("$ CSX_HOME={} csx daemon", node.home.display()));
            let home = node.home.clone();
            self.spawn("daemon", &home, &["daemon"])?;
        }
        let clients = nodes.iter().map(|n| wait_for_daemon(&n.home)).collect::<anyhow::Result<Vec<_>>>()?;

        // 4. Seed the market: each member writes its own records to its own node.
        say("\n── Each member records its prices, reviews, switches and motions");
        let market = Market::new(seed);
        let today = Date::from_unix_ms(crate::now_ms()).ok_or_else(|| anyhow::anyhow!("clock out of range"))?;
        let mut motions = 0;
        let mut switches = Vec::new();
        for (i, (node, client)) in nodes.iter().zip(&clients).enumerate() {
            let bodies = market.records_for(&node.org, i, n, today);
            motions += bodies.iter().filter(|b| matches!(b, Body::Motion(_))).count();
            switches.push(switches_in(&publish(client, bodies.clone())?));
            say(&format!("  {} {:<40} wrote {} records", node.org.ods, node.org.name, bodies.len()));
        }
        // Supports refer to other members' motions: wait until each node holds them all.
        wait(&format!("every node holds the {motions} motions"), || {
            Ok(clients.iter().all(|c| list_motions(c).map(|m| m.len() == motions).unwrap_or(false)))
        })?;
        for ((node, client), own) in nodes.iter().zip(&clients).zip(&switches) {
            let held = list_motions(client)?;
            let supports = market.supports_for(&node.org, &held);
            let outcomes = market.outcomes_for(&node.org, own);
            if !supports.is_empty() || !outcomes.is_empty() {
                say(&format!(
                    "  {} supports {} motions, reports {} switch outcomes",
                    node.org.ods,
                    supports.len(),
                    outcomes.len()
                ));
                publish(client, supports.into_iter().chain(outcomes).collect())?;
            }
        }

        // 5. Every node ends up with every record.
        say("\n── Wait until every node holds every record");
        let started = Instant::now();
        wait("every node to hold the same records", || {
            let s = statuses(&clients)?;
            Ok(s.windows(2).all(|w| w[0].heads_digest == w[1].heads_digest && w[0].store.records == w[1].store.records))
        })?;
        let statuses = statuses(&clients)?;
        let mut t = Grid::new()
            .keep("member")
            .text("organisation")
            .num("records")
            .num("feeds")
            .num("peers")
            .keep("data fingerprint");
        for (node, s) in nodes.iter().zip(&statuses) {
            let peers =
                s.network.as_ref().map_or(0, |n| n.peers.iter().filter(|p| p.connected && !p.bootstrap).count());
            t.row(vec![
                node.org.ods.clone(),
                node.org.name.clone(),
                s.store.records.to_string(),
                s.store.feeds.to_string(),
                peers.to_string(),
                s.heads_digest[..16].to_string(),
            ]);
        }
        say(&t.render(crate::output::table_width(None), false, false));
        say(&format!(
            "Every node holds every record: {} records in {} feeds, identical heads on all {n} nodes (converged in {:.1}s).\n",
            statuses[0].store.records,
            statuses[0].store.feeds,
            started.elapsed().as_secs_f64()
        ));
        // 6. What a member sees: its own daemon answers from the records every node now holds.
        say(&format!("── Ask the market, as {} {}", nodes[0].org.ods, nodes[0].org.name));
        let home = nodes[0].home.clone();
        say(&self.csx(&home, &["prices", "--service-line", "BI", "--width", "100"])?);
        // 7. The dashboard: an administrator's account on the first member's node.
        say(&format!("── The dashboard of {} {}, for its staff", nodes[0].org.ods, nodes[0].org.name));
        let added = self.csx(&nodes[0].home, &["user", "add", "demo", "--role", "admin", "--json"])?;
        let link = serde_json::from_str::<serde_json::Value>(&added)?
            .get("signin_link")
            .and_then(|l| l.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("`csx user add` printed no sign-in link"))?;
        say(&format!(
            "Dashboard: http://127.0.0.1:{web_port}\nSign in as `demo` (an administrator) with this one-time link, which sets your password:\n  {link}\n"
        ));
        if exit {
            say("Stopping (--exit).");
            return Ok(());
        }
        let a = &nodes[0].home;
        let b = &nodes[1].home;
        say(&format!(
            "The federation keeps running. In another terminal, try:\n\
             \n  export PATH=\"{bin}:$PATH\"\
             \n  csx --home {a} review add --provider 0DE --service-line BI --year 2025 --quality 4 --still-customer yes --reviewer-role \"Head of BI\"\
             \n  csx --home {b} review list                 # it is there within a second\
             \n  csx --home {b} shutdown                    # stop a node …\
             \n  csx --home {a} price list                  # … write more meanwhile …\
             \n  csx --home {b} daemon &                    # … restart it …\
             \n  csx --home {b} sync --timeout 30s          # … and bring it level\
             \n  csx --home {b} status --json\
             \n  csx --home {a} providers --service-line CONTRACT   # which providers score best for contracting\
             \n  csx --home {a} switches --from 0DE         # who left a CSU, and why\
             \n  csx --home {a} motions --status open       # motions close to carrying\
             \n  csx --home {a} report --out market.md      # the whole market as a Markdown report\
             \n\nPress Ctrl-C here to stop every node.",
            bin = self.exe.parent().map(|p| p.display().to_string()).unwrap_or_default(),
            a = a.display(),
            b = b.display(),
        ));
        // The signal thread ends the demo.
        self.running.store(true, Ordering::SeqCst);
        loop {
            std::thread::park();
        }
    }

    fn stop_all(&mut self) {
        stop_children(&mut lock(&self.children));
    }
}

fn lock(children: &Mutex<Vec<(String, Child)>>) -> MutexGuard<'_, Vec<(String, Child)>> {
    children.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Asks every daemon to stop (they flush their stores and remove their control sockets), then
/// the bootstrap server; kills any that has not exited within [`STOP_GRACE`].
fn stop_children(children: &mut Vec<(String, Child)>) {
    for phase in ["daemon", "bootstrap"] {
        let stopping: Vec<&mut Child> =
            children.iter_mut().filter(|(name, _)| name == phase).map(|(_, child)| child).collect();
        for child in &stopping {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for child in stopping {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
    children.clear();
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn wait(what: &str, mut done: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() > CONVERGE {
            return Err(CliError::new(
                crate::error::exit::TIMEOUT,
                format!("gave up after {CONVERGE:?} waiting for {what}"),
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_for_daemon(home: &Path) -> anyhow::Result<ControlClient> {
    let h = Home::new(home);
    let start = Instant::now();
    loop {
        if let Some(c) = ControlClient::connect(&h)? {
            return Ok(c);
        }
        if start.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("the daemon in {} did not start; see its daemon.log", home.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The daemon of a demo node, waiting up to two minutes for each reply.
fn node(client: &ControlClient) -> Timed<'_> {
    client.timed(Duration::from_secs(120))
}

/// Publishes `bodies`; returns the records written.
fn publish(client: &ControlClient, bodies: Vec<Body>) -> anyhow::Result<Vec<Record>> {
    let mut out = Vec::with_capacity(bodies.len());
    for chunk in bodies.chunks(500) {
        for r in node(client).publish(chunk.to_vec())? {
            out.push(r.decode()?);
        }
    }
    Ok(out)
}

/// The switches among `records`, with their ids.
fn switches_in(records: &[Record]) -> Vec<(csx_protocol::RecordId, csx_protocol::body::Switch)> {
    records
        .iter()
        .filter_map(|r| if let Body::Switch(s) = r.body() { Some((r.id(), s.clone())) } else { None })
        .collect()
}

fn list_motions(client: &ControlClient) -> anyhow::Result<Vec<(csx_protocol::RecordId, Motion)>> {
    let records = node(client).list(Kind::Motion, None, None, 1000)?;
    let mut out = Vec::new();
    for l in records {
        let r: Record = l.record.decode()?;
        if let Body::Motion(m) = r.body() {
            out.push((r.id(), m.clone()));
        }
    }
    Ok(out)
}

fn statuses(clients: &[ControlClient]) -> anyhow::Result<Vec<Status>> {
    clients.iter().map(|c| Ok(node(c).status()?)).collect()
}

/// `csx demo sandbox`: a whole sample market in one offline home.
fn sandbox(ctx: &Ctx, dir: &Path, seed: u64, members: usize) -> anyhow::Result<()> {
    let built = csx_node::sample::sandbox(dir, seed, members, crate::now_ms())?;
    if ctx.out.json {
        return ctx.out.json(&serde_json::json!({
            "home": dir,
            "member": built.identity,
            "federation": built.federation,
            "members": built.members.iter().map(|m| &m.ods).collect::<Vec<_>>(),
            "records": built.records,
        }));
    }
    say(&format!(
        "Built a sample federation of {members} members ({} records) in {}.\nYou are {} {}. Try:\n\
         \n  export CSX_HOME={}\
         \n  csx prices --service-line BI          # what others pay per head for BI, and where you stand\
         \n  csx providers --service-line CONTRACT # which providers score best for contracting\
         \n  csx switches --from 0DE               # who left a CSU, and why\
         \n  csx motions --status open             # which motions are close to carrying\
         \n  csx report --out market.md            # all of it as a Markdown report (--format csv for CSV)",
        built.records,
        dir.display(),
        built.identity.ods_code,
        built.identity.name,
        dir.display()
    ));
    Ok(())
}

/// `csx demo seed`: this organisation's records in the sample market.
fn seed_this_node(ctx: &Ctx, seed: u64) -> anyhow::Result<()> {
    let id = ctx.home.identity()?;
    let profile = ctx.home.profile()?;
    let population = profile.population.ok_or_else(|| {
        CliError::invalid(
            "the sample market needs your population: `csx profile set --population N --population-year FY`",
        )
    })?;
    let org =
        SampleOrg { ods: id.ods_code.clone(), name: profile.name.clone(), population, region: profile.region.clone() };
    let today = Date::from_unix_ms(crate::now_ms()).ok_or_else(|| anyhow::anyhow!("clock out of range"))?;
    let market = Market::new(seed);
    // Proposes a motion only as the first of a federation; supports those already held.
    let bodies = market.records_for(&org, usize::MAX, 0, today);
    let written = super::write::publish_quietly(ctx, bodies)?;
    // Then what refers to records: support for motions held, outcomes of its own switches.
    let records = ctx.node()?.list(Kind::Motion, None, None, 1000)?;
    let motions: Vec<_> = records
        .iter()
        .filter_map(|l| l.record.decode().ok())
        .filter_map(|r| if let Body::Motion(m) = r.body() { Some((r.id(), m.clone())) } else { None })
        .collect();
    let mut later = market.supports_for(&org, &motions);
    later.extend(market.outcomes_for(&org, &switches_in(&written)));
    let n = written.len() + later.len();
    if !later.is_empty() {
        super::write::publish_quietly(ctx, later)?;
    }
    ctx.out.note(format!("wrote {n} records of the sample market (seed {seed})"));
    Ok(())
}
