//! `csx tender intend|join` and `csx tenders`: joint tenders forming. An intent says "we intend
//! to re-procure line L from DATE, open to a joint procurement"; `csx tenders` groups members'
//! intents by line and window with the renewals that fall in it and what they would buy
//! together; `csx tender join` signs this member into one. Withdraw either with `csx retract`.

use clap::{Args, Subcommand};
use csx_node::query::Question;
use csx_node::query::tenders::{TenderGroup, TenderQuery};
use csx_node::query::worth::Worth;
use csx_protocol::Body;
use csx_protocol::body::{Intent, TenderJoin, ValueBand};

use super::market::{ask, service_line};
use crate::context::Ctx;
use crate::error::CliError;
use crate::labels;
use crate::output::{Grid, wrap};
use csx_node::input;

#[derive(Debug, Subcommand)]
pub enum TenderCommand {
    /// Announce that you intend to re-procure a service line, open to a joint procurement
    #[command(after_help = "Examples:
  csx tender intend --service-line BI --from 2026-10-01 --value-band 250k_to_500k \\
      --population 312500 --note \"Open to a joint lot with neighbours\"
Withdraw it with `csx retract ID`.")]
    Intend(IntendArgs),
    /// Join the joint procurement another member's intent announced
    #[command(after_help = "Examples:
  csx tender join 1a2b3c4d --comment \"Our BI contract ends in March too\"
Withdraw with `csx retract ID` (the id `csx tender join` printed).")]
    Join(JoinArgs),
}

#[derive(Debug, Args)]
pub struct IntendArgs {
    /// The service line (code or name)
    #[arg(long)]
    pub service_line: String,
    /// When the new contract should start (2026-10-01, 01/10/2026 or 1 October 2026)
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// The annual value, as a band: under_100k, 100k_to_250k, 250k_to_500k, 500k_to_1m,
    /// 1m_to_5m, over_5m
    #[arg(long, value_name = "BAND")]
    pub value_band: String,
    /// The population it would cover (default: your registered population)
    #[arg(long)]
    pub population: Option<String>,
    /// A note for other members
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The intent's id, or a unique prefix of it (`csx tenders` lists them)
    pub intent: String,
    /// A comment to go with it
    #[arg(long)]
    pub comment: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx tenders
  csx tenders --service-line BI --json")]
pub struct TendersArgs {
    /// Only this service line (code or name)
    #[arg(long)]
    pub service_line: Option<String>,
}

pub fn run(ctx: &Ctx, cmd: TenderCommand) -> anyhow::Result<()> {
    match cmd {
        TenderCommand::Intend(a) => intend(ctx, a),
        TenderCommand::Join(a) => {
            let intent = ctx.resolve(&a.intent)?;
            let body = Body::TenderJoin(TenderJoin { intent, comment: input::opt_string(&a.comment) });
            super::write::publish(ctx, vec![body])
        }
    }
}

fn intend(ctx: &Ctx, a: IntendArgs) -> anyhow::Result<()> {
    let flag = |e: input::FieldErr| CliError::invalid(e.as_flag());
    let line = input::service_line("service_line", &a.service_line).map_err(flag)?;
    let today = csx_protocol::Date::from_unix_ms(crate::now_ms())
        .ok_or_else(|| anyhow::anyhow!("the clock is outside the years csx handles"))?;
    let from = input::dates::date("from", &a.from, today).map_err(flag)?;
    let band = a.value_band.trim().to_ascii_lowercase();
    let value_band = ValueBand::ALL.iter().copied().find(|b| b.name() == band).ok_or_else(|| {
        CliError::invalid(format!(
            "--value-band: `{}` is not a value band; one of {}",
            a.value_band,
            ValueBand::allowed()
        ))
    })?;
    let population = match input::opt(&a.population) {
        Some(p) => input::number::population("population", p).map_err(flag)?,
        None => ctx.home.profile().ok().and_then(|p| p.population).ok_or_else(|| {
            CliError::invalid("--population: give the population it would cover (your profile has none registered)")
        })?,
    };
    let body =
        Body::Intent(Intent { service_line: line, from, value_band, population, note: input::opt_string(&a.note) });
    super::write::publish(ctx, vec![body])
}

/// `csx tenders`.
pub fn tenders(ctx: &Ctx, a: TendersArgs) -> anyhow::Result<()> {
    let q = TenderQuery { service_line: service_line(&a.service_line)? };
    let answered = ask(ctx, Question::Tenders(q))?;
    let (groups, worth) = (answered.tender_groups()?, answered.tender_worth()?);
    ctx.out.show(
        &answered,
        || csv_rows(groups),
        || {
            let mut text = groups_text(ctx, groups);
            text.push_str("\n\n");
            text.push_str(&worth_text(ctx, worth));
            text.push_str("\n\n");
            text.push_str(&wrap(&answered.provenance.line(), ctx.out.width, 0));
            text
        },
    )
}

fn pounds(pence: u64) -> String {
    csx_node::query::prices::short_pounds(pence as i64)
}

/// What a group would buy together, in words.
pub fn value_words(g: &TenderGroup) -> String {
    let t = &g.together;
    match (t.value_low_pence, t.value_high_pence) {
        (Some(l), Some(h)) if l == h => format!("{} a year", pounds(l)),
        (Some(l), Some(h)) => format!("{}–{} a year", pounds(l), pounds(h)),
        (Some(l), None) => format!("{} a year or more", pounds(l)),
        (None, _) => t.value_disclosure.explain(),
    }
}

fn renewal_words(g: &TenderGroup) -> String {
    match g.renewals.members {
        Some(n) => n.to_string(),
        None => g.renewals.disclosure.explain(),
    }
}

fn groups_text(ctx: &Ctx, groups: &[TenderGroup]) -> String {
    if groups.is_empty() {
        return "No joint tender is forming: no member has announced an intent to procure (`csx tender intend`)."
            .into();
    }
    let mut out = String::new();
    for g in groups {
        let mut head = format!(
            "{} ({}), {} to {}: {} member{} together, population {}, {}",
            g.service_line_name,
            g.service_line,
            g.first,
            g.last,
            g.members.len(),
            if g.members.len() == 1 { "" } else { "s" },
            labels::count(g.together.population as usize),
            value_words(g)
        );
        if g.together.population_unknown > 0 {
            head.push_str(&format!(" ({} without a registered population)", g.together.population_unknown));
        }
        out.push_str(&wrap(&head, ctx.out.width, 0));
        out.push('\n');
        let mut grid = Grid::new()
            .keep("intent")
            .text("member")
            .keep("from")
            .text("value band")
            .num("population")
            .text("joined by")
            .text("note")
            .optional();
        for i in &g.intents {
            grid.row(vec![
                i.id[..12].to_string(),
                i.org.name.clone(),
                i.from.to_string(),
                labels::value_band(i.value_band),
                labels::count(i.population as usize),
                i.joined_by.iter().map(|o| o.name.clone()).collect::<Vec<_>>().join(", "),
                i.note.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&ctx.out.render(&grid));
        let mut foot = format!("Other members' contracts on this line renewing in the window: {}.", renewal_words(g));
        if let Some(q) = g.yours.renewal {
            foot.push_str(&format!(" Your own contract renews in {q}."));
        }
        if g.yours.intent.is_none() && g.yours.joined.is_empty() {
            foot.push_str(&format!(" Join with `csx tender join {}`.", &g.intents[0].id[..12]));
        }
        out.push('\n');
        out.push_str(&wrap(&foot, ctx.out.width, 0));
        out.push_str("\n\n");
    }
    out.trim_end().to_string()
}

/// The federation's figure: paid a year above each line's median.
pub fn worth_text(ctx: &Ctx, w: &Worth) -> String {
    let mut out = String::from("What acting together is worth: paid a year above each line's median £/head\n");
    let mut grid = Grid::new().text("service line").keep("year").num("members").num("above median").num("paid above");
    for l in &w.lines {
        let (above, paid) = match (l.above, l.above_median_pence) {
            (Some(a), Some(p)) => (a.to_string(), pounds(p)),
            _ => ("–".into(), l.disclosure.explain()),
        };
        grid.row(vec![l.service_line_name.clone(), l.year.to_string(), l.members.to_string(), above, paid]);
    }
    out.push_str(&ctx.out.render(&grid));
    let total = format!(
        "In all: {} a year over {} line{} shown{}.",
        pounds(w.total_pence),
        w.lines_shown,
        if w.lines_shown == 1 { "" } else { "s" },
        match w.lines_withheld {
            0 => String::new(),
            n => format!(" ({n} line{} withheld and left out)", if n == 1 { "" } else { "s" }),
        }
    );
    out.push('\n');
    out.push_str(&wrap(&total, ctx.out.width, 0));
    out
}

fn csv_rows(groups: &[TenderGroup]) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "group",
            "service_line",
            "first_quarter",
            "last_quarter",
            "intent",
            "member",
            "from",
            "value_band",
            "population",
            "joined_by",
            "group_members",
            "group_population",
            "group_value",
            "renewals_in_window",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for g in groups {
        for i in &g.intents {
            rows.push(vec![
                g.group.clone(),
                g.service_line.clone(),
                g.first.to_string(),
                g.last.to_string(),
                i.id.clone(),
                i.org.name.clone(),
                i.from.to_string(),
                i.value_band.name().to_string(),
                i.population.to_string(),
                i.joined_by.iter().map(|o| o.name.clone()).collect::<Vec<_>>().join("; "),
                g.members.len().to_string(),
                g.together.population.to_string(),
                value_words(g),
                renewal_words(g),
            ]);
        }
    }
    rows
}
