//! A battery of malformed human input — flags, spreadsheet files, JSON — each refused with the
//! right exit code and a message naming the problem, and nothing written.

mod common;

use common::*;

/// Flags: (the command with one flag changed or removed, words the message must hold).
fn flag_cases() -> Vec<(Vec<String>, Vec<&'static str>)> {
    let price = |flag: &str, value: &str| with(PRICE, flag, value);
    let review = |flag: &str, value: &str| with(REVIEW, flag, value);
    let motion: &[&str] = &[
        "motion",
        "propose",
        "--title",
        "Notice",
        "--text",
        "At most six months.",
        "--support-needed",
        "3",
        "--closes-on",
        "in 90 days",
    ];
    let switch: &[&str] = &[
        "switch",
        "add",
        "--service-line",
        "CHC",
        "--from",
        "0DE",
        "--to",
        "in_house",
        "--effective",
        "01/10/2024",
        "--reasons",
        "cost",
    ];
    let mut per_unit = with(PRICE, "--pricing-model", "per_unit");
    per_unit.extend(["--unit-name".to_string(), "payslip".to_string()]);
    vec![
        // Money: the forms that were read wrongly or refused with the wrong reason.
        (price("--annual-value", "£1,2,3"), vec!["--annual-value", "grouped wrongly", "if you mean £123"]),
        (price("--annual-value", "1,2,3"), vec!["--annual-value", "grouped wrongly"]),
        (price("--annual-value", "12,34,567"), vec!["groups of three"]),
        (price("--annual-value", "1.234,56"), vec!["European way of writing £1,234.56", "write 1,234.56"]),
        (price("--annual-value", "12,50"), vec!["European way of writing £12.50"]),
        (price("--annual-value", "1.234.567"), vec!["European way of writing £1,234,567.00"]),
        (price("--annual-value", "1.234"), vec!["three decimal places", "write 1,234"]),
        (price("--annual-value", "-5"), vec!["--annual-value", "is negative"]),
        (price("--annual-value", "(£5,000)"), vec!["is negative"]),
        (price("--annual-value", "$500"), vec!["not in pounds"]),
        (price("--annual-value", "lots"), vec!["not an amount of money", "250k"]),
        (price("--annual-value", "2000000000"), vec!["more than the limit of £1,000,000,000"]),
        (price("--annual-value", "0"), vec!["--annual-value: must be more than £0"]),
        (price("--annual-value", "1,234 567"), vec!["mixes commas and spaces"]),
        (price("--annual-value", "1.2345678k"), vec!["not a whole number of pence"]),
        // Years and dates.
        (price("--year", "2024/26"), vec!["--year", "second year must follow the first"]),
        (price("--year", "FY24"), vec!["--year", "starting or the year ending", "2023/24 or 2024/25"]),
        (price("--year", "24"), vec!["two-digit year"]),
        (price("--year", "1999"), vec!["between 2000 and 2100"]),
        (price("--contract-start", "04/15/2024"), vec!["--contract-start", "looks like a US date", "15/04/2024"]),
        (price("--contract-start", "01/04/24"), vec!["two-digit year", "01/04/2024"]),
        (price("--contract-start", "2024-02-30"), vec!["February has no day 30"]),
        (price("--contract-start", "31/04/2024"), vec!["April has no day 31"]),
        (price("--contract-start", "45383"), vec!["serial number"]),
        (price("--contract-start", "01/04/2024 09:30"), vec!["time of day"]),
        (price("--contract-start", "2024/04/01"), vec!["is not a date", "01/04/2024"]),
        // Percentages and whole numbers: ranges in words, not 1..=5.
        (price("--efficiency", "0.04"), vec!["--efficiency", "could be 0.04% or a fraction meaning 4%"]),
        (price("--efficiency", "60%"), vec!["more than 50%"]),
        (price("--efficiency", "4,5%"), vec!["comma", "4.5%"]),
        (price("--efficiency", "4.125%"), vec!["more than 2 decimal places"]),
        (price("--notice-months", "48"), vec!["--notice-months: 48 is out of range: give a whole number from 0 to 36"]),
        (price("--notice-months", "3.5"), vec!["decimal point"]),
        (price("--contract-months", "0"), vec!["from 1 to 120"]),
        (price("--population-covered", "2,40,000"), vec!["--population-covered", "not a whole number"]),
        (price("--unit-count", "many"), vec!["--unit-count", "not a whole number"]),
        // Choices, yes/no, required fields, references.
        (price("--vat-included", "maybe"), vec!["--vat-included: `maybe` is not yes or no"]),
        (price("--pricing-model", "barter"), vec!["is not one of: fixed, per head, per unit, time and materials"]),
        (price("--kpi-basis", "vibes"), vec!["--kpi-basis", "is not one of: outcome, process, mixed, none"]),
        (price("--buying-route", "handshake"), vec!["--buying-route", "direct award"]),
        (price("--pricing-model", "per_unit"), vec!["--unit-name: is required when pricing_model is per_unit"]),
        (per_unit, vec!["--unit-count"]),
        (price("--provider", "NOPE"), vec!["--provider: `NOPE` is not a known provider"]),
        (
            price("--service-line", "XYZ"),
            vec!["--service-line: `XYZ` is not a service line", "BI (Business intelligence)"],
        ),
        (without(PRICE, "--vat-included"), vec!["--vat-included: is required"]),
        (review("--quality", "7"), vec!["--quality: 7 is out of range: give a whole number from 1 to 5"]),
        (review("--would-recommend", "11"), vec!["from 0 to 10"]),
        (review("--still-customer", "maybe"), vec!["--still-customer", "is not yes or no"]),
        (review("--comment", "\u{1b}[2Jgotcha"), vec!["--comment: must not contain control characters"]),
        (review("--year", "twenty"), vec!["--year", "not a financial year"]),
        (with(motion, "--closes-on", "2020-01-01"), vec!["--closes-on: 2020-01-01 is in the past"]),
        (with(motion, "--closes-on", "in a while"), vec!["--closes-on", "in 90 days"]),
        (with(motion, "--support-needed", "0"), vec!["--support-needed", "from 1 to 10000"]),
        (with(motion, "--term", "notice=3"), vec!["--term: `notice=3` is not a contract term"]),
        (with(switch, "--reasons", "boredom"), vec!["--reasons: `boredom` is not one of: cost, quality"]),
        (with(switch, "--to", "0DE"), vec!["--to: must differ from `from`"]),
        (with(switch, "--effective", "13/13/2024"), vec!["--effective", "is not a date"]),
        (with(switch, "--exit-costs", "-40k"), vec!["--exit-costs", "is negative"]),
        (
            vec!["prices".into(), "--service-line".into(), "XYZ".into()],
            vec!["--service-line: `XYZ` is not a service line"],
        ),
        (vec!["prices".into(), "--year".into(), "2024/26".into()], vec!["--year", "second year must follow"]),
        (vec!["switches".into(), "--from".into(), "shared:".into()], vec!["--from"]),
        (vec!["review".into(), "list".into(), "--service-line".into(), "nope".into()], vec!["not a service line"]),
    ]
}

#[test]
fn malformed_flags_are_refused_by_name_and_nothing_is_written() {
    let m = Member::joined();
    let cases = flag_cases();
    assert!(cases.len() >= 60, "{} flag cases", cases.len());
    for (args, words) in &cases {
        m.refused(&strs(args), 3, words);
    }
    // Usage errors are clap's, exit 2.
    m.refused(&["prices", "--width", "wide"], 2, &["--width"]);
    m.refused(&["price", "add", "--annual-vaule", "5"], 2, &["--annual-vaule"]);
}

#[test]
fn an_outcome_of_a_switch_refuses_bad_changes() {
    let m = Member::joined();
    let sw = m.json(&[
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
        "cost",
    ]);
    let id = sw[0]["id"].as_str().expect("id").to_string();
    for (flag, value, words) in [
        ("--satisfaction-change", "5", vec!["--satisfaction-change", "from -4 to 4"]),
        ("--cost-change", "1.234,00", vec!["--cost-change", "European"]),
        ("--cost-change", "lots", vec!["--cost-change", "not an amount of money"]),
    ] {
        m.refused(&["switch", "outcome", "--switch", &id, flag, value], 3, &words);
    }
    m.refused(&["switch", "outcome", "--switch", "ffffffff", "--cost-change", "5"], 3, &["--switch", "no record id"]);
}

const HEADER: &str = "provider,service_line,year,annual_value,vat_included,pricing_model\n";

#[test]
fn malformed_spreadsheets_are_refused_by_row_and_column_and_nothing_is_written() {
    let m = Member::joined();
    let price = |name: &str, body: &str| m.file(name, format!("{HEADER}{body}").as_bytes());
    // Each: file, words. Rows are numbered as Excel shows them: the header is row 1.
    let cases: Vec<(String, Vec<&str>)> = vec![
        (price("money.csv", "0DE,BI,2024,100000,no,fixed\n0DE,BI,2023,\"£1,2,3\",no,fixed\n"), vec!["row 3: annual_value", "grouped wrongly"]),
        (price("euro.csv", "0DE,BI,2024,\"1.234,56\",no,fixed\n"), vec!["row 2: annual_value", "European"]),
        (price("negative.csv", "0DE,BI,2024,-5,no,fixed\n"), vec!["row 2: annual_value: `-5` is negative"]),
        (price("yesno.csv", "0DE,BI,2024,5,perhaps,fixed\n"), vec!["row 2: vat_included: `perhaps` is not yes or no"]),
        (price("year.csv", "0DE,BI,2024/26,5,no,fixed\n"), vec!["row 2: year", "second year must follow"]),
        (price("missing.csv", "0DE,BI,2024,5,,fixed\n"), vec!["row 2: vat_included: is required"]),
        (price("line.csv", "0DE,NOPE,2024,5,no,fixed\n"), vec!["row 2: service_line: `NOPE` is not a service line"]),
        (price("provider.csv", "0DE,BI,2024,5,no,fixed\nNOPE,BI,2024,5,no,fixed\n"), vec!["row 3: provider: `NOPE` is not a known provider"]),
        (price("stray.csv", "0DE,BI,2024,5,no,fixed,oops\n"), vec!["row 2", "`oops` is in column 7 (G), which has no header"]),
        (
            m.file("usdate.csv", b"provider,service_line,year,annual_value,vat_included,pricing_model,contract_start\n0DE,BI,2024,5,no,fixed,04/15/2024\n"),
            vec!["row 2: contract_start", "looks like a US date"],
        ),
        (m.file("column.csv", b"provider,colour\n0DE,blue\n"), vec!["`colour` is not a column of this kind; columns are:"]),
        (m.file("gap.csv", b"provider,,year\n0DE,,2024\n"), vec!["column 2 (B) has no header"]),
        (m.file("twice.csv", b"provider,Value,Annual Value\n0DE,1,2\n"), vec!["columns `Value` and `Annual Value` both mean annual_value"]),
        (m.file("empty.csv", b""), vec!["the file is empty", "nothing was imported"]),
        (m.file("header.csv", HEADER.as_bytes()), vec!["has no rows to import"]),
        (m.file("ambiguous.csv", b"provider,year;scope\n"), vec!["--delimiter"]),
        (m.file("many.csv", format!("{HEADER}{}", "0DE,BI,2024,x,no,fixed\n".repeat(25)).as_bytes()), vec!["25 of 25 rows", "… and 5 more"]),
    ];
    for (file, words) in &cases {
        m.refused(&["import", file, "--kind", "price"], 3, words);
    }
    let motion = m.file("motion.csv", b"title,text,support_needed,closes_on\nA,B,3,in 90 days\nC,D,3,2020-01-01\n");
    m.refused(
        &["import", &motion, "--kind", "motion"],
        3,
        &["1 of 2 rows", "row 3: closes_on: 2020-01-01 is in the past"],
    );
    m.refused(
        &["import", &m.file("missing-file.csv", b"x"), "--kind", "price", "--format", "json"],
        3,
        &["not valid JSON"],
    );
    m.refused(&["import", "/no/such/file.csv", "--kind", "price"], 4, &["cannot open"]);
    m.refused(
        &["import", &m.file("prices.txt.bak", b"x"), "--kind", "price"],
        3,
        &["pass --format csv or --format json"],
    );
}

#[test]
fn malformed_json_is_refused_by_item_and_nothing_is_written() {
    let m = Member::joined();
    let cases: Vec<(&str, &[u8], Vec<&str>)> = vec![
        ("broken.json", b"[{\"provider\": \"0DE\",", vec!["is not valid JSON"]),
        ("object.json", b"{\"provider\": \"0DE\"}", vec!["must be a JSON array of objects"]),
        ("item.json", b"[{\"provider\": \"0DE\"}, 7]", vec!["item 2: is not a JSON object"]),
        ("key.json", b"[{\"provider\": \"0DE\", \"colour\": \"blue\"}]", vec!["item 1: `colour` is not a column"]),
        (
            "rating.json",
            b"[{\"provider\": \"0DE\", \"service_line\": \"BI\", \"year\": 2024, \"quality\": 9, \"still_customer\": true, \"reviewer_role\": \"Head of BI\"}]",
            vec!["item 1: quality: 9 is out of range: give a whole number from 1 to 5"],
        ),
        (
            "year.json",
            b"[{\"provider\": \"0DE\", \"service_line\": \"BI\", \"year\": \"FY24\", \"quality\": 4, \"still_customer\": \"yes\", \"reviewer_role\": \"Head\"}]",
            vec!["item 1: year", "starting or the year ending"],
        ),
    ];
    for (name, bytes, words) in cases {
        let file = m.file(name, bytes);
        m.refused(&["import", &file, "--kind", "review"], 3, &words);
    }
}

#[test]
fn undoing_what_is_not_there_is_refused() {
    let m = Member::joined();
    m.refused(&["import", "undo", "last"], 4, &["no import has been made from this node"]);
    m.refused(&["import", "undo", "99"], 4, &["there is no import batch 99"]);
    m.refused(&["import", "undo", "abc"], 3, &["`abc` is not an import batch"]);
    m.refused(&["import", "--kind", "price"], 2, &["FILE"]);
}
