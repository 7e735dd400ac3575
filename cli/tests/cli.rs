//! The `csx` binary, driven as people drive it, in a temporary home.

mod common;

use common::*;

#[test]
fn a_newcomers_first_session() {
    let m = Member::joined();
    let saved = m.json(REVIEW);
    assert_eq!(saved[0]["kind"], "review");
    m.ok(&[
        "price",
        "add",
        "--provider",
        "0DE",
        "--service-line",
        "BI",
        "--year",
        "2024",
        "--annual-value",
        "£1,680,000",
        "--vat-included",
        "no",
        "--pricing-model",
        "fixed",
        "--notice-months",
        "6",
        "--efficiency",
        "4%",
    ]);
    m.ok(&[
        "switch",
        "add",
        "--service-line",
        "CHC",
        "--from",
        "0DE",
        "--to",
        "in_house",
        "--effective",
        "2024-10-01",
        "--reasons",
        "cost,quality",
        "--notice-months",
        "6",
        "--exit-costs",
        "40k",
    ]);
    m.ok(&[
        "motion",
        "propose",
        "--title",
        "Notice periods of at most 6 months",
        "--text",
        "We will not sign for more.",
        "--term",
        "max_notice_months=6",
        "--support-needed",
        "5",
        "--closes-on",
        "2099-03-31",
    ]);
    let csv = examples().join("prices.csv");
    m.ok(&["import", csv.to_str().expect("utf8"), "--kind", "price"]);
    let prices = m.json(&["price", "list"]);
    assert_eq!(prices.as_array().expect("array").len(), 11);
    let payroll = prices.as_array().expect("array").iter().find(|p| p["body"]["unit_name"] == "payslip").expect("one");
    assert_eq!(payroll["body"]["pricing_model"], "per_unit");
    assert_eq!(payroll["body"]["unit_count"], 60_000);
    assert_eq!(payroll["body"]["annual_value_pence"], 27_600_000);
    let table = m.ok(&["price", "list"]);
    assert!(table.contains("£1,680,000.00") && table.contains("£0.70"), "{table}");
    // Every process is a restart: the records are read back from disk each time.
    assert_eq!(m.record_count(), 2 + 4 + 10);
    let feed = m.json(&["feed"]);
    assert_eq!(feed.as_array().expect("array").len(), 16);
    assert_eq!(feed[0]["body"]["kind"], "node_cert");
    assert_eq!(feed[1]["body"]["kind"], "profile");
}

#[test]
fn review_errors_name_the_field_and_store_nothing() {
    let m = Member::joined();
    let before = m.record_count();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (without(REVIEW, "--provider"), 3, "--provider: is required"),
        (with(REVIEW, "--quality", "7"), 3, "--quality: 7 is out of range: give a whole number from 1 to 5"),
        (
            with(REVIEW, "--would-recommend", "11"),
            3,
            "--would-recommend: 11 is out of range: give a whole number from 0 to 10",
        ),
        (
            with(REVIEW, "--service-line", "XYZ"),
            3,
            "--service-line: `XYZ` is not a service line; use one of BI (Business intelligence)",
        ),
        (with(REVIEW, "--provider", "NOPE"), 3, "--provider: `NOPE` is not a known provider"),
        (with(REVIEW, "--year", "1999"), 3, "--year: `1999` is not a financial year"),
        (with(REVIEW, "--still-customer", "maybe"), 3, "--still-customer: `maybe` is not yes or no"),
        (with(REVIEW, "--comment", &"x".repeat(4001)), 3, "--comment: must be at most 4000 characters"),
        (with(REVIEW, "--comment", "\u{1b}[2Jgotcha"), 3, "--comment: must not contain control characters"),
    ];
    for (args, code, message) in cases {
        let err = m.fails(&strs(&args), code);
        assert!(err.contains(message), "for {args:?} expected `{message}` in: {err}");
    }
    let no_ratings: Vec<String> = without(&strs(&without(REVIEW, "--quality")), "--would-recommend");
    let err = m.fails(&strs(&no_ratings), 3);
    assert!(err.contains("give at least one rating"), "{err}");
    assert_eq!(m.record_count(), before, "nothing was stored");
}

#[test]
fn price_errors_name_the_field_and_store_nothing() {
    let m = Member::joined();
    let base: &[&str] = &[
        "price",
        "add",
        "--provider",
        "0DE",
        "--service-line",
        "BI",
        "--year",
        "2024",
        "--annual-value",
        "250000",
        "--vat-included",
        "no",
        "--pricing-model",
        "fixed",
    ];
    let before = m.record_count();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (with(base, "--annual-value", "-250000"), "--annual-value: `-250000` is negative"),
        (with(base, "--annual-value", "lots"), "--annual-value: `lots` is not an amount of money"),
        (with(base, "--annual-value", "0"), "--annual-value: must be more than £0"),
        (
            with(base, "--pricing-model", "barter"),
            "--pricing-model: `barter` is not one of: fixed, per head, per unit, time and materials",
        ),
        (with(base, "--pricing-model", "per_unit"), "--unit-name: is required when pricing_model is per_unit"),
        (with(base, "--notice-months", "48"), "--notice-months: 48 is out of range: give a whole number from 0 to 36"),
        (with(base, "--efficiency", "60%"), "--efficiency: `60%` is more than 50%"),
        (
            with(base, "--contract-start", "2024-02-30"),
            "--contract-start: `2024-02-30` is not a date: February has no day 30",
        ),
        (without(base, "--vat-included"), "--vat-included: is required"),
    ];
    for (args, message) in cases {
        let err = m.fails(&strs(&args), 3);
        assert!(err.contains(message), "for {args:?} expected `{message}` in: {err}");
    }
    assert_eq!(m.record_count(), before);
    // Population defaults to the profile's; a price without one and no profile figure is refused.
    let saved = m.json(base);
    let shown = m.json(&["record", "show", saved[0]["id"].as_str().expect("id")]);
    assert_eq!(shown["body"]["population_covered"], 2_400_000);
}

#[test]
fn switch_outcome_motion_support_and_retract() {
    let m = Member::joined();
    let sw = m.json(&[
        "switch",
        "add",
        "--service-line",
        "CHC",
        "--from",
        "0DE",
        "--to",
        "shared:QOQ",
        "--effective",
        "2024-10-01",
        "--reasons",
        "quality, cost",
    ]);
    let sw_id = sw[0]["id"].as_str().expect("id");
    let err = m.fails(
        &[
            "switch",
            "add",
            "--service-line",
            "CHC",
            "--from",
            "0DE",
            "--to",
            "0DE",
            "--effective",
            "2024-10-01",
            "--reasons",
            "cost",
        ],
        3,
    );
    assert!(err.contains("--to: must differ from `from`"), "{err}");
    let err = m.fails(
        &[
            "switch",
            "add",
            "--service-line",
            "CHC",
            "--from",
            "0DE",
            "--to",
            "in_house",
            "--effective",
            "2024-10-01",
            "--reasons",
            "boredom",
        ],
        3,
    );
    assert!(err.contains("--reasons: `boredom` is not one of: cost, quality"), "{err}");
    m.ok(&["switch", "outcome", "--switch", &sw_id[..8], "--cost-change", "-40k", "--satisfaction-change", "2"]);
    let outcomes = m.json(&["switch", "outcomes"]);
    assert_eq!(outcomes[0]["body"]["cost_change_pence"], -4_000_000);
    assert_eq!(outcomes[0]["body"]["switch"], sw_id);

    let motion = m.json(&[
        "motion",
        "propose",
        "--title",
        "Outcome-based KPIs",
        "--text",
        "KPIs on outcomes, not process.",
        "--term",
        "kpi_basis=outcome",
        "--support-needed",
        "3",
        "--closes-on",
        "2099-01-01",
    ]);
    let motion_id = motion[0]["id"].as_str().expect("id");
    let err = m.fails(
        &[
            "motion",
            "propose",
            "--title",
            "x",
            "--text",
            "y",
            "--term",
            "notice=3",
            "--support-needed",
            "3",
            "--closes-on",
            "2099-01-01",
        ],
        3,
    );
    assert!(err.contains("--term: `notice=3` is not a contract term"), "{err}");
    m.ok(&["support", &motion_id[..10], "--comment", "Yes"]);
    m.ok(&["support", motion_id, "--withdraw"]);
    let err = m.fails(&["support", sw_id], 3);
    assert!(err.contains("is a switch, not a motion"), "{err}");
    let err = m.fails(&["support", "ffffffff"], 4);
    assert!(err.contains("no record id starts with `ffffffff`"), "{err}");

    m.ok(&["retract", sw_id, "--reason", "Entered against the wrong line"]);
    let listed = m.json(&["switch", "list"]);
    assert!(listed[0]["retracted_by"].is_string());
    let err = m.fails(&["retract", sw_id, "--reason", "again"], 3);
    assert!(err.contains("already retracted"), "{err}");
    let err = m.fails(&["retract", motion_id], 3);
    assert!(err.contains("--reason: is required"), "{err}");
}

#[test]
fn providers_can_be_added_and_are_then_known() {
    let m = Member::joined();
    let providers = m.json(&["provider", "list"]);
    assert_eq!(providers.as_array().expect("array").len(), 19, "the built-in CSUs");
    let err = m.fails(&["provider", "add", "--code", "acme bi", "--name", "Acme", "--kind", "private"], 3);
    assert!(err.contains("--code: `ACME BI` is not a provider code"), "{err}");
    let err = m.fails(&["provider", "add", "--code", "ACME-BI", "--name", "Acme", "--kind", "startup"], 3);
    assert!(err.contains("--kind: `startup` is not one of: csu, private, nhs body, local authority, other"), "{err}");
    m.ok(&[
        "provider",
        "add",
        "--code",
        "ACME-BI",
        "--name",
        "Acme Analytics Ltd",
        "--kind",
        "private",
        "--aliases",
        "Acme, AA",
    ]);
    let review = with(REVIEW, "--provider", "ACME-BI");
    m.ok(&strs(&review));
    let providers = m.json(&["provider", "list"]);
    let acme = providers.as_array().expect("array").iter().find(|p| p["code"] == "ACME-BI").expect("listed");
    assert_eq!(acme["aliases"], serde_json::json!(["Acme", "AA"]));
}

#[test]
fn import_is_all_or_nothing_with_row_numbered_errors() {
    let m = Member::joined();
    let dir = tempfile::tempdir().expect("tempdir");
    let before = m.record_count();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "provider,service_line,year,annual_value,vat_included,pricing_model\n\
         0DE,BI,2024,100000,no,fixed\n\
         0DE,BI,2024,-5,no,fixed\n\
         0DE,NOPE,2024,100000,no,fixed\n\
         0DE,BI,2024,100000,perhaps,fixed\n",
    )
    .expect("write");
    let err = m.fails(&["import", bad.to_str().expect("utf8"), "--kind", "price"], 3);
    // Rows are numbered as Excel shows them: the header is row 1.
    assert!(err.contains("3 of 4 rows"), "{err}");
    assert!(err.contains("row 3: annual_value: `-5` is negative"), "{err}");
    assert!(err.contains("row 4: service_line: `NOPE` is not a service line"), "{err}");
    assert!(err.contains("row 5: vat_included: `perhaps` is not yes or no"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(m.record_count(), before);

    // A row that is well formed but refers to an unknown service line fails the whole batch too.
    let unknown = dir.path().join("unknown.csv");
    std::fs::write(&unknown, "provider,service_line,year,annual_value,vat_included,pricing_model\n0DE,BI,2024,1,no,fixed\n0DE,NOPE,2024,1,no,fixed\n").expect("write");
    let err = m.fails(&["import", unknown.to_str().expect("utf8"), "--kind", "price"], 3);
    assert!(err.contains("row 3: service_line: `NOPE` is not a service line"), "{err}");
    assert_eq!(m.record_count(), before);

    let column = dir.path().join("column.csv");
    std::fs::write(&column, "provider,colour\n0DE,blue\n").expect("write");
    let err = m.fails(&["import", column.to_str().expect("utf8"), "--kind", "review"], 3);
    assert!(err.contains("`colour` is not a column of this kind; columns are:"), "{err}");

    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "provider,service_line\n0DE\n").expect("write");
    let err = m.fails(&["import", ragged.to_str().expect("utf8"), "--kind", "review"], 3);
    // A short row is read as it is (Excel leaves trailing empty cells out): what it lacks is named.
    assert!(err.contains("row 2: service_line: is required"), "{err}");

    let json = dir.path().join("broken.json");
    std::fs::write(&json, "[{\"provider\": \"0DE\",").expect("write");
    let err = m.fails(&["import", json.to_str().expect("utf8"), "--kind", "review"], 3);
    assert!(err.contains("is not valid JSON"), "{err}");

    let err = m.fails(&["import", dir.path().join("missing.csv").to_str().expect("utf8"), "--kind", "price"], 4);
    assert!(err.contains("cannot open"), "{err}");
    std::fs::copy(&bad, bad.with_extension("txt")).expect("copy");
    let err = m.fails(&["import", bad.with_extension("txt").to_str().expect("utf8"), "--kind", "price"], 3);
    // A file of another extension is read by its content (here CSV), and refused as the .csv was.
    assert!(err.contains("3 of 4 rows") && err.contains("nothing was imported"), "{err}");
    assert_eq!(m.record_count(), before);

    let reviews = examples().join("reviews.json");
    m.ok(&["import", reviews.to_str().expect("utf8"), "--kind", "review"]);
    assert_eq!(m.record_count(), before + 2);
}

#[test]
fn set_up_errors_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = Member { home: dir.path().join("nobody"), _dir: dir };
    let err = fresh.fails(&["review", "list"], 6);
    assert!(err.contains("is not set up: run `csx init"), "{err}");
    let m = Member::new();
    let err = m.fails(&["review", "list"], 6);
    assert!(err.contains("has not joined a federation: run `csx federation join"), "{err}");
    let err = m.fails(&["init", "--org-code", "QWO", "--name", "Again"], 3);
    assert!(err.contains("already set up"), "{err}");
    let err = m.fails(&["init", "--org-code", "qwo!", "--name", "Bad"], 3);
    assert!(err.contains("already set up") || err.contains("not an ODS code"), "{err}");
    let err = m.fails(&["federation", "join", "/nonexistent/genesis.json"], 4);
    assert!(err.contains("cannot read genesis file"), "{err}");
    let err = m.fails(&["frobnicate"], 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
}

#[test]
fn a_tampered_genesis_is_refused() {
    let m = Member::new();
    let id = m.home.parent().expect("parent").join("id.json");
    std::fs::write(&id, m.ok(&["id", "--json"])).expect("write");
    let genesis = m.home.parent().expect("parent").join("g.json");
    m.ok(&[
        "federation",
        "create",
        "--name",
        "Test",
        "--founder",
        id.to_str().expect("utf8"),
        "--out",
        genesis.to_str().expect("utf8"),
    ]);
    let text = std::fs::read_to_string(&genesis)
        .expect("read")
        .replace("\"disclosure_threshold\": 3", "\"disclosure_threshold\": 1");
    std::fs::write(&genesis, text).expect("write");
    let err = m.fails(&["federation", "join", genesis.to_str().expect("utf8")], 3);
    assert!(err.contains("does not match the file's content"), "{err}");
}

#[cfg(unix)]
#[test]
fn keys_are_owner_only_and_a_passphrase_protects_the_org_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Member { home: dir.path().join("home"), _dir: dir };
    let out = m
        .cmd(&["init", "--org-code", "02A", "--name", "NHS Test CCG", "--kind", "ccg", "--protect-org-key"])
        .env("CSX_PASSPHRASE", "correct horse battery staple")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["org.key", "node.key"] {
        let mode = std::fs::metadata(m.home.join(f)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
        let text = std::fs::read_to_string(m.home.join(f)).expect("read");
        assert!(!text.contains("passphrase"), "no secret material in clear beyond the key itself");
    }
    let org = std::fs::read_to_string(m.home.join("org.key")).expect("read");
    assert!(org.contains("argon2id"), "the organisation key is encrypted");
    // Without a passphrase and no terminal, protected init is refused clearly.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let m2 = Member { home: dir2.path().join("home"), _dir: dir2 };
    let err = m2.fails(&["init", "--org-code", "02B", "--name", "NHS B CCG", "--protect-org-key"], 3);
    assert!(err.contains("a passphrase is needed"), "{err}");
    assert!(!m2.home.join("identity.json").exists(), "nothing half set up");
}

#[test]
fn help_documents_exit_codes() {
    let m = Member::new();
    let help = m.ok(&["--help"]);
    assert!(help.contains("Exit codes:") && help.contains("3  invalid input"), "{help}");
}

#[test]
fn membership_commands_check_their_input() {
    let m = Member::joined();
    let dir = tempfile::tempdir().expect("tempdir");
    // An applicant's identity file.
    let applicant = Member::new();
    let app_id = dir.path().join("applicant.json");
    std::fs::write(&app_id, applicant.ok(&["id", "--json"])).expect("write");
    let app = app_id.to_str().expect("utf8");

    let err = m.fails(&["member", "endorse", app], 3);
    assert!(err.contains("confirmation needed: run on a terminal, or pass --yes"), "{err}");
    let err = m.fails(&["member", "endorse", "/no/such/file.json", "--yes"], 3);
    assert!(err.contains("is neither an identity file nor a 64-hex-digit organisation key"), "{err}");
    let err = m.fails(&["member", "endorse", &"ab".repeat(32), "--yes"], 3);
    assert!(err.contains("--ods: required with an organisation key"), "{err}");
    let own = m.home.parent().expect("parent").join("id.json");
    let err = m.fails(&["member", "endorse", own.to_str().expect("utf8"), "--yes"], 3);
    assert!(err.contains("already a member") || err.contains("cannot endorse itself"), "{err}");

    m.ok(&["member", "endorse", app, "--yes", "--comment", "Known to us"]);
    let members = m.json(&["members"]);
    // A one-founder federation has an endorsement threshold of 1: the applicant is in.
    assert!(
        members["members"].as_array().expect("array").iter().any(|x| x["ods_code"] == "QWO" && x["founder"] == true)
    );
    assert_eq!(members["members"].as_array().expect("array").len(), 2);
    let err = m.fails(&["member", "endorse", app, "--yes"], 3);
    assert!(err.contains("already a member"), "{err}");

    let err = m.fails(&["member", "revoke", "NOPE", "--reason", "x", "--yes"], 4);
    assert!(err.contains("no member with ODS code or organisation key `NOPE`"), "{err}");
    let err = m.fails(&["member", "revoke", "QWO", "--yes"], 3);
    assert!(err.contains("--reason: is required"), "{err}");
    let err = m.fails(&["member", "revoke", "QWO", "--reason", "x", "--yes"], 3);
    assert!(err.contains("cannot revoke itself"), "{err}");

    let err = m.fails(&["node", "add", "xyz"], 3);
    assert!(err.contains("is not a node key"), "{err}");
    let err = m.fails(&["node", "retire", "ffff", "--reason", "lost", "--yes"], 4);
    assert!(err.contains("no node of QWO starts with `ffff`"), "{err}");
}

#[test]
fn a_second_node_is_certified_installed_and_retired() {
    let m = Member::joined();
    let dir = tempfile::tempdir().expect("tempdir");
    let second = Member { home: dir.path().join("second"), _dir: dir };
    let init = second.json(&["node", "init"]);
    let key = init["node_key"].as_str().expect("key").to_string();
    let err = second.fails(&["status"], 6);
    assert!(err.contains("waiting for its certificate"), "{err}");
    let bundle = second.home.parent().expect("parent").join("bundle.json");
    m.ok(&["node", "add", &key, "--out", bundle.to_str().expect("utf8")]);
    // A bundle for another key is refused.
    let third_dir = tempfile::tempdir().expect("tempdir");
    let third = Member { home: third_dir.path().join("third"), _dir: third_dir };
    third.ok(&["node", "init"]);
    let err = third.fails(&["node", "install", bundle.to_str().expect("utf8")], 3);
    assert!(err.contains("but this home's node key is"), "{err}");
    second.ok(&["node", "install", bundle.to_str().expect("utf8")]);
    assert_eq!(second.json(&["id"])["node_key"], key);
    assert_eq!(second.json(&["id"])["ods_code"], "QWO");
    // The second node writes (offline) as the same organisation.
    second.ok(REVIEW);
    // It has no organisation key: organisation commands are for the first machine.
    let err = second.fails(&["node", "add", &"ab".repeat(32)], 3);
    assert!(err.contains("has no organisation key"), "{err}");
    // Retiring it needs its certificate known to this node, which sync would bring: here the
    // first node has not met it, so it is not found.
    let err = m.fails(&["node", "retire", &key[..8], "--reason", "lost", "--yes"], 4);
    assert!(err.contains("no node of QWO starts with"), "{err}");
    // Retire the first node itself: it can write no more.
    let own = m.json(&["id"])["node_key"].as_str().expect("key").to_string();
    m.ok(&["node", "retire", &own[..10], "--reason", "Decommissioned", "--yes"]);
    let err = m.fails(REVIEW, 3);
    assert!(err.contains("can no longer write") && err.contains("retired"), "{err}");
}

/// The provider signs a reply offline: `keygen` and `sign` need no home (the home named does
/// not exist, and is not created), no network and no data beyond the review id and text. The
/// file names its format, key and signature; changed after signing, it is refused by name
/// before anything else is looked at.
#[test]
fn a_provider_signs_a_reply_offline_and_a_changed_file_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nowhere = dir.path().join("no-home-here");
    let csx = || {
        let mut c = assert_cmd::Command::cargo_bin("csx").expect("binary");
        c.env("CSX_HOME", &nowhere).env_remove("CSX_PASSPHRASE").arg("--no-input");
        c
    };
    let key = dir.path().join("acme-reply.key");
    let out = csx().args(["provider-reply", "keygen", "--out"]).arg(&key).arg("--json").output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let public = made["public_key"].as_str().expect("public key").to_string();
    assert_eq!(public.len(), 64);
    let review = "52b849ce94c8406f80d144685cdb45f4c295fe3b6cf03721a87bf32293f78c85";
    let reply = dir.path().join("reply.json");
    let out = csx()
        .args(["provider-reply", "sign", "--key"])
        .arg(&key)
        .args(["--review", review, "--text", "Thank you: the data feed was fixed in May.", "--out"])
        .arg(&reply)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!nowhere.exists(), "signing touched no home");
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&reply).expect("file")).expect("json");
    assert_eq!(file["format"], "csx-provider-reply-v1");
    assert_eq!(file["review"], review);
    assert_eq!(file["provider_key"], public.as_str());
    assert_eq!(file["text"], "Thank you: the data feed was fixed in May.");
    // A short id is refused: no home is read to complete a prefix.
    let out = csx()
        .args(["provider-reply", "sign", "--key"])
        .arg(&key)
        .args(["--review", &review[..12], "--text", "x"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a full record id"));
    // Changed after signing: refused by name.
    let changed = std::fs::read_to_string(&reply).expect("file").replace("fixed in May", "never broken");
    std::fs::write(&reply, changed).expect("write");
    let out = csx().args(["provider-reply", "publish"]).arg(&reply).output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the provider's signature does not verify (bad_provider_signature)"), "{err}");
}

/// A daemon that answers with a reply of another kind than the request calls for (as one of
/// another csx version might) is named, request and reply, with exit code 1; its own errors keep
/// their exit codes.
#[test]
fn a_reply_of_the_wrong_kind_names_the_request_and_the_reply() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    let m = Member::new();
    let listener = UnixListener::bind(m.home.join("control.sock")).expect("bind a fake control socket");
    std::fs::write(m.home.join("control.token"), "token").expect("token");
    // Answers each request line with the next reply; a connection that sends nothing (the
    // client's probe) gets nothing.
    let replies = [
        r#"{"ok":{"reply":"stopping"}}"#,
        r#"{"error":{"kind":"not_found","message":"no record has id prefix abcd"}}"#,
    ];
    let server = std::thread::spawn(move || {
        let mut next = replies.iter();
        for stream in listener.incoming() {
            let mut stream = stream.expect("accept");
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).expect("read") == 0 {
                continue;
            }
            assert!(line.contains(r#""token":"token""#), "the client sends the token: {line}");
            let Some(reply) = next.next() else { return };
            stream.write_all(format!("{reply}\n").as_bytes()).expect("reply");
            if next.len() == 0 {
                return;
            }
        }
    });
    let err = m.fails(&["status"], 1);
    assert!(err.contains("asked the node for `status` but it answered `stopping`"), "{err}");
    assert!(err.contains(env!("CARGO_PKG_VERSION")), "names this csx's version: {err}");
    let err = m.fails(&["record", "show", "abcd"], 4);
    assert!(err.contains("no record has id prefix abcd"), "{err}");
    server.join().expect("the fake daemon answered both");
}
