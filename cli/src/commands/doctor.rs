//! `csx doctor`: checks what an operator can get wrong (home, key modes, configuration, daemon,
//! peers, clock, bootstrap servers, listen and external addresses, disk space) and says what to
//! do about each problem.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use clap::Args;
use csx_node::api::NetStatus;
use csx_node::client::{ClientError, Node as _};
use csx_node::config::Config;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Grid;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx doctor
  csx doctor --json
  csx doctor --connect-timeout 10s

Each check is ok, warn or fail, with what to do. Exit code 0 when nothing fails, 1 otherwise.")]
pub struct DoctorArgs {
    /// How long to wait for a bootstrap server or external address to accept a TCP connection
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    check: String,
    status: Level,
    detail: String,
    /// What to do (empty when nothing is needed).
    #[serde(skip_serializing_if = "String::is_empty")]
    fix: String,
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    checks: Vec<Check>,
}

/// Free bytes below which the disk check fails, and warns.
const DISK_FAIL: u64 = 200 * 1024 * 1024;
const DISK_WARN: u64 = 2 * 1024 * 1024 * 1024;

struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, check: &str, status: Level, detail: impl Into<String>, fix: impl Into<String>) {
        self.0.push(Check { check: check.into(), status, detail: detail.into(), fix: fix.into() });
    }
}

pub fn run(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<()> {
    let mut c = Checks(Vec::new());
    let home = ctx.home.root();
    let set_up = match ctx.home.identity() {
        Ok(id) => match ctx.home.genesis() {
            Ok(g) => {
                c.add(
                    "home",
                    Level::Ok,
                    format!("{} for {} ({}), federation {}", home.display(), id.name, id.ods_code, g.name),
                    "",
                );
                Some(g)
            }
            Err(e) => {
                c.add("home", Level::Fail, e.to_string(), "join a federation: `csx federation join GENESIS.json`");
                None
            }
        },
        Err(e) => {
            c.add("home", Level::Fail, e.to_string(), "set the home up: `csx init`, or pass --home / set CSX_HOME");
            None
        }
    };
    check_modes(&mut c, home);
    let config_path = ctx.home.path("config.toml");
    let config = match std::fs::read_to_string(&config_path) {
        Ok(text) => {
            let problems = csx_node::config::check_text(&text);
            if problems.is_empty() {
                c.add("configuration", Level::Ok, format!("{} has no problems", config_path.display()), "");
            } else {
                let first = &problems[0];
                c.add(
                    "configuration",
                    Level::Fail,
                    format!(
                        "{} problem{} in {}; first{}: {}",
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" },
                        config_path.display(),
                        first.line.map(|l| format!(" (line {l})")).unwrap_or_default(),
                        first.message
                    ),
                    "see `csx config check` and fix each problem",
                );
            }
            Config::load(&config_path).ok()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            c.add("configuration", Level::Ok, "no config.toml: every setting at its default", "");
            Some(Config::default())
        }
        Err(e) => {
            c.add(
                "configuration",
                Level::Fail,
                format!("cannot read {}: {e}", config_path.display()),
                "make it readable by this user",
            );
            None
        }
    };
    // The daemon, its peers and the clock as its peers see it.
    let net = daemon_status(ctx, &mut c, set_up.is_some());
    match &net {
        Some(n) => check_peers(&mut c, n),
        None => c.add("peers", Level::Warn, "cannot check: no daemon is running", "start the daemon: `csx daemon`"),
    }
    check_clock(&mut c, net.as_ref());
    if let Some(config) = &config {
        let genesis_bootstrap = set_up.as_ref().map(|g| g.bootstrap.clone()).unwrap_or_default();
        check_bootstrap(&mut c, config, &genesis_bootstrap, args.connect_timeout);
        check_listen(&mut c, config, net.as_ref());
        check_external(&mut c, config, net.as_ref(), args.connect_timeout);
    }
    check_disk(&mut c, home);

    let report = Report { ok: c.0.iter().all(|x| x.status != Level::Fail), checks: c.0 };
    ctx.out.print(&report, || {
        let mut t = Grid::new().keep("check").keep("result").text("detail").text("what to do").optional();
        for x in &report.checks {
            let status = match x.status {
                Level::Ok => "ok",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            t.row(vec![x.check.clone(), status.into(), x.detail.clone(), x.fix.clone()]);
        }
        t
    })?;
    if !report.ok {
        let n = report.checks.iter().filter(|x| x.status == Level::Fail).count();
        return Err(
            CliError::new(1, format!("{n} check{} failed (see the table)", if n == 1 { "" } else { "s" })).into()
        );
    }
    Ok(())
}

fn check_modes(c: &mut Checks, home: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut loose = Vec::new();
    let mut checked = 0;
    for name in ["node.key", "org.key", "control.token", "web/accounts.json", "bootstrap.key"] {
        let path = home.join(name);
        if let Ok(m) = std::fs::metadata(&path) {
            checked += 1;
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                loose.push((path, mode));
            }
        }
    }
    if let Ok(m) = std::fs::metadata(home)
        && m.permissions().mode() & 0o077 != 0
    {
        c.add(
            "home directory mode",
            Level::Warn,
            format!("{} is {:o}: other users can list it", home.display(), m.permissions().mode() & 0o777),
            format!("chmod 700 {}", home.display()),
        );
    }
    if loose.is_empty() {
        c.add("key and credential files", Level::Ok, format!("{checked} files, all owner-only (0600)"), "");
    } else {
        let names: Vec<String> = loose.iter().map(|(p, m)| format!("{} is {m:o}", p.display())).collect();
        let paths: Vec<String> = loose.iter().map(|(p, _)| p.display().to_string()).collect();
        c.add(
            "key and credential files",
            Level::Fail,
            format!("other users can read secrets: {}", names.join(", ")),
            format!("chmod 600 {}", paths.join(" ")),
        );
    }
}

fn daemon_status(ctx: &Ctx, c: &mut Checks, set_up: bool) -> Option<NetStatus> {
    if !set_up {
        c.add("daemon", Level::Warn, "not checked: the home is not set up", "");
        return None;
    }
    match csx_node::control::ControlClient::connect(&ctx.home) {
        Ok(Some(client)) => match client.timed(Duration::from_secs(10)).status() {
            Ok(s) => {
                let n = s.network.unwrap_or_default();
                if n.own_feed_confirmed {
                    c.add("daemon", Level::Ok, format!("running, peer id {}", n.peer_id), "");
                } else {
                    c.add(
                        "daemon",
                        Level::Warn,
                        "running, but no member's node has confirmed this node's own feed yet: it writes nothing until one has",
                        "check the peers below; `csx sync` once a member is connected",
                    );
                }
                Some(n)
            }
            Err(e @ ClientError::WrongReply { .. }) => {
                c.add(
                    "daemon",
                    Level::Fail,
                    format!("running, but its status reply was unexpected: {e}"),
                    "restart it",
                );
                None
            }
            Err(e) => {
                c.add(
                    "daemon",
                    Level::Fail,
                    format!("running, but it does not answer: {e}"),
                    "restart it (`csx shutdown`, then `csx daemon`)",
                );
                None
            }
        },
        Ok(None) => {
            c.add(
                "daemon",
                Level::Warn,
                "no daemon is running for this home",
                "start it: `csx daemon` (or `systemctl start csx`)",
            );
            None
        }
        Err(e) => {
            c.add("daemon", Level::Fail, e.to_string(), "run doctor as the user that runs the daemon");
            None
        }
    }
}

fn check_peers(c: &mut Checks, n: &NetStatus) {
    let members: Vec<_> = n.peers.iter().filter(|p| p.connected && !p.bootstrap).collect();
    let verified = members.iter().filter(|p| p.verified).count();
    let bootstraps = n.peers.iter().filter(|p| p.connected && p.bootstrap).count();
    let banned = n.peers.iter().filter(|p| p.banned.is_some()).count();
    let detail = format!(
        "{} member node{} connected ({verified} verified), {bootstraps} bootstrap server{}{}",
        members.len(),
        if members.len() == 1 { "" } else { "s" },
        if bootstraps == 1 { "" } else { "s" },
        if banned > 0 { format!(", {banned} banned") } else { String::new() }
    );
    if verified > 0 {
        c.add("peers", Level::Ok, detail, "");
    } else if !members.is_empty() {
        c.add(
            "peers",
            Level::Warn,
            detail,
            "the connected nodes have not shown they are members yet; wait, then `csx peers`",
        );
    } else {
        c.add(
            "peers",
            Level::Fail,
            detail,
            "no member is connected: check the bootstrap servers below, or add a member's address with `--peer`",
        );
    }
}

fn check_clock(c: &mut Checks, net: Option<&NetStatus>) {
    let now = crate::now_ms();
    let Some(n) = net else {
        c.add("clock", Level::Warn, "cannot compare with peers: no daemon is running", "");
        return;
    };
    let future = n.counters.get("rejected.from_the_future").copied().unwrap_or(0);
    if future > 0 {
        c.add(
            "clock",
            Level::Warn,
            format!("{future} records from peers were dated ahead of this node's clock by more than the allowed skew"),
            "check this machine's clock is synchronised (timedatectl; chrony or systemd-timesyncd)",
        );
        return;
    }
    let synced = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "yes");
    let _ = now;
    match synced {
        Some(false) => c.add(
            "clock",
            Level::Warn,
            "peers report no records from this node's future, but the system says its clock is not synchronised",
            "turn on time synchronisation: `timedatectl set-ntp true`",
        ),
        _ => c.add(
            "clock",
            Level::Ok,
            "no record from peers was dated ahead of this clock (peers do not report their time directly)",
            "",
        ),
    }
}

/// The TCP socket addresses a multiaddress names (resolving a DNS name).
fn tcp_target(addr: &Multiaddr) -> Option<(String, u16)> {
    let mut host = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(ip) => host = Some(ip.to_string()),
            Protocol::Ip6(ip) => host = Some(ip.to_string()),
            Protocol::Dns(h) | Protocol::Dns4(h) | Protocol::Dns6(h) => host = Some(h.to_string()),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    Some((host?, port?))
}

fn connect(host: &str, port: u16, timeout: Duration) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> =
        (host, port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
    let mut last = format!("{host} has no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(_) => return Ok(a),
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(last)
}

fn check_bootstrap(c: &mut Checks, config: &Config, genesis: &[String], timeout: Duration) {
    let mut all: Vec<String> = config.bootstrap.clone();
    all.extend(genesis.iter().filter(|g| !config.bootstrap.contains(g)).cloned());
    if all.is_empty() {
        c.add(
            "bootstrap servers",
            Level::Warn,
            "none configured (neither in the genesis nor in config.toml)",
            "members find this node only through `peers` in config.toml; add a bootstrap server",
        );
        return;
    }
    for a in all {
        let name = format!("bootstrap {}", short_addr(&a));
        match a.parse::<Multiaddr>().ok().as_ref().and_then(tcp_target) {
            None => c.add(&name, Level::Fail, format!("`{a}` is not a TCP multiaddress"), "fix it in config.toml"),
            Some((host, port)) => match connect(&host, port, timeout) {
                Ok(sa) => c.add(&name, Level::Ok, format!("accepts connections at {sa}"), ""),
                Err(e) => c.add(
                    &name,
                    Level::Fail,
                    format!("no TCP connection within {}s: {e}", timeout.as_secs_f64()),
                    "is the server running? is a firewall in the way? ask the member who hosts it",
                ),
            },
        }
    }
}

fn short_addr(a: &str) -> String {
    a.split("/p2p/").next().unwrap_or(a).to_string()
}

fn check_listen(c: &mut Checks, config: &Config, net: Option<&NetStatus>) {
    if config.listen.is_empty() {
        c.add(
            "listen addresses",
            if config.relay { Level::Ok } else { Level::Warn },
            "listens on no address",
            if config.relay { "" } else { "set `listen` (or `relay = true` for a node nobody can dial)" },
        );
        return;
    }
    for a in &config.listen {
        let name = format!("listen {a}");
        let Some((host, port)) = a.parse::<Multiaddr>().ok().as_ref().and_then(tcp_target) else {
            c.add(&name, Level::Fail, "not a TCP multiaddress", "fix `listen` in config.toml");
            continue;
        };
        let held = net.is_some_and(|n| n.listen.iter().any(|l| l.contains(&format!("/tcp/{port}"))));
        if held {
            c.add(&name, Level::Ok, format!("port {port} is held by this node's daemon"), "");
            continue;
        }
        match TcpListener::bind((host.as_str(), port)) {
            Ok(_) => c.add(
                &name,
                if net.is_some() { Level::Warn } else { Level::Ok },
                format!(
                    "port {port} is free{}",
                    if net.is_some() { ", but the running daemon does not listen on it" } else { "" }
                ),
                if net.is_some() { "restart the daemon to use the configured address" } else { "" },
            ),
            Err(e) => c.add(
                &name,
                Level::Fail,
                format!("cannot listen on {host}:{port}: {e}"),
                "another process holds the port (`ss -ltnp`): stop it or choose another port with `listen`",
            ),
        }
    }
}

fn check_external(c: &mut Checks, config: &Config, net: Option<&NetStatus>, timeout: Duration) {
    if config.external.is_empty() {
        let public = config.listen.iter().any(|a| {
            a.parse::<Multiaddr>().ok().is_some_and(|m| {
                m.iter().any(
                    |p| matches!(p, Protocol::Ip4(ip) if !ip.is_loopback() && !ip.is_private() && !ip.is_unspecified()),
                )
            })
        });
        c.add(
            "external address",
            if public || config.relay { Level::Ok } else { Level::Warn },
            if config.relay {
                "none set; reachable through the bootstrap servers' relays".to_string()
            } else {
                "none set: the listen addresses are announced (behind NAT, members cannot dial them)".to_string()
            },
            if public || config.relay {
                ""
            } else {
                "set `external` to the address members can reach, or `relay = true`"
            },
        );
        return;
    }
    for a in &config.external {
        let name = format!("external {}", short_addr(a));
        match a.parse::<Multiaddr>().ok().as_ref().and_then(tcp_target) {
            None => c.add(&name, Level::Fail, "not a TCP multiaddress", "fix `external` in config.toml"),
            Some((host, port)) => match connect(&host, port, timeout) {
                Ok(sa) if net.is_some() => c.add(&name, Level::Ok, format!("accepts connections at {sa} (tested from this machine)"), ""),
                Ok(sa) => c.add(&name, Level::Warn, format!("something accepts connections at {sa}, but no daemon runs here"), "is another machine or process answering there?"),
                Err(e) => c.add(
                    &name,
                    if net.is_some() { Level::Fail } else { Level::Warn },
                    format!("no TCP connection from this machine within {}s: {e}", timeout.as_secs_f64()),
                    "check the port forward or firewall for this address (some routers cannot connect to their own public address; test from outside)",
                ),
            },
        }
    }
}

fn check_disk(c: &mut Checks, home: &Path) {
    let at = if home.exists() { home.to_path_buf() } else { home.parent().map(Path::to_path_buf).unwrap_or_default() };
    match fs2::available_space(&at) {
        Ok(free) => {
            let gib = free as f64 / (1024.0 * 1024.0 * 1024.0);
            let detail = format!("{gib:.1} GiB free on the filesystem of {}", at.display());
            if free < DISK_FAIL {
                c.add(
                    "disk space",
                    Level::Fail,
                    detail,
                    "free space now: the store stops taking records when the disk is full",
                );
            } else if free < DISK_WARN {
                c.add("disk space", Level::Warn, detail, "free some space or grow the volume soon");
            } else {
                c.add("disk space", Level::Ok, detail, "");
            }
        }
        Err(e) => c.add("disk space", Level::Warn, format!("cannot tell the free space at {}: {e}", at.display()), ""),
    }
}
