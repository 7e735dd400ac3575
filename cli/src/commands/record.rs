//! `csx record show ID`: one record in full.

use clap::Subcommand;

use crate::context::Ctx;
use crate::output::fields;
use crate::view;

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Show one record: envelope and every field
    #[command(after_help = "Examples:
  csx record show 1a2b3c4d
  csx record show 1a2b3c4d --json")]
    Show {
        /// The record's id, or a unique prefix of it (at least 4 hex digits)
        id: String,
    },
}

pub fn run(ctx: &Ctx, cmd: RecordCommand) -> anyhow::Result<()> {
    let RecordCommand::Show { id } = cmd;
    let record = ctx.node()?.record(id)?;
    let shown = view::decode(vec![record])?.remove(0);
    ctx.out.print(&shown, || {
        let r = &shown.record;
        let mut rows = vec![
            ("id".into(), r.id().to_hex()),
            ("kind".into(), r.body().kind_name()),
            ("organisation".into(), shown.org.clone().unwrap_or_else(|| "unknown".into())),
            ("author (node)".into(), r.author().to_hex()),
            ("seq".into(), r.seq().to_string()),
            ("prev".into(), r.prev().map(|p| p.to_hex()).unwrap_or_else(|| "–".into())),
            ("created".into(), format!("{} UTC", view::time(r.created_at()))),
            ("size".into(), format!("{} bytes", r.bytes().len())),
            ("retracted".into(), shown.retracted_by.map(|id| format!("yes, by {id}")).unwrap_or_else(|| "no".into())),
        ];
        if let Ok(serde_json::Value::Object(body)) = serde_json::to_value(r.body()) {
            for (k, v) in body {
                if k == "kind" || v.is_null() {
                    continue;
                }
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                rows.push((k, text));
            }
        }
        fields(rows)
    })
}
