//! The dashboard from the command line: `csx user`, `csx audit`, `csx dashboard` and the
//! daemon's dashboard — and the API returning exactly what `csx … --json` prints.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const NOW: &str = "2025-06-01T09:00:00Z";

fn csx(home: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("csx"));
    c.env("CSX_HOME", home).env("CSX_NOW", NOW).env_remove("CSX_WEB_LISTEN").arg("--no-input");
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().expect("csx runs");
    assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn sandbox(dir: &Path) -> std::path::PathBuf {
    let home = dir.join("sandbox");
    ok(csx(&home).args(["demo", "sandbox", home.to_str().expect("utf8"), "--seed", "7", "--members", "20"]));
    home
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}

/// One HTTP/1.1 GET on loopback: (status, headers, body).
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
    (status, head.to_string(), body.to_string())
}

fn wait_for_port(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited: {status}");
        }
        assert!(Instant::now() < deadline, "nothing listened on {port} within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn accounts_are_managed_with_csx_user_and_every_change_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = sandbox(dir.path());
    let out = ok(csx(&home).args(["user", "add", "Alice", "--role", "editor", "--json"]));
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["name"], "alice");
    assert!(v["signin_link"].as_str().expect("link").starts_with("http://127.0.0.1:4080/signin/link/"), "{v}");
    let list: Value = serde_json::from_str(&ok(csx(&home).args(["user", "list", "--json"]))).expect("json");
    assert_eq!(list[0]["state"], "sign-in link sent");
    let again = csx(&home).args(["user", "add", "alice", "--role", "viewer"]).output().expect("runs");
    assert_eq!(again.status.code(), Some(3), "an existing name is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let token = ok(csx(&home).args(["user", "token", "alice", "--label", "Power BI"]));
    assert!(token.trim().starts_with("csxt_"));
    ok(csx(&home).args(["user", "disable", "alice"]));
    ok(csx(&home).args(["user", "role", "alice", "--role", "admin"]));
    let missing = csx(&home).args(["user", "reset", "nobody"]).output().expect("runs");
    assert_eq!(missing.status.code(), Some(4));
    let bad = csx(&home).args(["user", "add", "two words", "--role", "viewer"]).output().expect("runs");
    assert_eq!(bad.status.code(), Some(3));
    let audit: Value = serde_json::from_str(&ok(csx(&home).args(["audit", "--json"]))).expect("json");
    let actions: Vec<&str> = audit.as_array().expect("list").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["user_add", "token_create", "user_disable", "user_role"]);
    assert!(audit[0]["user"].as_str().expect("user").starts_with("cli:"));
    let log = std::fs::read_to_string(home.join("web/audit.log")).expect("log");
    assert!(!log.contains(token.trim()), "no token in the audit log");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["web/accounts.json", "web/audit.log"] {
            let mode = std::fs::metadata(home.join(f)).expect("file").permissions().mode();
            assert_eq!(mode & 0o077, 0, "{f} is owner-only");
        }
    }
}

#[test]
fn the_api_returns_what_csx_json_prints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = sandbox(dir.path());
    ok(csx(&home).args(["user", "add", "analyst", "--role", "viewer"]));
    let token = ok(csx(&home).args(["user", "token", "analyst"])).trim().to_string();
    // What the CLI prints, first (the offline dashboard will hold the store).
    let questions: &[(&[&str], &str)] = &[
        (&["prices", "--json"], "/api/v1/prices"),
        (&["prices", "--service-line", "BI", "--json"], "/api/v1/prices?service_line=BI"),
        (&["prices", "--year", "2024/25", "--json"], "/api/v1/prices?year=2024/25"),
        (&["providers", "--service-line", "CONTRACT", "--json"], "/api/v1/providers?service_line=CONTRACT"),
        (&["provider", "show", "0DE", "--json"], "/api/v1/providers/0DE"),
        (&["switches", "--from", "0DE", "--json"], "/api/v1/switches?from=0DE"),
        (&["motions", "--status", "open", "--json"], "/api/v1/motions?status=open"),
        (&["report", "--json"], "/api/v1/report"),
        (&["renewals", "--json"], "/api/v1/renewals"),
        (
            &["renewals", "--service-line", "BI", "--quarters", "6", "--json"],
            "/api/v1/renewals?service_line=BI&quarters=6",
        ),
        (&["tenders", "--json"], "/api/v1/tenders"),
        (&["alerts", "--json"], "/api/v1/alerts"),
    ];
    let expected: Vec<String> = questions.iter().map(|(args, _)| ok(csx(&home).args(*args))).collect();
    let port = free_port();
    let mut child = csx(&home)
        .args(["dashboard", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("csx dashboard starts");
    wait_for_port(port, &mut child);
    let mut server = Killed(child);
    let auth = format!("Bearer {token}");
    for ((args, path), cli) in questions.iter().zip(&expected) {
        let (status, _, body) = get(port, path, &[("Authorization", &auth)]);
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body.trim_end(), cli.trim_end(), "GET {path} is `csx {}`", args.join(" "));
    }
    // The owner's link signs in once.
    let mut line = String::new();
    let mut stdout = server.0.stdout.take().expect("stdout");
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !line.contains("/signin/owner/") && Instant::now() < deadline {
        let n = stdout.read(&mut buf).expect("read");
        line.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let link = line.split_whitespace().find(|w| w.contains("/signin/owner/")).expect("owner link");
    let path = link.split(&format!("127.0.0.1:{port}")).nth(1).expect("path");
    let (status, head, _) = get(port, path, &[]);
    assert_eq!(status, 303);
    assert!(head.contains("csx_session=") && head.contains("HttpOnly"));
    assert_eq!(get(port, path, &[]).0, 404, "used once");
}

#[test]
fn the_daemon_serves_the_dashboard_and_sees_account_changes_made_by_csx_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("node");
    ok(csx(&home).args([
        "init",
        "--org-code",
        "QWO",
        "--name",
        "NHS West Yorkshire ICB",
        "--population",
        "2400000",
        "--population-year",
        "2024",
    ]));
    let id = ok(csx(&home).args(["id", "--json"]));
    std::fs::write(dir.path().join("qwo.json"), id).expect("id");
    ok(csx(&home).current_dir(dir.path()).args([
        "federation",
        "create",
        "--name",
        "Test",
        "--founder",
        "qwo.json",
        "--out",
        "genesis.json",
    ]));
    ok(csx(&home).current_dir(dir.path()).args(["federation", "join", "genesis.json"]));
    let (p2p, web) = (free_port(), free_port());
    let mut child = csx(&home)
        .env_remove("CSX_NOW")
        .args(["daemon", "--listen", &format!("/ip4/127.0.0.1/tcp/{p2p}"), "--web-listen", &format!("127.0.0.1:{web}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon starts");
    wait_for_port(web, &mut child);
    let _daemon = Killed(child);
    // Accounts made while the daemon runs work at once.
    ok(csx(&home).env_remove("CSX_NOW").args(["user", "add", "it", "--role", "admin"]));
    let token = ok(csx(&home).env_remove("CSX_NOW").args(["user", "token", "it"])).trim().to_string();
    let auth = format!("Bearer {token}");
    let (status, _, body) = get(web, "/api/v1/status", &[("Authorization", &auth)]);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["mode"], "daemon");
    assert_eq!(v["identity"]["ods_code"], "QWO");
    let (status, _, _) = get(web, "/", &[]);
    assert_eq!(status, 303, "pages need a sign-in");
    ok(csx(&home).env_remove("CSX_NOW").args(["user", "disable", "it"]));
    assert_eq!(get(web, "/api/v1/status", &[("Authorization", &auth)]).0, 401, "disabled by csx user: refused at once");
}
