//! A bootstrap server and three `csx daemon` processes on 127.0.0.1, driven only with the CLI.

use std::time::Duration;

use csx_node::api::{ErrorKind, Request};
use csx_node::control::ControlClient;
use csx_tests::process::{Bootstrap, CliHome, found_federation, free_port, wait_for};

const SOON: Duration = Duration::from_secs(30);

fn holds_comment(node: &CliHome, comment: &str) -> bool {
    node.json(&["review", "list"]).as_array().is_some_and(|a| a.iter().any(|r| r["body"]["comment"] == comment))
}

#[test]
fn three_daemons_and_a_bootstrap_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (nodes, genesis) = found_federation(dir.path(), &["QW0", "QW1", "QW2"], Some(&server.address));
    let mut bootstrap = server.start(&genesis);
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let listen = |i: usize| format!("/ip4/127.0.0.1/tcp/{}", ports[i]);
    let mut daemons = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        // No peers configured: they find each other through the bootstrap server.
        daemons.push(n.start_daemon(&["--listen", &listen(i), "--sync-interval", "2s"]));
    }

    // Write on one, read on the others.
    nodes[0].review("written on node 1");
    wait_for("node 2 and 3 hold node 1's review", SOON, || {
        holds_comment(&nodes[1], "written on node 1") && holds_comment(&nodes[2], "written on node 1")
    });

    // Without the bootstrap server, a restarted node finds its peers again from memory.
    bootstrap.kill();
    nodes[2].ok(&["shutdown"]);
    daemons[2] = nodes[2].start_daemon(&["--listen", &listen(2), "--sync-interval", "2s"]);
    nodes[1].review("written on node 2 after the bootstrap server stopped");
    wait_for("node 3, restarted with the bootstrap server down, gets node 2's review", SOON, || {
        holds_comment(&nodes[2], "written on node 2 after the bootstrap server stopped")
    });

    // Kill a daemon outright, write while it is down, restart it: it resumes and catches up.
    daemons[1].kill();
    nodes[0].review("written while node 2 was down");
    daemons[1] = nodes[1].start_daemon(&["--listen", &listen(1), "--sync-interval", "2s"]);
    wait_for("node 2 reconnects to a member", SOON, || {
        nodes[1]
            .json(&["peers"])
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["connected"] == true && p["bootstrap"] == false))
    });
    let report = nodes[1].json(&["sync", "--timeout", "30s"]);
    assert_eq!(report["level"], true, "{report}");
    assert!(holds_comment(&nodes[1], "written while node 2 was down"));
    let digest = nodes[1].digest();
    wait_for("all three nodes hold the same heads", SOON, || nodes.iter().all(|n| n.digest() == digest));
    assert_eq!(nodes[0].records(), nodes[1].records());

    // The control API refuses a caller without the token.
    let socket = nodes[0].home.join("control.sock");
    let stranger = ControlClient::with_token(socket.clone(), "0".repeat(64));
    let err = stranger.call(&Request::Status, Duration::from_secs(5)).expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.message.contains("wrong or missing control token"), "{}", err.message);
    use std::os::unix::fs::PermissionsExt;
    for f in ["control.sock", "control.token"] {
        let mode = std::fs::metadata(nodes[0].home.join(f)).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f} is owner-only");
    }
    // Garbage on the socket is answered with an error, and the daemon carries on.
    {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&socket).expect("connects");
        s.write_all(b"{not json\n").expect("writes");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("reads");
        assert!(reply.contains("malformed control request"), "{reply}");
    }
    assert_eq!(nodes[0].json(&["status"])["mode"], "daemon");

    // Questions go to the daemon, and every answer says what it rests on and how current it is.
    let answer = nodes[1].json(&["providers"]);
    let p = &answer["provenance"];
    // Node 1's two reviews of the same provider, line and year count once: its latest.
    assert_eq!(
        (p["mode"].as_str(), p["records"].as_u64(), p["members"].as_u64()),
        (Some("daemon"), Some(2), Some(2)),
        "{p}"
    );
    assert!(p["peers"].as_u64() >= Some(1) && p["last_sync_at"].as_u64().is_some(), "{p}");

    // Shutdown is clean: the store is released and readable offline.
    for n in &nodes {
        n.ok(&["shutdown"]);
        assert_eq!(n.json(&["status"])["mode"], "offline");
    }
    let offline = nodes[1].json(&["review", "list"]);
    assert_eq!(offline.as_array().map(|a| a.len()), Some(3));
    // Offline answers still say when the node last synced (the daemon kept it in the store).
    let p = nodes[1].json(&["providers"])["provenance"].clone();
    assert_eq!((p["mode"].as_str(), p["peers"].as_u64()), (Some("offline"), None), "{p}");
    assert!(p["last_sync_at"].as_u64().is_some(), "{p}");
    let err = nodes[0].run(&["sync"]);
    assert_eq!(err.status.code(), Some(5), "sync without a daemon is `unavailable`");
}

#[test]
fn a_node_nobody_can_dial_is_reached_through_the_bootstrap_relay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (nodes, genesis) = found_federation(dir.path(), &["QH1", "QH2"], Some(&server.address));
    let _bootstrap = server.start(&genesis);
    let (hidden, open) = (&nodes[0], &nodes[1]);
    // The hidden node listens on nothing: only a relay reservation at the bootstrap server.
    std::fs::write(hidden.home.join("config.toml"), "listen = []\nrelay = true\nsync_interval_secs = 2\n")
        .expect("config");
    let _h = hidden.start_daemon(&[]);
    wait_for("the hidden node listens through the relay", SOON, || {
        hidden.json(&["status"])["network"]["listen"]
            .as_array()
            .is_some_and(|l| l.iter().any(|a| a.as_str().is_some_and(|a| a.contains("p2p-circuit"))))
    });
    let _o = open.start_daemon(&["--listen", &format!("/ip4/127.0.0.1/tcp/{}", free_port()), "--sync-interval", "2s"]);
    hidden.review("from behind the relay");
    open.review("to the node behind the relay");
    wait_for("records cross the relay both ways", SOON, || {
        holds_comment(open, "from behind the relay") && holds_comment(hidden, "to the node behind the relay")
    });
    for n in [hidden, open] {
        n.ok(&["shutdown"]);
    }
}

fn count_by(node: &CliHome, comment: &str) -> usize {
    node.json(&["review", "list"])
        .as_array()
        .map_or(0, |a| a.iter().filter(|r| r["body"]["comment"] == comment).count())
}

fn member_current(node: &CliHome, ods: &str) -> Option<bool> {
    let m = node.json(&["members"]);
    m["members"].as_array()?.iter().find(|x| x["ods_code"] == ods).and_then(|x| x["current"].as_bool())
}

#[test]
fn an_applicant_is_admitted_by_two_endorsements_and_a_revoked_member_is_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let founders: Vec<CliHome> = (0..4).map(|i| CliHome::new(dir.path().join(format!("qw{i}")))).collect();
    let applicant = CliHome::new(dir.path().join("qe4"));
    let mut ids = vec![];
    for (i, n) in founders.iter().enumerate() {
        n.ok(&["init", "--org-code", &format!("QW{i}"), "--name", &format!("NHS QW{i} ICB")]);
        let id = dir.path().join(format!("qw{i}.json"));
        std::fs::write(&id, n.ok(&["id", "--json"])).expect("write");
        ids.push(id.display().to_string());
    }
    applicant.ok(&["init", "--org-code", "QE4", "--name", "NHS QE4 ICB"]);
    let e_id = dir.path().join("qe4.json");
    std::fs::write(&e_id, applicant.ok(&["id", "--json"])).expect("write");
    let genesis = dir.path().join("genesis.json").display().to_string();
    let mut create: Vec<&str> = vec![
        "federation",
        "create",
        "--name",
        "Join test",
        "--bootstrap",
        &server.address,
        "--endorsement-threshold",
        "2",
        "--out",
        &genesis,
    ];
    for id in &ids {
        create.extend(["--founder", id.as_str()]);
    }
    founders[0].ok(&create);
    let _bootstrap = server.start(std::path::Path::new(&genesis));
    let mut daemons = vec![];
    let mut first = String::new();
    for (i, n) in founders.iter().enumerate() {
        n.ok(&["federation", "join", &genesis]);
        let port = free_port();
        n.write_test_config(port);
        daemons.push(n.start_daemon(&[]));
        n.review(&format!("by QW{i}"));
        if i == 0 {
            let id = n.json(&["status"])["network"]["peer_id"].as_str().expect("peer id").to_string();
            first = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{id}");
        }
    }
    wait_for("the founders hold each other's reviews", SOON, || {
        founders.iter().all(|n| (0..4).all(|i| count_by(n, &format!("by QW{i}")) == 1))
    });

    // The applicant's node joins the federation's genesis and dials a founder it was told of
    // (the bootstrap server gives non-members nothing), but is not a member: it learns
    // nothing, and members drop it.
    applicant.ok(&["federation", "join", &genesis]);
    applicant.write_test_config(free_port());
    let _e = applicant.start_daemon(&["--peer", &first]);
    wait_for("a member turned the non-member away", SOON, || {
        founders
            .iter()
            .any(|n| n.json(&["status"])["network"]["counters"]["dropped.not_a_member"].as_u64().unwrap_or(0) > 0)
    });
    // It holds its own certificate and profile and nothing else: a member shows even its own
    // certificate only to nodes it has verified, or that it dialled itself.
    let own_id = applicant.json(&["id"])["node_key"].as_str().expect("key").to_string();
    assert_eq!(applicant.records(), 2);
    for f in &founders {
        let key = f.json(&["id"])["node_key"].as_str().expect("key").to_string();
        let out = applicant.run(&["feed", "--author", &key, "--json"]);
        assert_eq!(out.status.code(), Some(4), "no record of founder node {key} is held (exit 4: not found)");
    }
    assert_eq!(applicant.json(&["feed", "--author", &own_id]).as_array().map(|a| a.len()), Some(2));
    assert_eq!(applicant.json(&["review", "list"]).as_array().map(|a| a.len()), Some(0));

    // Two members endorse it.
    let e = e_id.display().to_string();
    founders[0].ok(&["member", "endorse", &e, "--yes"]);
    wait_for("QE4 shows as an applicant with 1 of 2 endorsements", SOON, || {
        let m = founders[1].json(&["members"]);
        m["applicants"].as_array().is_some_and(|a| a.iter().any(|x| x["ods_code"] == "QE4" && x["endorsements"] == 1))
    });
    let err = founders[0].run(&["member", "endorse", &e, "--yes"]);
    assert_eq!(err.status.code(), Some(3), "endorsing twice is refused");
    founders[1].ok(&["member", "endorse", &e, "--yes"]);
    wait_for("the admitted applicant syncs the whole history", SOON, || {
        (0..4).all(|i| count_by(&applicant, &format!("by QW{i}")) == 1)
    });
    assert_eq!(member_current(&applicant, "QE4"), Some(true));
    applicant.review("by QE4");
    wait_for("the new member's review reaches every founder", SOON, || {
        founders.iter().all(|n| count_by(n, "by QE4") == 1)
    });

    // Two members revoke QW3.
    founders[0].ok(&["member", "revoke", "QW3", "--reason", "Left the federation", "--yes"]);
    founders[1].ok(&["member", "revoke", "QW3", "--reason", "Left the federation", "--yes"]);
    let others = [&founders[0], &founders[1], &founders[2], &applicant];
    wait_for("every other node sees QW3 revoked", SOON, || {
        others.iter().all(|n| member_current(n, "QW3") == Some(false))
    });
    // QW3 writes after its revocation: refused at home if it knows, and accepted nowhere else.
    let out = founders[3].add_review("after revocation");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("can no longer write") || err.contains("confirmed its own feed"), "{err}");
    }
    for n in &others {
        n.ok(&["sync", "--timeout", "30s"]);
    }
    for n in &others {
        assert_eq!(
            count_by(n, "after revocation"),
            0,
            "{} accepted a record written after the revocation",
            n.home.display()
        );
        assert_eq!(count_by(n, "by QW3"), 1, "QW3's earlier record stays valid on {}", n.home.display());
    }
    let digest = others[0].digest();
    assert!(others.iter().all(|n| n.digest() == digest), "the remaining members agree");
}
