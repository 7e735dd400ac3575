//! `csx-bench`: whole-system benchmarks against the ceilings of this machine, measured in the
//! same run. Prints a table; `--json FILE` writes the figures too. See docs/PERFORMANCE.md.
//!
//! ```sh
//! cargo run --release -p csx-tests --bin csx-bench                      # default size (100k records)
//! cargo run --release -p csx-tests --bin csx-bench -- --records 1000000 --json bench.json
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator of the `csx` binary, so the in-process nodes measure what the daemon does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use csx_node::ingest::{Counters, Verdict};
use csx_node::membership::Membership;
use csx_node::query::{Ctx, Question};
use csx_node::service::system_clock;
use csx_node::store::{SledStore, Store, StoreConfig};
use csx_protocol::body::{BuyingRoute, KpiBasis, Price, PricingModel};
use csx_protocol::keys::{PublicKey, SecretKey};
use csx_protocol::{Body, FinancialYear, Record};
use csx_tests::federation::{Federation, review};

/// One figure: what was measured, its value and unit, and the ratio to its ceiling or goal.
#[derive(Debug, Clone, serde::Serialize)]
struct Figure {
    name: String,
    value: f64,
    unit: String,
    note: String,
}

#[derive(Default)]
struct Report {
    figures: Vec<Figure>,
}

impl Report {
    fn add(&mut self, name: &str, value: f64, unit: &str, note: impl Into<String>) -> f64 {
        let f = Figure { name: name.into(), value, unit: unit.into(), note: note.into() };
        println!("{:<44} {:>14} {:<12} {}", f.name, fmt(f.value), f.unit, f.note);
        self.figures.push(f);
        value
    }
}

fn fmt(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Bytes under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// A memory field (`VmRSS:`, `VmHWM:`) of `/proc/<pid>/status`, in MiB (Linux).
fn proc_mib(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A price disclosure body numbered `n`, about 1 KiB signed (with its scope text).
fn price(n: u32) -> Body {
    Body::Price(Price {
        provider: ["0DE", "0AR", "0CX", "0DF", "0DJ", "0DG"][n as usize % 6].into(),
        service_line: ["BI", "CONTRACT", "PROC", "MEDS", "CHC", "FIN", "HR", "IT"][n as usize % 8].into(),
        year: FinancialYear(2019 + (n % 7) as u16),
        annual_value_pence: 10_000_000 + u64::from(n % 9973) * 1000,
        vat_included: n.is_multiple_of(5),
        pricing_model: PricingModel::Fixed,
        population_covered: 250_000 + u64::from(n % 50) * 10_000,
        unit_name: None,
        unit_count: None,
        scope: Some(format!("Disclosure {n}: {}", "core service, ad hoc analysis and reporting; ".repeat(14))),
        contract_start: None,
        contract_months: Some(36),
        notice_months: Some([3, 6, 12][n as usize % 3]),
        efficiency_bp: Some(200),
        kpi_basis: Some(KpiBasis::Process),
        buying_route: Some(BuyingRoute::Framework),
        satisfaction_survey: Some(n.is_multiple_of(2)),
        contract_ref: None,
    })
}

struct Args {
    records: usize,
    json: Option<String>,
    sync: bool,
    /// Nodes and records of the propagation test (0 nodes: skip it).
    nodes: usize,
    propagate: usize,
    /// Only the ceilings, ingest, disk and the catch-up sync (no queries, pages or daemon).
    sync_focus: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args { records: 100_000, json: None, sync: true, nodes: 100, propagate: 200, sync_focus: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--records" => {
                let v = it.next().ok_or_else(|| anyhow::anyhow!("--records needs a number"))?;
                a.records =
                    v.replace('_', "").parse().map_err(|_| anyhow::anyhow!("--records: `{v}` is not a number"))?;
            }
            "--json" => a.json = Some(it.next().ok_or_else(|| anyhow::anyhow!("--json needs a file"))?),
            "--no-sync" => a.sync = false,
            "--sync-focus" => a.sync_focus = true,
            "--nodes" | "--propagate" => {
                let v = it.next().ok_or_else(|| anyhow::anyhow!("{arg} needs a number"))?;
                let n = v.parse().map_err(|_| anyhow::anyhow!("{arg}: `{v}` is not a number"))?;
                if arg == "--nodes" { a.nodes = n } else { a.propagate = n }
            }
            "--propagation-only" => a.records = 0,
            "-h" | "--help" => {
                println!(
                    "csx-bench [--records N (default 100000)] [--json FILE] [--no-sync] [--nodes N (default 100; 0 skips propagation)] [--propagate N (records, default 200)] [--propagation-only] [--sync-focus (skip the parts of ingest, queries, pages and the daemon)]"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument `{other}` (try --help)"),
        }
    }
    if a.records < 1000 && a.records != 0 {
        anyhow::bail!("--records: at least 1000");
    }
    Ok(a)
}

// ── ceilings ───────────────────────────────────────────────────────────────────────────────

/// Measures the machine's ceilings; returns the one-core verify_strict rate and sled's space factor.
fn ceilings(r: &mut Report) -> anyhow::Result<(f64, f64)> {
    use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};
    let n = 20_000;
    let keys: Vec<SigningKey> = (0..64u8).map(|i| SigningKey::from_bytes(&[i.wrapping_add(1); 32])).collect();
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("{i:>1024}").into_bytes()).collect();
    let sigs: Vec<Signature> = msgs.iter().enumerate().map(|(i, m)| keys[i % 64].sign(m)).collect();
    let vks: Vec<_> = keys.iter().map(|k| k.verifying_key()).collect();
    // The rule records are judged by: verify_strict through the protocol crate's key type.
    let pks: Vec<PublicKey> = vks.iter().map(|k| PublicKey::from_bytes(k.as_bytes()).expect("key")).collect();
    let t = Instant::now();
    for (i, m) in msgs.iter().enumerate() {
        assert!(pks[i % 64].verify_prefixed(m, &sigs[i].to_bytes()));
    }
    let single = r.add("ceiling: ed25519 verify_strict, 1 core", rate(n, t.elapsed()), "sig/s", "1 KiB messages");
    let t = Instant::now();
    for (i, m) in msgs.iter().enumerate() {
        assert!(vks[i % 64].verify(m, &sigs[i]).is_ok());
    }
    r.add("ceiling: ed25519 verify (cofactorless), 1 core", rate(n, t.elapsed()), "sig/s", "");
    let t = Instant::now();
    for chunk in 0..n / 1000 {
        let range = chunk * 1000..(chunk + 1) * 1000;
        let m: Vec<&[u8]> = msgs[range.clone()].iter().map(Vec::as_slice).collect();
        let k: Vec<_> = range.clone().map(|i| vks[i % 64]).collect();
        ed25519_dalek::verify_batch(&m, &sigs[range], &k).map_err(|e| anyhow::anyhow!("batch: {e}"))?;
    }
    r.add("ceiling: ed25519 verify_batch(1000), 1 core", rate(n, t.elapsed()), "sig/s", "");

    // sled: batches of 1000 × 1 KiB under hash-like keys, flushed after each batch.
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new().path(dir.path()).cache_capacity(64 << 20).open()?;
    let value = vec![7u8; 1024];
    let n = 100_000;
    let t = Instant::now();
    for b in 0..n / 1000 {
        let mut batch = sled::Batch::default();
        for i in 0..1000u64 {
            let k = (b as u64 * 1000 + i).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes();
            batch.insert(&k, value.as_slice());
        }
        db.apply_batch(batch)?;
        db.flush()?;
    }
    r.add("ceiling: sled Batch(1000)+flush, 1 KiB", rate(n, t.elapsed()), "rec/s", "");
    drop(db);
    let sled_space = r.add(
        "ceiling: sled's disk for the values alone",
        dir_bytes(dir.path()) as f64 / (n * value.len()) as f64,
        "×",
        "store size / value bytes, no other keys: sled's floor",
    );

    // Loopback TCP, one stream, 64 KiB writes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let total: usize = 2 << 30;
    let reader = std::thread::spawn(move || -> std::io::Result<usize> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(got);
            }
            got += n;
        }
    });
    let mut s = std::net::TcpStream::connect(addr)?;
    let buf = vec![1u8; 1 << 16];
    let t = Instant::now();
    let mut sent = 0;
    while sent < total {
        s.write_all(&buf)?;
        sent += buf.len();
    }
    drop(s);
    let got = reader.join().map_err(|_| anyhow::anyhow!("reader panicked"))??;
    r.add("ceiling: loopback TCP, 1 stream", got as f64 / t.elapsed().as_secs_f64() / 1e6, "MB/s", "");
    Ok((single, sled_space))
}

// ── the workload ───────────────────────────────────────────────────────────────────────────

/// `n` records from the feeds of members `authors` (certificate first), half prices, half
/// reviews, signed on every core. Returned in an order that keeps each feed in seq order.
fn records(fed: &Federation, authors: std::ops::Range<usize>, n: usize) -> anyhow::Result<Vec<Record>> {
    let federation = fed.genesis.id();
    let per = n / authors.len();
    let now = csx_node::service::system_clock()();
    let feeds: Vec<Vec<Record>> = std::thread::scope(|s| {
        let handles: Vec<_> = authors
            .clone()
            .map(|a| {
                let home = &fed.members[a].home;
                s.spawn(move || -> anyhow::Result<Vec<Record>> {
                    let key: SecretKey = home.node_key()?;
                    let author = csx_node::author::Author::new(key, federation, None);
                    let mut bodies = vec![Body::NodeCert(home.node_cert()?)];
                    for i in 0..per.saturating_sub(1) as u32 {
                        let k = i * 31 + a as u32;
                        bodies.push(if i % 2 == 0 { price(k) } else { review(k) });
                    }
                    Ok(author.sign(bodies, now)?)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("signing thread")).collect::<anyhow::Result<Vec<_>>>()
    })?;
    // Interleave feeds in runs of 256 so batches mix authors, as sync pages from a peer would.
    let mut out = Vec::with_capacity(n);
    let mut iters: Vec<_> = feeds.into_iter().map(|f| f.into_iter()).collect();
    loop {
        let mut any = false;
        for it in &mut iters {
            for r in it.by_ref().take(256) {
                out.push(r);
                any = true;
            }
        }
        if !any {
            return Ok(out);
        }
    }
}

fn ingest(
    r: &mut Report,
    fed: &Federation,
    store: Arc<dyn Store>,
    recs: &[Record],
    single: f64,
) -> anyhow::Result<f64> {
    let membership = Arc::new(Membership::load(fed.genesis.clone(), store.as_ref())?);
    let counters = Arc::new(Counters::default());
    let (handle, join) = csx_node::ingest::spawn(store.clone(), membership, system_clock(), counters);
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let t = Instant::now();
    // Queue pages of 4096 as the sync path does, a few in flight.
    let mut pending = std::collections::VecDeque::new();
    let mut appended = 0usize;
    let mut other = BTreeMap::<String, usize>::new();
    let mut drain = |rx: tokio::sync::oneshot::Receiver<Vec<Verdict>>| -> anyhow::Result<()> {
        for v in runtime.block_on(rx)? {
            match v {
                Verdict::Appended => appended += 1,
                v => *other.entry(format!("{v:?}").chars().take(40).collect()).or_default() += 1,
            }
        }
        Ok(())
    };
    for chunk in recs.chunks(4096) {
        pending.push_back(handle.enqueue(chunk.iter().map(|r| r.bytes().to_vec()).collect()));
        if pending.len() >= 4 {
            drain(pending.pop_front().expect("queued"))?;
        }
    }
    while let Some(rx) = pending.pop_front() {
        drain(rx)?;
    }
    store.flush()?;
    let elapsed = t.elapsed();
    drop(handle);
    let _ = join.join();
    if appended != recs.len() {
        anyhow::bail!("ingest appended {appended} of {} records: {other:?}", recs.len());
    }
    let v = rate(recs.len(), elapsed);
    r.add("ingest: decode+verify+store+index", v, "rec/s", format!("{:.2}× verify ceiling (goal ≥ 0.8×)", v / single));
    Ok(v)
}

/// Copies `from` to `to`, adding what passes to `counted`.
async fn pipe(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    counted: Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        counted.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

/// Forwards TCP connections to `target`, counting the bytes each way.
async fn counting_proxy(target: std::net::SocketAddr) -> anyhow::Result<(u16, Arc<std::sync::atomic::AtomicU64>)> {
    use std::sync::atomic::AtomicU64;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let bytes = Arc::new(AtomicU64::new(0));
    let counted = bytes.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { continue };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (ir, iw) = inbound.into_split();
            let (or, ow) = outbound.into_split();
            tokio::spawn(pipe(ir, ow, counted.clone()));
            tokio::spawn(pipe(or, iw, counted.clone()));
        }
    });
    Ok((port, bytes))
}

/// Member 0 holds the workload; member 1 starts empty and syncs it over loopback TCP, through a
/// proxy that counts the bytes on the wire.
fn sync(r: &mut Report, fed: &mut Federation, ingest_rate: f64) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    fed.use_tcp();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        fed.start(0).await;
        let target: std::net::SocketAddr = {
            let a = fed.members[0].listen.to_string();
            let port = a
                .rsplit('/')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| anyhow::anyhow!("no port in {a}"))?;
            std::net::SocketAddr::from(([127, 0, 0, 1], port))
        };
        let (port, wire) = counting_proxy(target).await?;
        let via: libp2p::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", fed.members[0].peer_id).parse()?;
        fed.members[1].dials = vec![via];
        let total = fed.records(0);
        let record_bytes = fed.store(0).stats()?.record_bytes;
        let started = Instant::now();
        fed.start(1).await;
        // Member 1 holds its own certificate and, once caught up, everything member 0 held.
        let mut last_report = Instant::now();
        while fed.records(1) < total + 1 && started.elapsed() < Duration::from_secs(3600) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if last_report.elapsed() > Duration::from_secs(30) {
                last_report = Instant::now();
                let status = fed.node(1).api().handle(csx_node::api::Request::Status).await;
                if let Ok(csx_node::api::Response::Status(s)) = status {
                    let net = s.network.unwrap_or_default();
                    eprintln!(
                        "  … sync: {} of {total} records after {:.0} s; peers {:?}; counters {:?}",
                        fed.records(1),
                        started.elapsed().as_secs_f64(),
                        net.peers.iter().map(|p| (p.connected, p.verified, p.in_sync)).collect::<Vec<_>>(),
                        net.counters
                    );
                }
            }
        }
        let elapsed = started.elapsed();
        let got = fed.records(1) - 1;
        let on_wire = wire.load(Ordering::Relaxed);
        let v = rate(got as usize, elapsed);
        r.add(
            "catch-up sync: 2 nodes, loopback TCP",
            v,
            "rec/s",
            format!("{got} of {total} in {:.1} s; {:.2}× ingest (goal ≥ 0.5×)", elapsed.as_secs_f64(), v / ingest_rate),
        );
        r.add("catch-up sync: seconds", elapsed.as_secs_f64(), "s", format!("{got} records (goal ≤ 45 s at 1M)"));
        // Where the new member's time went: its ingest stages' busy time against the wall time.
        let counters = fed.node(1).counters();
        for (name, micros) in [
            ("catch-up sync: verifier stage busy", &counters.verify_micros),
            ("catch-up sync: store stage busy", &counters.store_micros),
        ] {
            let busy = micros.load(Ordering::Relaxed) as f64 / 1e6;
            r.add(name, busy, "s", format!("{:.0}% of the sync's wall time", 100.0 * busy / elapsed.as_secs_f64()));
        }
        r.add(
            "catch-up sync: wire bytes / record bytes",
            on_wire as f64 / record_bytes as f64,
            "×",
            format!(
                "{:.1} MB on the wire for {:.1} MB of records (goal ≤ 1.15×)",
                on_wire as f64 / 1e6,
                record_bytes as f64 / 1e6
            ),
        );
        // Level now: what a pair exchanges while in step, over 10 s (sync every 2 s each way,
        // plus pings and gossip heartbeats).
        let before = wire.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let idle = wire.load(Ordering::Relaxed) - before;
        r.add(
            "in-sync pair: bytes per sync round",
            idle as f64 / 10.0,
            "bytes",
            format!("{idle} bytes in 10 s, ~10 rounds (goal ≤ 16 KB a round)"),
        );
        let peak = proc_mib("self", "VmHWM:");
        r.add("memory: bench process peak RSS", peak, "MiB", "workload, ingest and two nodes in one process");
        fed.stop_all().await;
        Ok::<(), anyhow::Error>(())
    })
}

/// Starts the real `csx daemon` on the home holding the workload: time until it answers on its
/// control socket, then its resident memory while idle.
fn daemon(r: &mut Report, home: &csx_node::home::Home) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?.with_file_name("csx");
    if !exe.exists() {
        println!("(skipping the daemon figures: build the csx binary first, `cargo build --release -p csx-cli`)");
        return Ok(());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let started = Instant::now();
    let mut child = std::process::Command::new(&exe)
        .env("CSX_HOME", home.root())
        .args(["daemon", "--web-listen", "off", "--listen", &format!("/ip4/127.0.0.1/tcp/{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let client = loop {
        if let Some(c) = csx_node::control::ControlClient::connect(home)?
            && c.call(&csx_node::api::Request::Status, Duration::from_secs(5)).is_ok()
        {
            break c;
        }
        if started.elapsed() > Duration::from_secs(600) || child.try_wait()?.is_some() {
            anyhow::bail!("the daemon did not start");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    r.add(
        "start-up: csx daemon to serving",
        started.elapsed().as_secs_f64() * 1000.0,
        "ms",
        "until its control socket answers",
    );
    std::thread::sleep(Duration::from_secs(5));
    let rss = proc_mib(&child.id().to_string(), "VmRSS:");
    r.add("memory: idle csx daemon RSS", rss, "MiB", "holding the workload (goal ≤ 256 MiB)");
    let _ = client.call(&csx_node::api::Request::Shutdown, Duration::from_secs(5));
    let _ = child.wait();
    Ok(())
}

/// The two halves of ingest on their own: verification on every core, and storing pre-verified
/// records, to show where the time goes.
fn ingest_parts(r: &mut Report, fed: &Federation, recs: &[Record]) -> anyhow::Result<()> {
    let ctx = csx_protocol::VerifyContext::new(fed.genesis.id(), system_clock()());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let verified: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = recs
            .chunks(recs.len().div_ceil(threads))
            .map(|part| {
                s.spawn(|| {
                    part.iter()
                        .map(|r| Record::decode(r.bytes().to_vec()).and_then(|r| r.verify(&ctx)))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("verifier")).collect::<Result<Vec<Vec<_>>, _>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    r.add("ingest part: decode+verify, all cores", rate(recs.len(), t.elapsed()), "rec/s", "");
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path(), StoreConfig::default())?;
    let t = Instant::now();
    let mut it = verified.into_iter();
    loop {
        let batch: Vec<_> = it.by_ref().take(4096).collect();
        if batch.is_empty() {
            break;
        }
        store.insert(batch)?;
    }
    store.flush()?;
    r.add("ingest part: store+index (pre-verified)", rate(recs.len(), t.elapsed()), "rec/s", "");
    Ok(())
}

fn queries(r: &mut Report, fed: &Federation, store: &dyn Store) -> anyhow::Result<()> {
    let membership = Membership::load(fed.genesis.clone(), store)?;
    let roster = membership.roster();
    let me = fed.members[2].home.identity()?.org_key;
    let ctx = Ctx { me, k: 3, max_share_bp: 5000, now_ms: system_clock()() };
    let questions = [
        ("prices (all lines)", Question::Prices(Default::default())),
        ("provider show 0DE", Question::Provider { code: "0DE".into() }),
        ("report", Question::Report),
    ];
    // Cold: one question, its records read from the store (the offline CLI, or a daemon after a change).
    for (name, q) in &questions {
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            csx_node::query::answer(store, &roster, &ctx, q)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let ms = median(times);
        r.add(
            &format!("query cold: {name}"),
            ms,
            "ms",
            format!("median of 3 (goal ≤ 100 ms){}", if ms <= 100.0 { "" } else { " — missed" }),
        );
    }
    // Warm: a daemon's cache, filled by the first question after a change.
    let cache = csx_node::query::Cache::default();
    let t = Instant::now();
    csx_node::query::answer_cached(&cache, store, &roster, membership.version(), &ctx, &Question::Report)?;
    r.add(
        "query: cache fill (every kind loaded)",
        t.elapsed().as_secs_f64() * 1000.0,
        "ms",
        "first question after a change",
    );
    for (name, q) in &questions {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            csx_node::query::answer_cached(&cache, store, &roster, membership.version(), &ctx, q)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let ms = median(times);
        r.add(
            &format!("query warm: {name}"),
            ms,
            "ms",
            format!("median of 5 (goal ≤ 100 ms){}", if ms <= 100.0 { "" } else { " — missed" }),
        );
    }
    Ok(())
}

/// The dashboard's pages, served by the router from the node's service over `store`, as the
/// daemon serves them: the first request after a change (the query cache is filled) and then
/// warm, median of 5. Server time only: no network, no browser.
fn pages(r: &mut Report, fed: &Federation, store: Arc<dyn Store>) -> anyhow::Result<()> {
    use tower::ServiceExt;
    let home = &fed.members[2].home;
    let service = Arc::new(csx_node::service::Service::open(home, store, system_clock(), "daemon")?);
    let app = csx_web::App::new(
        csx_web::NodeLink::Offline(service),
        home.clone(),
        csx_web::Settings::default(),
        system_clock(),
    )?;
    let holder = csx_web::sessions::Holder::Owner { name: "bench".into() };
    let secret = app.sessions.create(holder, system_clock()()).ok_or_else(|| anyhow::anyhow!("no session"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let get = |path: &str| -> anyhow::Result<f64> {
        let req = axum::http::Request::get(path)
            .header("host", "localhost")
            .header("cookie", format!("csx_session={secret}"))
            .body(axum::body::Body::empty())?;
        let t = Instant::now();
        let body = runtime.block_on(async {
            let resp = csx_web::router(app.clone()).oneshot(req).await?;
            anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.status());
            Ok(axum::body::to_bytes(resp.into_body(), usize::MAX).await?)
        })?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(!body.is_empty(), "{path}: empty page");
        Ok(ms)
    };
    let paths = [
        ("overview", "/"),
        ("prices", "/prices"),
        ("prices of BI", "/prices?service_line=BI"),
        ("providers", "/providers"),
        ("provider 0DE", "/providers/0DE"),
        ("switching", "/switching"),
        ("motions", "/motions"),
        ("your records", "/records"),
        ("node", "/node"),
        ("API: prices", "/api/v1/prices"),
    ];
    let cold = get("/")?;
    r.add("page cold: overview (fills the cache)", cold, "ms", "first page after a change");
    for (name, path) in paths {
        let ms = median((0..5).map(|_| get(path)).collect::<anyhow::Result<Vec<f64>>>()?);
        r.add(
            &format!("page: {name}"),
            ms,
            "ms",
            format!("median of 5, server time (goal ≤ 200 ms){}", if ms <= 200.0 { "" } else { " — missed" }),
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // As the `csx` binary does.
    csx_node::memory::no_transparent_huge_pages();
    let args = args()?;
    let mut r = Report::default();
    println!(
        "csx-bench: {} records, {} cores",
        args.records,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<44} {:>14} {:<12} note", "figure", "value", "unit");
    if args.records == 0 {
        propagation(&mut r, args.nodes, args.propagate)?;
        return write_json(&r, args.json);
    }
    let (single, sled_space) = ceilings(&mut r)?;

    // A federation of 6 founders: members 2–5 author the records; 0 and 1 run the sync test.
    let mut fed = Federation::new(6);
    let t = Instant::now();
    let recs = records(&fed, 2..6, args.records)?;
    r.add("workload: signing, all cores", rate(recs.len(), t.elapsed()), "rec/s", "");
    let payload: usize = recs.iter().map(|r| r.bytes().len()).sum();
    r.add("workload: mean record size", payload as f64 / recs.len() as f64, "bytes", "");

    // Ingest into member 0's store, which then serves the catch-up sync.
    let store_dir = fed.members[0].home.store_dir();
    let ingest_rate;
    {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&store_dir, StoreConfig::default())?);
        ingest_rate = ingest(&mut r, &fed, store.clone(), &recs, single)?;
        if !args.sync_focus {
            ingest_parts(&mut r, &fed, &recs)?;
        }
        let disk = dir_bytes(&store_dir) as f64;
        r.add(
            "disk: store size / record bytes",
            disk / payload as f64,
            "×",
            format!(
                "{:.0} MB for {:.0} MB (goal ≤ 2.5×); {:.2}× sled's floor",
                disk / 1e6,
                payload as f64 / 1e6,
                disk / payload as f64 / sled_space
            ),
        );
        if !args.sync_focus {
            queries(&mut r, &fed, store.as_ref())?;
            pages(&mut r, &fed, store.clone())?;
        }
    }
    drop(recs);
    let t = Instant::now();
    {
        let store = SledStore::open(&store_dir, StoreConfig::default())?;
        let _m = Membership::load(fed.genesis.clone(), &store)?;
        let _ = store.heads_index().root();
    }
    r.add(
        "start-up: open store + roster + heads",
        t.elapsed().as_secs_f64() * 1000.0,
        "ms",
        "the store part of daemon start",
    );

    // Each running node serves its own certificate (seq 1 of its feed), so peers can verify it.
    for i in 0..2 {
        let home = &fed.members[i].home;
        let cert = csx_node::author::Author::new(home.node_key()?, fed.genesis.id(), None)
            .sign(vec![Body::NodeCert(home.node_cert()?)], system_clock()())?;
        let store = SledStore::open(&home.store_dir(), StoreConfig::default())?;
        let ctx = csx_protocol::VerifyContext::new(fed.genesis.id(), system_clock()());
        store.insert(vec![Record::decode(cert[0].bytes().to_vec())?.verify(&ctx)?])?;
        store.flush()?;
    }
    if args.sync {
        sync(&mut r, &mut fed, ingest_rate)?;
    }
    if !args.sync_focus {
        daemon(&mut r, &fed.members[0].home)?;
    }
    drop(fed);
    if args.nodes > 0 {
        propagation(&mut r, args.nodes, args.propagate)?;
    }
    write_json(&r, args.json)
}

fn write_json(r: &Report, json: Option<String>) -> anyhow::Result<()> {
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&r.figures)? + "\n")?;
        println!("wrote {path}");
    }
    Ok(())
}

// ── propagation ────────────────────────────────────────────────────────────────────────────

/// `nodes` in-process nodes (memory transport, each dialling 4 random others); `records` reviews
/// published one at a time by random members; for each, the time from the publish call until
/// the last node holds it.
fn propagation(r: &mut Report, nodes: usize, records: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let t = Instant::now();
        let mut fed = Federation::new(nodes);
        fed.connect_random(4);
        fed.start_all().await;
        let initial = 2 * nodes as u64;
        let deadline = Instant::now() + Duration::from_secs(600);
        while !(0..nodes).all(|i| fed.records(i) == initial) {
            anyhow::ensure!(Instant::now() < deadline, "the {nodes} nodes did not exchange their certificates in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        r.add(&format!("propagation: {nodes} nodes up and level"), t.elapsed().as_secs_f64(), "s", "");
        let stores: Vec<Arc<dyn Store>> = (0..nodes).map(|i| fed.store(i)).collect();
        let mut latencies = Vec::with_capacity(records);
        for k in 0..records {
            let author = fastrand::usize(..nodes);
            let start = Instant::now();
            let written = fed.publish(author, vec![review(1_000_000 + k as u32)]).await;
            let id = written[0].id();
            let mut waiting: Vec<usize> = (0..nodes).collect();
            while !waiting.is_empty() {
                waiting.retain(|i| stores[*i].get(&id).ok().flatten().is_none());
                anyhow::ensure!(start.elapsed() < Duration::from_secs(60), "record {k} did not reach every node");
                if !waiting.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            latencies.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1];
        let p99 = pct(0.99);
        r.add("propagation: publish → last node, p50", pct(0.50), "ms", format!("{records} records, random authors"));
        r.add(
            "propagation: publish → last node, p99",
            p99,
            "ms",
            format!("goal ≤ 500 ms: {}", if p99 <= 500.0 { "met" } else { "MISSED" }),
        );
        r.add("propagation: publish → last node, max", pct(1.0), "ms", "");
        fed.stop_all().await;
        Ok(())
    })
}
