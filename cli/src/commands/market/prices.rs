//! `csx prices`: what members pay per head (or per unit), by service line, year and provider,
//! and where you stand.

use clap::Args;
use csx_node::query::Question;
use csx_node::query::prices::{Basis, PriceCell, PriceQuery};
use csx_node::query::stats::Distribution;

use super::{ask, dash, num4, opt, show, withheld, withheld_notes};
use crate::context::Ctx;
use crate::labels::{gbp, ordinal, provider as provider_label};
use crate::output::{Grid, wrap};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx prices                              every service line, all providers
  csx prices --service-line BI            one line, provider by provider; where you stand
  csx prices --service-line BI --wide     with min, p90, max, outliers and records
  csx prices --provider 0DE --year 2024/25
  csx prices --service-line BI --csv > bi-prices.csv")]
pub struct PricesArgs {
    /// One service line (code or name, e.g. BI); with it, each provider's prices are shown too
    #[arg(long, value_name = "LINE")]
    pub service_line: Option<String>,
    /// One provider (code or name, e.g. 0DE)
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// One financial year (2024/25, 2024 or 24/25)
    #[arg(long, value_name = "YEAR")]
    pub year: Option<String>,
    /// Show each provider's prices on every line (implied by --service-line and --provider)
    #[arg(long)]
    pub by_provider: bool,
}

pub fn prices(ctx: &Ctx, args: PricesArgs) -> anyhow::Result<()> {
    let q = PriceQuery {
        service_line: super::service_line(&args.service_line)?,
        provider: super::provider(ctx, &args.provider)?,
        year: super::year(&args.year)?,
    };
    let one_line = q.service_line.clone();
    let by_provider = args.by_provider || q.service_line.is_some() || q.provider.is_some();
    let mut answered = ask(ctx, Question::Prices(q))?;
    let cells = answered.prices_mut()?;
    if !by_provider {
        cells.retain(|c| c.provider.is_none());
    }
    let cells = cells.clone();
    if cells.is_empty() && !ctx.out.json {
        ctx.out.note("No price disclosures held match; `csx price add` records yours, `csx sync` fetches others'.");
    }
    show(ctx, &answered, || price_rows(&cells), || price_text(ctx, &cells, one_line.is_some()))
}

/// The basis in words: `per head`, `per payslip`.
fn per(b: &Basis) -> String {
    match b {
        Basis::PerHead => "per head".into(),
        Basis::PerUnit { unit } => format!("per {unit}"),
    }
}

/// The price table, its notes, and the member's position in words.
fn price_text(ctx: &Ctx, cells: &[PriceCell], one_line: bool) -> String {
    let mut out = String::new();
    let per_head_only = cells.iter().all(|c| c.basis == Basis::PerHead);
    // One year (as `--year` asks): said once above the table rather than on every row.
    let one_year = cells.first().map(|c| c.year).filter(|y| cells.iter().all(|c| c.year == *y));
    let mut title = match (one_line, cells.first()) {
        (true, Some(c)) => format!("{} ({}): what members pay a year", c.service_line_name, c.service_line),
        _ => "What members pay a year".to_string(),
    };
    if let Some(year) = one_year.filter(|_| cells.len() > 1) {
        title = format!("{title} in {year}");
    }
    out.push_str(&wrap(
        &format!(
            "{title}{}, excluding VAT; members' contracts on a line are added together.",
            if per_head_only { " per head of population covered" } else { "" }
        ),
        ctx.out.width,
        0,
    ));
    out.push_str("\n\n");
    out.push_str(&ctx.out.render(&price_grid(cells, one_line, per_head_only, one_year.is_some() && cells.len() > 1)));
    let notes = withheld_notes(&cells.iter().filter(|c| c.stats.is_none()).map(|c| &c.disclosure).collect::<Vec<_>>());
    for n in notes {
        out.push('\n');
        out.push_str(&wrap(&n, ctx.out.width, 2));
    }
    let positions: Vec<_> = cells.iter().filter_map(|c| c.you.as_ref()).collect();
    if !positions.is_empty() {
        out.push_str("\n\nWhere you stand:");
        for p in positions {
            out.push_str("\n  • ");
            out.push_str(&wrap(&p.summary, ctx.out.width.map(|w| w.saturating_sub(4)), 4));
            for check in &p.checks {
                out.push_str("\n    ");
                out.push_str(&wrap(check, ctx.out.width.map(|w| w.saturating_sub(4)), 4));
            }
        }
    }
    let checks: usize = cells.iter().filter_map(|c| c.checks).sum();
    if checks > 0 {
        out.push_str("\n\n");
        out.push_str(&wrap(
            &format!(
                "{checks} value{} in these figures look implausible (check this figure); they are counted as given.",
                if checks == 1 { "" } else { "s" }
            ),
            ctx.out.width,
            0,
        ));
    }
    out
}

fn price_grid(cells: &[PriceCell], one_line: bool, per_head_only: bool, one_year: bool) -> Grid {
    let mut g = Grid::new();
    g = if one_line { g.keep("line").wide() } else { g.text("line") };
    g = if one_year { g.keep("year").wide() } else { g.keep("year") };
    g = g.text("provider").optional();
    let by_provider = cells.iter().any(|c| c.provider.is_some());
    g = if per_head_only { g.keep("basis").wide() } else { g.keep("basis") };
    g = g
        .num("members")
        .num("records")
        .wide()
        .num("median")
        .num("p25–p75")
        .num("min")
        .wide()
        .num("p90")
        .wide()
        .num("max")
        .wide()
        .num("outliers")
        .wide()
        .text("you (percentile)")
        .optional();
    for c in cells {
        let mut row = vec![
            if one_line { c.service_line.clone() } else { format!("{} {}", c.service_line, c.service_line_name) },
            c.year.to_string(),
            match (&c.provider, &c.provider_name) {
                (Some(code), Some(name)) => provider_label(code, name),
                (Some(code), None) => code.clone(),
                _ if by_provider => "all providers".into(),
                _ => String::new(),
            },
            per(&c.basis),
            c.members.to_string(),
            c.records.to_string(),
        ];
        match &c.stats {
            Some(s) => {
                // A figure the cell may not show (docs/QUERIES.md) is a dash, never a number.
                row.push(match (s.median, s.median_band) {
                    (Some(m), _) => gbp(m),
                    (None, Some([low, high])) => format!("{}–{} (band)", gbp(low), gbp(high)),
                    (None, None) => dash(),
                });
                row.push(match (s.p25, s.p75) {
                    (Some(low), Some(high)) => format!("{}–{}", gbp(low), gbp(high)),
                    _ => dash(),
                });
                row.extend([s.min, s.p90, s.max].map(|x| opt(x, gbp)));
                row.push(opt(s.outliers, |n| n.to_string()));
            }
            None => {
                row.push(withheld(&c.disclosure));
                row.extend([dash(), dash(), dash(), dash(), dash()]);
            }
        }
        row.push(match &c.you {
            None => String::new(),
            Some(y) => {
                let check = if y.checks.is_empty() { "" } else { ", check this figure" };
                match y.percentile {
                    Some(p) => {
                        format!("{} ({}){}{check}", gbp(y.value), ordinal(p), if y.outlier { ", outlier" } else { "" })
                    }
                    None => format!("{}{check}", gbp(y.value)),
                }
            }
        });
        g.row(row);
    }
    g
}

fn stat_cols(s: &Option<Distribution>) -> Vec<String> {
    match s {
        Some(s) => {
            let mut v: Vec<String> = [s.min, s.p25, s.median, s.p75, s.p90, s.max].into_iter().map(num4).collect();
            v.push(s.outliers.map(|n| n.to_string()).unwrap_or_default());
            v
        }
        None => vec![String::new(); 7],
    }
}

/// One row per statistic, with machine-readable numbers (pounds to four decimals).
fn price_rows(cells: &[PriceCell]) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "service_line",
            "service_line_name",
            "provider",
            "provider_name",
            "year",
            "basis",
            "records",
            "members",
            "disclosure",
            "min",
            "p25",
            "median",
            "p75",
            "p90",
            "max",
            "outliers",
            "your_value",
            "your_percentile",
            "your_gap",
            "your_gap_pct",
            "your_gap_per_year_pence",
            "median_band",
            "checks",
            "your_checks",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in cells {
        let mut row = vec![
            c.service_line.clone(),
            c.service_line_name.clone(),
            c.provider.clone().unwrap_or_default(),
            c.provider_name.clone().unwrap_or_default(),
            c.year.to_string(),
            c.basis.label(),
            c.records.to_string(),
            c.members.to_string(),
            c.disclosure.explain(),
        ];
        row.extend(stat_cols(&c.stats));
        let y = c.you.as_ref();
        row.push(num4(y.map(|y| y.value)));
        row.push(num4(y.and_then(|y| y.percentile)));
        row.push(num4(y.and_then(|y| y.gap)));
        row.push(num4(y.and_then(|y| y.gap_pct)));
        row.push(y.and_then(|y| y.gap_per_year_pence).map(|p| p.to_string()).unwrap_or_default());
        let band = c.stats.as_ref().and_then(|s| s.median_band);
        row.push(band.map(|[l, h]| format!("{}-{}", num4(Some(l)), num4(Some(h)))).unwrap_or_default());
        row.push(c.checks.map(|n| n.to_string()).unwrap_or_default());
        row.push(y.map(|y| y.checks.join("; ")).unwrap_or_default());
        rows.push(row);
    }
    rows
}
