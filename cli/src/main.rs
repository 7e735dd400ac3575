//! `csx`, the Commissioning Support Exchange command line.

mod commands;
mod context;
mod error;
mod labels;
mod output;
mod signals;
mod systemd;
mod view;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// mimalloc instead of glibc's malloc: records decoded on the ingest verifier's threads are freed
/// on the store thread, and glibc spent a quarter of that thread's time on it (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use commands::*;
use error::AFTER_HELP;
use output::{ColorChoice, Output};

/// The help heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// csx: NHS buyers of commissioning support sharing prices, reviews, switches and motions
/// for collective action, over a federation of their own nodes.
#[derive(Debug, Parser)]
#[command(name = "csx", version, after_help = AFTER_HELP, propagate_version = true)]
struct Cli {
    /// The node's home directory (keys, store, genesis)
    #[arg(long, global = true, env = "CSX_HOME", value_name = "DIR", help_heading = GLOBAL)]
    home: Option<PathBuf>,
    /// Print data as JSON instead of tables
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,
    /// Print tables as CSV for spreadsheets (UTF-8 with a byte-order mark, so Excel reads £)
    #[arg(long, global = true, conflicts_with = "json", help_heading = GLOBAL)]
    csv: bool,
    /// Show every column of tables (the default shows what most people need)
    #[arg(long, global = true, help_heading = GLOBAL)]
    wide: bool,
    /// Colour on a terminal: auto, always or never (NO_COLOR also turns it off)
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN", help_heading = GLOBAL)]
    color: ColorChoice,
    /// Print long output straight to the terminal instead of through the pager (PAGER)
    #[arg(long, global = true, help_heading = GLOBAL)]
    no_pager: bool,
    /// Fit tables to this many columns (default: COLUMNS, else the terminal's width)
    #[arg(long, global = true, hide = true, value_name = "N", help_heading = GLOBAL)]
    width: Option<u16>,
    /// Never prompt, even on a terminal
    #[arg(long, global = true, help_heading = GLOBAL)]
    no_input: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up this node: create the organisation key, node key and certificate
    Init(init::InitArgs),
    /// Print this member's public identity (to hand to other members)
    #[command(after_help = "Examples:
  csx id
  csx id --json > identity.json    (to hand to the federation's members)")]
    Id,
    /// Create, join or show a federation
    #[command(subcommand)]
    Federation(federation::FederationCommand),
    /// Endorse or revoke members
    #[command(subcommand)]
    Member(member::MemberCommand),
    /// List members, their nodes, and applicants with their endorsements
    #[command(after_help = "Examples:
  csx members
  csx members --wide --csv > members.csv")]
    Members,
    /// Add, install or retire nodes of this organisation
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Show or change your organisation's profile
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Add or list providers
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// A provider's reply to a review: keygen and sign (for the provider, offline), publish (for a member)
    #[command(subcommand, name = "provider-reply")]
    ProviderReply(provider_reply::ProviderReplyCommand),
    /// Add or list reviews of providers
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Add or list price disclosures
    #[command(subcommand)]
    Price(price::PriceCommand),
    /// Add or list switching reports and their outcomes
    #[command(subcommand)]
    Switch(switch::SwitchCommand),
    /// Propose or list motions for collective action
    #[command(subcommand)]
    Motion(motion::MotionCommand),
    /// What members pay per head, by service line, provider and year, and where you stand
    Prices(market::PricesArgs),
    /// Provider scorecards by service line: scores, would-recommend, trend, prices, switching
    Providers(market::ProvidersArgs),
    /// Who switched which service line from whom to whom, why, and how it went
    Switches(market::SwitchesArgs),
    /// Announce an intent to procure, or join another member's joint tender
    #[command(subcommand)]
    Tender(tender::TenderCommand),
    /// Joint tenders forming, by service line and window, and what acting together is worth
    Tenders(tender::TendersArgs),
    /// Motions for collective action: support against threshold, status, terms in play
    Motions(market::MotionsArgs),
    /// The renewal calendar: members' contracts ending by line and quarter, and your own dates
    Renewals(market::RenewalsArgs),
    /// This node's alerts: prices above the market, switches away, poor reviews, motions, deadlines
    Alerts(alerts::AlertsArgs),
    /// Print alerts as the daemon raises them (a live stream; --json gives one JSON object a line)
    #[command(after_help = "Examples:
  csx watch
  csx watch --json | jq .raised.title")]
    Watch,
    /// Alert rules and targets: list, add a webhook or email, mute, unmute, test
    #[command(subcommand)]
    Alert(alerts::AlertCommand),
    /// A market report for every service line (Markdown, CSV or JSON)
    Report(report::ReportArgs),
    /// Support a motion (or withdraw support)
    Support(support::SupportArgs),
    /// Withdraw one of your organisation's records
    Retract(retract::RetractArgs),
    /// Import records from a CSV or JSON file, all or nothing
    Import(import::ImportArgs),
    /// Show one node's feed
    Feed(feed::FeedArgs),
    /// Show a record
    #[command(subcommand)]
    Record(record::RecordCommand),
    /// Show this node's state: identity, federation, store, network
    #[command(after_help = "Examples:
  csx status
  csx status --json")]
    Status,
    /// Run this member's node in the foreground (for systemd or a container)
    Daemon(daemon::DaemonArgs),
    /// Run a bootstrap server that helps members find each other (it holds no records)
    Bootstrap(bootstrap::BootstrapArgs),
    /// List the peers the running daemon knows and how in step with each it is
    #[command(after_help = "Examples:
  csx peers
  csx peers --wide")]
    Peers,
    /// Sync with every connected member now; exit code 7 if not level in time
    Sync(node_cmds::SyncArgs),
    /// Stop the running daemon (it flushes its store)
    #[command(after_help = "Examples:
  csx shutdown")]
    Shutdown,
    /// Show the effective configuration or check config.toml
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Check this node's setup and say what to fix: keys, configuration, daemon, peers, clock,
    /// bootstrap servers, addresses, disk
    Doctor(doctor::DoctorArgs),
    /// Write a backup of this node (keys, configuration, every record) to a file, consistent
    /// even while the daemon runs
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty home
    Restore(backup::RestoreArgs),
    /// Run a guided session on a throwaway home
    Demo(demo::DemoArgs),
    /// Serve the dashboard for yourself over this home, and print a link that signs you in
    Dashboard(dashboard::DashboardArgs),
    /// Manage the dashboard's staff accounts and their API tokens
    #[command(subcommand)]
    User(user::UserCommand),
    /// Show the local audit log: sign-ins, records written from the dashboard, account changes
    Audit(audit::AuditArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(completions::CompletionsArgs),
    /// Print the manual page, or write one for every command into a directory
    Man(man::ManArgs),
}

/// The environment variable that fixes the time commands take as now: `2025-06-01`,
/// `2025-06-01T09:30:00Z` or Unix milliseconds. For reproducible reports and tests; records
/// written meanwhile are stamped with it too.
pub const NOW_ENV: &str = "CSX_NOW";

static FIXED_NOW: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();

/// Reads [`NOW_ENV`], naming the problem when it is not a time.
fn fixed_now() -> Result<Option<u64>, error::CliError> {
    let Ok(text) = std::env::var(NOW_ENV) else { return Ok(None) };
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map(Some).map_err(|_| error::CliError::invalid(format!("{NOW_ENV}: `{t}` is too large")));
    }
    let full = if t.len() == 10 { format!("{t}T00:00:00Z") } else { t.to_string() };
    humantime::parse_rfc3339_weak(full.trim_end_matches('Z'))
        .map_err(|e| {
            error::CliError::invalid(format!(
                "{NOW_ENV}: `{t}` is not a time ({e}); give 2025-06-01, 2025-06-01T09:30:00Z or Unix milliseconds"
            ))
        })
        .and_then(|at| {
            at.duration_since(std::time::UNIX_EPOCH)
                .map(|d| Some(d.as_millis() as u64))
                .map_err(|_| error::CliError::invalid(format!("{NOW_ENV}: `{t}` is before 1970")))
        })
}

/// Unix milliseconds now (or the time [`NOW_ENV`] fixes).
pub fn now_ms() -> u64 {
    if let Some(Some(t)) = FIXED_NOW.get() {
        return *t;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// What `csx --version` says: the release, the commit it was built from, the protocol version
/// it speaks and the store layout it reads and writes.
pub fn version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (commit {}, protocol {}, store layout {})",
            env!("CARGO_PKG_VERSION"),
            env!("CSX_COMMIT"),
            csx_protocol::record::PROTOCOL_VERSION,
            csx_node::store::SCHEMA_VERSION
        )
    })
}

/// The command line's definition (for parsing, completions and manual pages).
pub fn command() -> clap::Command {
    let mut cmd = Cli::command().version(version());
    // `--color` also governs clap's own help and errors.
    let args: Vec<String> = std::env::args().collect();
    for (i, a) in args.iter().enumerate() {
        let when = a
            .strip_prefix("--color=")
            .or_else(|| (a == "--color").then(|| args.get(i + 1).map(String::as_str)).flatten());
        match when {
            Some("never") => cmd = cmd.color(clap::ColorChoice::Never),
            Some("always") => cmd = cmd.color(clap::ColorChoice::Always),
            _ => {}
        }
    }
    cmd
}

fn run(cli: Cli, out: Output) -> anyhow::Result<()> {
    let _ = FIXED_NOW.set(fixed_now()?);
    let home = cli.home.unwrap_or_else(context::default_home);
    let ctx = context::Ctx::new(home, out, cli.no_input);
    match cli.command {
        Command::Init(args) => init::run(&ctx, args),
        Command::Id => id::run(&ctx),
        Command::Federation(cmd) => federation::run(&ctx, cmd),
        Command::Profile(cmd) => profile::run(&ctx, cmd),
        Command::Member(cmd) => member::run(&ctx, cmd),
        Command::Members => member::list(&ctx),
        Command::Node(cmd) => node::run(&ctx, cmd),
        Command::Provider(cmd) => provider::run(&ctx, cmd),
        Command::ProviderReply(cmd) => provider_reply::run(&ctx, cmd),
        Command::Tender(cmd) => tender::run(&ctx, cmd),
        Command::Tenders(args) => tender::tenders(&ctx, args),
        Command::Review(cmd) => review::run(&ctx, cmd),
        Command::Price(cmd) => price::run(&ctx, cmd),
        Command::Switch(cmd) => switch::run(&ctx, cmd),
        Command::Motion(cmd) => motion::run(&ctx, cmd),
        Command::Prices(args) => market::prices(&ctx, args),
        Command::Providers(args) => market::providers(&ctx, args),
        Command::Switches(args) => market::switches(&ctx, args),
        Command::Motions(args) => market::motions(&ctx, args),
        Command::Renewals(args) => market::renewals(&ctx, args),
        Command::Alerts(args) => alerts::list(&ctx, args),
        Command::Watch => alerts::watch(&ctx),
        Command::Alert(cmd) => alerts::run(&ctx, cmd),
        Command::Report(args) => report::run(&ctx, args),
        Command::Support(args) => support::run(&ctx, args),
        Command::Retract(args) => retract::run(&ctx, args),
        Command::Import(args) => import::run(&ctx, args),
        Command::Feed(args) => feed::run(&ctx, args),
        Command::Record(cmd) => record::run(&ctx, cmd),
        Command::Status => status::run(&ctx),
        Command::Daemon(args) => daemon::run(&ctx, args),
        Command::Bootstrap(args) => bootstrap::run(&ctx, args),
        Command::Peers => node_cmds::peers(&ctx),
        Command::Sync(args) => node_cmds::sync(&ctx, args),
        Command::Shutdown => node_cmds::shutdown(&ctx),
        Command::Config(cmd) => config::run(&ctx, cmd),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Backup(args) => backup::backup(&ctx, args),
        Command::Restore(args) => backup::restore(&ctx, args),
        Command::Demo(args) => demo::run(&ctx, args),
        Command::Dashboard(args) => dashboard::run(&ctx, args),
        Command::User(cmd) => user::run(&ctx, cmd),
        Command::Audit(args) => audit::run(&ctx, args),
        Command::Completions(args) => completions::run(&ctx, args),
        Command::Man(args) => man::run(&ctx, args),
    }
}

fn main() {
    csx_node::memory::no_transparent_huge_pages();
    // Before any thread starts: a child of `csx demo` goes when the demo goes.
    signals::exit_with_parent();
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let out = Output::new(output::Options {
        json: cli.json,
        csv: cli.csv,
        wide: cli.wide,
        width: cli.width,
        color: cli.color,
        no_pager: cli.no_pager,
    });
    if let Err(err) = run(cli, out.clone()) {
        // A reader that went away (`csx review list | head`) is not a failure.
        if output::is_closed(&err) {
            std::process::exit(0);
        }
        let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
        out.error(&chain.join(": "));
        std::process::exit(error::exit_code(&err));
    }
}
