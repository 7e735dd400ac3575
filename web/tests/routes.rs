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
            Some(st) => {
                let median = st["median"].as_f64().expect("median");
                assert!(page.contains(&csx_web::charts::money(median)), "median {median} is on the page");
            }
            None => {
                withheld += 1;
                assert!(
                    page.contains(&format!("not enough data ({} of ", c["members"]))
                        || page.contains("not shown: one member"),
                    "{c}"
                );
            }
        }
    }
    assert!(withheld > 0, "the sample market has withheld cells for BI");
    for row in
        page.split("<tr").map(|r| r.split("</tr>").next().unwrap_or("")).filter(|r| r.contains("not enough data"))
    {
        let cells: Vec<&str> = row.split("<td").collect();
        // Every cell but the member's own value and percentile (the last two) is free of money.
        for cell in &cells[..cells.len().saturating_sub(2)] {
            assert!(!has_money(cell), "a withheld row shows a figure: {row}");
        }
    }
    for g in page.split("<g class=\"csx-withheld\"").skip(1) {
        let g = g.split("</g>").next().unwrap_or("");
        assert!(!has_money(g) && g.contains("not enough data"), "a withheld cell drawn with a figure: {g}");
    }
    // The chart draws one box per shown cell of the year chart, no more.
    let boxes = page
        .split("id=\"prices-years\"")
        .nth(1)
        .expect("the by-year chart")
        .split("</svg>")
        .next()
        .expect("svg")
        .matches(r#"data-mark="box""#)
        .count();
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
