//! `csx user add|list|disable|enable|reset|role|token`: the dashboard's staff accounts. Works
//! whether or not the daemon runs (accounts are a file in the home, which a running dashboard
//! re-reads when it changes); every change is written to the audit log (`csx audit`).

use clap::{Args, Subcommand};
use csx_node::config::Config;
use csx_web::accounts::{Accounts, Role};
use csx_web::audit::{AuditLog, Entry};
use serde::Serialize;

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Grid;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account; prints its one-time sign-in link (valid 72 hours)
    #[command(after_help = "Examples:
  csx user add alice --role editor
  csx user add bi.team@example.nhs.uk --role viewer")]
    Add(AddArgs),
    /// List the accounts
    #[command(after_help = "Examples:
  csx user list
  csx user list --json")]
    List,
    /// Disable an account: it can no longer sign in or use its API tokens, and its sessions end
    #[command(after_help = "Examples:
  csx user disable alice")]
    Disable(NameArg),
    /// Re-enable a disabled account
    #[command(after_help = "Examples:
  csx user enable alice")]
    Enable(NameArg),
    /// Clear an account's password and end its sessions; prints a new one-time sign-in link
    #[command(after_help = "Examples:
  csx user reset alice")]
    Reset(NameArg),
    /// Change an account's role (its sessions end, so the new role applies at once)
    #[command(after_help = "Examples:
  csx user role alice --role admin")]
    Role(AddArgs),
    /// Create an API token for an account (printed once), or revoke one with --revoke
    #[command(after_help = "Examples:
  csx user token alice --label \"Power BI\"
  csx user token alice --revoke 3f2a9c1e")]
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The account name: 1-64 letters, digits, dots, hyphens, underscores or @
    pub name: String,
    /// What the account may do
    #[arg(long, value_parser = ["viewer", "editor", "admin"], help_heading = "Required")]
    pub role: String,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The account name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The account name
    pub name: String,
    /// What the token is for, e.g. "Power BI"
    #[arg(long, default_value = "API token")]
    pub label: String,
    /// Revoke the token with this id instead of creating one
    #[arg(long, value_name = "ID")]
    pub revoke: Option<String>,
}

/// The name `csx` commands are audited under: `cli:` and the operating-system user.
pub fn cli_user() -> String {
    format!("cli:{}", std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "unknown".into()))
}

/// Writes an audit entry for a `csx` command.
pub fn audit(ctx: &Ctx, action: &str, detail: String) {
    AuditLog::open(ctx.home.root()).record(Entry {
        at: crate::now_ms(),
        user: cli_user(),
        via: "cli".into(),
        action: action.into(),
        detail,
        records: vec![],
        client: None,
    });
}

/// The dashboard's sign-in link for `secret`, from `[web]` in config.toml.
fn link(ctx: &Ctx, secret: &str) -> anyhow::Result<String> {
    let config = Config::load(&ctx.home.path("config.toml")).map_err(|e| CliError::invalid(e.to_string()))?;
    let base = config.web.base_url().map_err(|e| CliError::invalid(e.to_string()))?;
    Ok(format!("{base}/signin/link/{secret}"))
}

fn err(e: csx_web::accounts::AccountError) -> anyhow::Error {
    match e {
        csx_web::accounts::AccountError::NoSuchAccount(_) => CliError::not_found(e.to_string()).into(),
        csx_web::accounts::AccountError::Io { .. } => anyhow::Error::from(e),
        other => CliError::invalid(other.to_string()).into(),
    }
}

#[derive(Serialize)]
struct LinkOut {
    name: String,
    role: Option<String>,
    signin_link: String,
    expires_at: u64,
}

#[derive(Serialize)]
struct Listed {
    name: String,
    role: String,
    state: String,
    created_at: u64,
    api_tokens: Vec<TokenOut>,
}

#[derive(Serialize)]
struct TokenOut {
    id: String,
    label: String,
    created_at: u64,
}

pub fn run(ctx: &Ctx, cmd: UserCommand) -> anyhow::Result<()> {
    ctx.home.identity()?;
    let accounts = Accounts::open(ctx.home.root());
    let now = crate::now_ms();
    match cmd {
        UserCommand::Add(a) => {
            let role: Role = a.role.parse().map_err(err)?;
            let secret = accounts.add(&a.name, role, now).map_err(err)?;
            let name = csx_web::accounts::check_name(&a.name).map_err(err)?;
            audit(ctx, "user_add", format!("added account {name} as {role}"));
            print_link(ctx, &name, Some(role), &secret.0, now)
        }
        UserCommand::Reset(a) => {
            let secret = accounts.reset(&a.name, now).map_err(err)?;
            let name = csx_web::accounts::check_name(&a.name).map_err(err)?;
            audit(ctx, "user_reset", format!("reset account {name} (new sign-in link)"));
            print_link(ctx, &name, None, &secret.0, now)
        }
        UserCommand::Disable(a) => {
            accounts.set_disabled(&a.name, true).map_err(err)?;
            audit(ctx, "user_disable", format!("disabled account {}", a.name.trim().to_ascii_lowercase()));
            ctx.out.note(format!("{} is disabled: it cannot sign in or use its API tokens", a.name));
            Ok(())
        }
        UserCommand::Enable(a) => {
            accounts.set_disabled(&a.name, false).map_err(err)?;
            audit(ctx, "user_enable", format!("re-enabled account {}", a.name.trim().to_ascii_lowercase()));
            ctx.out.note(format!("{} is enabled", a.name));
            Ok(())
        }
        UserCommand::Role(a) => {
            let role: Role = a.role.parse().map_err(err)?;
            accounts.set_role(&a.name, role).map_err(err)?;
            audit(ctx, "user_role", format!("made account {} a {role}", a.name.trim().to_ascii_lowercase()));
            ctx.out.note(format!("{} is now a {role}", a.name));
            Ok(())
        }
        UserCommand::Token(t) => match &t.revoke {
            Some(id) => {
                accounts.revoke_token(&t.name, id).map_err(err)?;
                audit(ctx, "token_revoke", format!("revoked API token {id} of {}", t.name));
                ctx.out.note(format!("API token {id} of {} is revoked", t.name));
                Ok(())
            }
            None => {
                let (id, secret) = accounts.create_token(&t.name, &t.label, now).map_err(err)?;
                audit(ctx, "token_create", format!("created API token {id} ({}) for {}", t.label, t.name));
                if ctx.out.json {
                    return ctx.out.json(&serde_json::json!({"name": t.name, "id": id, "token": secret.0}));
                }
                println!("{}", secret.0);
                ctx.out.note(format!(
                    "API token {id} for {}: shown once; send it as `Authorization: Bearer TOKEN` (docs/API.md)",
                    t.name
                ));
                Ok(())
            }
        },
        UserCommand::List => {
            let all = accounts.snapshot().map_err(err)?;
            let listed: Vec<Listed> = all
                .iter()
                .map(|a| Listed {
                    name: a.name.clone(),
                    role: a.role.to_string(),
                    state: a.state(now).into(),
                    created_at: a.created_at,
                    api_tokens: a
                        .tokens
                        .iter()
                        .map(|t| TokenOut { id: t.id.clone(), label: t.label.clone(), created_at: t.created_at })
                        .collect(),
                })
                .collect();
            if listed.is_empty() && !ctx.out.json {
                ctx.out.note("No accounts yet: `csx user add NAME --role admin` makes the first.");
            }
            ctx.out.print(&listed, || {
                let mut t = Grid::new().text("account").keep("role").keep("state").keep("created").text("API tokens");
                for a in &listed {
                    t.row(vec![
                        a.name.clone(),
                        a.role.clone(),
                        a.state.clone(),
                        csx_protocol::Date::from_unix_ms(a.created_at).map(|d| d.to_string()).unwrap_or_default(),
                        a.api_tokens.iter().map(|t| format!("{} ({})", t.id, t.label)).collect::<Vec<_>>().join(", "),
                    ]);
                }
                t
            })
        }
    }
}

fn print_link(ctx: &Ctx, name: &str, role: Option<Role>, secret: &str, now: u64) -> anyhow::Result<()> {
    let signin_link = link(ctx, secret)?;
    let expires_at = now + csx_web::accounts::LINK_VALID_MS;
    if ctx.out.json {
        return ctx.out.json(&LinkOut {
            name: name.into(),
            role: role.map(|r| r.to_string()),
            signin_link,
            expires_at,
        });
    }
    println!("{signin_link}");
    ctx.out.note(format!(
        "one-time sign-in link for {name}{}: send it to them by a channel you trust; it works once, until {}, and sets their password",
        role.map(|r| format!(" ({r})")).unwrap_or_default(),
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(expires_at))
    ));
    Ok(())
}
