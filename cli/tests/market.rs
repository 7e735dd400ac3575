//! Snapshots of what buyers see: each market command's table and `--json`, over a fixed sample
//! federation (`csx demo sandbox`, seed 7, 20 members) at a fixed time (`CSX_NOW`). A change in
//! a figure or a layout shows up as a snapshot diff to review (`cargo insta review`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

const NOW: &str = "2025-06-01T09:00:00Z";

fn csx(home: &Path) -> Command {
    let mut c = Command::cargo_bin("csx").expect("binary");
    c.env("CSX_HOME", home).env("CSX_NOW", NOW).env_remove("CSX_PASSPHRASE").arg("--no-input");
    c
}

/// The sample federation, built once for the whole test binary.
fn sandbox() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("sandbox");
        let out = csx(&home)
            .args(["demo", "sandbox", home.to_str().expect("utf8"), "--seed", "7", "--members", "20", "--json"])
            .output()
            .expect("runs");
        assert!(out.status.success(), "sandbox: {}", String::from_utf8_lossy(&out.stderr));
        (dir, home)
    })
    .1
}

fn run(args: &[&str]) -> String {
    let out = csx(sandbox()).args(args).output().expect("runs");
    assert!(out.status.success(), "csx {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&run(&a)).expect("JSON output")
}

/// Snapshots the table and the JSON of one command.
fn both(name: &str, args: &[&str]) -> Value {
    insta::assert_snapshot!(format!("{name}_table"), run(args));
    let mut a = args.to_vec();
    a.push("--json");
    let text = run(&a);
    insta::assert_snapshot!(format!("{name}_json"), text);
    serde_json::from_str(&text).expect("JSON output")
}

#[test]
fn the_sandbox_is_the_same_every_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("again");
    let out = csx(&home)
        .args(["demo", "sandbox", home.to_str().expect("utf8"), "--seed", "7", "--members", "20", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let again: Value = serde_json::from_slice(&out.stdout).expect("json");
    let status = |home: &Path| -> Value {
        let out = csx(home).args(["status", "--json"]).output().expect("runs");
        serde_json::from_slice(&out.stdout).expect("json")
    };
    assert_eq!(again["records"], 944, "904 market records and each member's certificate and profile");
    assert_eq!(status(&home)["heads_digest"], status(sandbox())["heads_digest"], "same seed, same time, same records");
    // Refuses to build over an existing home.
    let out = csx(&home).args(["demo", "sandbox", home.to_str().expect("utf8")]).output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
}

#[test]
fn prices_for_a_service_line() {
    let v = both("prices_bi", &["prices", "--service-line", "BI"]);
    let cells = v["answer"]["cells"].as_array().expect("cells");
    assert!(cells.iter().all(|c| c["service_line"] == "BI"));
    // Every cell shown rests on at least k = 3 members; every suppressed one says why.
    for c in cells {
        match c["disclosure"]["status"].as_str() {
            Some("shown") => assert!(c["members"].as_u64() >= Some(3) && c["stats"].is_object()),
            _ => assert!(c["stats"].is_null()),
        }
    }
    assert_eq!(v["provenance"]["mode"], "offline");
}

#[test]
fn prices_across_lines_and_as_csv() {
    insta::assert_snapshot!("prices_all_table", run(&["prices", "--year", "2024/25"]));
    let csv = run(&["prices", "--service-line", "FIN", "--csv"]);
    insta::assert_snapshot!("prices_fin_csv", csv);
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(rdr.headers().expect("header").get(0), Some("service_line"));
    assert!(rdr.records().all(|r| r.expect("row").get(0) == Some("FIN")));
}

#[test]
fn a_provider_filter_shows_the_whole_market_beside_the_provider() {
    // The "all providers" cells beside Optum's are the whole market's, as unfiltered.
    let v = both("prices_contract_0dg", &["prices", "--service-line", "CONTRACT", "--provider", "0DG"]);
    let whole = json(&["prices", "--service-line", "CONTRACT"]);
    for c in v["answer"]["cells"].as_array().expect("cells") {
        assert!(c["provider"] == "0DG" || c["provider"].is_null(), "{c}");
        assert!(whole["answer"]["cells"].as_array().expect("cells").contains(c), "a filter changed a cell: {c}");
    }
}

#[test]
fn import_warns_of_rows_that_replace_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let out =
        csx(&home).args(["demo", "sandbox", home.to_str().expect("utf8"), "--members", "3"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.path().join("prices.csv");
    std::fs::write(
        &file,
        "provider,service_line,year,annual_value,vat_included,pricing_model,contract_ref\n\
         0DE,HR,2025,100000,no,fixed,\n\
         0DE,HR,2025,120000,no,fixed,\n\
         0DE,HR,2025,30000,no,fixed,Lot 2\n",
    )
    .expect("write");
    let out = csx(&home).args(["import", file.to_str().expect("utf8"), "--kind", "price"]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: rows 2 and 3 are both prices for HR from 0DE in 2025/26 with no contract reference: row 3 will replace row 2"),
        "{err}"
    );
    assert!(!err.contains("row 4 will replace"), "a lot with its own reference replaces nothing: {err}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Imported 3 price records"), "{said}");
}

#[test]
fn provider_scorecards() {
    let v = both("providers_contract", &["providers", "--service-line", "CONTRACT"]);
    let cards = v["answer"]["scorecards"].as_array().expect("scorecards");
    let ranks: Vec<u64> = cards.iter().filter_map(|c| c["rank"].as_u64()).collect();
    assert_eq!(ranks, (1..=ranks.len() as u64).collect::<Vec<_>>(), "ranked best first");
    both("provider_0de", &["provider", "show", "0DE"]);
}

#[test]
fn switching_flows() {
    let v = both("switches_from_0de", &["switches", "--from", "0DE"]);
    for s in v["answer"]["switches"].as_array().expect("switches") {
        assert_eq!(s["from"]["party"], "0DE");
    }
    insta::assert_snapshot!("switches_contract_csv", run(&["switches", "--service-line", "CONTRACT", "--csv"]));
}

#[test]
fn motions_and_one_motion() {
    let v = both("motions", &["motions"]);
    let open = json(&["motions", "--status", "open"]);
    let open = open["answer"]["motions"].as_array().expect("motions");
    assert!(!open.is_empty() && open.iter().all(|m| m["status"] == "open"));
    let needed: Vec<u64> = open.iter().map(|m| m["still_needed"].as_u64().expect("n")).collect();
    assert!(needed.windows(2).all(|w| w[0] <= w[1]), "closest to carrying first: {needed:?}");
    let id = v["answer"]["motions"][0]["id"].as_str().expect("id");
    both("motion_show", &["motion", "show", &id[..8]]);
}

#[test]
fn the_market_report() {
    insta::assert_snapshot!("report_markdown", run(&["report"]));
    insta::assert_snapshot!("report_csv", run(&["report", "--format", "csv"]));
    let text = run(&["report", "--json"]);
    insta::assert_snapshot!("report_json", text);
    let v: Value = serde_json::from_str(&text).expect("JSON output");
    assert_eq!(v["answer"]["lines"].as_array().map(Vec::len), Some(13), "every service line");
    // --out writes the same document to a file.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("market.md");
    run(&["report", "--out", out.to_str().expect("utf8")]);
    assert_eq!(std::fs::read_to_string(&out).expect("written"), run(&["report"]));
}

#[test]
fn bad_arguments_are_named() {
    let fails = |args: &[&str], code: i32, needle: &str| {
        let out = csx(sandbox()).args(args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "csx {args:?}: {err}");
        assert!(err.contains(needle), "csx {args:?}: `{needle}` not in {err}");
    };
    fails(&["prices", "--service-line", "XX"], 3, "--service-line: `XX` is not a service line");
    fails(&["prices", "--year", "24"], 3, "--year");
    fails(&["switches", "--from", "shared:"], 3, "--from");
    fails(&["provider", "show", "ZZZ"], 4, "no provider `ZZZ`");
    fails(&["motion", "show", "ab"], 3, "at least 4");
    fails(&["motion", "show", "abcdef"], 4, "no record id starts with `abcdef`");
    fails(&["motions", "--status", "pending"], 2, "pending");
    let mut c = csx(sandbox());
    let out = c.env("CSX_NOW", "yesterday").args(["prices"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CSX_NOW: `yesterday` is not a time"));
}

/// The amounts in a text, as printed: `£1.18`, `£1,680,000`, `£52k`, `-£4.5k`.
fn amounts(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices('£') {
        let tail = &text[i + '£'.len_utf8()..];
        let end =
            tail.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | 'k' | 'm'))).unwrap_or(tail.len());
        let amount = tail[..end].trim_end_matches(['.', ',']);
        found.insert(format!("£{amount}"));
    }
    found
}

/// Every table people read, at 80, 100 and 160 columns: no line is wider than the terminal and
/// every amount is whole (the same amounts as the unwrapped table, none split across lines).
#[test]
fn every_table_fits_80_100_and_160_columns_with_amounts_whole() {
    let motion = json(&["motions"])["answer"]["motions"][0]["id"].as_str().expect("id")[..8].to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["prices"],
        vec!["prices", "--service-line", "BI"],
        vec!["prices", "--provider", "0DE", "--year", "2024/25"],
        vec!["providers"],
        vec!["providers", "--service-line", "CONTRACT"],
        vec!["provider", "show", "0DE"],
        vec!["provider", "list"],
        vec!["switches"],
        vec!["switches", "--from", "0DE"],
        vec!["motions"],
        vec!["motion", "show", &motion],
        vec!["report"],
        vec!["members"],
        vec!["price", "list"],
        vec!["review", "list"],
        vec!["switch", "list"],
        vec!["switch", "outcomes"],
        vec!["motion", "list"],
        vec!["feed", "--limit", "30"],
        vec!["import", "list"],
        vec!["status"],
        vec!["federation", "show"],
        vec!["profile", "show"],
        vec!["id"],
    ];
    for args in &commands {
        let unwrapped = run(args);
        let whole = amounts(&unwrapped);
        for width in [80usize, 100, 160] {
            let mut a = args.clone();
            let w = width.to_string();
            a.extend(["--width", &w]);
            let text = run(&a);
            // From 100 columns every line fits (prose is wrapped too). At 80 a table of many
            // figures may be wider (amounts and words are never broken to fit); it must still
            // keep every amount whole.
            if width >= 100 {
                // The report is a Markdown document (for a file or a wiki): its table rows and
                // paragraphs stay on one line each, as Markdown wants.
                let markdown = args[0] == "report";
                for line in text.lines().filter(|_| !markdown) {
                    assert!(
                        line.chars().count() <= width,
                        "csx {} at {width} columns:\n{line}\n\n{text}",
                        args.join(" ")
                    );
                }
            }
            assert_eq!(amounts(&text), whole, "csx {} at {width}: an amount was split\n{text}", args.join(" "));
        }
    }
}

/// `csx renewals` and `csx tenders` against figures worked out by hand. A three-member sandbox
/// built on 2029-06-01, when every sample contract (started 2022–2024, at most 60 months) has
/// ended; this member imports a BI contract from 2027-10-01 for 48 months with 3 months' notice
/// (it ends 2031-10-01, in 2031/32 Q3; notice by 2031-07-01, 760 days away) and announces an
/// intent to re-procure BI from 2031-10-01.
#[test]
fn renewals_and_tenders_answer_with_figures_worked_out_by_hand() {
    const LATER: &str = "2029-06-01T09:00:00Z";
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let csx_at = || {
        let mut c = Command::cargo_bin("csx").expect("binary");
        c.env("CSX_HOME", &home).env("CSX_NOW", LATER).env_remove("CSX_PASSPHRASE").arg("--no-input");
        c
    };
    let ok = |args: &[&str]| -> String {
        let out = csx_at().args(args).output().expect("runs");
        assert!(out.status.success(), "csx {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8")
    };
    ok(&["demo", "sandbox", home.to_str().expect("utf8"), "--members", "3"]);
    let file = dir.path().join("prices.csv");
    std::fs::write(
        &file,
        "provider,service_line,year,annual_value,vat_included,pricing_model,contract_start,contract_months,notice_months\n\
         0DE,BI,2028,360000,no,fixed,2027-10-01,48,3\n",
    )
    .expect("write");
    ok(&["import", file.to_str().expect("utf8"), "--kind", "price"]);
    let renewals: Value = serde_json::from_str(&ok(&["renewals", "--json"])).expect("json");
    let a = &renewals["answer"];
    let yours = a["yours"].as_array().expect("yours");
    assert_eq!(yours.len(), 1, "only the imported contract is still running: {a}");
    assert_eq!(yours[0]["service_line"], "BI");
    assert_eq!(yours[0]["ends"], "2031-10-01");
    assert_eq!(yours[0]["notice_by"], "2031-07-01");
    assert_eq!(yours[0]["days_to_notice"], 760);
    // One member's contract ends in the quarter: the count is withheld (k = 3).
    let cells = a["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1, "{a}");
    assert_eq!(cells[0]["service_line"], "BI");
    assert!(cells[0]["members"].is_null());
    assert_eq!(cells[0]["withheld"], "fewer than 3 members");
    let table = ok(&["renewals"]);
    assert!(table.contains("2031-07-01"), "{table}");

    ok(&[
        "tender",
        "intend",
        "--service-line",
        "BI",
        "--from",
        "2031-10-01",
        "--value-band",
        "250k_to_500k",
        "--population",
        "312500",
    ]);
    let tenders: Value = serde_json::from_str(&ok(&["tenders", "--json"])).expect("json");
    let groups = tenders["answer"]["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{tenders}");
    let g = &groups[0];
    assert_eq!(g["group"], "BI 2031/32 Q3");
    assert_eq!(g["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(g["together"]["population"], 312_500);
    // One participant: its value (a band) is not shown on its own.
    assert!(g["together"]["value_low_pence"].is_null());
    // No other member's contract renews in the window (every sample contract has ended).
    assert_eq!(g["renewals"]["members"], 0);
    assert!(g["yours"]["intent"].is_string());
    let table = ok(&["tenders"]);
    assert!(
        table.contains("Business intelligence (BI), 2031/32 Q3 to 2031/32 Q4: 1 member together, population 312,500"),
        "{table}"
    );
}
