//! Test harness for csx: federations of real nodes in one process (libp2p's memory transport),
#![allow(missing_debug_implementations)] // test harness types hold nodes and swarms
//! a scriptable raw peer, and helpers for driving `csx` processes.

pub mod bootstrap;
pub mod federation;
pub mod peer;
pub mod process;
pub mod sim;
pub mod sinks;

use std::time::{Duration, Instant};

/// Waits until `check` returns true, polling; panics with `what` after `timeout`. Tests wait for
/// the state they expect, never for a fixed time.
pub async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        if check() {
            return;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
