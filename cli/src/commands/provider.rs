//! `csx provider add|list`: the shared registry of providers.

use clap::Subcommand;

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
    /// Register a provider's reply key, or list the keys members registered
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Register (or confirm) a provider's reply key; it counts once enough members have
    #[command(after_help = "Examples:
  csx provider key add --provider 0DE --contact \"Head of Contracts\" \\
      --key ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c
Check the key with the provider out of band (a call to someone you know there) before you add it.")]
    Add {
        /// The provider's code
        #[arg(long)]
        provider: String,
        /// The provider's public key (64 hex digits, from `csx provider-reply keygen`)
        #[arg(long)]
        key: String,
        /// Who at the provider holds the key
        #[arg(long)]
        contact: Option<String>,
    },
    /// Every reply key members registered, by provider, and whether it is confirmed
    #[command(after_help = "Examples:
  csx provider key list --json")]
    List,
}

pub fn run(ctx: &Ctx, cmd: ProviderCommand) -> anyhow::Result<()> {
    match cmd {
        ProviderCommand::Add(input) => super::write::add(ctx, input),
        ProviderCommand::Show { code } => super::market::provider_show(ctx, &code),
        ProviderCommand::Key(KeyCommand::Add { provider, key, contact }) => {
            let provider = ctx.provider_code(&ctx.provider_names()?, &provider)?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(key.trim(), &mut bytes).map_err(|_| {
                crate::error::CliError::invalid(format!(
                    "--key: `{}` is not a public key: give its 64 hex digits",
                    key.trim().chars().take(70).collect::<String>()
                ))
            })?;
            let body = csx_protocol::Body::ProviderKey(csx_protocol::body::ProviderKey {
                provider,
                key: bytes,
                contact: csx_node::input::opt_string(&contact),
            });
            super::write::publish(ctx, vec![body])
        }
        ProviderCommand::Key(KeyCommand::List) => {
            let answered = super::market::ask(ctx, csx_node::query::Question::ProviderKeys)?;
            let keys = answered.provider_keys()?;
            ctx.out.print(&answered, || {
                let mut t = Grid::new().keep("provider").keep("key").text("registered by").text("confirmed");
                for k in keys {
                    t.row(vec![
                        k.provider.clone(),
                        k.key[..12].to_string(),
                        k.registered_by.iter().map(|o| o.name.clone()).collect::<Vec<_>>().join(", "),
                        if k.confirmed {
                            "yes".into()
                        } else {
                            format!("no: {} of {} members", k.registered_by.len(), k.needed)
                        },
                    ]);
                }
                t
            })
        }
        ProviderCommand::List => {
            let providers = ctx.node()?.providers()?;
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
