//! Driving `csx` as separate processes: homes, daemons, bootstrap servers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `csx` binary built alongside this test, or the one `CSX_TEST_BIN` names (to measure a
/// release build with the debug test harness: `CSX_TEST_BIN=$PWD/target/release/csx`).
pub fn csx_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CSX_TEST_BIN") {
        let bin = std::fs::canonicalize(&bin)
            .unwrap_or_else(|e| panic!("CSX_TEST_BIN={}: {e}", PathBuf::from(&bin).display()));
        return bin;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/..");
    let bin = dir.join("csx");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p csx-cli` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// A free TCP port on 127.0.0.1, for a daemon to listen on (below the kernel's ephemeral
/// range: see [`csx_node::net::ports::free_loopback_port`]).
pub fn free_port() -> u16 {
    csx_node::net::ports::free_loopback_port().expect("a free port")
}

/// A running process, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    /// Sends SIGKILL: no chance to flush or clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A node's home, driven with the CLI.
#[derive(Debug, Clone)]
pub struct CliHome {
    pub home: PathBuf,
}

impl CliHome {
    pub fn new(home: PathBuf) -> CliHome {
        CliHome { home }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(csx_bin());
        // Test daemons serve no dashboard: many run at once on one machine. CSX_TEST_LOG sets the
        // daemons' log filter (e.g. `info,csx_node::net=debug`) when a test needs their story.
        c.env("CSX_HOME", &self.home)
            .env("CSX_LOG", std::env::var("CSX_TEST_LOG").unwrap_or("info".into()))
            .env("CSX_WEB_LISTEN", "off")
            .arg("--no-input")
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("csx runs")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "csx {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).expect("json output")
    }

    /// Starts `csx daemon` with `args`, logging to `daemon.log` in the home; returns once it
    /// answers on its control socket.
    pub fn start_daemon(&self, args: &[&str]) -> Proc {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.home.join("daemon.log")).expect("log file");
        let child =
            self.cmd(&[&["daemon"], args].concat()).stdout(Stdio::null()).stderr(log).spawn().expect("daemon starts");
        let mut proc = Proc { child, name: format!("daemon {}", self.home.display()) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.run(&["status", "--json"]);
            if out.status.success() {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                if v["mode"] == "daemon" {
                    return proc;
                }
            }
            if !proc.is_running() {
                let log = std::fs::read_to_string(self.home.join("daemon.log")).unwrap_or_default();
                panic!("the daemon exited; its log:\n{log}");
            }
            assert!(Instant::now() < deadline, "the daemon did not come up in 30s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `csx review add` of a review of 0DE's BI service with `comment` (through the daemon when
    /// one runs, else offline); returns the command's output, success or not.
    pub fn add_review(&self, comment: &str) -> Output {
        self.run(&[
            "review",
            "add",
            "--provider",
            "0DE",
            "--service-line",
            "BI",
            "--year",
            "2024",
            "--quality",
            "4",
            "--still-customer",
            "yes",
            "--reviewer-role",
            "Head of BI",
            "--comment",
            comment,
        ])
    }

    /// As [`CliHome::add_review`], expecting success.
    pub fn review(&self, comment: &str) {
        let out = self.add_review(comment);
        assert!(out.status.success(), "csx review add failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Writes a config.toml for a test daemon: a loopback port, quick sync and verification.
    pub fn write_test_config(&self, port: u16) {
        let text = format!(
            "listen = [\"/ip4/127.0.0.1/tcp/{port}\"]\nsync_interval_secs = 2\ndiscover_interval_secs = 2\n[limits]\nverify_timeout_secs = 3\n"
        );
        std::fs::write(self.home.join("config.toml"), text).expect("config");
    }

    pub fn records(&self) -> u64 {
        self.json(&["status"])["store"]["records"].as_u64().expect("records")
    }

    pub fn digest(&self) -> String {
        self.json(&["status"])["heads_digest"].as_str().expect("digest").to_string()
    }
}

/// A bootstrap server's home and port, and the address members configure.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub home: PathBuf,
    pub port: u16,
    pub address: String,
}

impl Bootstrap {
    /// Creates the server's key and learns its address (`csx bootstrap --show-address`), so a
    /// genesis can name it before the server starts.
    pub fn new(home: &Path, port: u16) -> Bootstrap {
        let out = Command::new(csx_bin())
            .env("CSX_HOME", home)
            .args(["bootstrap", "--listen", &format!("/ip4/127.0.0.1/tcp/{port}"), "--show-address"])
            .output()
            .expect("csx runs");
        assert!(out.status.success(), "--show-address failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).expect("utf8");
        let address = text.trim().strip_prefix("bootstrap address: ").expect("prints its address").to_string();
        Bootstrap { home: home.to_path_buf(), port, address }
    }

    /// Starts `csx bootstrap` for the federation of `genesis`; returns once it listens.
    pub fn start(&self, genesis: &Path) -> Proc {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home.join("bootstrap.log"))
            .expect("log file");
        let mut child = Command::new(csx_bin())
            .env("CSX_HOME", &self.home)
            .args(["bootstrap", "--listen", &format!("/ip4/127.0.0.1/tcp/{}", self.port)])
            .arg("--genesis")
            .arg(genesis)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("bootstrap starts");
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("reads the address");
        assert_eq!(line.trim().strip_prefix("bootstrap address: "), Some(self.address.as_str()), "{line}");
        Proc { child, name: "bootstrap".into() }
    }
}

/// Polls `check` until true; panics naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Creates a federation of new members with the CLI, as founders do: each `csx init`s a home
/// under `dir`, the first writes the genesis naming all of them (and `bootstrap`, if any), and
/// every member joins it. Returns the members' homes and the genesis file.
pub fn found_federation(dir: &Path, codes: &[&str], bootstrap: Option<&str>) -> (Vec<CliHome>, PathBuf) {
    let mut homes = Vec::new();
    let mut ids = Vec::new();
    for code in codes {
        let h = CliHome::new(dir.join(code.to_lowercase()));
        h.ok(&["init", "--org-code", code, "--name", &format!("NHS {code} ICB")]);
        let id = dir.join(format!("{}.id.json", code.to_lowercase()));
        std::fs::write(&id, h.ok(&["id", "--json"])).expect("write the identity");
        ids.push(id.display().to_string());
        homes.push(h);
    }
    let genesis = dir.join("genesis.json");
    let g = genesis.display().to_string();
    let mut create: Vec<&str> = vec!["federation", "create", "--name", "Test federation", "--out", &g];
    if let Some(b) = bootstrap {
        create.extend(["--bootstrap", b]);
    }
    for id in &ids {
        create.extend(["--founder", id.as_str()]);
    }
    homes[0].ok(&create);
    for h in &homes {
        h.ok(&["federation", "join", &g]);
    }
    (homes, genesis)
}
