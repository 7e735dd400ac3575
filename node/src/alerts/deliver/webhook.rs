//! Webhooks: an alert is POSTed as JSON (plain, Slack-compatible or Microsoft Teams), retried
//! with exponential backoff after a network error, a timeout, a 429 or a 5xx, and given up
//! after a 4xx (the receiver refuses it; retrying would not help).
//!
//! **Signature** (docs/OPERATIONS.md, "Checking a webhook's signature"): with a secret, each
//! request carries `X-Csx-Timestamp: <Unix seconds>` and
//! `X-Csx-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>`. The
//! receiver recomputes it over the raw body, compares in constant time, and refuses a
//! timestamp more than five minutes old (a replay).

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;

use super::super::settings::{Delivery, WebhookFormat, WebhookTarget, read_secret};
use super::super::{Alert, Rule};
use super::{Queue, Sender};

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// A configured webhook, ready to send.
pub struct Webhook {
    pub name: String,
    url: reqwest::Url,
    format: WebhookFormat,
    secret: Option<Vec<u8>>,
    client: reqwest::Client,
    attempts: u32,
    backoff: Duration,
    sender: Sender,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Webhook").field("name", &self.name).field("url", &self.url.as_str()).finish()
    }
}

/// What came of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Accepted (2xx) on this try.
    Delivered { attempt: u32 },
    /// Refused with a 4xx other than 429: not retried.
    Refused { status: u16 },
    /// Every try failed; the last error.
    GaveUp { attempts: u32, last: String },
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds).
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(target: &WebhookTarget, delivery: &Delivery, sender: Sender) -> Result<Webhook, String> {
        let url =
            reqwest::Url::parse(target.url.trim()).map_err(|e| format!("`{}` is not an address: {e}", target.url))?;
        let secret = match target.secret_file.trim() {
            "" => None,
            f => Some(read_secret(std::path::Path::new(f), "webhook secret")?.into_bytes()),
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(delivery.timeout_secs))
            .user_agent(concat!("csx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        Ok(Webhook {
            name: if target.name.is_empty() {
                url.host_str().unwrap_or("webhook").to_string()
            } else {
                target.name.clone()
            },
            url,
            format: target.format,
            secret,
            client,
            attempts: delivery.attempts.max(1),
            backoff: Duration::from_millis(delivery.backoff_ms),
            sender,
        })
    }

    /// The request body for `alert` in this webhook's format.
    pub fn body(&self, alert: &Alert) -> Vec<u8> {
        payload(self.format, alert, &self.sender)
    }

    /// Sends `alert`, retrying as the module says.
    pub async fn deliver(&self, alert: &Alert) -> Sent {
        let body = self.body(alert);
        let mut wait = self.backoff;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            let mut req = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Csx-Alert", alert.seq.to_string())
                .header("X-Csx-Rule", alert.raised.rule.as_str());
            if let Some(secret) = &self.secret {
                let ts = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                req = req
                    .header("X-Csx-Timestamp", ts.to_string())
                    .header("X-Csx-Signature", signature(secret, ts, &body));
            }
            match req.body(body.clone()).send().await {
                Ok(r) if r.status().is_success() => return Sent::Delivered { attempt },
                Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                    return Sent::Refused { status: r.status().as_u16() };
                }
                Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
                // Without the URL: it may hold a token (Slack and Teams put one in the path).
                Err(e) => last = describe(e),
            }
            if attempt < self.attempts {
                tracing::debug!(webhook = %self.name, attempt, "alert delivery failed ({last}); retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
        Sent::GaveUp { attempts: self.attempts, last }
    }
}

fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        e.to_string()
    }
}

/// Sends what reaches `queue`, one alert at a time.
pub async fn run(hook: Webhook, queue: std::sync::Arc<Queue>) {
    loop {
        let alert = queue.next().await;
        match hook.deliver(&alert).await {
            Sent::Delivered { attempt } => {
                tracing::info!(webhook = %hook.name, alert = alert.seq, rule = %alert.raised.rule, attempt, "alert delivered")
            }
            Sent::Refused { status } => tracing::warn!(
                webhook = %hook.name, alert = alert.seq, status,
                "the webhook refused the alert; not retried (check its address and format)"
            ),
            Sent::GaveUp { attempts, last } => tracing::warn!(
                webhook = %hook.name, alert = alert.seq, attempts,
                "alert not delivered after {attempts} tries: {last}"
            ),
        }
    }
}

/// The body of a webhook request for `alert` in `format`.
pub fn payload(format: WebhookFormat, alert: &Alert, sender: &Sender) -> Vec<u8> {
    let a = &alert.raised;
    let heading = format!("csx · {} ({})", sender.name, sender.ods);
    let value = match format {
        WebhookFormat::Json => json!({
            "csx_alert": 1,
            "member": { "ods": sender.ods, "name": sender.name },
            "alert": alert,
        }),
        WebhookFormat::Slack => {
            let mut text = format!("*{}*\n{}", escape_slack(&a.title), escape_slack(&a.text));
            if let Some(u) = &alert.url {
                text.push_str(&format!("\n<{u}|Open in csx>"));
            }
            json!({
                "text": format!("{}: {}", heading, a.title),
                "blocks": [
                    { "type": "context", "elements": [ { "type": "mrkdwn", "text": escape_slack(&heading) } ] },
                    { "type": "section", "text": { "type": "mrkdwn", "text": text } },
                ],
            })
        }
        WebhookFormat::Teams => {
            let mut card = json!({
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    { "type": "TextBlock", "text": heading, "isSubtle": true, "size": "Small", "wrap": true },
                    { "type": "TextBlock", "text": a.title, "weight": "Bolder", "size": "Medium", "wrap": true },
                    { "type": "TextBlock", "text": a.text, "wrap": true },
                    { "type": "FactSet", "facts": [
                        { "title": "Rule", "value": a.rule.as_str() },
                        { "title": "Alert", "value": alert.seq.to_string() },
                    ] },
                ],
            });
            if let Some(u) = &alert.url {
                card["actions"] = json!([{ "type": "Action.OpenUrl", "title": "Open in csx", "url": u }]);
            }
            json!({
                "type": "message",
                "summary": a.title,
                "attachments": [ { "contentType": "application/vnd.microsoft.card.adaptive", "content": card } ],
            })
        }
    };
    serde_json::to_vec(&value).expect("a JSON value serialises")
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn escape_slack(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A test alert (`csx alert test`).
pub fn test_alert(now_ms: u64) -> Alert {
    Alert {
        seq: 0,
        at: now_ms,
        raised: super::super::Raised {
            key: format!("test:{now_ms}"),
            rule: Rule::Test,
            title: "csx test alert".into(),
            text: "This is a test alert from csx: this target receives alerts.".into(),
            service_line: None,
            provider: None,
            records: vec![],
            authors: vec![],
            link: None,
        },
        url: None,
    }
}
