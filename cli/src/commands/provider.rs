//! `csx provider add|list`: the shared registry of providers.

use clap::Subcommand;
use csx_node::api::{Request, Response};

use crate::context::Ctx;
use crate::output::Grid;
use csx_node::input::kinds::ProviderInput;

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Add a provider to the shared registry (or update its name, kind and aliases)
    #[command(after_help = "Examples:
  csx provider add --code ACME-BI --name \"Acme Analytics Ltd\" --kind private --aliases \\
      \"Acme, AA\"")]
    Add(ProviderInput),
    /// List every known provider: built-in CSUs and those members added
    #[command(after_help = "Examples:
  csx provider list
  csx provider list --wide --csv > providers.csv")]
    List,
    /// A provider's scorecard on every service line, with each rating dimension and comments
    #[command(after_help = "Examples:
  csx provider show 0DE
  csx provider show AGEM --wide")]
    Show {
        /// Provider code (e.g. 0DE)
        code: String,
    },
}

pub fn run(ctx: &Ctx, cmd: ProviderCommand) -> anyhow::Result<()> {
    match cmd {
        ProviderCommand::Add(input) => super::write::add(ctx, input),
        ProviderCommand::Show { code } => super::market::provider_show(ctx, &code),
        ProviderCommand::List => {
            let Response::Providers { providers } = ctx.call(Request::Providers)? else {
                anyhow::bail!("unexpected reply")
            };
            ctx.out.print(&providers, || {
                let mut t = Grid::new()
                    .keep("code")
                    .text("name")
                    .text("kind")
                    .text("also known as")
                    .optional()
                    .keep("defined by")
                    .wide()
                    .text("note")
                    .wide();
                for p in &providers {
                    let source = if p.source == "builtin" {
                        "built-in".to_string()
                    } else {
                        format!("record {}", &p.source[..12.min(p.source.len())])
                    };
                    t.row(vec![
                        p.code.clone(),
                        p.name.clone(),
                        crate::labels::words(&p.kind),
                        p.aliases.join(", "),
                        source,
                        p.note.clone().unwrap_or_default(),
                    ]);
                }
                t
            })
        }
    }
}
