//! `csx switches`: who moved which service line from whom to whom, why, at what cost, and how it
//! turned out.

use clap::Args;
use csx_node::query::Question;
use csx_node::query::prices::short_pounds;
use csx_node::query::stats::Summary;
use csx_node::query::switches::{Flow, PartyView, SwitchQuery, SwitchRow, SwitchesAnswer};

use super::{ask, dash, opt, show};
use crate::context::Ctx;
use crate::labels;
use crate::output::{Grid, wrap};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx switches --from 0DE                 who left AGEM, for whom and why
  csx switches --service-line CHC --year 2024/25
  csx switches --to in_house --wide       with notice, transition and exit costs
  csx switches --csv > switches.csv")]
pub struct SwitchesArgs {
    /// One service line (code or name)
    #[arg(long, value_name = "LINE")]
    pub service_line: Option<String>,
    /// A provider on either side (code or name)
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Only switches away from this party: a provider (code or name), in_house or shared:ODS
    #[arg(long, value_name = "WHO")]
    pub from: Option<String>,
    /// Only switches to this party
    #[arg(long, value_name = "WHO")]
    pub to: Option<String>,
    /// The financial year the switch took effect in
    #[arg(long, value_name = "YEAR")]
    pub year: Option<String>,
}

pub fn switches(ctx: &Ctx, args: SwitchesArgs) -> anyhow::Result<()> {
    let q = SwitchQuery {
        service_line: super::service_line(&args.service_line)?,
        provider: super::provider(ctx, &args.provider)?,
        year: super::year(&args.year)?,
        from: super::party(ctx, "from", &args.from)?,
        to: super::party(ctx, "to", &args.to)?,
    };
    let answered = ask(ctx, Question::Switches(q))?;
    let a = answered.switches()?;
    if a.switches.is_empty() && !ctx.out.json {
        ctx.out.note("No switching reports held match; `csx switch add` records yours.");
    }
    show(ctx, &answered, || switch_rows(&a.switches), || switch_text(ctx, a))
}

fn side(p: &PartyView) -> String {
    labels::party(&p.party, &p.name)
}

fn months(s: &Option<Summary>) -> String {
    opt(s.as_ref(), |s| {
        if s.n == 1 || s.min == s.max {
            format!("{:.0}", s.median)
        } else {
            format!("{:.0} ({:.0}–{:.0})", s.median, s.min, s.max)
        }
    })
}

/// The flows: from → to, by line and year.
pub fn flow_grid(flows: &[Flow]) -> Grid {
    let mut g = Grid::new()
        .keep("line")
        .keep("year")
        .text("from → to")
        .num("switches")
        .text("why")
        .num("notice months")
        .wide()
        .num("transition months")
        .wide()
        .num("exit costs")
        .wide()
        .text("since: cheaper / happier");
    for f in flows {
        g.row(vec![
            f.service_line.clone(),
            f.year.to_string(),
            format!("{} → {}", side(&f.from), side(&f.to)),
            f.switches.to_string(),
            f.reasons.iter().map(|(r, n)| format!("{} {n}", labels::reason(r))).collect::<Vec<_>>().join(", "),
            months(&f.notice_months),
            months(&f.transition_months),
            short_pounds(f.exit_costs_pence as i64),
            if f.outcomes == 0 { dash() } else { format!("{} / {} of {} reported", f.cheaper, f.happier, f.outcomes) },
        ]);
    }
    g
}

fn outcome_text(r: &SwitchRow) -> String {
    opt(r.outcome.as_ref(), |o| {
        let mut parts = Vec::new();
        if let Some(c) = o.cost_change_pence {
            parts.push(format!("cost {}{} a year", if c > 0 { "+" } else { "" }, short_pounds(c)));
        }
        if let Some(s) = o.satisfaction_change {
            parts.push(format!("satisfaction {s:+}"));
        }
        if parts.is_empty() { "reported".into() } else { parts.join(", ") }
    })
}

fn switch_text(ctx: &Ctx, a: &SwitchesAnswer) -> String {
    let mut g = Grid::new()
        .text("member")
        .keep("line")
        .text("from → to")
        .keep("effective")
        .text("why")
        .text("in their words")
        .wide()
        .num("notice")
        .wide()
        .num("exit costs")
        .wide()
        .num("transition")
        .wide()
        .text("since");
    for r in &a.switches {
        let reasons: Vec<String> = r.reasons.iter().map(labels::reason).collect();
        g.row(vec![
            format!("{} {}", r.org.ods, r.org.name),
            r.service_line.clone(),
            format!("{} → {}", side(&r.from), side(&r.to)),
            r.effective.to_string(),
            reasons.join(", "),
            r.reason_text.as_ref().map(|t| format!("“{t}”")).unwrap_or_default(),
            opt(r.notice_months, |m| format!("{m} months")),
            opt(r.exit_costs_pence, |p| short_pounds(p as i64)),
            opt(r.transition_months, |m| format!("{m} months")),
            outcome_text(r),
        ]);
    }
    let mut out = String::from("Flows\n");
    out.push_str(&ctx.out.render(&flow_grid(&a.flows)));
    out.push_str("\n\nSwitches\n");
    out.push_str(&ctx.out.render(&g));
    out.push('\n');
    out.push_str(&wrap(
        "Since: how the change turned out, as the member reported it (cheaper: annual cost fell; happier: satisfaction rose).",
        ctx.out.width,
        0,
    ));
    out
}

fn switch_rows(rows: &[SwitchRow]) -> Vec<Vec<String>> {
    let mut out = vec![
        [
            "id",
            "member",
            "member_name",
            "service_line",
            "from",
            "to",
            "effective",
            "year",
            "reasons",
            "reason_text",
            "notice_months",
            "exit_costs_pence",
            "transition_months",
            "cost_change_pence",
            "satisfaction_change",
            "outcome_comment",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let n = |v: Option<String>| v.unwrap_or_default();
    for r in rows {
        let o = r.outcome.as_ref();
        out.push(vec![
            r.id.to_string(),
            r.org.ods.clone(),
            r.org.name.clone(),
            r.service_line.clone(),
            r.from.party.to_string(),
            r.to.party.to_string(),
            r.effective.to_string(),
            r.year.to_string(),
            r.reasons.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(";"),
            n(r.reason_text.clone()),
            n(r.notice_months.map(|m| m.to_string())),
            n(r.exit_costs_pence.map(|m| m.to_string())),
            n(r.transition_months.map(|m| m.to_string())),
            n(o.and_then(|o| o.cost_change_pence).map(|m| m.to_string())),
            n(o.and_then(|o| o.satisfaction_change).map(|m| m.to_string())),
            n(o.and_then(|o| o.comment.clone())),
        ]);
    }
    out
}
