//! Importing spreadsheets as Excel saves them, duplicates on re-import, and undoing a batch.

mod common;

use common::*;

/// What Excel on a UK Windows desktop writes for "CSV (Comma delimited)" when the list
/// separator is `;`: Windows-1252 (£ is byte 0xA3), CRLF line ends, headers as people title
/// columns, UK dates, financial years as 24/25, trailing empty columns and a blank last row.
fn excel_file() -> Vec<u8> {
    let text = "Provider;Service Line;Financial Year;Annual Value (£);VAT Included;Pricing Model;Contract Start;Notice Period;Efficiency;;\r\n\
                0DE;BI;2024/25;£1,680,000;No;Fixed;01/04/2024;6;4%;;\r\n\
                NHS North of England CSU (NECS);Contracting;24/25;£250k;Yes;Per head;1/4/2024;;;;\r\n\
                0CX;Medicines optimisation;FY24/25;£ 410,000.50;no;time and materials;15/10/2024;3;2.5%;;\r\n\
                ;;;;;;;;;;\r\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable);
    assert!(bytes.contains(&0xa3) && std::str::from_utf8(&bytes).is_err(), "not UTF-8, as Excel writes it");
    bytes.into_owned()
}

#[test]
fn an_excel_export_with_pound_signs_semicolons_and_uk_dates_imports() {
    let m = Member::joined();
    let file = m.file("contracts.csv", &excel_file());
    let before = m.record_count();
    // A dry run reads and checks everything, and writes nothing.
    let dry = m.json(&["import", &file, "--kind", "price", "--dry-run"]);
    assert_eq!(dry["encoding"], "Windows-1252");
    assert_eq!(dry["delimiter"], ";");
    assert_eq!(dry["written_rows"], serde_json::json!([2, 3, 4]), "rows as Excel numbers them");
    assert_eq!(dry["blank_rows"], 1);
    assert_eq!(m.record_count(), before);
    let text = m.ok(&["import", &file, "--kind", "price", "--dry-run"]);
    assert!(
        text.contains("Windows-1252") && text.contains("semicolons") && text.contains("would be written"),
        "{text}"
    );

    let done = m.json(&["import", &file, "--kind", "price"]);
    assert_eq!(done["batch"]["id"], 1);
    assert_eq!(done["batch"]["records"], 3);
    assert_eq!(m.record_count(), before + 3);
    let prices = m.json(&["price", "list"]);
    let by = |provider: &str| {
        prices.as_array().expect("array").iter().find(|p| p["body"]["provider"] == provider).expect("imported")["body"]
            .clone()
    };
    let agem = by("0DE");
    assert_eq!(agem["annual_value_pence"], 168_000_000);
    assert_eq!(agem["year"], 2024);
    assert_eq!(agem["contract_start"], "2024-04-01");
    assert_eq!(agem["notice_months"], 6);
    assert_eq!(agem["efficiency_bp"], 400);
    assert_eq!(agem["vat_included"], false);
    let necs = by("0AR");
    assert_eq!(
        (necs["service_line"].as_str(), necs["annual_value_pence"].as_u64()),
        (Some("CONTRACT"), Some(25_000_000))
    );
    assert_eq!(necs["pricing_model"], "per_head");
    assert_eq!(necs["vat_included"], true);
    let mlcsu = by("0CX");
    assert_eq!(mlcsu["annual_value_pence"], 41_000_050);
    assert_eq!(mlcsu["pricing_model"], "time_and_materials");
    assert_eq!((mlcsu["contract_start"].as_str(), mlcsu["efficiency_bp"].as_u64()), (Some("2024-10-15"), Some(250)));
    // What is listed shows the £ as £ (and the CSV export carries a byte-order mark for Excel).
    let csv = m.cmd(&["price", "list", "--csv"]).output().expect("runs").stdout;
    assert!(csv.starts_with(b"\xef\xbb\xbf"), "UTF-8 byte-order mark");
    let csv = String::from_utf8(csv[3..].to_vec()).expect("utf8");
    assert!(csv.starts_with("id,member,node,record,written,kind,retracted_by,"), "{csv}");
    assert!(csv.contains("1680000.00") && csv.contains(",BI,"), "{csv}");
}

#[test]
fn importing_the_same_file_again_skips_what_is_held_and_undo_withdraws_a_batch_in_one_step() {
    let m = Member::joined();
    let examples = examples().join("prices.csv");
    let file = examples.to_str().expect("utf8");
    let before = m.record_count();
    let first = m.json(&["import", file, "--kind", "price"]);
    assert_eq!(first["batch"]["records"], 10);
    assert_eq!(m.record_count(), before + 10);

    // Again, three times: every row is skipped as a duplicate of a record held, nothing written.
    for _ in 0..3 {
        let again = m.json(&["import", file, "--kind", "price"]);
        assert!(again["batch"].is_null(), "{again}");
        assert_eq!(again["duplicates"].as_array().expect("array").len(), 10);
        assert!(again["duplicates"][0]["same_as"].as_str().expect("text").starts_with("record "));
    }
    assert_eq!(m.record_count(), before + 10);
    let text = m.ok(&["import", file, "--kind", "price"]);
    assert!(
        text.contains("Skipped 10 rows identical to what you already hold") && text.contains("--allow-duplicates"),
        "{text}"
    );

    // Two identical rows in one file: the second is reported as the same as the first.
    let twice = m.file("twice.csv", b"provider,service_line,year,annual_value,vat_included,pricing_model\n0DF,IT,2025,5,no,fixed\n0DF,IT,2025,5,no,fixed\n");
    let t = m.json(&["import", &twice, "--kind", "price"]);
    assert_eq!(t["duplicates"], serde_json::json!([{"row": 3, "same_as": "row 2"}]));
    assert_eq!(t["batch"]["records"], 1);

    // --allow-duplicates writes them anyway, as a batch of its own.
    let forced = m.json(&["import", file, "--kind", "price", "--allow-duplicates"]);
    assert_eq!(forced["batch"]["records"], 10);
    assert_eq!(forced["batch"]["id"], 3);
    let batches = m.json(&["import", "list"]);
    assert_eq!(batches.as_array().expect("array").len(), 3);

    // Undo the forced batch: one signed retraction withdraws all ten.
    let undone = m.json(&["import", "undo", "last", "--reason", "imported twice"]);
    assert_eq!(undone["withdrawn"], 10);
    assert_eq!(undone["retractions"].as_array().expect("array").len(), 1, "one signed step");
    let retraction = m.json(&["record", "show", undone["retractions"][0].as_str().expect("id")]);
    assert_eq!(retraction["body"]["kind"], "retract");
    assert_eq!(retraction["body"]["also"].as_array().expect("names").len(), 9);
    assert_eq!(retraction["body"]["reason"], "imported twice");
    let listed = m.json(&["price", "list", "--all"]);
    let withdrawn = listed.as_array().expect("array").iter().filter(|p| p["retracted_by"].is_string()).count();
    assert_eq!(withdrawn, 10);
    let err = m.fails(&["import", "undo", "3"], 3);
    assert!(err.contains("already withdrawn"), "{err}");
    assert_eq!(m.json(&["import", "list"])[0]["undone_by"].as_array().expect("array").len(), 1);

    // The first batch's records still count; undo it too, and the market no longer sees them.
    m.ok(&["import", "undo", "1"]);
    let current = m.json(&["price", "list", "--all"]);
    assert!(
        current
            .as_array()
            .expect("array")
            .iter()
            .filter(|p| p["body"]["provider"] != "0DF")
            .all(|p| p["retracted_by"].is_string())
    );
    // Withdrawn records are no longer duplicates: the file imports again.
    let back = m.json(&["import", file, "--kind", "price"]);
    assert_eq!(back["batch"]["records"], 10);
}

#[test]
fn a_json_file_imports_with_numbers_and_booleans() {
    let m = Member::joined();
    let before = m.record_count();
    let reviews = examples().join("reviews.json");
    let done = m.json(&["import", reviews.to_str().expect("utf8"), "--kind", "review"]);
    assert_eq!(done["batch"]["records"], 2);
    assert_eq!(m.record_count(), before + 2);
}

#[test]
fn a_large_import_prints_a_summary_not_a_row_per_record() {
    let m = Member::joined();
    let mut text = String::from("provider,service_line,year,annual_value,vat_included,pricing_model\n");
    for i in 0..2_000 {
        text.push_str(&format!("0DE,BI,{},{},no,fixed\n", 2000 + i % 100, 100_000 + i));
    }
    let file = m.file("large.csv", text.as_bytes());
    let out = m.ok(&["import", &file, "--kind", "price"]);
    assert!(out.contains("Imported 2,000 price records as batch 1"), "{out}");
    assert!(out.lines().count() < 30, "a summary, not 2,000 lines: {out}");
    assert!(out.contains("… and 1,990 more"), "{out}");
}
