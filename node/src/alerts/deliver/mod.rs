//! Delivery of alerts to the targets in `[alerts]`: each target has its own bounded queue and
//! worker task, so a slow or failing webhook never holds up another target.
//!
//! - [`webhook`]: an HTTP POST of a JSON body (plain, Slack-compatible or Microsoft Teams),
//!   signed with HMAC-SHA256 when the target has a secret, retried with exponential backoff.
//! - [`email`]: a message per alert, or a digest, over SMTP (STARTTLS, TLS or plain).

pub mod email;
pub mod webhook;

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::settings::{AlertsConfig, parse_rules};
use super::{Alert, Rule};

/// Who the alerts are about: this member, for the message's heading.
#[derive(Debug, Clone)]
pub struct Sender {
    pub ods: String,
    pub name: String,
}

/// A target's queue: alerts waiting to be sent, at most `bound` (the oldest dropped beyond).
#[derive(Debug)]
pub struct Queue {
    items: Mutex<VecDeque<Alert>>,
    ready: Notify,
    bound: usize,
    rules: BTreeSet<Rule>,
    name: String,
}

impl Queue {
    fn new(name: String, bound: usize, rules: BTreeSet<Rule>) -> Arc<Queue> {
        Arc::new(Queue { items: Mutex::new(VecDeque::new()), ready: Notify::new(), bound, rules, name })
    }

    /// Queues `alert` if the target takes its rule.
    pub fn offer(&self, alert: &Alert) {
        if !self.rules.is_empty() && !self.rules.contains(&alert.raised.rule) && alert.raised.rule != Rule::Test {
            return;
        }
        let mut q = self.items.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(alert.clone());
        if q.len() > self.bound {
            q.pop_front();
            tracing::warn!(target = %self.name, bound = self.bound, "alert delivery queue full: dropped the oldest alert");
        }
        drop(q);
        self.ready.notify_one();
    }

    /// Waits for the next alert.
    pub async fn next(&self) -> Alert {
        loop {
            if let Some(a) = self.items.lock().unwrap_or_else(|p| p.into_inner()).pop_front() {
                return a;
            }
            self.ready.notified().await;
        }
    }

    /// Everything queued now.
    pub fn drain(&self) -> Vec<Alert> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The delivery side of a node: one queue per target, each with its worker task.
#[derive(Debug, Default)]
pub struct Outbox {
    queues: Vec<Arc<Queue>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Outbox {
    /// Starts a worker per target (must be called within a tokio runtime). A target whose
    /// secret or password cannot be read is reported and left out; the others still run.
    pub fn start(config: &AlertsConfig, sender: Sender) -> (Outbox, Vec<String>) {
        let mut out = Outbox::default();
        let mut problems = Vec::new();
        let d = &config.delivery;
        for (i, w) in config.webhooks.iter().enumerate() {
            let name = if w.name.is_empty() { format!("webhook {}", i + 1) } else { w.name.clone() };
            let rules = parse_rules(&w.rules).unwrap_or_default();
            match webhook::Webhook::new(w, d, sender.clone()) {
                Ok(hook) => {
                    let q = Queue::new(name, d.queue, rules);
                    out.tasks.push(tokio::spawn(webhook::run(hook, q.clone())));
                    out.queues.push(q);
                }
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        }
        for (i, e) in config.email.iter().enumerate() {
            let name = if e.name.is_empty() { format!("email {}", i + 1) } else { e.name.clone() };
            let rules = parse_rules(&e.rules).unwrap_or_default();
            match email::Mailer::new(&config.smtp, e, d, sender.clone()) {
                Ok(mailer) => {
                    let q = Queue::new(name, d.queue, rules);
                    out.tasks.push(tokio::spawn(email::run(mailer, q.clone())));
                    out.queues.push(q);
                }
                Err(err) => problems.push(format!("{name}: {err}")),
            }
        }
        for p in &problems {
            tracing::error!("alert target left out: {p}");
        }
        (out, problems)
    }

    pub fn send(&self, alert: &Alert) {
        for q in &self.queues {
            q.offer(alert);
        }
    }

    pub fn targets(&self) -> usize {
        self.queues.len()
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
