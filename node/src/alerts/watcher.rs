//! The daemon's alert watcher: evaluates the rules when records are stored (ingest and this
//! node's own writes signal [`crate::ingest::Counters::records_stored`]) and when the date
//! changes, logs what is new, and hands it to delivery. `csx alerts` reads the log and
//! `csx watch` waits on it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use csx_protocol::Date;

use super::deliver::{Outbox, Sender};
use super::rules::{self, ForkFact, Input, MemberFact};
use super::settings::{self, AlertsConfig};
use super::state::State;
use super::{Alert, Rule};
use crate::error_kind::ApiError;
use crate::home::Home;
use crate::ingest::Counters;
use crate::query::{Ctx, Dataset, Want};
use crate::service::Service;

/// Records read as "new" in one evaluation, at most (a node catching up on a large sync reads
/// the rest as history: the rules see them in the data, not as news).
pub const MAX_NEW: usize = 100_000;
/// How long the watcher waits after records are stored for more of the same batch.
const SETTLE: Duration = Duration::from_millis(100);
/// The least time between the end of one evaluation and the start of the next ...
const MIN_GAP: Duration = Duration::from_secs(1);
/// ... and the most.
const MAX_GAP: Duration = Duration::from_secs(300);
/// ... otherwise this many times as long as the last evaluation took.
const GAP_FACTOR: u32 = 10;

/// How long the watcher waits after an evaluation that took `took` before the next one, while
/// records keep being stored: each evaluation reads the whole store, so a node catching up
/// (a federation forming, a large first sync) would otherwise evaluate ten times a second. The
/// watcher then takes at most a tenth of a core, and what is stored meanwhile is evaluated
/// together.
fn gap_after(took: Duration) -> Duration {
    took.saturating_mul(GAP_FACTOR).clamp(MIN_GAP, MAX_GAP)
}

/// How often the watcher looks at the date.
const DATE_CHECK: Duration = Duration::from_secs(60);
/// The longest a `csx watch` request waits for news before answering empty.
pub const MAX_WAIT: Duration = Duration::from_secs(25);

/// The alert log and its rules, for one node.
pub struct Alerts {
    state: Mutex<State>,
    path: PathBuf,
    config: AlertsConfig,
    home: Home,
    base_url: Option<String>,
    latest: tokio::sync::watch::Sender<u64>,
    outbox: Outbox,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").field("path", &self.path).field("targets", &self.outbox.targets()).finish()
    }
}

/// Where the alert state lives in a home.
pub fn state_path(home: &Home) -> PathBuf {
    settings::dir(home).join("state.json")
}

impl Alerts {
    /// Loads the state (a damaged file is moved aside and the rules start afresh) and starts
    /// delivery. Must be called within a tokio runtime. `base_url` is the dashboard's address,
    /// for links. Returns the problems with targets left out.
    pub fn open(
        home: &Home,
        config: AlertsConfig,
        base_url: Option<String>,
        sender: Sender,
    ) -> Result<(Alerts, Vec<String>), ApiError> {
        config.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
        let path = state_path(home);
        let state = match State::load(&path) {
            Ok(Some(s)) => s,
            Ok(None) => State::new(),
            Err(e) => {
                let aside = path.with_extension("damaged");
                let _ = std::fs::rename(&path, &aside);
                tracing::error!("{e}; moved to {} and starting the alert rules afresh", aside.display());
                State::new()
            }
        };
        let (latest, _) = tokio::sync::watch::channel(state.next_seq.saturating_sub(1));
        let (outbox, problems) = Outbox::start(&config, sender);
        let alerts = Alerts { state: Mutex::new(state), path, config, home: home.clone(), base_url, latest, outbox };
        Ok((alerts, problems))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Evaluates the rules against `service`'s store now: the alerts logged.
    pub fn evaluate(&self, service: &Service) -> Result<Vec<Alert>, ApiError> {
        let store = service.store().as_ref();
        let now = service.now();
        let genesis = service.genesis();
        let ctx = Ctx {
            me: service.identity().org_key,
            k: genesis.disclosure_threshold,
            max_share_bp: genesis.max_member_share_bp,
            now_ms: now,
        };
        let roster = service.membership().roster();
        let mut state = self.state();
        let seeding = !state.seeded();
        let mut new = HashSet::new();
        for (author, head) in store.heads()? {
            let key = author.to_hex();
            let from = state.cursor.get(&key).copied();
            if from.is_some() || !seeding {
                for seq in from.unwrap_or(0) + 1..=head.seq {
                    if new.len() >= MAX_NEW {
                        break;
                    }
                    if let Some(r) = store.get_at(&author, seq)? {
                        new.insert(r.id());
                    }
                }
            }
            state.cursor.insert(key, head.seq);
        }
        let data = Dataset::load(store, &roster, Want::everything())?;
        let members: Vec<MemberFact> = roster
            .members()
            .into_iter()
            .map(|m| MemberFact {
                current: m.is_current(),
                revoked: !m.revoked_by.is_empty(),
                org: m.org_key,
                ods: m.ods_code,
                name: m.name,
            })
            .collect();
        let forks: Vec<ForkFact> = store
            .forks()?
            .into_iter()
            .map(|f| ForkFact {
                org: roster.org_of(&f.author).map(|(_, ods)| ods.to_string()),
                author: f.author,
                seq: f.seq,
            })
            .collect();
        let input = Input { ctx, data: &data, new: &new, members: &members, forks: &forks };
        let raised = rules::evaluate(&input, &self.config, &mut state.memory);
        let muted = settings::muted(&self.home);
        let config = &self.config;
        let log = |rule: Rule| {
            config.rule_enabled(rule)
                && !muted.contains(&rule)
                && (!seeding || matches!(rule, Rule::NoticeDeadline | Rule::MotionClosing))
        };
        let logged = state.record(raised, now, self.base_url.as_deref(), config.log_limit, log);
        state.evaluated_at = now.max(1);
        if let Err(e) = state.save(&self.path) {
            tracing::error!("cannot save the alert state to {}: {e}", self.path.display());
        }
        let last = state.next_seq.saturating_sub(1);
        drop(state);
        for a in &logged {
            tracing::info!(alert = a.seq, rule = %a.raised.rule, "alert: {}", a.raised.title);
            self.outbox.send(a);
        }
        if !logged.is_empty() {
            self.latest.send_replace(last);
        }
        Ok(logged)
    }

    /// Logged alerts after `after` (a seq) raised at or after `since_ms`.
    pub fn list(&self, after: u64, since_ms: u64) -> Vec<Alert> {
        self.state().list(after, since_ms)
    }

    /// Alerts after `after`, waiting up to `wait` (at most [`MAX_WAIT`]) for one to be logged.
    pub async fn wait_after(&self, after: u64, wait: Duration) -> Vec<Alert> {
        let mut rx = self.latest.subscribe();
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            let found = self.list(after, 0);
            if !found.is_empty() {
                return found;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return vec![],
            }
        }
    }

    /// Delivery targets running.
    pub fn targets(&self) -> usize {
        self.outbox.targets()
    }
}

/// Runs the watcher until aborted: once at start, then when records are stored (at most as
/// often as [`gap_after`] allows) and when the date changes.
pub fn spawn(alerts: Arc<Alerts>, service: Arc<Service>, counters: Arc<Counters>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DATE_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_day: Option<Date> = None;
        let mut next_allowed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = counters.records_stored.notified() => {
                    tokio::time::sleep(SETTLE).await;
                    tokio::time::sleep_until(next_allowed).await;
                }
                _ = tick.tick() => {
                    if last_day.is_some() && last_day == Date::from_unix_ms(service.now()) {
                        continue;
                    }
                }
            }
            last_day = Date::from_unix_ms(service.now());
            let (a, s) = (alerts.clone(), service.clone());
            let started = tokio::time::Instant::now();
            match tokio::task::spawn_blocking(move || a.evaluate(&s)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("evaluating the alert rules failed: {e}"),
                Err(e) => tracing::error!("the alert task failed: {e}"),
            }
            next_allowed = tokio::time::Instant::now() + gap_after(started.elapsed());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluations_are_spaced_by_ten_times_their_cost_within_bounds() {
        assert_eq!(gap_after(Duration::ZERO), MIN_GAP, "a cheap evaluation still waits a second");
        assert_eq!(gap_after(Duration::from_millis(40)), MIN_GAP);
        assert_eq!(gap_after(Duration::from_millis(840)), Duration::from_millis(8_400), "a large store");
        assert_eq!(gap_after(Duration::from_secs(3_600)), MAX_GAP, "never more than five minutes");
    }
}
