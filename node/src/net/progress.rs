//! Progress of catching up: from the first page fetched by sync while no other fetch was under
//! way, to the moment no sync round is running any more. `csx status` shows it (records and bytes
//! received, the rate, the records left and the time left), and the daemon logs it at info every
//! 2 seconds while a catch-up lasts longer than that — a newcomer's first sync of a large
//! federation, or a node back after a long absence.

use crate::api::SyncProgress;

/// How often a running catch-up is logged (and only once it has run this long).
const LOG_EVERY_MS: u64 = 2_000;

#[derive(Debug, Default)]
pub(super) struct CatchUp {
    current: Option<Run>,
    /// The last catch-up that ended.
    last: Option<SyncProgress>,
}

#[derive(Debug)]
struct Run {
    started_at: u64,
    records: u64,
    bytes: u64,
    logged_at: u64,
    logged: bool,
}

impl CatchUp {
    /// A page of `records` fetched by sync.
    pub(super) fn fetched(&mut self, records: &[Vec<u8>], now: u64) {
        let run = self.current.get_or_insert_with(|| Run {
            started_at: now,
            records: 0,
            bytes: 0,
            logged_at: now,
            logged: false,
        });
        run.records += records.len() as u64;
        run.bytes += records.iter().map(|r| r.len() as u64).sum::<u64>();
    }

    /// The catch-up under way, else the last one; `remaining` is the records the peers of the
    /// rounds running hold beyond what they have sent so far.
    pub(super) fn progress(&self, remaining: u64, now: u64) -> Option<SyncProgress> {
        match &self.current {
            Some(run) => Some(snapshot(run, remaining, now, true)),
            None => self.last.clone(),
        }
    }

    /// Called every second: logs a long catch-up every [`LOG_EVERY_MS`], and ends it once no
    /// round runs.
    pub(super) fn tick(&mut self, rounds_running: bool, remaining: u64, now: u64) {
        let Some(run) = &mut self.current else { return };
        if !rounds_running {
            let done = snapshot(run, 0, now, false);
            if run.logged {
                tracing::info!(
                    records = done.received_records,
                    bytes = done.received_bytes,
                    secs = format!("{:.1}", done.elapsed_secs),
                    "caught up: {} records ({}) in {:.1}s",
                    done.received_records,
                    human_bytes(done.received_bytes),
                    done.elapsed_secs
                );
            }
            self.last = Some(done);
            self.current = None;
            return;
        }
        if now.saturating_sub(run.logged_at) >= LOG_EVERY_MS {
            run.logged_at = now;
            run.logged = true;
            let p = snapshot(run, remaining, now, true);
            let left = match p.eta_secs {
                Some(s) => format!("about {s:.0}s left"),
                None => "time left unknown".to_string(),
            };
            tracing::info!(
                records = p.received_records,
                bytes = p.received_bytes,
                remaining = p.remaining_records,
                rate = format!("{:.0}", p.records_per_sec),
                "catching up: {} of about {} records ({}), {:.0} records/s, {left}",
                p.received_records,
                p.received_records + p.remaining_records,
                human_bytes(p.received_bytes),
                p.records_per_sec
            );
        }
    }
}

fn snapshot(run: &Run, remaining: u64, now: u64, active: bool) -> SyncProgress {
    let elapsed = now.saturating_sub(run.started_at) as f64 / 1000.0;
    let rate = if elapsed > 0.0 { run.records as f64 / elapsed } else { 0.0 };
    let byte_rate = if elapsed > 0.0 { run.bytes as f64 / elapsed } else { 0.0 };
    SyncProgress {
        active,
        started_at: run.started_at,
        elapsed_secs: elapsed,
        received_records: run.records,
        received_bytes: run.bytes,
        remaining_records: remaining,
        records_per_sec: rate,
        bytes_per_sec: byte_rate,
        eta_secs: (active && rate > 0.0).then(|| remaining as f64 / rate),
    }
}

/// 1.5 MB, 320 kB, 12 B.
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.0} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_up_counts_pages_estimates_the_time_left_and_ends_when_no_round_runs() {
        let mut c = CatchUp::default();
        assert!(c.progress(0, 0).is_none());
        c.fetched(&[vec![0; 100], vec![0; 50]], 1_000);
        c.fetched(&vec![vec![0; 10]; 48], 3_000);
        let p = c.progress(100, 3_000).expect("under way");
        assert!(p.active);
        assert_eq!((p.received_records, p.received_bytes, p.remaining_records), (50, 630, 100));
        assert_eq!(p.records_per_sec, 25.0);
        assert_eq!(p.eta_secs, Some(4.0));
        c.tick(true, 100, 3_000);
        assert!(c.progress(100, 3_000).expect("still").active);
        c.tick(false, 0, 4_000);
        let done = c.progress(0, 5_000).expect("the last one");
        assert!(!done.active);
        assert_eq!((done.received_records, done.remaining_records, done.eta_secs), (50, 0, None));
        assert_eq!(done.elapsed_secs, 3.0);
        // The next fetch starts a new one.
        c.fetched(&[vec![0; 1]], 9_000);
        let next = c.progress(0, 9_000).expect("new");
        assert_eq!((next.active, next.received_records, next.started_at), (true, 1, 9_000));
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
