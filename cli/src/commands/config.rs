//! `csx config show` and `csx config check`: the daemon's effective configuration, with where
//! each value came from, and a check of config.toml that names every problem.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use csx_node::config::{Config, check_text, setting_lines};
use serde::Serialize;

use crate::commands::daemon::{DaemonArgs, Origin, apply_overrides};
use crate::context::Ctx;
use crate::error::{CliError, exit};
use crate::output::Grid;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The configuration `csx daemon` would run with, and where each value comes from
    #[command(after_help = "Examples:
  csx config show
  csx config show --listen /ip4/0.0.0.0/tcp/4101     (as `csx daemon --listen …` would run)
  csx config show --json

Takes the same flags as `csx daemon`; each value's source is `default`, `config.toml line N`,
an environment variable (CSX_LISTEN, …) or a flag.")]
    Show(Box<DaemonArgs>),
    /// Check config.toml: syntax, unknown keys, keys in the wrong table, values out of range
    #[command(after_help = "Examples:
  csx config check
  csx config check --config /etc/csx/config.toml

Exit code 0 when the file is good, 3 when it has problems (each named with its line).")]
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file (default: config.toml in the home directory)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Show(args) => show(ctx, &args),
        ConfigCommand::Check(args) => check(ctx, args),
    }
}

/// One setting's effective value and its source.
#[derive(Debug, Serialize)]
struct Setting {
    setting: String,
    /// The value, as it would be written in config.toml.
    value: String,
    /// `default`, `file`, `env`, `flag` or `genesis`.
    source: &'static str,
    /// The file, environment variable or flag it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
}

fn flatten(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(toml::Value::Table(t)) = toml::Value::try_from(config) {
        for (k, v) in t {
            match v {
                toml::Value::Table(sub) => {
                    out.extend(sub.into_iter().map(|(s, v)| (format!("{k}.{s}"), v.to_string())))
                }
                v => out.push((k, v.to_string())),
            }
        }
    }
    out
}

fn show(ctx: &Ctx, args: &DaemonArgs) -> anyhow::Result<()> {
    let path = args.config.clone().unwrap_or_else(|| ctx.home.path("config.toml"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::invalid(format!("cannot read {}: {e}", path.display())).into()),
    };
    let mut config = Config::load(&path)
        .map_err(|e| CliError::invalid(format!("{e} (run `csx config check` for every problem)")))?;
    let lines = text.as_deref().map(setting_lines).unwrap_or_default();
    let overridden = apply_overrides(&mut config, args);
    let mut rows: Vec<Setting> = flatten(&config)
        .into_iter()
        .map(|(setting, value)| {
            if let Some((_, o)) = overridden.iter().find(|(s, _)| *s == setting) {
                let (source, from) = match o {
                    Origin::Flag(f) => ("flag", f),
                    Origin::Env(v) => ("env", v),
                };
                return Setting { setting, value, source, from: Some(from.to_string()), line: None };
            }
            match lines.iter().find(|(s, _)| *s == setting) {
                Some((_, line)) => Setting {
                    setting,
                    value,
                    source: "file",
                    from: Some(path.display().to_string()),
                    line: Some(*line),
                },
                None => Setting { setting, value, source: "default", from: None, line: None },
            }
        })
        .collect();
    if let Ok(genesis) = ctx.home.genesis() {
        rows.push(Setting {
            setting: "bootstrap (from the genesis)".into(),
            value: toml::Value::from(genesis.bootstrap.clone()).to_string(),
            source: "genesis",
            from: Some(ctx.home.path("genesis.json").display().to_string()),
            line: None,
        });
    }
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    ctx.out.print(&rows, || {
        let mut t = Grid::new().keep("setting").text("value").text("from");
        for r in &rows {
            let from = match (r.source, &r.from, r.line) {
                ("file", _, Some(l)) => format!("{file_name} line {l}"),
                ("default", _, _) => "default".into(),
                ("env", Some(v), _) => format!("environment {v}"),
                ("flag", Some(f), _) => format!("flag {f}"),
                (_, Some(f), _) => f.clone(),
                _ => r.source.into(),
            };
            t.row(vec![r.setting.clone(), r.value.clone(), from]);
        }
        t
    })
}

#[derive(Debug, Serialize)]
struct CheckReport {
    file: String,
    /// Whether the file exists (a missing file means every setting at its default).
    exists: bool,
    ok: bool,
    problems: Vec<csx_node::config::Problem>,
}

fn check(ctx: &Ctx, args: CheckArgs) -> anyhow::Result<()> {
    let path = args.config.unwrap_or_else(|| ctx.home.path("config.toml"));
    let (exists, problems) = match std::fs::read(&path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => (true, check_text(&text)),
            Err(e) => (
                true,
                vec![csx_node::config::Problem {
                    line: None,
                    setting: None,
                    message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
                }],
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (false, vec![]),
        Err(e) => (
            true,
            vec![csx_node::config::Problem { line: None, setting: None, message: format!("cannot read it: {e}") }],
        ),
    };
    let report = CheckReport { file: path.display().to_string(), exists, ok: problems.is_empty(), problems };
    if report.ok {
        ctx.out.print(&report, || {
            crate::output::fields(vec![(
                report.file.clone(),
                if exists { "no problems".into() } else { "absent: every setting at its default".into() },
            )])
        })?;
        return Ok(());
    }
    ctx.out.print(&report, || {
        let mut t = Grid::new().num("line").keep("setting").text("problem");
        for p in &report.problems {
            t.row(vec![
                p.line.map(|l| l.to_string()).unwrap_or_else(|| "–".into()),
                p.setting.clone().unwrap_or_else(|| "–".into()),
                p.message.clone(),
            ]);
        }
        t
    })?;
    let n = report.problems.len();
    Err(CliError::new(exit::INVALID, format!("{} has {n} problem{}", report.file, if n == 1 { "" } else { "s" }))
        .into())
}
