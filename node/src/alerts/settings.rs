//! The `[alerts]` section of config.toml: each rule on by default with its thresholds, where
//! alerts are delivered (webhooks, email over SMTP), and the mutes `csx alert mute` keeps in
//! `alerts/muted.json` in the home directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Rule;
use crate::config::ConfigError;

/// Most alerts a node's log keeps (the oldest go first).
pub const DEFAULT_LOG_LIMIT: usize = 2_000;
/// Largest log a configuration may ask for.
pub const MAX_LOG_LIMIT: usize = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate rules at all (the log, `csx alerts` and `csx watch` need it).
    pub enabled: bool,
    /// Alerts kept in the log.
    pub log_limit: usize,
    pub price: PriceRule,
    pub switch_away: Toggle,
    pub review: ReviewRule,
    pub motion: MotionRule,
    pub notice: NoticeRule,
    pub members: Toggle,
    /// Joint tenders forming on a line you intend to re-procure, joined, or renew in the window.
    pub tender: Toggle,
    /// Forks and revocations (for the node's admins).
    pub integrity: Toggle,
    pub delivery: Delivery,
    /// The SMTP server email targets are sent through.
    pub smtp: Smtp,
    /// Written as `[[alerts.webhooks]]` tables (`csx alert add webhook` appends one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookTarget>,
    /// Written as `[[alerts.email]]` tables (`csx alert add email` appends one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<EmailTarget>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Toggle {
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PriceRule {
    pub enabled: bool,
    /// Alert when your £/head is above the market's 75th percentile (shown from 5 members).
    pub above_p75: bool,
    /// Also alert when your gap above the median passes this % (0: off).
    pub gap_pct: f64,
}

impl Default for PriceRule {
    fn default() -> Self {
        PriceRule { enabled: true, above_p75: true, gap_pct: 25.0 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewRule {
    pub enabled: bool,
    /// A provider's shown score (1–5) below this after a new review alerts.
    pub below: f64,
    /// A new review lowering the shown score by more than this alerts.
    pub drop: f64,
}

impl Default for ReviewRule {
    fn default() -> Self {
        ReviewRule { enabled: true, below: 2.5, drop: 0.3 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MotionRule {
    pub enabled: bool,
    /// Alert when a motion you have not supported has this % of the support it needs.
    pub near_pct: u8,
    /// Alert when a motion you have not supported closes within this many days.
    pub closing_days: u16,
    /// Alert when a motion carries.
    pub carried: bool,
}

impl Default for MotionRule {
    fn default() -> Self {
        MotionRule { enabled: true, near_pct: 75, closing_days: 7, carried: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeRule {
    pub enabled: bool,
    /// Days before a notice date to alert at.
    pub days: Vec<u16>,
}

impl Default for NoticeRule {
    fn default() -> Self {
        NoticeRule { enabled: true, days: vec![90, 30, 7] }
    }
}

/// How alerts are sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Delivery {
    /// Tries per webhook delivery (the first and the retries).
    pub attempts: u32,
    /// The wait before the first retry, doubled before each next one (ms).
    pub backoff_ms: u64,
    /// Alerts waiting to be sent, at most; beyond, the oldest waiting are dropped (and counted).
    pub queue: usize,
    /// Seconds one webhook request or SMTP session may take.
    pub timeout_secs: u64,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery { attempts: 5, backoff_ms: 2_000, queue: 1_000, timeout_secs: 15 }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (required).
    Starttls,
    /// TLS from the start (SMTPS, usually port 465).
    Tls,
    /// No encryption (only for a relay on the same host or a test server).
    Plain,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    /// The server's host name (empty: email off).
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Sign in with this user name (empty: no sign-in).
    pub username: String,
    /// A file holding the password (owner-only, e.g. 0600); never in config.toml.
    pub password_file: String,
    /// The sender, e.g. `csx <csx@example.nhs.uk>`.
    pub from: String,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            host: String::new(),
            port: 587,
            security: Security::Starttls,
            username: String::new(),
            password_file: String::new(),
            from: String::new(),
        }
    }
}

/// What a webhook's body looks like.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The alert as JSON (the same document as `csx alerts --json` gives for one alert).
    #[default]
    Json,
    /// A Slack-compatible incoming-webhook message (`text` and `blocks`).
    Slack,
    /// A Microsoft Teams message (an Adaptive Card in a `message` envelope).
    Teams,
}

impl std::str::FromStr for WebhookFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(WebhookFormat::Json),
            "slack" => Ok(WebhookFormat::Slack),
            "teams" => Ok(WebhookFormat::Teams),
            other => Err(format!("`{other}` is not a webhook format: json, slack or teams")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookTarget {
    /// A name for logs and `csx alert list`.
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    /// A file holding the HMAC-SHA256 secret (owner-only); empty: requests are not signed.
    pub secret_file: String,
    /// Only these rules (empty: all).
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EmailTarget {
    pub name: String,
    /// Recipients.
    pub to: Vec<String>,
    /// 0: one email per alert; otherwise one digest of the alerts of each this many minutes.
    pub digest_minutes: u64,
    /// Only these rules (empty: all).
    pub rules: Vec<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            log_limit: DEFAULT_LOG_LIMIT,
            price: PriceRule::default(),
            switch_away: Toggle::default(),
            review: ReviewRule::default(),
            motion: MotionRule::default(),
            notice: NoticeRule::default(),
            members: Toggle::default(),
            tender: Toggle::default(),
            integrity: Toggle::default(),
            delivery: Delivery::default(),
            smtp: Smtp::default(),
            webhooks: vec![],
            email: vec![],
        }
    }
}

fn bad(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Value { setting, problem: problem.into() }
}

/// Rules named in a target's `rules`, checked.
pub fn parse_rules(names: &[String]) -> Result<BTreeSet<Rule>, String> {
    names.iter().map(|n| n.parse::<Rule>()).collect()
}

impl AlertsConfig {
    /// Whether `rule` is switched on in this configuration.
    pub fn rule_enabled(&self, rule: Rule) -> bool {
        match rule {
            Rule::PriceAboveMarket => self.price.enabled,
            Rule::SwitchAway => self.switch_away.enabled,
            Rule::PoorReview | Rule::ScoreDrop => self.review.enabled,
            Rule::MotionNearThreshold | Rule::MotionClosing => self.motion.enabled,
            Rule::MotionCarried => self.motion.enabled && self.motion.carried,
            Rule::NoticeDeadline => self.notice.enabled,
            Rule::MemberJoined => self.members.enabled,
            Rule::TenderForming => self.tender.enabled,
            Rule::Integrity => self.integrity.enabled,
            Rule::Test => true,
        }
    }

    /// Checks every setting, naming the one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.log_limit == 0 || self.log_limit > MAX_LOG_LIMIT {
            return Err(bad("alerts.log_limit", format!("must be 1 to {MAX_LOG_LIMIT}")));
        }
        if !(0.0..=1000.0).contains(&self.price.gap_pct) || self.price.gap_pct.is_nan() {
            return Err(bad("alerts.price.gap_pct", "must be a percentage from 0 (off) to 1000"));
        }
        if !(1.0..=5.0).contains(&self.review.below) {
            return Err(bad("alerts.review.below", "must be a score from 1 to 5"));
        }
        if !(0.0..=4.0).contains(&self.review.drop) || self.review.drop.is_nan() {
            return Err(bad("alerts.review.drop", "must be from 0 to 4 (points of the 1–5 score)"));
        }
        if !(1..=100).contains(&self.motion.near_pct) {
            return Err(bad("alerts.motion.near_pct", "must be a percentage from 1 to 100"));
        }
        if self.motion.closing_days > 366 {
            return Err(bad("alerts.motion.closing_days", "at most 366 days"));
        }
        if self.notice.days.is_empty() || self.notice.days.len() > 10 || self.notice.days.iter().any(|d| *d > 3660) {
            return Err(bad("alerts.notice.days", "give 1 to 10 numbers of days, each at most 3660, e.g. [90, 30, 7]"));
        }
        let d = &self.delivery;
        if d.attempts == 0 || d.attempts > 20 {
            return Err(bad("alerts.delivery.attempts", "must be 1 to 20"));
        }
        if d.backoff_ms > 3_600_000 {
            return Err(bad("alerts.delivery.backoff_ms", "at most an hour (3600000)"));
        }
        if d.queue == 0 || d.queue > 100_000 {
            return Err(bad("alerts.delivery.queue", "must be 1 to 100000"));
        }
        if d.timeout_secs == 0 || d.timeout_secs > 600 {
            return Err(bad("alerts.delivery.timeout_secs", "must be 1 to 600"));
        }
        for w in &self.webhooks {
            let u = w.url.trim();
            if !(u.starts_with("https://") || u.starts_with("http://")) || reqwest::Url::parse(u).is_err() {
                return Err(bad("alerts.webhooks.url", format!("`{u}` is not an http(s) address")));
            }
            parse_rules(&w.rules).map_err(|e| bad("alerts.webhooks.rules", e))?;
        }
        if !self.email.is_empty() {
            if self.smtp.host.trim().is_empty() {
                return Err(bad(
                    "alerts.smtp.host",
                    "email targets are configured but no SMTP server: set [alerts.smtp] host",
                ));
            }
            self.smtp
                .from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| bad("alerts.smtp.from", format!("`{}` is not an email address: {e}", self.smtp.from)))?;
            if self.smtp.username.trim().is_empty() != self.smtp.password_file.trim().is_empty() {
                return Err(bad("alerts.smtp.username", "give both username and password_file, or neither"));
            }
        }
        for e in &self.email {
            if e.to.is_empty() {
                return Err(bad("alerts.email.to", "an email target needs at least one recipient"));
            }
            for to in &e.to {
                to.parse::<lettre::message::Mailbox>()
                    .map_err(|err| bad("alerts.email.to", format!("`{to}` is not an email address: {err}")))?;
            }
            if e.digest_minutes > 7 * 24 * 60 {
                return Err(bad("alerts.email.digest_minutes", "at most a week (10080)"));
            }
            parse_rules(&e.rules).map_err(|err| bad("alerts.email.rules", err))?;
        }
        Ok(())
    }
}

/// Reads a secret from an owner-only file: refused when others may read it. The secret is
/// never logged.
pub fn read_secret(path: &Path, what: &str) -> Result<String, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| format!("{what} file {}: {e}", path.display()))?;
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "{what} file {} may be read by others (mode {:o}): run `chmod 600 {}`",
                path.display(),
                meta.mode() & 0o777,
                path.display()
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{what} file {}: {e}", path.display()))?;
    let s = text.trim().to_string();
    if s.is_empty() {
        return Err(format!("{what} file {} is empty", path.display()));
    }
    Ok(s)
}

/// The folder in the home directory that holds the alert state, mutes and webhook secrets.
pub fn dir(home: &crate::home::Home) -> PathBuf {
    home.path("alerts")
}

/// The rules muted with `csx alert mute`.
pub fn muted(home: &crate::home::Home) -> BTreeSet<Rule> {
    let path = dir(home).join("muted.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return BTreeSet::new() };
    match serde_json::from_str::<Vec<String>>(&text) {
        Ok(names) => names.iter().filter_map(|n| n.parse().ok()).collect(),
        Err(e) => {
            tracing::warn!("{} is not a list of rule names ({e}); no rule is muted", path.display());
            BTreeSet::new()
        }
    }
}

/// Writes the muted rules (owner-only, replaced atomically).
pub fn set_muted(home: &crate::home::Home, rules: &BTreeSet<Rule>) -> std::io::Result<()> {
    let names: Vec<&str> = rules.iter().map(|r| r.as_str()).collect();
    let text = serde_json::to_vec_pretty(&names).map_err(std::io::Error::other)?;
    super::state::write_atomic(&dir(home).join("muted.json"), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        AlertsConfig::default().validate().expect("defaults");
        let c = AlertsConfig { motion: MotionRule { near_pct: 0, ..MotionRule::default() }, ..AlertsConfig::default() };
        assert!(c.validate().expect_err("0%").to_string().starts_with("alerts.motion.near_pct"));
        let c = AlertsConfig {
            webhooks: vec![WebhookTarget { url: "ftp://x".into(), ..WebhookTarget::default() }],
            ..AlertsConfig::default()
        };
        assert!(c.validate().expect_err("ftp").to_string().contains("not an http(s) address"));
        let c = AlertsConfig {
            email: vec![EmailTarget { to: vec!["ops@example.nhs.uk".into()], ..EmailTarget::default() }],
            ..AlertsConfig::default()
        };
        assert!(c.validate().expect_err("no smtp").to_string().starts_with("alerts.smtp.host"));
        let c = AlertsConfig {
            webhooks: vec![WebhookTarget {
                url: "https://example.invalid/hook".into(),
                rules: vec!["price".into()],
                ..WebhookTarget::default()
            }],
            ..AlertsConfig::default()
        };
        assert!(c.validate().expect_err("rule").to_string().contains("`price` is not an alert rule"));
    }

    #[test]
    fn a_secret_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s");
        std::fs::write(&p, "abc\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(read_secret(&p, "webhook secret").expect_err("0644").contains("chmod 600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_secret(&p, "webhook secret").expect("0600"), "abc");
    }
}
