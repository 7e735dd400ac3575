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
                 const primary = svg ? svg.querySelectorAll('[data-mark="box"],[data-mark="point"],[data-mark="cell"],[data-mark="flow"],[data-mark="bar"],[data-mark="progress"]').length : -1;
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
