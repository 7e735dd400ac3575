//! Reachable behind NAT, proven with network namespaces (root only; SKIPPED with the reason
//! where namespaces cannot be made):
//!
//! ```text
//!   [boot 10.203.1.2] ──┐
//!   [pub  10.203.2.2] ──┼── [wan: router] ── 10.203.3.2 [gw: NAT, masquerade] 192.168.77.1 ── [nat 192.168.77.2]
//! ```
//!
//! `boot` runs the bootstrap server (with its relay), `pub` a member on a public address, `nat` a
//! member behind a masquerading gateway that lets no connection in and lets connections out only
//! to the bootstrap server (an egress allow-list, as many NHS networks have). Neither member can
//! dial the other; the NAT'd member holds a relay reservation at the bootstrap server, the public
//! member reaches it through a relayed circuit, and the two sync both ways over it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use csx_tests::process::{CliHome, Proc, csx_bin, found_federation, wait_for};

const SOON: Duration = Duration::from_secs(60);

fn sh(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn must(args: &[&str]) {
    let out = sh(args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Five namespaces with unique names, deleted when dropped (their links go with them).
struct Net {
    names: Vec<String>,
}

impl Net {
    fn ns(&self, role: &str) -> String {
        self.names.iter().find(|n| n.ends_with(role)).expect("a namespace").clone()
    }

    fn exec(&self, role: &str, args: &[&str]) -> Output {
        let ns = self.ns(role);
        Command::new("ip").args(["netns", "exec", ns.as_str()]).args(args).output().expect("ip runs")
    }

    fn run(&self, role: &str, args: &[&str]) {
        let out = self.exec(role, args);
        assert!(out.status.success(), "in {role}: {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Whether a TCP connection from `role` to `addr:port` is made within 3 s.
    fn can_connect(&self, role: &str, addr: &str, port: u16) -> bool {
        self.exec(role, &["timeout", "3", "bash", "-c", &format!("exec 3<>/dev/tcp/{addr}/{port}")]).status.success()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = sh(&["ip", "netns", "del", n]);
        }
    }
}

/// Builds the topology, or says why it cannot be built here.
fn build_net() -> Result<Net, String> {
    let tag = format!("csx{}", std::process::id() % 100_000);
    let first = format!("{tag}-wan");
    let out = Command::new("ip").args(["netns", "add", &first]).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Err(format!("`ip netns add` failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => return Err(format!("`ip` (iproute2) cannot run: {e}")),
    }
    let mut net = Net { names: vec![first] };
    for role in ["boot", "pub", "gw", "nat"] {
        let name = format!("{tag}-{role}");
        must(&["ip", "netns", "add", &name]);
        net.names.push(name);
    }
    if !net.exec("gw", &["iptables", "-t", "nat", "-L"]).status.success() {
        return Err("iptables cannot manage NAT here (apt-get install iptables; it needs root)".into());
    }
    for n in net.names.clone() {
        must(&["ip", "-n", &n, "link", "set", "lo", "up"]);
    }
    // One veth pair between two namespaces, addressed /24 on each side.
    let link = |a: &str, a_if: &str, a_ip: &str, b: &str, b_if: &str, b_ip: &str| {
        let (na, nb) = (net.ns(a), net.ns(b));
        must(&["ip", "link", "add", a_if, "netns", &na, "type", "veth", "peer", "name", b_if, "netns", &nb]);
        must(&["ip", "-n", &na, "addr", "add", a_ip, "dev", a_if]);
        must(&["ip", "-n", &nb, "addr", "add", b_ip, "dev", b_if]);
        must(&["ip", "-n", &na, "link", "set", a_if, "up"]);
        must(&["ip", "-n", &nb, "link", "set", b_if, "up"]);
    };
    link("wan", "w-boot", "10.203.1.1/24", "boot", "eth0", "10.203.1.2/24");
    link("wan", "w-pub", "10.203.2.1/24", "pub", "eth0", "10.203.2.2/24");
    link("wan", "w-gw", "10.203.3.1/24", "gw", "wan0", "10.203.3.2/24");
    link("gw", "lan0", "192.168.77.1/24", "nat", "eth0", "192.168.77.2/24");
    net.run("wan", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    net.run("gw", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    net.run("boot", &["ip", "route", "add", "default", "via", "10.203.1.1"]);
    net.run("pub", &["ip", "route", "add", "default", "via", "10.203.2.1"]);
    net.run("gw", &["ip", "route", "add", "default", "via", "10.203.3.1"]);
    net.run("nat", &["ip", "route", "add", "default", "via", "192.168.77.1"]);
    // The gateway: masquerade out of wan0; nothing new comes in; out, only to the bootstrap server.
    net.run("gw", &["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan0", "-j", "MASQUERADE"]);
    net.run("gw", &["iptables", "-P", "FORWARD", "DROP"]);
    net.run(
        "gw",
        &["iptables", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
    );
    net.run("gw", &["iptables", "-A", "FORWARD", "-i", "lan0", "-o", "wan0", "-d", "10.203.1.2", "-j", "ACCEPT"]);
    Ok(net)
}

/// Starts `csx` with `args` inside namespace `role`, logging stderr to `log`.
fn spawn_in(net: &Net, role: &str, home: &Path, args: &[&str], log: PathBuf, stdout: Stdio) -> Proc {
    let ns = net.ns(role);
    let log = std::fs::File::create(log).expect("log");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(csx_bin())
        .args(args)
        .env("CSX_HOME", home)
        .env("CSX_LOG", "info")
        .env("CSX_WEB_LISTEN", "off")
        .stdout(stdout)
        .stderr(log)
        .spawn()
        .expect("csx starts");
    Proc { child, name: format!("csx {} in {role}", args[0]) }
}

fn holds_comment(node: &CliHome, comment: &str) -> bool {
    node.json(&["review", "list"]).as_array().is_some_and(|a| a.iter().any(|r| r["body"]["comment"] == comment))
}

fn wait_daemon(node: &CliHome, proc: &mut Proc) {
    wait_for("the daemon answers", SOON, || {
        assert!(
            proc.is_running(),
            "{}: {}",
            proc.name,
            std::fs::read_to_string(node.home.join("daemon.log")).unwrap_or_default()
        );
        node.run(&["status", "--json"]).status.success() && node.json(&["status"])["mode"] == "daemon"
    });
}

#[test]
fn a_member_behind_nat_is_reached_through_the_bootstrap_relay_and_syncs() {
    let net = match build_net() {
        Ok(n) => n,
        Err(reason) => {
            println!("SKIPPED: network namespaces cannot be made here: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let boot_home = dir.path().join("bootstrap");
    std::fs::create_dir_all(&boot_home).expect("home");
    let out = Command::new(csx_bin())
        .env("CSX_HOME", &boot_home)
        .args(["bootstrap", "--listen", "/ip4/10.203.1.2/tcp/4000", "--show-address"])
        .output()
        .expect("csx runs");
    let address =
        String::from_utf8_lossy(&out.stdout).trim().strip_prefix("bootstrap address: ").expect("address").to_string();
    let (nodes, genesis) = found_federation(dir.path(), &["NT1", "NT2"], Some(&address));
    let (public, hidden) = (&nodes[0], &nodes[1]);
    let g = genesis.display().to_string();
    let _boot = spawn_in(
        &net,
        "boot",
        &boot_home,
        &["bootstrap", "--listen", "/ip4/10.203.1.2/tcp/4000", "--genesis", &g],
        boot_home.join("bootstrap.log"),
        Stdio::null(),
    );
    std::fs::write(
        public.home.join("config.toml"),
        "listen = [\"/ip4/10.203.2.2/tcp/4001\"]\nsync_interval_secs = 2\ndiscover_interval_secs = 2\n",
    )
    .expect("config");
    std::fs::write(
        hidden.home.join("config.toml"),
        "listen = [\"/ip4/192.168.77.2/tcp/4001\"]\nrelay = true\nsync_interval_secs = 2\ndiscover_interval_secs = 2\n",
    )
    .expect("config");
    // Records written before the daemons start, on each side.
    public.review("written on the public member");
    hidden.review("written behind the NAT");

    let mut p = spawn_in(&net, "pub", &public.home, &["daemon"], public.home.join("daemon.log"), Stdio::null());
    let mut h = spawn_in(&net, "nat", &hidden.home, &["daemon"], hidden.home.join("daemon.log"), Stdio::null());
    wait_daemon(public, &mut p);
    wait_daemon(hidden, &mut h);

    // The topology is what it claims: the NAT'd member cannot be dialled, not at its own address
    // nor at its gateway's; it reaches the bootstrap server, and not the public member directly.
    assert!(!net.can_connect("pub", "192.168.77.2", 4001), "the NAT'd member was dialled at its own address");
    assert!(!net.can_connect("pub", "10.203.3.2", 4001), "the NAT'd member was dialled at its gateway");
    assert!(net.can_connect("nat", "10.203.1.2", 4000), "the NAT'd member cannot reach the bootstrap server");
    assert!(!net.can_connect("nat", "10.203.2.2", 4001), "the gateway lets the NAT'd member out to anyone");
    assert!(net.can_connect("pub", "10.203.1.2", 4000));

    wait_for("the NAT'd member listens through the bootstrap server's relay", SOON, || {
        hidden.json(&["status"])["network"]["listen"]
            .as_array()
            .is_some_and(|l| l.iter().any(|a| a.as_str().is_some_and(|a| a.contains("p2p-circuit"))))
    });
    wait_for("records written before the start cross the relay both ways", SOON, || {
        holds_comment(public, "written behind the NAT") && holds_comment(hidden, "written on the public member")
    });
    hidden.review("written behind the NAT while running");
    public.review("written on the public member while running");
    for (node, what) in [(hidden, "the NAT'd member"), (public, "the public member")] {
        let report = node.json(&["sync", "--timeout", "30s"]);
        assert_eq!(report["level"], true, "{what}: {report}");
    }
    wait_for("live records cross the relay both ways", SOON, || {
        holds_comment(public, "written behind the NAT while running")
            && holds_comment(hidden, "written on the public member while running")
    });
    assert_eq!(public.digest(), hidden.digest());

    // The bootstrap server carried the connection: it relayed a circuit from the public member
    // to the NAT'd one.
    let peer_id = |n: &CliHome| n.json(&["status"])["network"]["peer_id"].as_str().expect("peer id").to_string();
    let (pid, hid) = (peer_id(public), peer_id(hidden));
    let log = std::fs::read_to_string(boot_home.join("bootstrap.log")).unwrap_or_default();
    let circuit = log.lines().find(|l| {
        l.contains("relaying a connection") && l.contains(&format!("src={pid}")) && l.contains(&format!("dst={hid}"))
    });
    assert!(circuit.is_some(), "no relayed circuit between the members in the bootstrap server's log:\n{log}");
    for n in [public, hidden] {
        n.ok(&["shutdown"]);
    }
}
