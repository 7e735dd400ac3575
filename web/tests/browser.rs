//! The dashboard in a real browser: headless Chromium driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`; `.ci/run` installs them). Signs in with a one-time link,
//! opens every page and checks each chart was drawn with the expected number of marks, runs
//! axe-core on every page (no serious or critical violations), records a review (a bad rating
//! first), supports a motion, uploads a CSV with a bad row, downloads a CSV, and saves a
//! screenshot of each page under target/screenshots/.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};

const AXE: &str = include_str!("vendor/axe-core/axe.min.js");

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn start_driver() -> Driver {
    let exe = find_program(&["chromedriver"])
        .expect("chromedriver is not installed: `apt-get install -y chromium chromium-driver` (.ci/run does this)");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver { child, port }
}

async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let chromium = find_program(&["chromium", "chromium-browser"])
        .expect("chromium is not installed: `apt-get install -y chromium`");
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
            }
        }
    });
    let serde_json::Value::Object(caps) = caps else { unreachable!("an object") };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// A picture of the whole page, saved as `name`.png.
async fn screenshot(c: &Client, name: &str) {
    let height = c
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .expect("height")
        .as_u64()
        .unwrap_or(1000);
    c.set_window_size(1280, (height as u32 + 140).min(9000)).await.expect("resize");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
    c.set_window_size(1280, 1000).await.expect("resize back");
}

/// Runs axe-core on the page; fails on any serious or critical violation.
async fn accessible(c: &Client, page: &str) {
    c.execute(&format!("{AXE}\nreturn true;"), vec![]).await.expect("axe loads");
    let result = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                 .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))))
                 .catch(e => done([{ id: 'axe-failed', impact: 'critical', help: String(e), nodes: [] }]));"#,
            vec![],
        )
        .await
        .expect("axe runs");
    let violations = result.as_array().cloned().unwrap_or_default();
    let bad: Vec<_> =
        violations.iter().filter(|v| matches!(v["impact"].as_str(), Some("serious") | Some("critical"))).collect();
    assert!(
        bad.is_empty(),
        "{page}: accessibility violations: {}",
        serde_json::to_string_pretty(&bad).unwrap_or_default()
    );
}

/// Checks every chart on the page was drawn: the number of marks it says, each visible.
async fn charts_drawn(c: &Client, page: &str) -> usize {
    let figures = c
        .execute(
            r#"return Array.from(document.querySelectorAll('figure[data-chart]')).map(f => {
                 const svg = f.querySelector('svg');
                 const r = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
                 const primary = svg ? svg.querySelectorAll('[data-mark="box"],[data-mark="band"],[data-mark="point"],[data-mark="cell"],[data-mark="flow"],[data-mark="bar"],[data-mark="progress"]').length : -1;
                 return { chart: f.dataset.chart, expected: Number(f.dataset.marks), drawn: primary, width: r.width, height: r.height,
                          rows: f.querySelectorAll('table tbody tr').length };
               });"#,
            vec![],
        )
        .await
        .expect("charts");
    let figures = figures.as_array().cloned().unwrap_or_default();
    for f in &figures {
        assert_eq!(
            f["drawn"], f["expected"],
            "{page}: chart {} drew another number of marks than it holds",
            f["chart"]
        );
        assert!(
            f["width"].as_f64().unwrap_or(0.0) > 100.0 && f["height"].as_f64().unwrap_or(0.0) > 20.0,
            "{page}: chart {} is not visible: {f}",
            f["chart"]
        );
        if f["chart"] != "motion" {
            assert!(f["rows"].as_u64().unwrap_or(0) > 0, "{page}: chart {} has no data table beneath", f["chart"]);
        }
    }
    figures.iter().map(|f| f["drawn"].as_u64().unwrap_or(0) as usize).sum()
}

async fn h1(c: &Client) -> String {
    c.find(Locator::Css("h1")).await.expect("a heading").text().await.expect("text")
}

async fn fill(c: &Client, id: &str, value: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap_or_else(|_| panic!("field {id}"));
    e.clear().await.expect("clear");
    e.send_keys(value).await.expect("type");
}

/// Clicks `e` and waits until the browser has loaded the next page.
async fn click_and_wait(c: &Client, e: fantoccini::elements::Element) {
    c.execute("window.__csxOld = true; return true;", vec![]).await.expect("mark the page");
    e.click().await.expect("click");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = c
            .execute("return window.__csxOld === undefined && document.readyState === 'complete';", vec![])
            .await
            .unwrap_or(serde_json::Value::Bool(false));
        if v == serde_json::Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "the next page did not load within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn submit(c: &Client, form_action: &str) {
    let button = c
        .find(Locator::Css(&format!("form[action='{form_action}'] button[type=submit]")))
        .await
        .unwrap_or_else(|_| panic!("the form posting to {form_action}"));
    click_and_wait(c, button).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_uses_the_dashboard_in_a_real_browser() {
    let fx = Fixture::new();
    let web = fx.serve().await;
    let base = web.base_url.clone();
    let driver = start_driver();
    let work = tempfile::tempdir().expect("tempdir");
    let downloads = work.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("downloads");
    let c = browser(&driver, &work.path().join("profile"), &downloads).await;

    // 1. A new editor signs in with the one-time link and sets a password.
    let link = fx.app.accounts.add("pat", csx_web::Role::Editor, common::NOW).expect("account");
    c.goto(&format!("{base}/signin/link/{}", link.0)).await.expect("link");
    assert_eq!(h1(&c).await, "Set your password");
    screenshot(&c, "set-password").await;
    accessible(&c, "set password").await;
    fill(&c, "password", "a long enough passphrase").await;
    fill(&c, "confirm", "a long enough passphrase").await;
    submit(&c, &format!("/signin/link/{}", link.0)).await;
    assert_eq!(h1(&c).await, "Where you stand", "signed in and on the overview");

    // 2. Every page: drawn charts, accessible, and a screenshot.
    let pages: &[(&str, &str, bool)] = &[
        ("/", "overview", true),
        ("/prices", "prices", true),
        ("/prices?service_line=BI", "prices-bi", true),
        ("/providers", "providers", true),
        ("/providers/0DE", "provider-0de", true),
        ("/switching", "switching", true),
        ("/motions", "motions", true),
        ("/record", "record", false),
        ("/record/review", "record-review", false),
        ("/record/price", "record-price", false),
        ("/record/switch", "record-switch", false),
        ("/record/motion", "record-motion", false),
        ("/import", "import", false),
        ("/records", "records", false),
        ("/account", "account", false),
        ("/help/api", "api-help", false),
    ];
    for (path, name, charts) in pages {
        c.goto(&format!("{base}{path}")).await.expect("page");
        let drawn = charts_drawn(&c, path).await;
        if *charts {
            assert!(drawn > 0, "{path}: no chart drawn");
        }
        screenshot(&c, name).await;
        accessible(&c, path).await;
    }

    // 3. A review with a bad rating is refused with an error summary; a good one is saved and
    //    shows on the providers page.
    c.goto(&format!("{base}/record/review")).await.expect("form");
    c.find(Locator::Id("provider")).await.expect("provider").select_by_value("0DE").await.expect("select");
    c.find(Locator::Id("service_line")).await.expect("line").select_by_value("BI").await.expect("select");
    fill(&c, "year", "2025/26").await;
    fill(&c, "quality", "7").await;
    c.find(Locator::Css("label[for='still_customer']")).await.expect("yes").click().await.expect("click");
    fill(&c, "reviewer_role", "Head of Business Intelligence").await;
    fill(&c, "comment", "Browser test: monthly packs now arrive on the fifth working day.").await;
    submit(&c, "/record/review").await;
    let summary =
        c.find(Locator::Css(".nhsuk-error-summary")).await.expect("an error summary").text().await.expect("text");
    assert!(summary.contains("7 is out of range"), "{summary}");
    c.find(Locator::Css(".nhsuk-error-summary a[href='#quality']")).await.expect("linked to the field");
    screenshot(&c, "record-review-error").await;
    accessible(&c, "review with an error").await;
    fill(&c, "quality", "4").await;
    submit(&c, "/record/review").await;
    assert_eq!(
        c.find(Locator::Css(".nhsuk-panel__heading")).await.expect("panel").text().await.expect("text"),
        "Review saved"
    );
    let id = c.find(Locator::Css("[data-record-id]")).await.expect("record id").text().await.expect("text");
    assert_eq!(id.len(), 64, "a full record id: {id}");
    screenshot(&c, "record-saved").await;
    accessible(&c, "saved").await;
    c.goto(&format!("{base}/providers?service_line=BI")).await.expect("providers");
    assert!(c.source().await.expect("source").contains("monthly packs now arrive on the fifth working day"));

    // 4. Support a motion with one button.
    c.goto(&format!("{base}/motions?status=open")).await.expect("motions");
    let button =
        c.find(Locator::Css("form input[name='stance'][value='support'] ~ button")).await.expect("a support button");
    click_and_wait(&c, button).await;
    let banner =
        c.find(Locator::Css(".nhsuk-notification-banner")).await.expect("confirmation").text().await.expect("text");
    assert!(banner.contains("Saved and signed by your node"), "{banner}");
    assert!(
        c.find(Locator::Css("form input[name='stance'][value='withdraw']")).await.is_ok(),
        "now it offers to withdraw"
    );
    screenshot(&c, "motion-supported").await;
    accessible(&c, "motion").await;

    // 5. A CSV with one bad row: nothing is imported.
    let csv = work.path().join("reviews.csv");
    std::fs::write(&csv, "provider,service_line,year,quality,still_customer,reviewer_role\n0DE,BI,2025,4,yes,Head of BI\n0DE,HR,2025,4,maybe,Head of HR\n").expect("csv");
    let before = fx.records();
    c.goto(&format!("{base}/import")).await.expect("import");
    c.find(Locator::Css("label[for='kind']")).await.expect("review radio").click().await.expect("choose");
    c.find(Locator::Id("file"))
        .await
        .expect("file input")
        .send_keys(&csv.display().to_string())
        .await
        .expect("choose file");
    submit(&c, "/import").await;
    let text = c.find(Locator::Css("main")).await.expect("main").text().await.expect("text");
    assert!(text.contains("nothing was imported") && text.contains("Row 2:"), "{text}");
    assert_eq!(fx.records(), before);
    screenshot(&c, "import-error").await;
    accessible(&c, "import with errors").await;

    // 6. Download a page's CSV.
    c.goto(&format!("{base}/prices?service_line=BI")).await.expect("prices");
    c.find(Locator::Css(".csx-downloads a[href^='/api/v1/prices.csv']"))
        .await
        .expect("CSV link")
        .click()
        .await
        .expect("download");
    let deadline = Instant::now() + Duration::from_secs(30);
    let file = loop {
        let done: Vec<PathBuf> = std::fs::read_dir(&downloads)
            .expect("downloads")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        if let Some(f) = done.into_iter().next() {
            break f;
        }
        assert!(Instant::now() < deadline, "the CSV was not downloaded within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let text = std::fs::read_to_string(&file).expect("csv");
    assert!(text.starts_with('\u{feff}') && text.lines().next().is_some_and(|h| h.contains("stats.median")), "{text}");
    assert!(text.lines().count() > 2);

    // 7. An administrator signs in with a password and sees the node and the accounts.
    click_and_wait(&c, c.find(Locator::Css("form[action='/signout'] button")).await.expect("sign out")).await;
    assert_eq!(h1(&c).await, "Sign in");
    screenshot(&c, "signin").await;
    accessible(&c, "sign in").await;
    fill(&c, "name", "ada").await;
    fill(&c, "password", PASSWORD).await;
    submit(&c, "/signin").await;
    for (path, name) in [("/node", "node"), ("/accounts", "accounts")] {
        c.goto(&format!("{base}{path}")).await.expect("page");
        charts_drawn(&c, path).await;
        screenshot(&c, name).await;
        accessible(&c, path).await;
    }
    c.close().await.expect("close");
    web.stop().await;
}

/// The text of every `selector` on the page.
async fn texts(c: &Client, selector: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(selector)).await.expect("elements") {
        out.push(e.text().await.expect("text"));
    }
    out
}

/// The renewal calendar, joint tenders, alerts and what acting together is worth, in a real
/// browser: each page drawn, accessible and its figures those of the node's answer (a withheld
/// count shown as withheld, with no figure); joining a tender and muting a rule with their
/// buttons; an alert's link opening the page it is about; a screenshot of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sees_renewals_tenders_and_alerts_and_acts_on_them_in_a_real_browser() {
    use csx_node::alerts::Rule;
    use csx_node::api::Request as NodeRequest;
    use csx_node::query::Question;
    use csx_protocol::body::{Intent, Party, Switch, SwitchReason, ValueBand};

    let fx = Fixture::new();
    let intent = |line: &str, from: &str, band, population| {
        csx_protocol::Body::Intent(Intent {
            service_line: line.into(),
            from: from.parse().expect("date"),
            value_band: band,
            population,
            note: Some("Open to a joint procurement with neighbours".into()),
        })
    };
    fx.write_as(1, vec![intent("FIN", "2025-10-01", ValueBand::From100kTo250k, 250_000)]);
    fx.write_as(2, vec![intent("FIN", "2025-11-15", ValueBand::From250kTo500k, 400_000)]);
    for (i, pop) in [(3, 300_000), (4, 200_000), (5, 100_000)] {
        fx.write_as(i, vec![intent("BI", "2026-04-01", ValueBand::Under100k, pop)]);
    }
    let alerts = fx.alerts();
    alerts.evaluate(&fx.service).expect("seed");
    let (line, provider) = fx
        .providers_used()
        .into_iter()
        .find_map(|(l, ps)| ps.into_iter().next().map(|p| (l, p)))
        .expect("a provider this member uses");
    fx.write_as(
        6,
        vec![csx_protocol::Body::Switch(Switch {
            service_line: line.clone(),
            from: Party::Provider(provider),
            to: Party::InHouse,
            effective: "2025-09-01".parse().expect("date"),
            reasons: vec![SwitchReason::Cost],
            reason_text: Some("The in-house team now does this for less.".into()),
            notice_months: Some(6),
            exit_costs_pence: None,
            transition_months: None,
        })],
    );
    let logged = alerts.evaluate(&fx.service).expect("evaluate");
    assert!(logged.iter().any(|a| a.raised.rule == Rule::SwitchAway), "{logged:?}");

    let web = fx.serve().await;
    let base = web.base_url.clone();
    let driver = start_driver();
    let work = tempfile::tempdir().expect("tempdir");
    let downloads = work.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("downloads");
    let c = browser(&driver, &work.path().join("profile"), &downloads).await;
    c.goto(&format!("{base}/signin")).await.expect("sign in");
    fill(&c, "name", "ada").await;
    fill(&c, "password", PASSWORD).await;
    submit(&c, "/signin").await;
    assert_eq!(h1(&c).await, "Where you stand");
    let nav = texts(&c, ".nhsuk-header__navigation-link").await;
    for item in ["Renewals", "Joint tenders", "Alerts"] {
        assert!(nav.iter().any(|n| n.contains(item)), "{item} in the menu: {nav:?}");
    }

    // The renewal calendar: the grid drawn with a mark per shown count, the table's counts
    // those of the answer, and a withheld cell without a figure.
    let answer = fx.node(NodeRequest::Query {
        question: Question::Renewals(csx_node::query::renewals::RenewalQuery {
            service_line: None,
            quarters: Some(12),
        }),
    });
    let cells = answer["answer"]["cells"].as_array().cloned().expect("cells");
    let shown = cells.iter().filter(|c| c["members"].is_u64()).count();
    c.goto(&format!("{base}/renewals")).await.expect("renewals");
    assert_eq!(h1(&c).await, "Renewal calendar");
    assert_eq!(charts_drawn(&c, "/renewals").await, shown);
    let rows = texts(&c, "figure[data-chart='renewals'] tbody tr").await;
    assert_eq!(rows.len(), cells.len());
    let mut withheld_seen = 0;
    for (row, cell) in rows.iter().zip(&cells) {
        match cell["members"].as_u64() {
            Some(n) => assert!(row.split_whitespace().any(|w| w == n.to_string()), "{row} holds {n}"),
            None => {
                withheld_seen += 1;
                assert!(row.contains("withheld (fewer than 3 members)"), "{row}");
                let after = row.split("withheld (fewer than 3 members)").nth(1).unwrap_or("");
                assert!(!after.chars().any(|ch| ch.is_ascii_digit()), "no count or provider figure: {row}");
            }
        }
    }
    assert!(withheld_seen > 0, "the sample has a withheld cell to check");
    screenshot(&c, "renewals").await;
    accessible(&c, "/renewals").await;

    // Joint tenders: combined population by hand, a withheld value, and joining with a button.
    c.goto(&format!("{base}/tenders")).await.expect("tenders");
    assert_eq!(h1(&c).await, "Joint tenders forming");
    let fin = "[data-group='FIN-2025-26-Q3']";
    let population = c
        .find(Locator::Css(&format!("{fin} [data-population]")))
        .await
        .expect("population")
        .text()
        .await
        .expect("text");
    assert_eq!(population, "650,000");
    let value = c.find(Locator::Css(&format!("{fin} [data-value]"))).await.expect("value").text().await.expect("text");
    assert_eq!(value, "withheld (fewer than 3 members)");
    let bi = c
        .find(Locator::Css("[data-group='BI-2026-27-Q1'] [data-population]"))
        .await
        .expect("BI")
        .text()
        .await
        .expect("text");
    assert_eq!(bi, "600,000");
    screenshot(&c, "tenders").await;
    accessible(&c, "/tenders").await;
    let before = fx.records();
    let join =
        c.find(Locator::Css(&format!("{fin} form[action='/tenders/join'] button"))).await.expect("a join button");
    click_and_wait(&c, join).await;
    let banner =
        c.find(Locator::Css(".nhsuk-notification-banner")).await.expect("confirmation").text().await.expect("text");
    assert!(banner.contains("Joined: saved and signed by your node"), "{banner}");
    assert_eq!(fx.records(), before + 1);
    let yours = c.find(Locator::Css(&format!("{fin} [data-yours]"))).await.expect("yours").text().await.expect("text");
    assert!(yours.contains("your organisation has joined"), "{yours}");
    accessible(&c, "/tenders after joining").await;

    // Alerts: the switch away with its provenance; mute its rule; follow its link.
    c.goto(&format!("{base}/alerts")).await.expect("alerts");
    assert_eq!(h1(&c).await, "Alerts");
    let card =
        c.find(Locator::Css("[data-rule='switch_away']")).await.expect("the switch alert").text().await.expect("text");
    assert!(card.contains(&fx.members[6].name), "who wrote it: {card}");
    assert!(card.contains("It rests on 1 record"), "{card}");
    screenshot(&c, "alerts").await;
    accessible(&c, "/alerts").await;
    let mute = c.find(Locator::Css("[data-rule-row='switch_away'] form button")).await.expect("a mute button");
    click_and_wait(&c, mute).await;
    let banner =
        c.find(Locator::Css(".nhsuk-notification-banner")).await.expect("confirmation").text().await.expect("text");
    assert!(banner.contains("switch_away is muted"), "{banner}");
    let state = c
        .find(Locator::Css("[data-rule-row='switch_away'] [data-state]"))
        .await
        .expect("state")
        .text()
        .await
        .expect("text");
    assert_eq!(state, "muted");
    assert!(csx_node::alerts::settings::muted(&fx.home).contains(&Rule::SwitchAway));
    let link = c.find(Locator::Css("[data-rule='switch_away'] a[data-alert-link]")).await.expect("the alert's link");
    click_and_wait(&c, link).await;
    assert_eq!(h1(&c).await, "Switching");
    let url = c.current_url().await.expect("url");
    assert_eq!(url.query(), Some(format!("service_line={line}").as_str()));

    // The overview says what acting together is worth.
    c.goto(&format!("{base}/")).await.expect("overview");
    let total = c.find(Locator::Css("[data-worth-total]")).await.expect("worth").text().await.expect("text");
    let worth = fx.node(NodeRequest::Query { question: Question::Tenders(Default::default()) });
    let pence = worth["answer"]["worth"]["total_pence"].as_u64().expect("total");
    assert!(total.starts_with(&csx_node::query::prices::short_pounds(pence as i64)), "{total}");
    screenshot(&c, "overview-worth").await;
    accessible(&c, "/").await;
    c.close().await.expect("close");
    web.stop().await;
}
