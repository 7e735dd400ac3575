//! The daemon's metrics for Prometheus (OpenMetrics text at `/metrics`), and its health checks
//! `/healthz` (the process answers) and `/readyz` (the store is open, the node listens, and a
//! member's node is connected and verified — or the federation has no other member's node).
//! Served on a local address set by `metrics` in config.toml or `csx daemon --metrics`; off by
//! default. docs/OPERATIONS.md, "Metrics", lists every metric.
//!
//! Figures are read at each scrape from the node itself (store counts, peers, counters): the
//! scrape shows the node as it is, and nothing is kept twice.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::api::{NetStatus, Status};
use crate::runtime::NodeApi;

/// What `csx_build_info` says.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    pub commit: String,
    pub protocol: String,
    pub store_layout: String,
}

/// The metrics endpoint, running; stopped when dropped or by [`MetricsServer::stop`].
#[derive(Debug)]
pub struct MetricsServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[derive(Clone)]
struct Ctx {
    api: NodeApi,
    build: BuildInfo,
    store_dir: std::path::PathBuf,
    started_ms: u64,
}

/// Parses the `metrics` setting: `host:port`, or empty / `off` for none.
pub fn parse_addr(text: &str) -> Result<Option<SocketAddr>, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| format!("metrics: `{t}` is not host:port (e.g. 127.0.0.1:9464) or off"))
}

/// Starts serving the metrics and health checks of `api` on `addr`.
pub async fn serve(
    addr: SocketAddr,
    api: NodeApi,
    build: BuildInfo,
    store_dir: std::path::PathBuf,
) -> Result<MetricsServer, String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("metrics: cannot listen on {addr}: {e} (set another address with `metrics` or --metrics)")
    })?;
    let addr = listener.local_addr().map_err(|e| format!("metrics: {e}"))?;
    let started_ms = api.service().now();
    let ctx = Ctx { api, build, store_dir, started_ms };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ctx);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
    tracing::info!(%addr, "metrics at http://{addr}/metrics");
    Ok(MetricsServer { addr, stop: Some(stop), task })
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Why the node is not ready, or `None` when it is.
async fn not_ready(api: &NodeApi) -> Option<String> {
    let status = match api.handle(crate::api::Request::Status).await {
        Ok(crate::api::Response::Status(s)) => s,
        Ok(_) => return Some("the node gave no status".into()),
        Err(e) => return Some(format!("the store cannot be read: {}", e.message)),
    };
    let Some(net) = &status.network else { return Some("the network is not running".into()) };
    if net.listen.is_empty() {
        return Some("not listening on any address".into());
    }
    if net.peers.iter().any(|p| p.connected && p.verified && !p.bootstrap) {
        return None;
    }
    if other_members(api, &status) == 0 {
        return None;
    }
    Some("no member's node is connected and verified yet".into())
}

/// Current members other than this node's organisation, by the roster this node holds (their
/// nodes may not be known yet: a founder's node is known once its certificate arrives).
fn other_members(api: &NodeApi, status: &Status) -> usize {
    let own = status.identity.org_key;
    api.membership().roster().members().iter().filter(|m| m.is_current() && m.org_key != own).count()
}

async fn readyz(State(ctx): State<Ctx>) -> Response {
    match not_ready(&ctx.api).await {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}

async fn metrics(State(ctx): State<Ctx>) -> Response {
    match render(&ctx).await {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

type Labels = Vec<(String, String)>;

fn label(name: &str, value: impl Into<String>) -> Labels {
    vec![(name.to_string(), value.into())]
}

fn gauge_family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label_name: &str,
    values: impl IntoIterator<Item = (String, i64)>,
) {
    let family = Family::<Labels, Gauge>::default();
    for (l, v) in values {
        family.get_or_create(&label(label_name, l)).set(v);
    }
    registry.register(name, help, family);
}

/// A counter by label. One with no series yet is declared all the same (the encoder leaves an
/// empty family out): returns its name and help for [`declare_empty`].
fn counter_family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label_name: &str,
    values: impl IntoIterator<Item = (String, u64)>,
) -> Option<(String, String)> {
    let family = Family::<Labels, Counter>::default();
    let mut any = false;
    for (l, v) in values {
        family.get_or_create(&label(label_name, l)).inc_by(v);
        any = true;
    }
    registry.register(name, help, family);
    (!any).then(|| (name.to_string(), help.to_string()))
}

/// Adds the descriptors of counter families with no series before `# EOF` (OpenMetrics allows
/// a family without samples): dashboards and alert rules find every documented name.
fn declare_empty(text: &mut String, empty: &[(String, String)]) {
    let Some(end) = text.rfind("# EOF") else { return };
    let mut extra = String::new();
    for (name, help) in empty {
        extra.push_str(&format!("# HELP csx_{name} {help}.\n# TYPE csx_{name} counter\n"));
    }
    text.insert_str(end, &extra);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    registry.register(name, help, c);
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Bytes of the files under `dir` (the store on disk).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// The peers by state: `verified` (a connected member's node), `unverified` (connected, not yet
/// shown to be one), `bootstrap` (a connected bootstrap server), `disconnected` (known, not
/// connected), `banned`.
fn peers_by_state(net: &NetStatus) -> Vec<(String, i64)> {
    let mut counts = [0i64; 5];
    for p in &net.peers {
        let slot = if p.banned.is_some() {
            4
        } else if !p.connected {
            3
        } else if p.bootstrap {
            2
        } else if p.verified {
            0
        } else {
            1
        };
        counts[slot] += 1;
    }
    ["verified", "unverified", "bootstrap", "disconnected", "banned"]
        .iter()
        .zip(counts)
        .map(|(s, n)| (s.to_string(), n))
        .collect()
}

async fn render(ctx: &Ctx) -> Result<String, String> {
    let status = match ctx.api.handle(crate::api::Request::Status).await {
        Ok(crate::api::Response::Status(s)) => *s,
        Ok(_) => return Err("the node gave no status".into()),
        Err(e) => return Err(e.message),
    };
    let net = status.network.clone().unwrap_or_default();
    let service = ctx.api.service().clone();
    let store_dir = ctx.store_dir.clone();
    let (by_kind, disk) = tokio::task::spawn_blocking(move || {
        let store = service.store();
        let kinds: Vec<(String, i64)> = csx_protocol::body::Kind::ALL
            .iter()
            .map(|k| (k.name().to_string(), i(store.count_kind(k.code() as u16).unwrap_or(0))))
            .collect();
        (kinds, dir_bytes(&store_dir))
    })
    .await
    .map_err(|e| e.to_string())?;
    let counters = ctx.api.counters();
    let snapshot = counters.snapshot();
    let with_prefix = |prefix: &str| -> Vec<(String, u64)> {
        snapshot.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|r| (r.to_string(), *v))).collect()
    };
    let plain = |name: &str| snapshot.get(name).copied().unwrap_or(0);
    let now_ms = ctx.api.service().now();

    let mut r = Registry::with_prefix("csx");
    let b = &ctx.build;
    r.register(
        "build",
        "The csx release, commit, protocol version and store layout of this daemon",
        Info::new(vec![
            ("version".to_string(), b.version.clone()),
            ("commit".to_string(), b.commit.clone()),
            ("protocol".to_string(), b.protocol.clone()),
            ("store_layout".to_string(), b.store_layout.clone()),
        ]),
    );
    gauge(&mut r, "start_time_seconds", "When this daemon started (Unix seconds)", i(ctx.started_ms / 1000));
    gauge_family(&mut r, "records", "Records held, by kind", "kind", by_kind);
    let s = &status.store;
    gauge(&mut r, "store_records", "Records held, of every kind", i(s.records));
    gauge(&mut r, "store_feeds", "Feeds (members' nodes) held", i(s.feeds));
    gauge(&mut r, "store_record_bytes", "Bytes of record payload held", i(s.record_bytes));
    gauge(&mut r, "store_disk_bytes", "Bytes of the store's files on disk", i(disk));
    gauge(&mut r, "pending_records", "Records held waiting for a missing predecessor", i(s.pending));
    gauge(
        &mut r,
        "quarantined_records",
        "Records of applicants held until their organisation is admitted",
        i(s.quarantined),
    );
    gauge(&mut r, "forks", "Feeds proven forked", i(s.forks));
    counter(&mut r, "records_received", "Records received from peers (by sync and gossip)", plain("received"));
    counter(&mut r, "records_appended", "Records received and stored", plain("appended"));
    counter(&mut r, "records_duplicate", "Records received that were held already", plain("duplicate"));
    let mut empty = Vec::new();
    empty.extend(counter_family(
        &mut r,
        "records_rejected",
        "Records received and refused, by reason (`csx status` lists them)",
        "reason",
        with_prefix("rejected."),
    ));
    empty.extend(counter_family(
        &mut r,
        "refused",
        "Peers' requests and messages refused, by reason",
        "reason",
        with_prefix("refused."),
    ));
    empty.extend(counter_family(
        &mut r,
        "dropped",
        "Connections dropped, by reason",
        "reason",
        with_prefix("dropped."),
    ));
    let ingest = counters.ingest_seconds.clone();
    r.register(
        "ingest_latency_seconds",
        "Seconds from records being queued for ingest to being verified and stored, per batch",
        ingest,
    );
    gauge(
        &mut r,
        "ingest_queue_records",
        "Records queued for ingest and not yet decided",
        i(counters.ingest_queued.load(Ordering::Relaxed)),
    );
    gauge(
        &mut r,
        "gossip_in_flight_records",
        "Records received by gossip waiting for ingest",
        i(counters.gossip_in_flight.load(Ordering::Relaxed)),
    );
    counter(
        &mut r,
        "gossip_overflow",
        "Gossip messages ignored because too many were waiting",
        plain("gossip_overflow"),
    );
    gauge_family(&mut r, "peers", "Peers by state", "state", peers_by_state(&net));
    counter_family(
        &mut r,
        "sync_rounds",
        "Sync rounds ended, by outcome: in_sync (level), fetched (records taken), failed",
        "outcome",
        ["in_sync", "fetched", "failed"].iter().map(|o| (o.to_string(), plain(&format!("sync_rounds.{o}")))),
    );
    let last_sync_ms = net.last_sync_at;
    gauge(
        &mut r,
        "last_sync_timestamp_seconds",
        "When a sync round last completed (Unix seconds; 0: never)",
        i(last_sync_ms.unwrap_or(0) / 1000),
    );
    gauge(
        &mut r,
        "seconds_since_last_sync",
        "Seconds since a sync round last completed (since the daemon started, if none has)",
        i(now_ms.saturating_sub(last_sync_ms.unwrap_or(ctx.started_ms)) / 1000),
    );
    gauge(
        &mut r,
        "own_feed_confirmed",
        "1 once a peer has confirmed this node's own feed",
        i64::from(net.own_feed_confirmed),
    );
    let ready = not_ready(&ctx.api).await.is_none();
    gauge(&mut r, "ready", "1 when /readyz answers ready", i64::from(ready));
    let mut text = String::new();
    encode(&mut text, &r).map_err(|e| e.to_string())?;
    declare_empty(&mut text, &empty);
    Ok(text)
}
