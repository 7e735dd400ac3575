//! What the repository ships for operators, checked as far as this machine allows: the systemd
//! units pass `systemd-analyze verify` and its offline security review, `csx daemon` and
//! `csx bootstrap` tell a service manager they are ready (sd_notify `READY=1` on `NOTIFY_SOCKET`)
//! only once they answer, and `STOPPING=1` when they stop.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use csx_tests::process::{Bootstrap, Proc, csx_bin, found_federation, free_port};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// Says a check could not run here, and why; in CI (`CI` set) that is a failure instead.
fn skip(reason: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI must be able to run this check: {reason}");
    println!("SKIPPED: {reason}");
}

fn systemd_analyze() -> Option<PathBuf> {
    ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].iter().map(PathBuf::from).find(|p| p.exists())
}

#[test]
fn the_systemd_units_verify_and_are_hardened() {
    let Some(analyze) = systemd_analyze() else {
        return skip("systemd-analyze is not installed (apt-get install systemd)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for unit in ["csx.service", "csx-bootstrap.service"] {
        let text = std::fs::read_to_string(repo_root().join("packaging/systemd").join(unit)).expect("unit file");
        for setting in [
            "Type=notify",
            "StateDirectory=",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "RestrictAddressFamilies=",
            "SystemCallFilter=@system-service",
            "CapabilityBoundingSet=\n",
        ] {
            assert!(text.contains(setting), "{unit} lacks {setting}");
        }
        // verify checks that ExecStart's program exists: point it at the csx just built.
        let path = dir.path().join(unit);
        std::fs::write(&path, text.replace("/usr/local/bin/csx", &csx_bin().display().to_string())).expect("copy");
        let out = Command::new(&analyze).arg("verify").arg(&path).output().expect("systemd-analyze runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // verify exits 0 on unknown keys and bad values, only warning: any line about the unit fails.
        let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains(unit)).collect();
        assert!(out.status.success() && about_unit.is_empty(), "{unit}: systemd-analyze verify: {stderr}");

        let out = Command::new(&analyze)
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&path)
            .output()
            .expect("systemd-analyze runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(level) = stdout
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|rest| rest.split(": ").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
        else {
            // systemd before 252 has no offline security review.
            println!("SKIPPED: `systemd-analyze security --offline` is not supported here: {stdout}");
            continue;
        };
        println!("FIGURE {unit} exposure level {level} (0 = fully locked down, 10 = unprotected)");
        assert!(level <= 2.0, "{unit}: exposure level {level} above 2.0:\n{stdout}");
    }
}

/// A unix datagram socket standing in for systemd's notification socket.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { socket, path }
    }

    /// The next notification, within `timeout`.
    fn next(&self, timeout: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(timeout)).expect("timeout");
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Notifications until one holds `state`; panics after `timeout`.
    fn wait_for(&self, state: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {state} on NOTIFY_SOCKET within {timeout:?}");
            if let Some(m) = self.next(left)
                && m.lines().any(|l| l == state)
            {
                return m;
            }
        }
    }
}

fn terminate(proc: &mut Proc) -> Option<i32> {
    let status = Command::new("kill").args(["-TERM", &proc.child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(s)) = proc.child.try_wait() {
            return s.code();
        }
        assert!(Instant::now() < end, "{} did not stop within 30 s of SIGTERM", proc.name);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_daemon_tells_systemd_it_is_ready_once_it_answers_and_when_it_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (nodes, _) = found_federation(dir.path(), &["SN1"], None);
    let node = &nodes[0];
    node.write_test_config(free_port());
    let notify = NotifySocket::bind(dir.path());
    let log = std::fs::File::create(node.home.join("daemon.log")).expect("log");
    let child = node
        .cmd(&["daemon"])
        .env("NOTIFY_SOCKET", &notify.path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("daemon starts");
    let mut daemon = Proc { child, name: "daemon".into() };
    let started = Instant::now();
    let ready = notify.wait_for("READY=1", Duration::from_secs(30));
    println!("FIGURE daemon READY=1 after {} ms", started.elapsed().as_millis());
    assert!(ready.contains("STATUS=member node of SN1"), "{ready}");
    // Ready means it answers: a command goes to the daemon at once.
    assert_eq!(node.json(&["status"])["mode"], "daemon", "ready before the control socket answered");
    assert_eq!(
        terminate(&mut daemon),
        Some(0),
        "{}",
        std::fs::read_to_string(node.home.join("daemon.log")).unwrap_or_default()
    );
    notify.wait_for("STOPPING=1", Duration::from_secs(1));

    // Without NOTIFY_SOCKET (a terminal, a container) the daemon runs as before.
    let plain = node.start_daemon(&[]);
    assert!(notify.next(Duration::from_millis(500)).is_none(), "notified with no NOTIFY_SOCKET");
    drop(plain);
}

#[test]
fn the_bootstrap_server_tells_systemd_it_is_ready_once_it_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = Bootstrap::new(&dir.path().join("bootstrap"), port);
    let (_, genesis) = found_federation(dir.path(), &["SN2"], Some(&server.address));
    let notify = NotifySocket::bind(dir.path());
    let child = Command::new(csx_bin())
        .env("CSX_HOME", &server.home)
        .env("NOTIFY_SOCKET", &notify.path)
        .args(["bootstrap", "--listen", &format!("/ip4/127.0.0.1/tcp/{port}")])
        .arg("--genesis")
        .arg(&genesis)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bootstrap starts");
    let mut bootstrap = Proc { child, name: "bootstrap".into() };
    let ready = notify.wait_for("READY=1", Duration::from_secs(30));
    assert!(ready.contains("STATUS=bootstrap server for Test federation"), "{ready}");
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("ready means it listens");
    assert_eq!(terminate(&mut bootstrap), Some(0));
    notify.wait_for("STOPPING=1", Duration::from_secs(1));
}

/// Runs a command, returning its output (or why it could not run).
fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Result<Output, String> {
    let cmd = cmd.borrow_mut();
    cmd.output().map_err(|e| format!("{cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The runtime stage of packaging/container/Containerfile on `scratch`: the same settings (user,
/// volume, environment, healthcheck, entrypoint) over a root holding csx and the libraries it
/// links, copied from this machine instead of pulled (no registry of images is reachable here).
fn scratch_containerfile() -> String {
    let file = std::fs::read_to_string(repo_root().join("packaging/container/Containerfile")).expect("Containerfile");
    let mut lines = file.lines().skip_while(|l| !(l.starts_with("FROM ") && l.ends_with(" AS runtime"))).skip(1);
    let mut out = String::from("FROM scratch\nCOPY rootfs/ /\n");
    for l in lines.by_ref() {
        if !l.starts_with("COPY --from=build") {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn copy_with_libraries(bin: &Path, root: &Path) {
    let dest = root.join("usr/local/bin/csx");
    std::fs::create_dir_all(dest.parent().expect("dir")).expect("mkdir");
    std::fs::copy(bin, &dest).expect("copy csx");
    let ldd = Command::new("ldd").arg(bin).output().expect("ldd runs");
    for lib in String::from_utf8_lossy(&ldd.stdout).split_whitespace().filter(|w| w.starts_with('/')) {
        let to = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().expect("dir")).expect("mkdir");
        std::fs::copy(lib, &to).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
    }
}

/// Podman with what this machine needs: runc (crun cannot run on cgroup v1 in hybrid mode) and
/// limits no higher than the sandbox allows.
fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    if Path::new("/usr/sbin/runc").exists() || Path::new("/usr/bin/runc").exists() {
        c.args(["--runtime", "runc"]);
    }
    c.args(args);
    c
}

const RUN_LIMITS: [&str; 4] = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

#[test]
fn the_container_image_runs_from_scratch_under_podman_as_a_non_root_user() {
    use std::os::unix::fs::MetadataExt;
    if run(Command::new("podman").arg("--version")).is_err() {
        println!("SKIPPED: podman is not installed (apt-get install podman runc): the image was not built");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let context = dir.path().join("context");
    copy_with_libraries(&csx_bin(), &context.join("rootfs"));
    std::fs::create_dir_all(context.join("rootfs/data")).expect("mkdir");
    std::fs::write(context.join("Containerfile"), scratch_containerfile()).expect("write");
    let tag = format!("localhost/csx-test:{}", std::process::id());
    let name = format!("csx-test-{}", std::process::id());
    let out = run(podman(&["build", "--format", "docker", "-q", "-t", &tag, "-f"])
        .arg(context.join("Containerfile"))
        .arg(&context))
    .expect("podman runs");
    if !out.status.success() {
        println!("SKIPPED: podman cannot build an image here: {}", text(&out));
        return;
    }
    struct Cleanup(String, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = podman(&["rm", "-f", &self.0]).output();
            let _ = podman(&["rmi", "-f", &self.1]).output();
        }
    }
    let _cleanup = Cleanup(name.clone(), tag.clone());

    // The home is a volume, owned by the image's unprivileged user.
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("mkdir");
    std::os::unix::fs::chown(&home, Some(65532), Some(65532)).expect("chown");
    let volume = format!("{}:/data", home.display());
    let csx = |args: &[&str]| -> Result<Output, String> {
        run(podman(&["run", "--rm", "--network", "none", "-v", volume.as_str()]).args(RUN_LIMITS).arg(&tag).args(args))
    };
    let out = csx(&["init", "--org-code", "CT1", "--name", "NHS CT1 ICB"]).expect("podman runs");
    if !out.status.success() && text(&out).contains("OCI") {
        println!("SKIPPED: podman cannot run a container on this machine: {}", text(&out));
        return;
    }
    assert!(out.status.success(), "csx init in the container: {}", text(&out));
    let id = csx(&["id", "--json"]).expect("runs");
    assert!(id.status.success(), "{}", text(&id));
    std::fs::write(home.join("ct1.json"), &id.stdout).expect("write");
    for args in [
        &[
            "federation",
            "create",
            "--name",
            "Container federation",
            "--founder",
            "/data/ct1.json",
            "--out",
            "/data/genesis.json",
        ][..],
        &["federation", "join", "/data/genesis.json"],
    ] {
        let out = csx(args).expect("runs");
        assert!(out.status.success(), "csx {args:?}: {}", text(&out));
    }
    let key = std::fs::metadata(home.join("node.key")).expect("the node key is in the volume");
    assert_eq!((key.uid(), key.mode() & 0o777), (65532, 0o600), "written by the image's user, owner-only");

    // The image's default command runs the daemon; its healthcheck passes once it answers.
    let out = run(podman(&["run", "-d", "--name", name.as_str(), "--network", "none", "-v", volume.as_str()])
        .args(RUN_LIMITS)
        .arg(&tag))
    .expect("runs");
    assert!(out.status.success(), "podman run -d: {}", text(&out));
    let started = Instant::now();
    let end = started + Duration::from_secs(60);
    loop {
        let out = run(podman(&["healthcheck", "run", &name])).expect("runs");
        if out.status.success() {
            break;
        }
        let logs = run(podman(&["logs", &name])).map(|o| text(&o)).unwrap_or_default();
        assert!(Instant::now() < end, "not healthy within 60 s: {}\n{logs}", text(&out));
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("FIGURE container healthy after {} ms", started.elapsed().as_millis());
    let user = run(podman(&["inspect", "--format", "{{.Config.User}}", &name])).expect("runs");
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "65532:65532");
    let status = run(podman(&["exec", &name, "/usr/local/bin/csx", "status", "--json"])).expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
    assert_eq!(v["mode"], "daemon", "{}", text(&status));

    // SIGTERM (podman stop) stops it cleanly.
    let out = run(podman(&["stop", "-t", "30", &name])).expect("runs");
    assert!(out.status.success(), "{}", text(&out));
    let code = run(podman(&["inspect", "--format", "{{.State.ExitCode}}", &name])).expect("runs");
    let logs = run(podman(&["logs", &name])).map(|o| text(&o)).unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&code.stdout).trim(), "0", "{logs}");
    assert!(logs.contains("csx daemon stopped"), "{logs}");
}
