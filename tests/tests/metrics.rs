//! The daemon's metrics endpoint, scraped from real daemons in a two-member federation with a
//! bootstrap server: the figures match what was written and what `csx status` says, `/healthz`
//! and `/readyz` answer as documented, and every metric the shipped Grafana dashboard and alert
//! rules use is in a scrape.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::time::Duration;

use csx_tests::process::{Bootstrap, CliHome, found_federation, free_port, wait_for};

const SOON: Duration = Duration::from_secs(60);

/// `GET path` on `port` (HTTP/1.0: the body runs to the end of the connection).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("writes");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("reads");
    let code = reply.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("a status code");
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

/// A scrape: each sample (`name{labels}`) and its value, and every metric name it declares.
struct Scrape {
    samples: BTreeMap<String, f64>,
    names: BTreeSet<String>,
    text: String,
}

impl Scrape {
    fn of(port: u16) -> Scrape {
        let (code, text) = get(port, "/metrics");
        assert_eq!(code, 200, "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics text ends with # EOF");
        let mut samples = BTreeMap::new();
        let mut names = BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                let (name, kind) = (it.next().expect("name"), it.next().expect("type"));
                names.insert(name.to_string());
                let suffixes: &[&str] = match kind {
                    "counter" => &["_total"],
                    "histogram" => &["_bucket", "_sum", "_count"],
                    "info" => &["_info"],
                    _ => &[],
                };
                names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let (series, value) = line.rsplit_once(' ').expect("series value");
                samples.insert(series.to_string(), value.parse().expect("a number"));
                names.insert(series.split('{').next().expect("name").to_string());
            }
        }
        Scrape { samples, names, text }
    }

    fn value(&self, series: &str) -> f64 {
        *self.samples.get(series).unwrap_or_else(|| panic!("no {series} in the scrape:\n{}", self.text))
    }

    fn sum(&self, name: &str) -> f64 {
        self.samples.iter().filter(|(k, _)| k.starts_with(&format!("{name}{{"))).map(|(_, v)| v).sum()
    }
}

fn review_count(port: u16) -> f64 {
    Scrape::of(port).value("csx_records{kind=\"review\"}")
}

#[test]
fn a_scrape_of_a_running_federation_shows_its_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Bootstrap::new(&dir.path().join("bootstrap"), free_port());
    let (nodes, genesis) = found_federation(dir.path(), &["MT0", "MT1"], Some(&server.address));
    let _bootstrap = server.start(&genesis);
    let metrics: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let start = |i: usize| {
        let node: &CliHome = &nodes[i];
        node.write_test_config(free_port());
        node.start_daemon(&["--metrics", &format!("127.0.0.1:{}", metrics[i])])
    };
    let _first = start(0);
    // Alive, but not ready: the federation has another member whose node has not come.
    assert_eq!(get(metrics[0], "/healthz").0, 200);
    let (code, why) = get(metrics[0], "/readyz");
    assert_eq!(code, 503, "{why}");
    assert!(why.contains("no member's node is connected"), "{why}");
    assert_eq!(Scrape::of(metrics[0]).value("csx_ready"), 0.0);

    let _second = start(1);
    wait_for("both daemons ready", SOON, || metrics.iter().all(|&m| get(m, "/readyz").0 == 200));
    let before = review_count(metrics[1]);
    for i in 0..3 {
        nodes[0].review(&format!("review {i} for the metrics"));
    }
    wait_for("the second node holds the three reviews", SOON, || review_count(metrics[1]) == before + 3.0);
    wait_for("a sync round that ends level", SOON, || {
        Scrape::of(metrics[1]).value("csx_sync_rounds_total{outcome=\"in_sync\"}") >= 1.0
    });

    for (node, &port) in nodes.iter().zip(&metrics) {
        let s = Scrape::of(port);
        let status = node.json(&["status"]);
        let held = status["store"]["records"].as_f64().expect("records");
        assert_eq!(s.value("csx_records{kind=\"review\"}"), before + 3.0);
        assert_eq!(s.value("csx_store_records"), held, "as `csx status` says");
        assert_eq!(s.sum("csx_records"), held, "records by kind add up to the records held");
        assert_eq!(s.value("csx_store_feeds"), status["store"]["feeds"].as_f64().expect("feeds"));
        assert_eq!(s.value("csx_store_record_bytes"), status["store"]["record_bytes"].as_f64().expect("bytes"));
        assert!(s.value("csx_store_disk_bytes") > s.value("csx_store_record_bytes"));
        assert_eq!(s.value("csx_pending_records"), 0.0);
        assert!(s.value("csx_peers{state=\"verified\"}") >= 1.0);
        assert_eq!(s.value("csx_peers{state=\"banned\"}"), 0.0);
        assert!(s.value("csx_seconds_since_last_sync") < 60.0);
        assert!(s.value("csx_last_sync_timestamp_seconds") > 1.7e9);
        assert_eq!(s.value("csx_ready"), 1.0);
        assert_eq!(s.value("csx_ingest_queue_records"), 0.0);
        assert!(s.text.contains(&format!("csx_build_info{{version=\"{}\"", env!("CARGO_PKG_VERSION"))), "{}", s.text);
    }
    // The second node took the reviews from the first: received, stored, timed.
    let s = Scrape::of(metrics[1]);
    assert!(s.value("csx_records_appended_total") >= 3.0);
    assert!(s.value("csx_records_received_total") >= s.value("csx_records_appended_total"));
    assert!(s.value("csx_ingest_latency_seconds_count") >= 1.0);
    assert!(s.value("csx_ingest_latency_seconds_bucket{le=\"+Inf\"}") >= 1.0);
    // Nothing refused in a federation of founders.
    assert_eq!(s.sum("csx_records_rejected_total"), 0.0, "{}", s.text);

    // Every metric the shipped dashboard and alert rules use is in a scrape.
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/monitoring");
    for file in ["grafana-dashboard.json", "alerts.yml"] {
        let text = std::fs::read_to_string(docs.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        if file.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text).expect("the dashboard is JSON");
        }
        let used = metric_names(&text);
        assert!(used.len() >= 8, "{file} uses {used:?}");
        for name in used {
            assert!(s.names.contains(&name), "{file} uses {name}, which no scrape has:\n{:?}", s.names);
        }
    }
}

/// The `csx_…` metric names in a text.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("csx_") {
        let start = i + at;
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if before_ok {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}
