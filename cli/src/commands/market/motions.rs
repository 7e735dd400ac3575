//! `csx motions` and `csx motion show`: collective action, support against threshold.

use clap::Args;
use csx_node::query::Question;
use csx_node::query::motions::{MotionQuery, MotionStatus, MotionView};

use super::{ask, dash, show};
use crate::context::Ctx;
use crate::output::{Grid, fields};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx motions --status open               motions closest to carrying first
  csx motions --service-line CONTRACT --wide
  csx motion show 1a2b3c4d                one motion's supporters")]
pub struct MotionsArgs {
    /// Only motions in this state: open, carried or closed
    #[arg(long, value_parser = ["open", "carried", "closed"])]
    pub status: Option<String>,
    /// Only motions about this service line (code or name)
    #[arg(long, value_name = "LINE")]
    pub service_line: Option<String>,
    /// Only motions about this provider (code or name)
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
}

pub fn motions(ctx: &Ctx, args: MotionsArgs) -> anyhow::Result<()> {
    let status = match args.status.as_deref() {
        Some("open") => Some(MotionStatus::Open),
        Some("carried") => Some(MotionStatus::Carried),
        Some("closed") => Some(MotionStatus::Closed),
        _ => None,
    };
    let q = MotionQuery {
        status,
        service_line: super::service_line(&args.service_line)?,
        provider: super::provider(ctx, &args.provider)?,
    };
    let answered = ask(ctx, Question::Motions(q))?;
    let motions = answered.motions()?;
    if motions.is_empty() && !ctx.out.json {
        ctx.out.note("No motions held match; `csx motion propose` puts one forward.");
    }
    let grid = motion_grid(motions);
    show(ctx, &answered, || grid.csv_rows(), || ctx.out.render(&grid))
}

fn compliance(m: &MotionView) -> String {
    m.compliance.as_ref().map_or_else(dash, |c| match (c.meeting, c.unknown) {
        (Some(meeting), Some(unknown)) => format!(
            "{meeting} of {} members{}",
            c.members,
            if unknown > 0 { format!(" ({unknown} do not say)") } else { String::new() }
        ),
        _ => c.disclosure.explain(),
    })
}

fn closing(m: &MotionView) -> String {
    match m.days_left {
        d if d < 0 => format!("{} (closed)", m.closes_on),
        0 => format!("{} (today)", m.closes_on),
        1 => format!("{} (1 day)", m.closes_on),
        d => format!("{} ({d} days)", m.closes_on),
    }
}

/// Motions, closest to carrying first.
pub fn motion_grid(motions: &[MotionView]) -> Grid {
    let mut g = Grid::new()
        .keep("id")
        .text("motion")
        .keep("support")
        .keep("status")
        .keep("closes")
        .text("term")
        .wide()
        .text("about")
        .wide()
        .text("contracts already meeting it")
        .wide();
    for m in motions {
        let scope = match (&m.service_line_name, &m.provider_name) {
            (None, None) => "every line and provider".to_string(),
            (l, p) => [l.clone(), p.clone()].into_iter().flatten().collect::<Vec<_>>().join(", "),
        };
        g.row(vec![
            m.id.to_string()[..8].to_string(),
            m.title.clone(),
            format!("{} of {}", m.support, m.support_needed),
            m.status.to_string(),
            closing(m),
            m.term_text.clone().unwrap_or_else(dash),
            scope,
            compliance(m),
        ]);
    }
    g
}

/// `csx motion show ID`.
pub fn motion_show(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let answered = ask(ctx, Question::Motion { id: id.to_string() })?;
    let m = answered.motion()?;
    let (about, supporters) = motion_grids(m);
    show(
        ctx,
        &answered,
        || supporters.csv_rows(),
        || format!("{}\n\nSupporters\n{}", ctx.out.render(&about), ctx.out.render(&supporters)),
    )
}

fn motion_grids(m: &MotionView) -> (Grid, Grid) {
    let mut rows = vec![
        ("id".to_string(), m.id.to_string()),
        ("title".into(), m.title.clone()),
        ("text".into(), m.text.clone()),
        ("proposed by".into(), format!("{} {} on {}", m.proposer.ods, m.proposer.name, m.proposed)),
        ("term".into(), m.term_text.clone().unwrap_or_else(dash)),
        ("service line".into(), m.service_line_name.clone().unwrap_or_else(|| "all".into())),
        ("provider".into(), m.provider_name.clone().unwrap_or_else(|| "all".into())),
        ("status".into(), m.status.to_string()),
        ("support".into(), format!("{} of {} needed ({} still needed)", m.support, m.support_needed, m.still_needed)),
        ("closes".into(), closing(m)),
        ("withdrawn support".into(), m.withdrawn.to_string()),
    ];
    if let Some(c) = &m.compliance {
        let text = match (c.meeting, c.not_meeting, c.unknown) {
            (Some(meeting), Some(not), Some(unknown)) => format!(
                "{meeting} meet it, {not} do not, {unknown} do not say (of {} members with disclosures)",
                c.members
            ),
            _ => format!("{} ({} members with disclosures)", c.disclosure.explain(), c.members),
        };
        rows.push(("members' contracts meeting the term".into(), text));
    }
    let mut t = Grid::new().text("supporter").keep("since").text("comment");
    for s in &m.supporters {
        t.row(vec![
            format!("{} {}", s.org.ods, s.org.name),
            s.since.to_string(),
            s.comment.clone().unwrap_or_default(),
        ]);
    }
    (fields(rows), t)
}
