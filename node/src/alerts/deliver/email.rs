//! Email: one message per alert, or a digest of the alerts of each `digest_minutes`, sent over
//! SMTP with STARTTLS (required), TLS from the start, or plain (a relay on the same host).
//! The password is read from an owner-only file and never logged.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::super::Alert;
use super::super::settings::{Delivery, EmailTarget, Security, Smtp, read_secret};
use super::{Queue, Sender};

/// A configured email target, ready to send.
pub struct Mailer {
    pub name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    digest: Option<Duration>,
    attempts: u32,
    backoff: Duration,
    sender: Sender,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("name", &self.name).field("to", &self.to.len()).finish()
    }
}

impl Mailer {
    pub fn new(smtp: &Smtp, target: &EmailTarget, delivery: &Delivery, sender: Sender) -> Result<Mailer, String> {
        let host = smtp.host.trim();
        if host.is_empty() {
            return Err("no SMTP server: set [alerts.smtp] host".into());
        }
        let builder = match smtp.security {
            Security::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("SMTP server `{host}`: {e}"))?,
            Security::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| format!("SMTP server `{host}`: {e}"))?
            }
            Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(smtp.port).timeout(Some(Duration::from_secs(delivery.timeout_secs)));
        if !smtp.username.trim().is_empty() {
            let password = read_secret(std::path::Path::new(smtp.password_file.trim()), "SMTP password")?;
            builder = builder.credentials(Credentials::new(smtp.username.trim().to_string(), password));
        }
        let from: Mailbox = smtp.from.parse().map_err(|e| format!("[alerts.smtp] from `{}`: {e}", smtp.from))?;
        let to = target
            .to
            .iter()
            .map(|t| t.parse::<Mailbox>().map_err(|e| format!("`{t}` is not an email address: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err("no recipients".into());
        }
        Ok(Mailer {
            name: if target.name.is_empty() { target.to.join(", ") } else { target.name.clone() },
            transport: builder.build(),
            from,
            to,
            digest: (target.digest_minutes > 0).then(|| Duration::from_secs(target.digest_minutes * 60)),
            attempts: delivery.attempts.max(1),
            backoff: Duration::from_millis(delivery.backoff_ms),
            sender,
        })
    }

    /// The message for `alerts` (one alert, or a digest of several).
    pub fn message(&self, alerts: &[Alert]) -> Result<Message, String> {
        let (subject, body) = compose(alerts, &self.sender);
        let mut b = Message::builder().from(self.from.clone()).subject(subject).header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            b = b.to(to.clone());
        }
        b.body(body).map_err(|e| format!("cannot build the message: {e}"))
    }

    /// Sends `alerts` as one message, retrying with backoff after a failure.
    pub async fn send(&self, alerts: &[Alert]) -> Result<u32, String> {
        let message = self.message(alerts)?;
        let mut wait = self.backoff;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            match self.transport.send(message.clone()).await {
                Ok(_) => return Ok(attempt),
                Err(e) if e.is_permanent() => return Err(format!("the server refused it: {e}")),
                Err(e) => last = e.to_string(),
            }
            if attempt < self.attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(600));
            }
        }
        Err(format!("not sent after {} tries: {last}", self.attempts))
    }
}

/// The subject and plain-text body for `alerts`.
pub fn compose(alerts: &[Alert], sender: &Sender) -> (String, String) {
    let one = |a: &Alert| {
        let mut s = format!("{}\n\n{}\n", a.raised.title, a.raised.text);
        if let Some(u) = &a.url {
            s.push_str(&format!("\nOpen in csx: {u}\n"));
        }
        if !a.raised.records.is_empty() {
            let ids: Vec<String> = a.raised.records.iter().map(|r| r.short()).collect();
            s.push_str(&format!("Records: {}\n", ids.join(", ")));
        }
        s.push_str(&format!("Rule: {} · alert {}\n", a.raised.rule, a.seq));
        s
    };
    let footer = format!(
        "\n--\nSent by the csx node of {} ({}). `csx alerts` lists every alert; `csx alert mute RULE` stops a rule.\n",
        sender.name, sender.ods
    );
    match alerts {
        [a] => (format!("[csx] {}", a.raised.title), format!("{}{footer}", one(a))),
        many => {
            let mut body = format!("{} alerts for {} ({}):\n", many.len(), sender.name, sender.ods);
            for a in many {
                body.push_str(&format!("\n* {}", one(a)));
            }
            (format!("[csx] {} alerts", many.len()), format!("{body}{footer}"))
        }
    }
}

/// Sends what reaches `queue`: each alert at once, or a digest every `digest` period.
pub async fn run(mailer: Mailer, queue: std::sync::Arc<Queue>) {
    loop {
        let first = queue.next().await;
        let mut batch = vec![first];
        if let Some(period) = mailer.digest {
            tokio::time::sleep(period).await;
            batch.extend(queue.drain());
        }
        let seqs: Vec<u64> = batch.iter().map(|a| a.seq).collect();
        match mailer.send(&batch).await {
            Ok(attempt) => tracing::info!(email = %mailer.name, alerts = ?seqs, attempt, "alert email sent"),
            Err(e) => tracing::warn!(email = %mailer.name, alerts = ?seqs, "alert email not sent: {e}"),
        }
    }
}
