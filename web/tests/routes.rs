//! Route tests: every page and API endpoint asked through the dashboard's router (no sockets),
//! over the seeded sample market — sign-in, roles, CSRF, API tokens, figures equal to the
//! node's answers (what `csx … --json` prints), withheld cells absent, forms and imports that
//! save all or nothing and are audited.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::{Fixture, PASSWORD};
use csx_node::api::Request as NodeRequest;
use csx_node::query::Question;
use csx_node::query::prices::PriceQuery;
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{name}=")).map(|r| r.split(';').next().unwrap_or("").to_string()))
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(fx: &Fixture, req: Request<Body>) -> Reply {
    let r = csx_web::router(fx.app.clone()).oneshot(req).await.expect("router answers");
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = axum::body::to_bytes(r.into_body(), 64 * 1024 * 1024).await.expect("body");
    Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "localhost")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", csx_web::html::url_encode(k), csx_web::html::url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn post(path: &str, cookie: &str, pairs: &[(&str, &str)]) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "localhost")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form_body(pairs)))
        .expect("request")
}

/// The value of the first `name="csrf"` field in a page.
fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a form with a CSRF token");
    html[at + 19..].split('"').next().expect("value").to_string()
}

/// A signed-in session: its cookie header and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

async fn signin(fx: &Fixture, name: &str) -> Session {
    let form = send(fx, get("/signin", "")).await;
    let pre = form.cookie("csx_signin").expect("sign-in form cookie");
    let token = csrf_of(&form.body);
    let r = send(
        fx,
        post(
            "/signin",
            &format!("csx_signin={pre}"),
            &[("csrf", &token), ("name", name), ("password", PASSWORD), ("next", "/")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{name} signs in: {}", r.body);
    let cookie = format!("csx_session={}", r.cookie("csx_session").expect("session cookie"));
    let page = send(fx, get("/account", &cookie)).await;
    Session { csrf: csrf_of(&page.body), cookie }
}

/// Every page (path, least role) and API endpoint.
const PAGES: &[(&str, &str)] = &[
    ("/", "viewer"),
    ("/prices", "viewer"),
    ("/prices?service_line=BI", "viewer"),
    ("/providers", "viewer"),
    ("/providers?service_line=CONTRACT", "viewer"),
    ("/providers/0DE", "viewer"),
    ("/switching", "viewer"),
    ("/motions", "viewer"),
    ("/renewals", "viewer"),
    ("/renewals?service_line=BI&quarters=4", "viewer"),
    ("/tenders", "viewer"),
    ("/alerts", "viewer"),
    ("/records", "viewer"),
    ("/account", "viewer"),
    ("/help/api", "viewer"),
    ("/record", "editor"),
    ("/record/review", "editor"),
    ("/record/price", "editor"),
    ("/record/switch", "editor"),
    ("/record/outcome", "editor"),
    ("/record/motion", "editor"),
    ("/record/provider", "editor"),
    ("/import", "editor"),
    ("/node", "admin"),
    ("/accounts", "admin"),
];

const API: &[(&str, &str)] = &[
    ("/api/v1/prices", "viewer"),
    ("/api/v1/prices.csv", "viewer"),
    ("/api/v1/providers", "viewer"),
    ("/api/v1/providers.csv", "viewer"),
    ("/api/v1/providers/0DE", "viewer"),
    ("/api/v1/providers/0DE.csv", "viewer"),
    ("/api/v1/switches", "viewer"),
    ("/api/v1/switches.csv", "viewer"),
    ("/api/v1/motions", "viewer"),
    ("/api/v1/motions.csv", "viewer"),
    ("/api/v1/report", "viewer"),
    ("/api/v1/report.csv", "viewer"),
    ("/api/v1/renewals", "viewer"),
    ("/api/v1/renewals.csv", "viewer"),
    ("/api/v1/tenders", "viewer"),
    ("/api/v1/tenders.csv", "viewer"),
    ("/api/v1/alerts", "viewer"),
    ("/api/v1/status", "admin"),
    ("/api/v1/members", "admin"),
];

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 0,
        "editor" => 1,
        _ => 2,
    }
}

#[tokio::test]
async fn every_page_and_endpoint_needs_a_sign_in_and_the_right_role() {
    let fx = Fixture::new();
    for (path, _) in PAGES {
        let r = send(&fx, get(path, "")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path} without a session");
        assert!(r.location().starts_with("/signin"), "{path} sends to the sign-in page, not {}", r.location());
    }
    for (path, _) in API {
        let r = send(&fx, get(path, "")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} without credentials");
        assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(r.json()["error"]["kind"], "unauthorized");
    }
    for (who, role) in [("vic", "viewer"), ("eddie", "editor"), ("ada", "admin")] {
        let s = signin(&fx, who).await;
        for (path, needed) in PAGES.iter().chain(API) {
            let r = send(&fx, get(path, &s.cookie)).await;
            if rank(role) >= rank(needed) {
                assert_eq!(
                    r.status,
                    StatusCode::OK,
                    "{who} ({role}) opens {path}: {}",
                    &r.body[..r.body.len().min(400)]
                );
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{who} ({role}) is refused {path}");
            }
        }
        // Navigation offers only what the role may open.
        let home = send(&fx, get("/", &s.cookie)).await.body;
        assert_eq!(home.contains(r#"href="/record""#), rank(role) >= 1, "{who}: Record in the menu");
        assert_eq!(home.contains(r#"href="/node""#), rank(role) >= 2, "{who}: Node in the menu");
    }
}

fn as_pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn writes_need_the_editor_role_a_csrf_token_and_this_origin() {
    let fx = Fixture::new();
    let before = fx.records();
    let review = |csrf: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("provider", "0DE".into()),
            ("service_line", "BI".into()),
            ("year", "2025/26".into()),
            ("quality", "4".into()),
            ("still_customer", "yes".into()),
            ("reviewer_role", "Head of BI".into()),
        ]
    };
    let viewer = signin(&fx, "vic").await;
    let r = send(&fx, post("/record/review", &viewer.cookie, &as_pairs(&review(&viewer.csrf)))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a viewer cannot record");
    let editor = signin(&fx, "eddie").await;
    for bad in ["", "0000"] {
        let r = send(&fx, post("/record/review", &editor.cookie, &as_pairs(&review(bad)))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "CSRF token `{bad}` is refused");
        assert!(r.body.contains("This form has expired"));
    }
    let mut cross = post("/record/review", &editor.cookie, &as_pairs(&review(&editor.csrf)));
    cross.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().expect("origin"));
    assert_eq!(send(&fx, cross).await.status, StatusCode::FORBIDDEN, "a form posted from another site");
    // Another session's token does not do either.
    let admin = signin(&fx, "ada").await;
    let r = send(&fx, post("/record/review", &editor.cookie, &as_pairs(&review(&admin.csrf)))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(fx.records(), before, "nothing was written");
    // Every other form refuses a missing token too.
    for path in [
        "/motions/00/support",
        "/node/endorse",
        "/accounts",
        "/accounts/vic/disable",
        "/account/tokens",
        "/account/password",
        "/signout",
        "/retract/00",
        "/record/price",
        "/tenders/join",
        "/alerts/rules",
    ] {
        let r = send(&fx, post(path, &admin.cookie, &[("name", "x")])).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} without a CSRF token");
    }
    let r = send(&fx, post("/record/review", &editor.cookie, &as_pairs(&review(&editor.csrf)))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn a_bad_review_names_its_field_and_saves_nothing_a_good_one_is_saved_and_audited() {
    let fx = Fixture::new();
    let s = signin(&fx, "eddie").await;
    let before = fx.records();
    let mut fields = vec![
        ("csrf", s.csrf.as_str()),
        ("provider", "0DE"),
        ("service_line", "BI"),
        ("year", "2025/26"),
        ("quality", "7"),
        ("still_customer", "yes"),
        ("reviewer_role", "Head of BI"),
        ("comment", "Dashboards arrive on time now."),
    ];
    let r = send(&fx, post("/record/review", &s.cookie, &fields)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("nhsuk-error-summary") && r.body.contains(r##"href="#quality""##), "{}", r.body);
    assert!(r.body.contains("7 is out of range"), "the CLI's message");
    assert!(
        r.body.contains(r#"value="Dashboards arrive on time now.""#)
            || r.body.contains("Dashboards arrive on time now."),
        "what was typed is kept"
    );
    assert_eq!(fx.records(), before, "nothing saved on error");
    // A provider the node does not know: the node's rule, linked to its field.
    fields[1] = ("provider", "ZZZ9");
    fields[4] = ("quality", "4");
    let r = send(&fx, post("/record/review", &s.cookie, &fields)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains(r##"href="#provider""##) && r.body.contains("is not a known provider"), "{}", r.body);
    fields[1] = ("provider", "0DE");
    let r = send(&fx, post("/record/review", &s.cookie, &fields)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location().split("ids=").nth(1).expect("the saved record's id").to_string();
    assert_eq!(fx.records(), before + 1);
    let saved = send(&fx, get(r.location(), &s.cookie)).await;
    assert!(saved.body.contains("Review saved") && saved.body.contains(&id));
    // The record names the node, not the person; the audit log names the person.
    let listed = fx.node(NodeRequest::Record { id: id.clone() });
    assert!(!listed.to_string().contains("eddie"));
    let (entries, _) = fx
        .app
        .audit
        .read(&csx_web::audit::Filter {
            user: Some("eddie".into()),
            action: Some("review".into()),
            ..Default::default()
        })
        .expect("audit");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].records, vec![id]);
    // It counts on the providers page.
    let page = send(&fx, get("/providers?service_line=BI", &s.cookie)).await;
    assert!(page.body.contains("Dashboards arrive on time now."));
}

#[tokio::test]
async fn supporting_a_motion_takes_one_button_and_withdrawing_another() {
    let fx = Fixture::new();
    let s = signin(&fx, "eddie").await;
    let motions = fx.node(NodeRequest::Query { question: Question::Motions(Default::default()) });
    let me = fx.app.identity.ods_code.clone();
    let open = motions["answer"]["motions"]
        .as_array()
        .expect("motions")
        .iter()
        .find(|m| {
            m["days_left"].as_i64().unwrap_or(-1) >= 0
                && !m["supporters"].as_array().expect("list").iter().any(|x| x["org"]["ods"] == me.as_str())
        })
        .expect("an open motion this member does not support")
        .clone();
    let id = open["id"].as_str().expect("id");
    let support = open["support"].as_u64().expect("support");
    let r = send(&fx, post(&format!("/motions/{id}/support"), &s.cookie, &[("csrf", &s.csrf), ("stance", "support")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let after = fx.node(NodeRequest::Query { question: Question::Motion { id: id.into() } });
    assert_eq!(after["answer"]["support"].as_u64(), Some(support + 1));
    let page = send(&fx, get(r.location(), &s.cookie)).await;
    assert!(page.body.contains("Saved and signed by your node") && page.body.contains("Withdraw your organisation"));
    let r = send(&fx, post(&format!("/motions/{id}/support"), &s.cookie, &[("csrf", &s.csrf), ("stance", "withdraw")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let after = fx.node(NodeRequest::Query { question: Question::Motion { id: id.into() } });
    assert_eq!(after["answer"]["support"].as_u64(), Some(support));
}

/// A CSV upload to /import, as the browser sends it.
fn upload(cookie: &str, csrf: &str, kind: &str, file_name: &str, content: &str) -> Request<Body> {
    let boundary = "csxboundary7a1";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    Request::post("/import")
        .header(header::HOST, "localhost")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn an_import_with_one_bad_row_imports_nothing_and_a_good_one_imports_all() {
    let fx = Fixture::new();
    let s = signin(&fx, "eddie").await;
    let before = fx.records();
    let rows = "provider,service_line,year,quality,still_customer,reviewer_role\n0DE,BI,2025,4,yes,Head of BI\n0DE,CONTRACT,2025,nine,yes,Head of Contracting\n";
    let r = send(&fx, upload(&s.cookie, &s.csrf, "review", "reviews.csv", rows)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("1 of 2 rows of reviews.csv are not valid; nothing was imported"), "{}", r.body);
    assert!(r.body.contains("Row 2: quality:"), "the bad row is named: {}", r.body);
    assert_eq!(fx.records(), before);
    let good = rows.replace("nine", "3");
    let r = send(&fx, upload(&s.cookie, &s.csrf, "review", "reviews.csv", &good)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/saved?imported=2");
    assert_eq!(fx.records(), before + 2);
    // A wrong column is refused as a whole.
    let r = send(&fx, upload(&s.cookie, &s.csrf, "review", "x.csv", "provider,colour\n0DE,red\n")).await;
    assert!(r.body.contains("`colour` is not a review column"), "{}", r.body);
}

/// Whether `text` holds an amount of money (`£` and a digit; `£/head` is a unit, not a figure).
fn has_money(text: &str) -> bool {
    text.split('£').skip(1).any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The prices answer as `csx prices --json` prints it (provider cells only with a line or
/// provider filter).
fn cli_prices(fx: &Fixture, q: PriceQuery) -> serde_json::Value {
    let by_provider = q.service_line.is_some() || q.provider.is_some();
    let mut v = fx.node(NodeRequest::Query { question: Question::Prices(q) });
    let v = &mut v["answer"];
    if !by_provider {
        v["cells"].as_array_mut().expect("cells").retain(|c| c["provider"].is_null());
    }
    v.clone()
}

#[tokio::test]
async fn the_api_returns_the_node_answers_and_pages_show_the_same_figures() {
    let fx = Fixture::new();
    let s = signin(&fx, "vic").await;
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("/api/v1/prices", cli_prices(&fx, PriceQuery::default())),
        (
            "/api/v1/prices?service_line=BI",
            cli_prices(&fx, PriceQuery { service_line: Some("BI".into()), ..Default::default() }),
        ),
        (
            "/api/v1/providers?service_line=CONTRACT",
            fx.node(NodeRequest::Query {
                question: Question::Providers(csx_node::query::providers::ProviderQuery {
                    service_line: Some("CONTRACT".into()),
                    provider: None,
                }),
            })["answer"]
                .clone(),
        ),
        (
            "/api/v1/providers/0DE",
            fx.node(NodeRequest::Query { question: Question::Provider { code: "0DE".into() } })["answer"].clone(),
        ),
        (
            "/api/v1/switches?from=0DE",
            fx.node(NodeRequest::Query {
                question: Question::Switches(csx_node::query::switches::SwitchQuery {
                    from: Some("0DE".parse().expect("party")),
                    ..Default::default()
                }),
            })["answer"]
                .clone(),
        ),
        (
            "/api/v1/motions?status=open",
            fx.node(NodeRequest::Query {
                question: Question::Motions(csx_node::query::motions::MotionQuery {
                    status: Some(csx_node::query::motions::MotionStatus::Open),
                    ..Default::default()
                }),
            })["answer"]
                .clone(),
        ),
        ("/api/v1/report", fx.node(NodeRequest::Query { question: Question::Report })["answer"].clone()),
    ];
    for (path, expected) in &cases {
        // Both sides go through JSON text once, as the CLI's output and the API's body do.
        let expected = &serde_json::from_str::<serde_json::Value>(&expected.to_string()).expect("json");
        let r = send(&fx, get(path, &s.cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let v = r.json();
        if &v["answer"] != expected {
            let a = serde_json::to_string_pretty(&v["answer"]).expect("json");
            let b = serde_json::to_string_pretty(expected).expect("json");
            let first = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
            panic!(
                "{path} differs from the node's answer at line {first}:\n{}\n---\n{}",
                a.lines().skip(first.saturating_sub(5)).take(12).collect::<Vec<_>>().join("\n"),
                b.lines().skip(first.saturating_sub(5)).take(12).collect::<Vec<_>>().join("\n")
            );
        }
        assert!(v["provenance"]["as_of"].as_u64().expect("as_of") >= common::NOW, "{path}");
    }
    // The page shows each shown median of BI as the table's figure, and each withheld cell's
    // reason — and no figure for it.
    let page = send(&fx, get("/prices?service_line=BI", &s.cookie)).await.body;
    let answer = cli_prices(&fx, PriceQuery { service_line: Some("BI".into()), ..Default::default() });
    let mut withheld = 0;
    for c in answer["cells"].as_array().expect("cells") {
        match c["stats"].as_object() {
            Some(st) => match (st["median"].as_f64(), st["median_band"].as_array()) {
                (Some(median), _) => {
                    assert!(page.contains(&csx_web::charts::money(median)), "median {median} is on the page");
                }
                // A cell of k to 4 members shows only the band its median lies in.
                (None, Some(band)) => {
                    for edge in band {
                        let edge = csx_web::charts::money(edge.as_f64().expect("band edge"));
                        assert!(page.contains(&edge), "the band's edge {edge} is on the page");
                    }
                }
                (None, None) => panic!("a shown cell with neither a median nor a band: {c}"),
            },
            None => {
                withheld += 1;
                let cell: csx_node::query::prices::PriceCell = serde_json::from_value(c.clone()).expect("a cell");
                let why = csx_web::html::esc(&cell.disclosure.explain());
                assert!(page.contains(&why), "the withheld cell's reason {why:?} is on the page");
            }
        }
    }
    assert!(withheld > 0, "the sample market has withheld cells for BI");
    for row in page
        .split("<tr")
        .map(|r| r.split("</tr>").next().unwrap_or(""))
        .filter(|r| r.contains("not enough data") || r.contains("not shown"))
    {
        let cells: Vec<&str> = row.split("<td").collect();
        // Every cell but the member's own value and percentile (the last two) is free of money.
        for cell in &cells[..cells.len().saturating_sub(2)] {
            assert!(!has_money(cell), "a withheld row shows a figure: {row}");
        }
    }
    for g in page.split("<g class=\"csx-withheld\"").skip(1) {
        let g = g.split("</g>").next().unwrap_or("");
        assert!(
            !has_money(g) && (g.contains("not enough data") || g.contains("not shown")),
            "a withheld cell drawn with a figure: {g}"
        );
    }
    // The chart draws one box (or, below 5 members, one median band) per shown cell of the
    // year chart, no more.
    let svg = page.split("id=\"prices-years\"").nth(1).expect("the by-year chart").split("</svg>").next().expect("svg");
    let boxes = svg.matches(r#"data-mark="box""#).count() + svg.matches(r#"data-mark="band""#).count();
    let shown_years = answer["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["provider"].is_null() && c["basis"] == "per_head" && !c["stats"].is_null())
        .count();
    assert_eq!(boxes, shown_years);
    // CSV: one row per cell, the same medians, withheld medians empty.
    let csv = send(&fx, get("/api/v1/prices.csv?service_line=BI", &s.cookie)).await;
    assert!(csv.headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("text/csv"));
    assert!(csv.body.starts_with('\u{feff}'), "a byte-order mark for Excel");
    let mut reader = csv::Reader::from_reader(csv.body.trim_start_matches('\u{feff}').as_bytes());
    let head = reader.headers().expect("header").clone();
    let median_col = head.iter().position(|h| h == "stats.median").expect("stats.median column");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let cells = answer["cells"].as_array().expect("cells");
    assert_eq!(rows.len(), cells.len());
    for (row, cell) in rows.iter().zip(cells) {
        match cell["stats"]["median"].as_f64() {
            Some(m) => assert_eq!(row[median_col].parse::<f64>().expect("number"), m),
            None => assert_eq!(&row[median_col], "", "a withheld median is absent"),
        }
    }
}

#[tokio::test]
async fn api_tokens_read_the_api_only_and_stop_when_revoked_or_disabled() {
    let fx = Fixture::new();
    let (id, token) = fx.app.accounts.create_token("vic", "Power BI", common::NOW).expect("token");
    let bearer = |path: &str, auth: String| {
        Request::get(path)
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .expect("request")
    };
    let r = send(&fx, bearer("/api/v1/prices", format!("Bearer {}", token.0))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["answer"]["answer"], "prices");
    // Basic authentication with the token as the password (Excel's "From Web").
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("vic:{}", token.0));
    assert_eq!(send(&fx, bearer("/api/v1/motions", format!("Basic {basic}"))).await.status, StatusCode::OK);
    // A viewer's token cannot read administrators' endpoints, and is no way into the pages.
    assert_eq!(send(&fx, bearer("/api/v1/status", format!("Bearer {}", token.0))).await.status, StatusCode::FORBIDDEN);
    assert_eq!(send(&fx, bearer("/", format!("Bearer {}", token.0))).await.status, StatusCode::SEE_OTHER);
    // Unknown parameters are refused, not ignored.
    let r = send(&fx, bearer("/api/v1/prices?servce_line=BI", format!("Bearer {}", token.0))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"].as_str().expect("message").contains("`servce_line` is not a parameter"));
    fx.app.accounts.set_disabled("vic", true).expect("disabled");
    assert_eq!(
        send(&fx, bearer("/api/v1/prices", format!("Bearer {}", token.0))).await.status,
        StatusCode::UNAUTHORIZED
    );
    fx.app.accounts.set_disabled("vic", false).expect("enabled");
    fx.app.accounts.revoke_token("vic", &id).expect("revoked");
    assert_eq!(
        send(&fx, bearer("/api/v1/prices", format!("Bearer {}", token.0))).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_in_is_rate_limited_failures_are_audited_and_no_secret_is_logged() {
    let fx = Fixture::new();
    let form = send(&fx, get("/signin", "")).await;
    let pre = form.cookie("csx_signin").expect("cookie");
    let token = csrf_of(&form.body);
    let attempt = |password: &'static str| {
        post("/signin", &format!("csx_signin={pre}"), &[("csrf", &token), ("name", "ada"), ("password", password)])
    };
    for _ in 0..csx_web::sessions::FAILURES_PER_ACCOUNT {
        let r = send(&fx, attempt("not the password")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("Enter a correct account name and password"));
    }
    let r = send(&fx, attempt(PASSWORD)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "locked out even with the right password");
    assert!(r.body.contains("Try again in 15 minutes"));
    let (failed, _) = fx
        .app
        .audit
        .read(&csx_web::audit::Filter { action: Some("signin_failed".into()), ..Default::default() })
        .expect("audit");
    assert_eq!(failed.len(), csx_web::sessions::FAILURES_PER_ACCOUNT as usize);
    assert!(failed.iter().all(|e| e.user == "ada"));
    let log = std::fs::read_to_string(fx.app.audit.path()).expect("log");
    assert!(!log.contains("not the password") && !log.contains(PASSWORD));
    // A sign-in form without its cookie is refused.
    let r = send(&fx, post("/signin", "", &[("csrf", &token), ("name", "eddie"), ("password", PASSWORD)])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_one_time_link_sets_a_password_once_and_account_changes_end_sessions() {
    let fx = Fixture::new();
    let link = fx.app.accounts.add("newcomer", csx_web::Role::Viewer, common::NOW).expect("added");
    let path = format!("/signin/link/{}", link.0);
    let form = send(&fx, get(&path, "")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("newcomer"));
    let pre = form.cookie("csx_signin").expect("cookie");
    let token = csrf_of(&form.body);
    let short = send(
        &fx,
        post(&path, &format!("csx_signin={pre}"), &[("csrf", &token), ("password", "short"), ("confirm", "short")]),
    )
    .await;
    assert!(short.body.contains("at least 12 characters") && short.body.contains("nhsuk-error-summary"));
    let r = send(
        &fx,
        post(
            &path,
            &format!("csx_signin={pre}"),
            &[("csrf", &token), ("password", "a long new passphrase"), ("confirm", "a long new passphrase")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = format!("csx_session={}", r.cookie("csx_session").expect("signed in"));
    let set_cookie = r.headers.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert_eq!(send(&fx, get("/", &session)).await.status, StatusCode::OK);
    assert_eq!(send(&fx, get(&path, "")).await.status, StatusCode::NOT_FOUND, "the link works once");
    // Disabling the account (as `csx user disable` does, through the file) ends the session.
    csx_web::Accounts::open(fx.home.root()).set_disabled("newcomer", true).expect("disabled");
    let r = send(&fx, get("/", &session)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let headers = send(&fx, get("/signin", "")).await.headers;
    for h in ["content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options"] {
        assert!(headers.contains_key(h), "{h}");
    }
}

#[tokio::test]
async fn an_administrator_adds_an_account_and_endorses_from_the_pages() {
    let fx = Fixture::new();
    let s = signin(&fx, "ada").await;
    let r = send(
        &fx,
        post("/accounts", &s.cookie, &[("csrf", &s.csrf), ("name", "Finance.Lead@nhs.net"), ("role", "editor")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("data-signin-link") && r.body.contains("http://localhost/signin/link/"), "{}", r.body);
    let a = fx.app.accounts.get("finance.lead@nhs.net").expect("read").expect("added");
    assert_eq!(a.role, csx_web::Role::Editor);
    let r =
        send(&fx, post("/accounts", &s.cookie, &[("csrf", &s.csrf), ("name", "bad name!"), ("role", "editor")])).await;
    assert!(r.body.contains("is not an account name"));
    let r = send(&fx, post("/accounts/eddie/role", &s.cookie, &[("csrf", &s.csrf), ("role", "viewer")])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(fx.app.accounts.get("eddie").expect("read").expect("eddie").role, csx_web::Role::Viewer);
    let node = send(&fx, get("/node", &s.cookie)).await;
    assert!(node.body.contains("Members") && node.body.contains("offline"));
}

/// The rows of the table captioned `caption` in `html`, each cell's text (tags dropped, the
/// few entities askama writes turned back).
fn table_rows(html: &str, caption: &str) -> Vec<Vec<String>> {
    let text = |s: &str| {
        let mut out = String::new();
        let mut tag = false;
        for c in s.chars() {
            match c {
                '<' => tag = true,
                '>' => tag = false,
                c if !tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&amp;", "&")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .trim()
            .to_string()
    };
    let table = html
        .split("<table")
        .skip(1)
        .map(|t| &t[..t.find("</table>").expect("the table ends")])
        .find(|t| t.find("<caption").zip(t.find("</caption>")).is_some_and(|(a, b)| text(&t[a..b]) == caption))
        .unwrap_or_else(|| panic!("a table captioned {caption}"));
    let body = &table[table.find("<tbody").expect("a body")..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("</t")
                .filter_map(|cell| {
                    let open = cell.rfind("<th").or_else(|| cell.rfind("<td"))?;
                    Some(text(&cell[open..]))
                })
                .collect()
        })
        .collect()
}

/// HTML text with the entities askama and `esc` write turned back.
fn unescape(s: &str) -> String {
    s.replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn intent(line: &str, from: &str, band: csx_protocol::body::ValueBand, population: u64) -> csx_protocol::Body {
    csx_protocol::Body::Intent(csx_protocol::body::Intent {
        service_line: line.into(),
        from: from.parse().expect("date"),
        value_band: band,
        population,
        note: None,
    })
}

#[tokio::test]
async fn the_renewal_calendar_is_the_node_answer_with_small_cells_withheld_and_your_quarters_marked() {
    use csx_node::query::renewals::RenewalQuery;
    let fx = Fixture::new();
    let s = signin(&fx, "vic").await;
    let question = Question::Renewals(RenewalQuery { service_line: None, quarters: Some(12) });
    let expected = fx.node(NodeRequest::Query { question })["answer"].clone();
    let expected: serde_json::Value = serde_json::from_str(&expected.to_string()).expect("json");
    let r = send(&fx, get("/api/v1/renewals", &s.cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["answer"], expected, "GET /api/v1/renewals is `csx renewals --json`");
    let cells = expected["cells"].as_array().expect("cells");
    let shown: Vec<_> = cells.iter().filter(|c| c["members"].is_u64()).collect();
    let withheld: Vec<_> = cells.iter().filter(|c| c["members"].is_null()).collect();
    assert!(!shown.is_empty() && !withheld.is_empty(), "the sample has shown and withheld cells: {cells:?}");
    let yours = expected["yours"].as_array().expect("yours");
    assert!(!yours.is_empty(), "the sample member has contracts ending");

    let page = send(&fx, get("/renewals", &s.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let rows = table_rows(&page.body, "Contracts ending by service line and quarter");
    assert_eq!(rows.len(), cells.len(), "a row per cell");
    let quarter = |c: &serde_json::Value| {
        let y = &c["quarter"]["year"];
        let year = y.as_str().map(str::to_string).unwrap_or_else(|| {
            let n = y.as_u64().expect("a year");
            format!("{n}/{:02}", (n + 1) % 100)
        });
        format!("{year} Q{}", c["quarter"]["q"])
    };
    for (row, c) in rows.iter().zip(cells) {
        assert_eq!(row[0], c["service_line_name"].as_str().expect("name"));
        assert_eq!(row[1], quarter(c), "{row:?}");
        match c["members"].as_u64() {
            Some(n) => assert_eq!(row[2], n.to_string(), "{row:?}"),
            None => {
                // Withheld: the reason, and no count or provider anywhere in the row.
                assert_eq!(row[2], "withheld (fewer than 3 members)", "{row:?}");
                assert_eq!(row[3], "–", "{row:?}");
            }
        }
    }
    // The grid: a drawn cell per shown count, a hatched cell per withheld one, and "you" on each
    // quarter in which one of your contracts ends.
    let svg = &page.body[page.body.find(r#"id="renewals""#).expect("the grid")..];
    let svg = &svg[..svg.find("</svg>").expect("svg ends")];
    assert_eq!(svg.matches(r#"data-mark="cell""#).count(), shown.len());
    assert_eq!(svg.matches(r#"data-withheld="1""#).count(), withheld.len());
    let mut mine: Vec<(String, String)> = yours.iter().map(|y| (y["service_line"].to_string(), quarter(y))).collect();
    mine.sort();
    mine.dedup();
    assert_eq!(svg.matches(r#"data-mark="yours""#).count(), mine.len());
    // Your contracts, with their notice dates.
    let own = table_rows(&page.body, "Your contracts ending in these quarters, soonest notice date first");
    assert_eq!(own.len(), yours.len());
    for (row, y) in own.iter().zip(yours) {
        assert_eq!(row[4], y["ends"].as_str().expect("ends"));
        assert_eq!(row[6], y["notice_by"].as_str().unwrap_or("not disclosed"));
    }
    // A filter narrows it; a bad one is named.
    let r = send(&fx, get("/api/v1/renewals?service_line=BI&quarters=4", &s.cookie)).await;
    let v = r.json();
    assert!(v["answer"]["cells"].as_array().expect("cells").iter().all(|c| c["service_line"] == "BI"));
    for bad in ["quarters=0", "quarters=41", "quarters=x", "colour=red", "service_line=XX"] {
        let r = send(&fx, get(&format!("/api/v1/renewals?{bad}"), &s.cookie)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        let p = send(&fx, get(&format!("/renewals?{bad}"), &s.cookie)).await;
        assert!(p.body.contains("nhsuk-error-summary"), "{bad}: the page names the problem");
    }
    let csv = send(&fx, get("/api/v1/renewals.csv", &s.cookie)).await;
    assert_eq!(csv.body.lines().count(), cells.len() + 1, "a CSV row per cell");
}

#[tokio::test]
async fn joint_tenders_show_combined_population_and_value_withheld_until_enough_members_and_join_with_a_button() {
    use csx_protocol::body::ValueBand;
    let fx = Fixture::new();
    // Two members intend to buy finance in 2025/26 Q3; three intend to buy BI from April 2026.
    fx.write_as(1, vec![intent("FIN", "2025-10-01", ValueBand::From100kTo250k, 250_000)]);
    fx.write_as(2, vec![intent("FIN", "2025-11-15", ValueBand::From250kTo500k, 400_000)]);
    for (i, pop) in [(3, 300_000), (4, 200_000), (5, 100_000)] {
        fx.write_as(i, vec![intent("BI", "2026-04-01", ValueBand::Under100k, pop)]);
    }
    let editor = signin(&fx, "eddie").await;
    let expected = fx.node(NodeRequest::Query { question: Question::Tenders(Default::default()) })["answer"].clone();
    let expected: serde_json::Value = serde_json::from_str(&expected.to_string()).expect("json");
    let r = send(&fx, get("/api/v1/tenders", &editor.cookie)).await;
    assert_eq!(r.json()["answer"], expected, "GET /api/v1/tenders is `csx tenders --json`");
    let groups = expected["groups"].as_array().expect("groups");
    let names: Vec<&str> = groups.iter().filter_map(|g| g["group"].as_str()).collect();
    assert_eq!(names, ["BI 2026/27 Q1", "FIN 2025/26 Q3"]);

    let page = send(&fx, get("/tenders", &editor.cookie)).await.body;
    let card = |html: &str, id: &str| -> String {
        let at = html.find(&format!(r#"data-group="{id}""#)).unwrap_or_else(|| panic!("group {id}"));
        let rest = &html[at..];
        rest[..rest[1..].find("data-group=").map(|e| e + 1).unwrap_or(rest.len())].to_string()
    };
    let field = |card: &str, name: &str| -> String {
        let at = card.find(&format!("data-{name}>")).unwrap_or_else(|| panic!("{name}"));
        let rest = &card[at + name.len() + 6..];
        let inner = &rest[..rest.find("</dd>").expect("dd")];
        inner.replace("<span class=\"csx-withheld-text\">", "").replace("</span>", "")
    };
    // By hand: BI 300,000 + 200,000 + 100,000; FIN 250,000 + 400,000.
    let bi = card(&page, "BI-2026-27-Q1");
    assert_eq!(field(&bi, "population"), "600,000");
    assert!(field(&bi, "members").starts_with("3: "));
    let bi_value = &groups[0]["together"];
    assert!(bi_value["value_low_pence"].is_u64(), "three members' value is shown");
    assert!(field(&bi, "value").contains('£'), "{}", field(&bi, "value"));
    let fin = card(&page, "FIN-2025-26-Q3");
    assert_eq!(field(&fin, "population"), "650,000");
    assert_eq!(field(&fin, "value"), "withheld (fewer than 3 members)", "two members' value is withheld");
    assert!(!has_money(&field(&fin, "value")));
    assert!(fin.contains(r#"action="/tenders/join""#), "this member takes no part yet, so it may join");

    // A viewer cannot join; an editor joins FIN with one button.
    let viewer = signin(&fx, "vic").await;
    let intent_id = groups[1]["intents"][0]["id"].as_str().expect("id").to_string();
    let r = send(&fx, post("/tenders/join", &viewer.cookie, &[("csrf", &viewer.csrf), ("intent", &intent_id)])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&fx, post("/tenders/join", &editor.cookie, &[("csrf", &editor.csrf), ("intent", "00")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "not a record id");
    let before = fx.records();
    let r = send(&fx, post("/tenders/join", &editor.cookie, &[("csrf", &editor.csrf), ("intent", &intent_id)])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/tenders?service_line=FIN&saved="), "{}", r.location());
    assert_eq!(fx.records(), before + 1, "one tender_join record");
    let page = send(&fx, get(r.location(), &editor.cookie)).await.body;
    assert!(page.contains("Joined: saved and signed by your node"));
    let fin = card(&page, "FIN-2025-26-Q3");
    // Now three take part: the population adds this member's registered population.
    let own_population = fx.members[0].population;
    let with_me = 650_000 + own_population;
    let digits: String = field(&fin, "population").chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits, with_me.to_string());
    assert!(field(&fin, "yours").contains("your organisation has joined"));
    assert!(!fin.contains(r#"action="/tenders/join""#), "no second join");
    let after = fx.node(NodeRequest::Query { question: Question::Tenders(Default::default()) });
    assert_eq!(after["answer"]["groups"][1]["members"].as_array().map(Vec::len), Some(3));
    let audit = std::fs::read_to_string(fx.home.path("web/audit.log")).expect("audit");
    assert!(audit.contains("tender_join"), "the join is audited");
}

#[tokio::test]
async fn the_overview_says_what_acting_together_is_worth_line_by_line_and_in_all() {
    let fx = Fixture::new();
    let s = signin(&fx, "vic").await;
    let answer = fx.node(NodeRequest::Query { question: Question::Tenders(Default::default()) });
    let worth = &answer["answer"]["worth"];
    let lines = worth["lines"].as_array().expect("lines");
    let page = send(&fx, get("/", &s.cookie)).await.body;
    let rows = table_rows(&page, "Paid a year above each line's median price per head, the latest year of each line");
    assert_eq!(rows.len(), lines.len());
    let pounds = |p: u64| csx_node::query::prices::short_pounds(p as i64);
    for (row, l) in rows.iter().zip(lines) {
        assert_eq!(row[0], l["service_line_name"].as_str().expect("name"));
        match l["above_median_pence"].as_u64() {
            Some(p) => assert_eq!(row[5], pounds(p), "{row:?}"),
            None => {
                assert!(row[5].starts_with("withheld"), "{row:?}");
                assert!(
                    !has_money(&row[5]) && row[3] == "–" && row[4] == "–",
                    "no figure for a withheld line: {row:?}"
                );
            }
        }
    }
    let total = pounds(worth["total_pence"].as_u64().expect("total"));
    assert!(page.contains(&format!("data-worth-total>{total} a year<")), "{total}");
    assert!(page.contains(&format!("data-worth-cover>{} line", worth["lines_shown"])));
    // The bars: one per line shown, a hatched row with no figure per line withheld.
    let svg = &page[page.find(r#"id="worth""#).expect("the worth chart")..];
    let svg = &svg[..svg.find("</svg>").expect("svg ends")];
    let shown = lines.iter().filter(|l| l["above_median_pence"].is_u64()).count();
    assert_eq!(svg.matches(r#"data-mark="bar""#).count(), shown);
    assert_eq!(svg.matches("data-withheld").count(), lines.len() - shown);
}

#[tokio::test]
async fn alerts_are_listed_with_provenance_and_links_and_an_administrator_mutes_a_rule() {
    use csx_node::alerts::Rule;
    let fx = Fixture::new();
    let alerts = fx.alerts();
    alerts.evaluate(&fx.service).expect("the first evaluation reads the store as history");
    // Another member leaves a provider this member uses, on a line it buys.
    let used = fx.providers_used();
    let (line, provider) = used
        .iter()
        .find_map(|(l, ps)| ps.iter().next().map(|p| (l.clone(), p.clone())))
        .expect("this member buys from a provider");
    let switch = |effective: &str| {
        csx_protocol::Body::Switch(csx_protocol::body::Switch {
            service_line: line.clone(),
            from: csx_protocol::body::Party::Provider(provider.clone()),
            to: csx_protocol::body::Party::InHouse,
            effective: effective.parse().expect("date"),
            reasons: vec![csx_protocol::body::SwitchReason::Cost],
            reason_text: None,
            notice_months: None,
            exit_costs_pence: None,
            transition_months: None,
        })
    };
    let ids = fx.write_as(1, vec![switch("2025-09-01")]);
    let logged = alerts.evaluate(&fx.service).expect("evaluate");
    let away: Vec<_> = logged.iter().filter(|a| a.raised.rule == Rule::SwitchAway).collect();
    assert_eq!(away.len(), 1, "{logged:?}");

    let viewer = signin(&fx, "vic").await;
    let page = send(&fx, get("/alerts", &viewer.cookie)).await.body;
    let at = page.find(r#"data-rule="switch_away""#).expect("the switch alert");
    let card = &page[at..at + page[at..].find("</div>\n</div>").expect("card ends")];
    let words = unescape(card);
    assert!(words.contains(&away[0].raised.title), "{card}");
    assert!(card.contains(&ids[0].to_hex()[..12]), "the record it rests on: {card}");
    assert!(words.contains(&fx.members[1].name), "who wrote it: {card}");
    assert!(
        card.contains(&format!(r#"href="/switching?service_line={line}""#)),
        "it links to the switching page for the line: {card}"
    );
    // The linked page exists and shows the switch.
    let linked = send(&fx, get(&format!("/switching?service_line={line}"), &viewer.cookie)).await;
    assert_eq!(linked.status, StatusCode::OK);
    assert!(!page.contains(r#"action="/alerts/rules""#), "a viewer is not offered mute");
    // Every alert's link opens a page of this dashboard.
    let admin = signin(&fx, "ada").await;
    for a in alerts.list(0, 0) {
        let link = a.raised.link.clone().unwrap_or_else(|| panic!("alert {} has a link", a.raised.key));
        let r = send(&fx, get(&link, &admin.cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{} links to {link}", a.raised.rule);
    }
    // The API lists what `csx alerts --json` lists: newest first.
    let mut expected = alerts.list(0, 0);
    expected.reverse();
    let v = send(&fx, get("/api/v1/alerts", &viewer.cookie)).await.json();
    assert_eq!(v["alerts"], serde_json::to_value(&expected).expect("json"));
    // --since: a date after them lists none; a bad one is named.
    let later = send(&fx, get("/alerts?since=2025-06-02", &viewer.cookie)).await.body;
    assert!(later.contains("No alerts since then.") && !later.contains("data-alert="));
    let r = send(&fx, get("/api/v1/alerts?since=7d", &viewer.cookie)).await.json();
    assert_eq!(r["alerts"].as_array().map(Vec::len), Some(expected.len()), "all were raised within 7 days");
    let bad = send(&fx, get("/alerts?since=someday", &viewer.cookie)).await.body;
    assert!(bad.contains("nhsuk-error-summary") && bad.contains("href=\"#since\""), "the field is named");

    // Muting takes an administrator and a CSRF token.
    let editor = signin(&fx, "eddie").await;
    let mute = [("rule", "switch_away"), ("action", "mute")];
    let r = send(&fx, post("/alerts/rules", &editor.cookie, &[&[("csrf", editor.csrf.as_str())], &mute[..]].concat()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&fx, post("/alerts/rules", &admin.cookie, &mute)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF token");
    let r = send(
        &fx,
        post("/alerts/rules", &admin.cookie, &[("csrf", &admin.csrf), ("rule", "nonsense"), ("action", "mute")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(csx_node::alerts::settings::muted(&fx.home).is_empty());
    let r =
        send(&fx, post("/alerts/rules", &admin.cookie, &[&[("csrf", admin.csrf.as_str())], &mute[..]].concat())).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/alerts?saved=muted-switch_away#rules");
    assert!(csx_node::alerts::settings::muted(&fx.home).contains(&Rule::SwitchAway));
    let page = send(&fx, get("/alerts?saved=muted-switch_away", &admin.cookie)).await.body;
    assert!(page.contains("switch_away is muted"));
    let row = &page[page.find(r#"data-rule-row="switch_away""#).expect("row")..];
    assert!(row[..row.find("</tr>").expect("tr")].contains("<td class=\"nhsuk-table__cell\" data-state>muted</td>"));
    // The rule is muted where the watcher looks: another switch raises nothing.
    fx.write_as(2, vec![switch("2025-10-01")]);
    let logged = alerts.evaluate(&fx.service).expect("evaluate");
    assert!(logged.iter().all(|a| a.raised.rule != Rule::SwitchAway), "{logged:?}");
    let r = send(
        &fx,
        post("/alerts/rules", &admin.cookie, &[("csrf", &admin.csrf), ("rule", "switch_away"), ("action", "unmute")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(csx_node::alerts::settings::muted(&fx.home).is_empty());
    let audit = std::fs::read_to_string(fx.home.path("web/audit.log")).expect("audit");
    assert!(audit.contains("alert_mute") && audit.contains("alert_unmute"));
}
