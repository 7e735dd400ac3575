//! The operator's settings: `csx init --listen/--port`, `csx bootstrap --write-address`, and a
//! key in the wrong table of config.toml named with its table and where it belongs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use csx_tests::process::{Bootstrap, CliHome, Proc, csx_bin, found_federation, free_port, wait_for};

fn init(home: &CliHome, extra: &[&str]) -> std::process::Output {
    home.run(&[&["init", "--org-code", "OP1", "--name", "NHS Operator ICB"], extra].concat())
}

/// The `listen` setting `csx daemon` would run with, as `csx config show` reports it.
fn listen_of(home: &CliHome) -> Vec<String> {
    let shown = home.json(&["config", "show"]);
    let row = shown.as_array().expect("rows").iter().find(|r| r["setting"] == "listen").expect("listen").clone();
    assert_eq!(row["source"], "file", "written to config.toml: {row}");
    // A TOML array of basic strings reads as JSON.
    serde_json::from_str(row["value"].as_str().expect("value")).expect("a list of addresses")
}

#[test]
fn init_writes_the_listen_address_given_by_port_or_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let by_port = CliHome::new(dir.path().join("a"));
    let out = init(&by_port, &["--port", "4101"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(listen_of(&by_port), vec!["/ip4/0.0.0.0/tcp/4101"]);

    let by_addr = CliHome::new(dir.path().join("b"));
    let out = init(&by_addr, &["--listen", "127.0.0.1:4102", "--listen", "/ip6/::1/tcp/4102"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(listen_of(&by_addr), vec!["/ip4/127.0.0.1/tcp/4102", "/ip6/::1/tcp/4102"]);

    // Without either, the default.
    let plain = CliHome::new(dir.path().join("c"));
    assert!(init(&plain, &[]).status.success());
    assert_eq!(listen_of(&plain), vec!["/ip4/0.0.0.0/tcp/4001"]);

    // A bad address or port is named, and nothing is written.
    for (bad, named) in [
        (vec!["--listen", "localhost"], "--listen: `localhost` is neither host:port"),
        (vec!["--port", "0"], "--port: give a port from 1 to 65535"),
    ] {
        let home = CliHome::new(dir.path().join("bad"));
        let out = init(&home, &bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(named), "{bad:?}: {err}");
        assert!(!home.home.join("identity.json").exists() && !home.home.join("config.toml").exists());
    }
    let out = init(&CliHome::new(dir.path().join("both")), &["--port", "1", "--listen", "0.0.0.0:2"]);
    assert!(!out.status.success(), "--listen and --port together are refused");
}

#[test]
fn a_listen_line_appended_to_config_toml_is_named_with_the_table_it_landed_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (homes, _) = found_federation(dir.path(), &["OP2"], None);
    let node = &homes[0];
    let path = node.home.join("config.toml");
    let mut text = std::fs::read_to_string(&path).expect("config.toml");
    let table = text.lines().rev().find(|l| l.starts_with('[')).expect("a table").trim_matches(['[', ']']).to_string();
    text.push_str(&format!("listen = [\"/ip4/127.0.0.1/tcp/{}\"]\n", free_port()));
    let line = text.lines().count();
    std::fs::write(&path, text).expect("append");
    for args in [vec!["daemon"], vec!["config", "show"]] {
        let out = node.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} refuses the file");
        assert!(
            err.contains(&format!("line {line}: `listen` is not a setting of the [{table}] table")),
            "{args:?}: {err}"
        );
        assert!(err.contains("it belongs at the top, before the first [table] line"), "{args:?}: {err}");
    }
    let out = node.run(&["config", "check"]);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && said.contains(&format!("[{table}]")), "{said}");
}

#[test]
fn the_bootstrap_server_writes_its_addresses_to_a_file_once_it_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (_, genesis) = found_federation(dir.path(), &["OP3"], Some(&server.address));
    let file = dir.path().join("run").join("bootstrap.addr");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&file, "/ip4/10.9.9.9/tcp/1/p2p/stale\n").expect("a stale file");
    // The file is written only once the server listens: hold its port until then.
    let blocker = std::net::TcpListener::bind(("127.0.0.1", server.port)).expect("hold the port");
    let child = Command::new(csx_bin())
        .env("CSX_HOME", &server.home)
        .args(["bootstrap", "--listen", &format!("/ip4/127.0.0.1/tcp/{}", server.port), "--write-address"])
        .arg(&file)
        .arg("--genesis")
        .arg(&genesis)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bootstrap starts");
    let mut proc = Proc { child, name: "bootstrap".into() };
    // It cannot listen on a taken port: it exits, leaving no address file (the stale one gone).
    wait_for("the bootstrap server gives up on a taken port", Duration::from_secs(30), || !proc.is_running());
    assert!(!file.exists(), "no address file while not listening");
    drop(blocker);

    let child = Command::new(csx_bin())
        .env("CSX_HOME", &server.home)
        .args(["bootstrap", "--listen", &format!("/ip4/127.0.0.1/tcp/{}", server.port), "--write-address"])
        .arg(&file)
        .arg("--genesis")
        .arg(&genesis)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bootstrap starts");
    let mut proc = Proc { child, name: "bootstrap".into() };
    let mut line = String::new();
    BufReader::new(proc.child.stdout.take().expect("piped")).read_line(&mut line).expect("its address");
    wait_for("the address file", Duration::from_secs(30), || file.exists());
    let written = std::fs::read_to_string(&file).expect("read");
    assert_eq!(written, format!("{}\n", server.address), "the address members configure, as --show-address says");
    assert_eq!(line.trim().strip_prefix("bootstrap address: "), Some(server.address.as_str()));
    // Its address is one a member dials: the tcp port it listens on.
    std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("it listens at the address written");
    Command::new("kill").args(["-TERM", &proc.child.id().to_string()]).status().expect("kill");
    wait_for("the bootstrap server stops", Duration::from_secs(30), || !proc.is_running());
    assert!(!file.exists(), "the address file is removed when the server stops");
}
