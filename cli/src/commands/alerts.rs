//! `csx alerts`, `csx watch` and `csx alert list|add|mute|unmute|test`: this node's alert log,
//! a live stream of it, and the rules and delivery targets (docs/OPERATIONS.md, "Alerts").

use std::collections::BTreeSet;
use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use csx_node::alerts::deliver::webhook::{Sent, Webhook, test_alert};
use csx_node::alerts::deliver::{Sender, email::Mailer};
use csx_node::alerts::settings::{self, AlertsConfig, EmailTarget, WebhookFormat, WebhookTarget};
use csx_node::alerts::state::State;
use csx_node::alerts::watcher::state_path;
use csx_node::alerts::{Alert, Rule};
use csx_node::api::ErrorKind;
use csx_node::client::Node as _;
use csx_node::config::Config;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Grid;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx alerts
  csx alerts --since 7d
  csx alerts --since 2026-11-01 --json")]
pub struct AlertsArgs {
    /// Only alerts raised since a date (YYYY-MM-DD) or for a duration back (7d, 24h)
    #[arg(long, value_name = "DATE|DURATION")]
    pub since: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// The rules (on, off or muted, with their thresholds) and the delivery targets
    #[command(after_help = "Examples:
  csx alert list
  csx alert list --json")]
    List,
    /// Add a delivery target: a webhook or an email address
    #[command(subcommand)]
    Add(AddTarget),
    /// Stop a rule's alerts (they are still remembered, so unmuting does not replay them)
    #[command(after_help = "Examples:
  csx alert mute member_joined")]
    Mute {
        /// The rule, as `csx alert list` names it
        rule: String,
    },
    /// Start a muted rule's alerts again
    #[command(after_help = "Examples:
  csx alert unmute member_joined")]
    Unmute {
        /// The rule, as `csx alert list` names it
        rule: String,
    },
    /// Send a test alert to each target now, and say what came of it
    #[command(after_help = "Examples:
  csx alert test")]
    Test,
}

#[derive(Debug, Subcommand)]
pub enum AddTarget {
    /// POST each alert to an address (JSON, Slack or Teams), signed with a new HMAC secret
    #[command(after_help = "Examples:
  csx alert add webhook https://hooks.example.nhs.uk/csx
  csx alert add webhook https://example.webhook.office.com/... --format teams --name contracts
  csx alert add webhook https://hooks.slack.com/services/... --format slack --rules switch_away")]
    Webhook {
        /// The address to POST to
        url: String,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// A name for logs and listings
        #[arg(long)]
        name: Option<String>,
        /// Only these rules (comma-separated; default all)
        #[arg(long, value_delimiter = ',')]
        rules: Vec<String>,
        /// Send unsigned (no HMAC secret)
        #[arg(long)]
        unsigned: bool,
    },
    /// Email each alert, or a digest, through the SMTP server in [alerts.smtp]
    #[command(after_help = "Examples:
  csx alert add email contracts@example.nhs.uk
  csx alert add email finance@example.nhs.uk --digest 60")]
    Email {
        /// Recipients
        #[arg(required = true)]
        to: Vec<String>,
        /// Send one digest every this many minutes instead of one email per alert
        #[arg(long, value_name = "MINUTES", default_value_t = 0)]
        digest: u64,
        #[arg(long)]
        name: Option<String>,
        /// Only these rules (comma-separated; default all)
        #[arg(long, value_delimiter = ',')]
        rules: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Slack,
    Teams,
}

impl From<Format> for WebhookFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Json => WebhookFormat::Json,
            Format::Slack => WebhookFormat::Slack,
            Format::Teams => WebhookFormat::Teams,
        }
    }
}

#[derive(Serialize)]
struct AlertList<'a> {
    alerts: &'a [Alert],
}

/// `--since` as Unix ms: a date, or a duration back from now.
fn since_ms(text: Option<&str>) -> anyhow::Result<u64> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(0) };
    let now = crate::now_ms();
    if let Ok(d) = humantime::parse_duration(t) {
        return Ok(now.saturating_sub(d.as_millis() as u64));
    }
    let today =
        csx_protocol::Date::from_unix_ms(now).ok_or_else(|| anyhow::anyhow!("this machine's clock is out of range"))?;
    let d = csx_node::input::date("since", t, today)
        .map_err(|e| CliError::invalid(format!("{} (or a duration such as 7d or 24h)", e.as_flag())))?;
    Ok(d.days() as u64 * 86_400_000)
}

/// The log: from the daemon when one runs, else from the state file it keeps.
fn fetch(ctx: &Ctx, after: u64, since: u64) -> anyhow::Result<Vec<Alert>> {
    match ctx.node()?.alerts(after, since, 0) {
        Ok(alerts) => Ok(alerts),
        Err(e) if e.kind() == ErrorKind::Unavailable && !daemon_running(ctx) => {
            let path = state_path(&ctx.home);
            let state = State::load(&path).map_err(CliError::invalid)?;
            Ok(state.map(|s| s.list(after, since)).unwrap_or_default())
        }
        Err(e) => Err(CliError::from(e).into()),
    }
}

fn daemon_running(ctx: &Ctx) -> bool {
    matches!(csx_node::control::ControlClient::connect(&ctx.home), Ok(Some(_)))
}

fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let date = csx_protocol::Date::from_unix_ms(ms).map(|d| d.to_string()).unwrap_or_default();
    format!("{date} {:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60)
}

fn grid(alerts: &[Alert]) -> Grid {
    let mut g =
        Grid::new().num("#").keep("raised (UTC)").keep("rule").text("alert").text("details").wide().text("link").wide();
    for a in alerts {
        g.row(vec![
            a.seq.to_string(),
            when(a.at),
            a.raised.rule.to_string(),
            a.raised.title.clone(),
            a.raised.text.clone(),
            a.url.clone().or_else(|| a.raised.link.clone()).unwrap_or_default(),
        ]);
    }
    g
}

pub fn list(ctx: &Ctx, args: AlertsArgs) -> anyhow::Result<()> {
    ctx.home.identity()?;
    let since = since_ms(args.since.as_deref())?;
    let mut alerts = fetch(ctx, 0, since)?;
    alerts.reverse();
    if alerts.is_empty() && !ctx.out.json {
        ctx.out.note(if since > 0 {
            "No alerts since then."
        } else {
            "No alerts yet: the daemon raises them as records arrive."
        });
    }
    ctx.out.print(&AlertList { alerts: &alerts }, || grid(&alerts))
}

/// How long one `csx watch` request waits for news.
const WATCH_WAIT_MS: u64 = 20_000;

pub fn watch(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.home.identity()?;
    let Some(client) = csx_node::control::ControlClient::connect(&ctx.home)? else {
        return Err(CliError::new(
            crate::error::exit::UNAVAILABLE,
            "csx watch needs a running daemon: start one with `csx daemon`",
        )
        .into());
    };
    let call = |after: u64, wait_ms: u64| -> anyhow::Result<Vec<Alert>> {
        Ok(client
            .timed(std::time::Duration::from_millis(wait_ms + 30_000))
            .alerts(after, 0, wait_ms)
            .map_err(CliError::from)?)
    };
    let mut after = call(0, 0)?.last().map(|a| a.seq).unwrap_or(0);
    if !ctx.out.json {
        ctx.out.note("Watching for alerts (Ctrl-C to stop)…");
    }
    loop {
        for a in call(after, WATCH_WAIT_MS)? {
            after = after.max(a.seq);
            let line = if ctx.out.json {
                format!("{}\n", serde_json::to_string(&a)?)
            } else {
                let link =
                    a.url.clone().or_else(|| a.raised.link.clone()).map(|l| format!("\n    {l}")).unwrap_or_default();
                format!(
                    "{}  {}  {}\n{}{link}\n",
                    when(a.at),
                    a.raised.rule,
                    a.raised.title,
                    crate::output::wrap(&a.raised.text, ctx.out.width, 4)
                )
            };
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes())?;
            out.flush()?;
        }
    }
}

pub fn run(ctx: &Ctx, cmd: AlertCommand) -> anyhow::Result<()> {
    ctx.home.identity()?;
    match cmd {
        AlertCommand::List => list_rules(ctx),
        AlertCommand::Add(target) => add(ctx, target),
        AlertCommand::Mute { rule } => mute(ctx, &rule, true),
        AlertCommand::Unmute { rule } => mute(ctx, &rule, false),
        AlertCommand::Test => test(ctx),
    }
}

fn config_path(ctx: &Ctx) -> std::path::PathBuf {
    ctx.home.path("config.toml")
}

fn load_config(ctx: &Ctx) -> anyhow::Result<Config> {
    Config::load(&config_path(ctx)).map_err(|e| CliError::invalid(e.to_string()).into())
}

#[derive(Serialize)]
struct RuleView {
    rule: Rule,
    watches: &'static str,
    state: &'static str,
    settings: String,
}

#[derive(Serialize)]
struct TargetView {
    kind: &'static str,
    name: String,
    to: String,
    format: String,
    rules: String,
}

#[derive(Serialize)]
struct Listing {
    enabled: bool,
    rules: Vec<RuleView>,
    targets: Vec<TargetView>,
}

/// An address with only its scheme and host: Slack and Teams put a token in the path.
fn host_only(url: &str) -> String {
    match url.trim().split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}/…", rest.split(['/', '?', '#']).next().unwrap_or("")),
        None => "(not an address)".into(),
    }
}

fn rule_settings(c: &AlertsConfig, rule: Rule) -> String {
    match rule {
        Rule::PriceAboveMarket => format!(
            "above p75: {}; gap past {}",
            if c.price.above_p75 { "yes" } else { "no" },
            if c.price.gap_pct > 0.0 { format!("{:.0}%", c.price.gap_pct) } else { "off".into() }
        ),
        Rule::PoorReview => format!("score below {:.1}", c.review.below),
        Rule::ScoreDrop => format!("drop over {:.1}", c.review.drop),
        Rule::MotionNearThreshold => format!("{}% of its threshold", c.motion.near_pct),
        Rule::MotionClosing => format!("within {} days", c.motion.closing_days),
        Rule::NoticeDeadline => {
            let days: Vec<String> = c.notice.days.iter().map(|d| d.to_string()).collect();
            format!("{} days before", days.join(", "))
        }
        _ => String::new(),
    }
}

fn list_rules(ctx: &Ctx) -> anyhow::Result<()> {
    let config = load_config(ctx)?;
    let c = &config.alerts;
    let muted = settings::muted(&ctx.home);
    let rules: Vec<RuleView> = Rule::ALL
        .iter()
        .map(|r| RuleView {
            rule: *r,
            watches: r.describe(),
            state: if !c.rule_enabled(*r) {
                "off"
            } else if muted.contains(r) {
                "muted"
            } else {
                "on"
            },
            settings: rule_settings(c, *r),
        })
        .collect();
    let rules_text = |rs: &[String]| if rs.is_empty() { "all".to_string() } else { rs.join(", ") };
    let mut targets: Vec<TargetView> = c
        .webhooks
        .iter()
        .map(|w| TargetView {
            kind: "webhook",
            name: w.name.clone(),
            to: host_only(&w.url),
            format: format!(
                "{}{}",
                serde_json::to_value(w.format).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                if w.secret_file.trim().is_empty() { ", unsigned" } else { ", signed" }
            ),
            rules: rules_text(&w.rules),
        })
        .collect();
    targets.extend(c.email.iter().map(|e| TargetView {
        kind: "email",
        name: e.name.clone(),
        to: e.to.join(", "),
        format: if e.digest_minutes > 0 {
            format!("digest every {} min", e.digest_minutes)
        } else {
            "each alert".into()
        },
        rules: rules_text(&e.rules),
    }));
    let listing = Listing { enabled: c.enabled, rules, targets };
    if ctx.out.json {
        return ctx.out.json(&listing);
    }
    let mut g = Grid::new().keep("rule").keep("state").text("alerts when").text("settings");
    for r in &listing.rules {
        g.row(vec![r.rule.to_string(), r.state.into(), r.watches.into(), r.settings.clone()]);
    }
    if ctx.out.csv {
        return ctx.out.csv(&g.csv_rows());
    }
    let mut text = String::new();
    if !c.enabled {
        text.push_str("Alerts are off in config.toml ([alerts] enabled = false).\n\n");
    }
    text.push_str("Rules\n");
    text.push_str(&ctx.out.render(&g));
    text.push_str("\n\nTargets\n");
    if listing.targets.is_empty() {
        text.push_str("None: `csx alert add webhook URL` or `csx alert add email ADDRESS` adds one; `csx alerts` lists alerts meanwhile.");
    } else {
        let mut t = Grid::new().keep("kind").text("name").text("to").text("format").text("rules");
        for x in &listing.targets {
            t.row(vec![x.kind.into(), x.name.clone(), x.to.clone(), x.format.clone(), x.rules.clone()]);
        }
        text.push_str(&ctx.out.render(&t));
    }
    ctx.out.emit(&text)
}

/// Appends `block` to config.toml, refusing (and writing nothing) unless the whole file still
/// reads as a valid configuration.
fn append_config(ctx: &Ctx, block: &str) -> anyhow::Result<Config> {
    let path = config_path(ctx);
    let mut text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::documented_default(),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push('\n');
    text.push_str(block);
    let config: Config = toml::from_str(&text).map_err(|e| {
        CliError::invalid(format!(
            "{} would not read back with the new target ({e}); if it lists `webhooks = [...]` or `email = [...]` inline, add the target there by hand",
            path.display()
        ))
    })?;
    config.alerts.validate().map_err(|e| CliError::invalid(e.to_string()))?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, &text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", path.display()))?;
    Ok(config)
}

fn slug(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    s.trim_matches('-').chars().take(40).collect()
}

fn add(ctx: &Ctx, target: AddTarget) -> anyhow::Result<()> {
    let restart = "restart the daemon (`csx shutdown`, then `csx daemon`, or restart its service) to start sending";
    match target {
        AddTarget::Webhook { url, format, name, rules, unsigned } => {
            settings::parse_rules(&rules).map_err(CliError::invalid)?;
            let existing = load_config(ctx)?.alerts.webhooks.len();
            let name = name.unwrap_or_else(|| format!("webhook-{}", existing + 1));
            let secret_file = if unsigned {
                String::new()
            } else {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness for the secret: {e}"))?;
                let path = settings::dir(&ctx.home).join(format!("{}.secret", slug(&name)));
                if path.exists() {
                    return Err(CliError::invalid(format!(
                        "{} exists already: give the webhook another --name",
                        path.display()
                    ))
                    .into());
                }
                csx_node::alerts::state::write_atomic(&path, hex::encode(secret).as_bytes())?;
                path.display().to_string()
            };
            let t = WebhookTarget {
                name: name.clone(),
                url: url.trim().to_string(),
                format: format.into(),
                secret_file: secret_file.clone(),
                rules,
            };
            let block = format!("[[alerts.webhooks]]\n{}", toml::to_string(&t)?);
            if let Err(e) = append_config(ctx, &block) {
                if !secret_file.is_empty() {
                    let _ = std::fs::remove_file(&secret_file);
                }
                return Err(e);
            }
            ctx.out.note(format!("Added webhook `{name}` to {}.", config_path(ctx).display()));
            if !secret_file.is_empty() {
                ctx.out.note(format!(
                    "Its HMAC secret is in {secret_file} (owner-only): give it to the receiver to check the X-Csx-Signature header (docs/OPERATIONS.md)."
                ));
            }
            ctx.out.note(format!("Then {restart}; `csx alert test` sends a test alert."));
        }
        AddTarget::Email { to, digest, name, rules } => {
            settings::parse_rules(&rules).map_err(CliError::invalid)?;
            let config = load_config(ctx)?;
            let name = name.unwrap_or_else(|| format!("email-{}", config.alerts.email.len() + 1));
            let t = EmailTarget { name: name.clone(), to, digest_minutes: digest, rules };
            let block = format!("[[alerts.email]]\n{}", toml::to_string(&t)?);
            if config.alerts.smtp.host.trim().is_empty() {
                return Err(CliError::invalid(format!(
                    "no SMTP server is configured: set host, port, security, from (and username, password_file) under [alerts.smtp] in {} first",
                    config_path(ctx).display()
                ))
                .into());
            }
            append_config(ctx, &block)?;
            ctx.out.note(format!("Added email target `{name}` to {}. Then {restart}.", config_path(ctx).display()));
        }
    }
    Ok(())
}

fn mute(ctx: &Ctx, rule: &str, on: bool) -> anyhow::Result<()> {
    let rule: Rule = rule.parse().map_err(CliError::invalid)?;
    let mut muted: BTreeSet<Rule> = settings::muted(&ctx.home);
    let changed = if on { muted.insert(rule) } else { muted.remove(&rule) };
    settings::set_muted(&ctx.home, &muted)?;
    let what = if on { "muted" } else { "unmuted" };
    if changed {
        ctx.out.note(format!("{rule} {what}; a running daemon applies it at its next evaluation."));
    } else {
        ctx.out.note(format!("{rule} was already {what}."));
    }
    Ok(())
}

#[derive(Serialize)]
struct TestResult {
    target: String,
    delivered: bool,
    detail: String,
}

fn test(ctx: &Ctx) -> anyhow::Result<()> {
    let config = load_config(ctx)?;
    let c = config.alerts;
    c.validate().map_err(|e| CliError::invalid(e.to_string()))?;
    if c.webhooks.is_empty() && c.email.is_empty() {
        return Err(CliError::invalid(
            "no alert targets: `csx alert add webhook URL` or `csx alert add email ADDRESS` adds one",
        )
        .into());
    }
    let identity = ctx.home.identity()?;
    let sender = Sender { ods: identity.ods_code.clone(), name: identity.name.clone() };
    let alert = test_alert(crate::now_ms());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let results: Vec<TestResult> = runtime.block_on(async {
        let mut out = Vec::new();
        for (i, w) in c.webhooks.iter().enumerate() {
            let target = if w.name.is_empty() { format!("webhook {}", i + 1) } else { w.name.clone() };
            let r = match Webhook::new(w, &c.delivery, sender.clone()) {
                Err(e) => TestResult { target, delivered: false, detail: e },
                Ok(hook) => match hook.deliver(&alert).await {
                    Sent::Delivered { attempt } => {
                        TestResult { target, delivered: true, detail: format!("delivered (try {attempt})") }
                    }
                    Sent::Refused { status } => {
                        TestResult { target, delivered: false, detail: format!("refused with HTTP {status}") }
                    }
                    Sent::GaveUp { attempts, last } => TestResult {
                        target,
                        delivered: false,
                        detail: format!("not delivered after {attempts} tries: {last}"),
                    },
                },
            };
            out.push(r);
        }
        for (i, e) in c.email.iter().enumerate() {
            let target = if e.name.is_empty() { format!("email {}", i + 1) } else { e.name.clone() };
            let r = match Mailer::new(&c.smtp, e, &c.delivery, sender.clone()) {
                Err(err) => TestResult { target, delivered: false, detail: err },
                Ok(m) => match m.send(std::slice::from_ref(&alert)).await {
                    Ok(attempt) => TestResult { target, delivered: true, detail: format!("sent (try {attempt})") },
                    Err(err) => TestResult { target, delivered: false, detail: err },
                },
            };
            out.push(r);
        }
        out
    });
    let failed = results.iter().filter(|r| !r.delivered).count();
    ctx.out.print(&results, || {
        let mut g = Grid::new().text("target").keep("result").text("detail");
        for r in &results {
            g.row(vec![r.target.clone(), if r.delivered { "ok".into() } else { "FAILED".into() }, r.detail.clone()]);
        }
        g
    })?;
    if failed > 0 {
        return Err(CliError::new(
            crate::error::exit::UNAVAILABLE,
            format!("{failed} of {} targets did not take the test alert", results.len()),
        )
        .into());
    }
    Ok(())
}
