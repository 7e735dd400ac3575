//! `csx renewals`: the renewal calendar — per service line and quarter, how many members'
//! contracts end (withheld below the federation's minimum, like every figure), with their
//! providers, and your own contracts' end and notice dates.

use clap::Args;
use csx_node::query::Question;
use csx_node::query::renewals::{MAX_QUARTERS, RenewalQuery, Renewals};

use super::{ask, opt, show};
use crate::context::Ctx;
use crate::error::CliError;
use crate::output::{Grid, wrap};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx renewals                          the next three years, every line
  csx renewals --service-line BI --quarters 8
  csx renewals --csv > renewals.csv")]
pub struct RenewalsArgs {
    /// One service line (code or name)
    #[arg(long, value_name = "LINE")]
    pub service_line: Option<String>,
    /// Quarters to show from the current one (1 to 40)
    #[arg(long, value_name = "N", default_value_t = csx_node::query::renewals::DEFAULT_QUARTERS)]
    pub quarters: u8,
}

pub fn renewals(ctx: &Ctx, args: RenewalsArgs) -> anyhow::Result<()> {
    if !(1..=MAX_QUARTERS).contains(&args.quarters) {
        return Err(CliError::invalid(format!("--quarters: give 1 to {MAX_QUARTERS}, not {}", args.quarters)).into());
    }
    let q = RenewalQuery { service_line: super::service_line(&args.service_line)?, quarters: Some(args.quarters) };
    let answered = ask(ctx, Question::Renewals(q))?;
    let r = answered.renewals()?;
    if r.cells.is_empty() && r.yours.is_empty() && !ctx.out.json {
        ctx.out.note(
            "No contract ends are known in these quarters: price disclosures with a contract start and length give them.",
        );
    }
    show(ctx, &answered, || cell_grid(r).csv_rows(), || text(ctx, r))
}

fn cell_grid(r: &Renewals) -> Grid {
    let mut g = Grid::new().keep("line").keep("quarter").num("members").text("providers");
    for c in &r.cells {
        let providers = if c.members.is_none() {
            String::new()
        } else {
            let mut parts: Vec<String> =
                c.providers.iter().map(|p| format!("{} {}", p.provider_name, p.members)).collect();
            if let Some(n) = c.other_members.filter(|n| *n > 0) {
                parts.push(format!("others {n}"));
            }
            parts.join(", ")
        };
        g.row(vec![
            c.service_line.clone(),
            c.quarter.to_string(),
            match (c.members, &c.withheld) {
                (Some(n), _) => n.to_string(),
                (None, Some(w)) => format!("withheld ({w})"),
                (None, None) => "withheld".into(),
            },
            providers,
        ]);
    }
    g
}

fn text(ctx: &Ctx, r: &Renewals) -> String {
    let mut out = format!("Contracts ending, {} to {}\n", r.from, r.to);
    out.push_str(&ctx.out.render(&cell_grid(r)));
    out.push('\n');
    out.push_str(&wrap(
        "Members: how many members' contracts on the line end in the quarter (from their price disclosures' contract start and length). Providers are named with k or more of those members each; the rest are counted as others.",
        ctx.out.width,
        0,
    ));
    out.push_str("\n\nYour contracts\n");
    let mut g =
        Grid::new().text("provider").keep("line").keep("ends").keep("quarter").keep("notice by").text("to give notice");
    for c in &r.yours {
        g.row(vec![
            c.provider_name.clone(),
            c.service_line.clone(),
            c.ends.to_string(),
            c.quarter.to_string(),
            opt(c.notice_by, |d| d.to_string()),
            opt(c.days_to_notice, |d| if d < 0 { "passed".into() } else { format!("{d} days") }),
        ]);
    }
    if r.yours.is_empty() {
        out.push_str("None disclosed with a contract start and length.");
    } else {
        out.push_str(&ctx.out.render(&g));
    }
    out
}
