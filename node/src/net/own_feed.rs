//! Whether this node's own feed has been confirmed by a peer since it started (the gate that
//! publishing waits at after a restore).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Whether this node's own feed has been confirmed by a peer since it started. A node restored
/// from a backup may hold less of its own feed than its peers; signing more before learning
/// what they hold would fork its feed, so publishing waits for this.
#[derive(Debug, Default)]
pub struct OwnFeedGate {
    confirmed: AtomicBool,
    notify: Notify,
}

impl OwnFeedGate {
    pub fn new(confirmed: bool) -> Self {
        OwnFeedGate { confirmed: AtomicBool::new(confirmed), notify: Notify::new() }
    }
    pub fn confirm(&self) {
        if !self.confirmed.swap(true, Ordering::AcqRel) {
            tracing::info!("own feed confirmed by a peer; publishing enabled");
        }
        self.notify.notify_waiters();
    }
    pub fn is_confirmed(&self) -> bool {
        self.confirmed.load(Ordering::Acquire)
    }
    /// Waits up to `timeout` for confirmation; returns whether it is confirmed.
    pub async fn wait(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if self.is_confirmed() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_confirmed();
            }
        }
    }
}
