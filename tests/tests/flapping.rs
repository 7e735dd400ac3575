//! A flapping network: a node catching up while its links go down and up every second or so
//! still converges, and neither its waiting records nor its memory grow without bound. Alone in
//! its test binary, so the process's memory is this test's.

use std::time::{Duration, Instant};

use csx_tests::federation::{Federation, review};
use csx_tests::wait_until;

const SETTLE: Duration = Duration::from_secs(60);

/// Resident memory of this process now (VmRSS), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_network_still_converges_with_bounded_queues_and_memory() {
    let mut fed = Federation::new(3);
    // Small pages, so that catching up takes many requests for the flapping to cut through.
    fed.net.page_records = 50;
    fed.connect_chain(2);
    for i in 0..2 {
        fed.start(i).await;
    }
    // Members 0 and 1 write 6,000 records while member 2 is away.
    for b in 0..30u32 {
        fed.publish((b % 2) as usize, (0..200).map(|k| review(b * 200 + k)).collect()).await;
    }
    let mut expected = 4 + 6000 + 2;
    wait_until("members 0 and 1 agree", SETTLE, || fed.records(0) == expected - 2 && fed.records(1) == expected - 2)
        .await;
    fed.start(2).await;
    let started = Instant::now();
    let rss_start = rss_kib();
    let mut rss = vec![rss_start];
    let (mut flaps, mut max_pending) = (0u32, 0u64);
    // Cut member 2 off from both peers for 0.1–0.6 s every 0.3–1.2 s, while both keep writing,
    // for at least 20 cuts and until it holds everything.
    let deadline = started + Duration::from_secs(240);
    while flaps < 20 || fed.records(2) < expected {
        assert!(
            Instant::now() < deadline,
            "member 2 did not converge under flapping: {} of {expected}",
            fed.records(2)
        );
        if flaps < 20 {
            let w = 10_000 + flaps * 20;
            fed.publish((flaps % 2) as usize, (w..w + 20).map(review).collect()).await;
            expected += 20;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1200))).await;
        fed.cut(&[2], &[0, 1], true).await;
        flaps += 1;
        max_pending = max_pending.max(fed.store(2).stats().expect("stats").pending);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(100..600))).await;
        fed.cut(&[2], &[0, 1], false).await;
        max_pending = max_pending.max(fed.store(2).stats().expect("stats").pending);
        rss.push(rss_kib());
    }
    let took = started.elapsed();
    let d = fed.digest(0);
    wait_until("all three agree", SETTLE, || (0..3).all(|i| fed.digest(i) == d)).await;
    assert_eq!(fed.store(2).stats().expect("stats").pending, 0, "nothing left waiting");
    // Records waiting for a gap are bounded per author by design (10,000); far fewer ever wait here.
    assert!(max_pending <= 2_000, "records waiting grew to {max_pending}");
    // Memory levels off: the last quarter of the run holds no more than the first half's peak
    // plus a margin (an unbounded queue would keep growing with every cut).
    let half_peak = rss[..rss.len() / 2].iter().max().copied().unwrap_or(0);
    let last_peak = rss[rss.len() * 3 / 4..].iter().max().copied().unwrap_or(0);
    assert!(last_peak <= half_peak + 64 * 1024, "memory kept growing: {rss:?} KiB");
    let peak = rss.iter().max().copied().unwrap_or(0);
    println!(
        "FIGURE flapping: {} records caught up through {flaps} disconnections in {took:?}; peak waiting records {max_pending}; process RSS at start {rss_start} KiB, peak {peak} KiB, end {} KiB",
        expected - 4,
        rss.last().copied().unwrap_or(0)
    );
    fed.stop_all().await;
}
