//! `csx audit`: the local audit log — who signed in to the dashboard, who wrote which records
//! from it or through the API, and who changed which account.

use clap::Args;
use csx_web::audit::{AuditLog, Filter};

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Grid;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx audit
  csx audit --action signin_failed --since 2025-06-01
  csx audit --user alice --limit 20 --csv > alice-audit.csv")]
pub struct AuditArgs {
    /// Only this account's events (`cli:USER` for csx commands)
    #[arg(long)]
    pub user: Option<String>,
    /// Only events of this kind, e.g. signin_failed, record, import, support, user_add
    #[arg(long)]
    pub action: Option<String>,
    /// Only events from this date (YYYY-MM-DD) on
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many of the newest events
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

pub fn run(ctx: &Ctx, args: AuditArgs) -> anyhow::Result<()> {
    ctx.home.identity()?;
    let since_ms = match csx_node::input::opt(&args.since) {
        Some(s) => {
            let today = csx_protocol::Date::from_unix_ms(crate::now_ms())
                .ok_or_else(|| anyhow::anyhow!("this machine's clock is out of range"))?;
            let d = csx_node::input::date("since", s, today).map_err(|e| CliError::invalid(e.as_flag()))?;
            Some(d.days() as u64 * 86_400_000)
        }
        None => None,
    };
    let log = AuditLog::open(ctx.home.root());
    let filter = Filter { user: args.user, action: args.action, since_ms, limit: args.limit };
    let (entries, damaged) =
        log.read(&filter).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", log.path().display()))?;
    if damaged > 0 {
        ctx.out.note(format!("{damaged} lines of {} could not be read and are left out", log.path().display()));
    }
    if entries.is_empty() && !ctx.out.json {
        ctx.out.note("No audit events match.");
    }
    ctx.out.print(&entries, || {
        let mut t = Grid::new().keep("when (UTC)").text("who").keep("via").text("what").text("records").text("from");
        for e in &entries {
            t.row(vec![
                humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.at))
                    .to_string(),
                e.user.clone(),
                e.via.clone(),
                e.detail.clone(),
                match e.records.len() {
                    0 => String::new(),
                    1 => e.records[0][..12.min(e.records[0].len())].to_string(),
                    n => format!("{n} records"),
                },
                e.client.clone().unwrap_or_default(),
            ]);
        }
        t
    })
}
