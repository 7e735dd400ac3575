//! The questions buyers ask: `csx prices`, `csx providers`, `csx provider show`, `csx switches`,
//! `csx motions` and `csx motion show`. The node computes the answers (csx_node::query); these
//! are views of them: a table that fits the terminal (the columns a buyer needs; `--wide` for
//! the rest) with what it rests on at its foot, `--json`, and `--csv`.

mod motions;
mod prices;
mod providers;
mod renewals;
mod switches;

pub use motions::{MotionsArgs, motion_show, motions};
pub use prices::{PricesArgs, prices};
pub use providers::{ProvidersArgs, provider_show, providers};
pub use renewals::{RenewalsArgs, renewals};
pub use switches::{SwitchesArgs, switches};

use csx_node::query::stats::Disclosure;
use csx_node::query::{Answered, Question};
use csx_protocol::FinancialYear;
use csx_protocol::body::Party;

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::wrap;
use csx_node::input;

/// Asks the node (daemon or store) a question.
pub fn ask(ctx: &Ctx, question: Question) -> anyhow::Result<Answered> {
    Ok(ctx.node()?.query(question)?)
}

/// Prints an answer: JSON (answer and provenance), CSV rows, or the document `human` writes
/// followed by what it rests on.
fn show(
    ctx: &Ctx,
    answered: &Answered,
    csv: impl FnOnce() -> Vec<Vec<String>>,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    ctx.out.show(answered, csv, || {
        let mut text = human();
        text.push_str("\n\n");
        text.push_str(&wrap(&answered.provenance.line(), ctx.out.width, 0));
        text
    })
}

/// A service line given as a code or name, checked against the 13 lines.
pub fn service_line(v: &Option<String>) -> anyhow::Result<Option<String>> {
    input::opt(v)
        .map(|l| input::service_line("service_line", l).map_err(|e| CliError::invalid(e.as_flag()).into()))
        .transpose()
}

fn provider(ctx: &Ctx, v: &Option<String>) -> anyhow::Result<Option<String>> {
    match input::opt(v) {
        None => Ok(None),
        Some(p) => Ok(Some(ctx.provider_code(&ctx.provider_names()?, p)?)),
    }
}

fn year(v: &Option<String>) -> anyhow::Result<Option<FinancialYear>> {
    input::opt(v).map(|y| input::year("year", y).map_err(|e| CliError::invalid(e.as_flag()).into())).transpose()
}

fn party(ctx: &Ctx, field: &'static str, v: &Option<String>) -> anyhow::Result<Option<Party>> {
    let Some(p) = input::opt(v) else { return Ok(None) };
    let normal = p.to_ascii_lowercase().replace(['-', ' '], "_");
    let text = if normal == "in_house" || normal.starts_with("shared:") {
        p.to_string()
    } else {
        ctx.provider_code(&ctx.provider_names()?, p)?
    };
    text.parse::<Party>().map(Some).map_err(|e| CliError::invalid(format!("--{field}: {e}")).into())
}

/// A number for CSV: four decimals, empty when absent.
pub fn num4(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_default()
}

fn dash() -> String {
    "–".into()
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map(f).unwrap_or_else(dash)
}

/// A figure withheld by the disclosure rule, in a cell: `withheld` with a mark pointing to the
/// note that explains it ([`withheld_notes`]).
fn withheld(d: &Disclosure) -> String {
    match d {
        Disclosure::Dominated { .. } => "withheld†".into(),
        Disclosure::ProviderKnowsRest { .. } | Disclosure::Complementary { .. } => "withheld‡".into(),
        _ => "withheld*".into(),
    }
}

/// The notes under a table explaining each kind of withheld figure in it.
fn withheld_notes(ds: &[&Disclosure]) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(Disclosure::TooFewMembers { k, .. } | Disclosure::FewerThan { k }) =
        ds.iter().find(|d| matches!(d, Disclosure::TooFewMembers { .. } | Disclosure::FewerThan { .. }))
    {
        notes.push(format!(
            "* withheld: fewer than {k} members disclosed, the federation's minimum before a figure is shown"
        ));
    }
    if let Some(Disclosure::Dominated { limit_bp, .. }) = ds.iter().find(|d| matches!(d, Disclosure::Dominated { .. }))
    {
        notes.push(format!("† withheld: one member supplies more than {}% of the data", limit_bp / 100));
    }
    if ds.iter().any(|d| matches!(d, Disclosure::ProviderKnowsRest { .. } | Disclosure::Complementary { .. })) {
        notes.push(
            "‡ withheld although enough members disclosed: shown, it would let a withheld figure, or a few \
             members' prices, be worked out from the figures shown (--json says which; docs/QUERIES.md)"
                .into(),
        );
    }
    notes
}
