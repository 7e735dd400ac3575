//! The questions buyers ask: `csx prices`, `csx providers`, `csx provider show`, `csx switches`,
//! `csx motions` and `csx motion show`. The node computes the answers (csx_node::query); these
//! are views of them: a table with the provenance line at its foot, `--json`, and `--csv`.

use clap::Args;
use csx_node::api::{Request, Response};
use csx_node::query::motions::{MotionQuery, MotionStatus, MotionView};
use csx_node::query::prices::{PriceCell, PriceQuery, short_pounds};
use csx_node::query::providers::{ProviderProfile, ProviderQuery, Scorecard};
use csx_node::query::stats::{Distribution, Summary};
use csx_node::query::switches::{Flow, PartyView, SwitchQuery, SwitchRow, SwitchesAnswer};
use csx_node::query::{Answer, Answered, Question};
use csx_protocol::FinancialYear;
use csx_protocol::body::Party;

use crate::context::Ctx;
use crate::error::CliError;
use crate::output::{fields, table};
use csx_node::input;

/// Asks the node (daemon or store) a question.
pub fn ask(ctx: &Ctx, question: Question) -> anyhow::Result<Answered> {
    match ctx.call(Request::Query { question })? {
        Response::Answer(a) => Ok(*a),
        other => anyhow::bail!("unexpected reply {other:?}"),
    }
}

/// Prints an answer: JSON (answer and provenance), CSV rows, or the tables `human` writes
/// followed by the provenance line.
fn show(
    ctx: &Ctx,
    answered: &Answered,
    csv: Option<Vec<Vec<String>>>,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if ctx.out.json {
        return ctx.out.json(answered);
    }
    if let Some(rows) = csv {
        return write_csv(std::io::stdout().lock(), &rows);
    }
    println!("{}", human());
    println!("{}", answered.provenance.line());
    Ok(())
}

/// Writes rows (the first is the header) as CSV.
pub fn write_csv(out: impl std::io::Write, rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for row in rows {
        w.write_record(row)?;
    }
    w.flush()?;
    Ok(())
}

/// A service line code as given, checked against the 13 lines.
pub fn service_line(v: &Option<String>) -> anyhow::Result<Option<String>> {
    let Some(code) = input::opt(v) else { return Ok(None) };
    let code = code.to_ascii_uppercase();
    if csx_protocol::refdata::service_line(&code).is_none() {
        return Err(CliError::invalid(format!(
            "--service-line: `{code}` is not a service line; use one of {}",
            csx_protocol::refdata::service_line_codes()
        ))
        .into());
    }
    Ok(Some(code))
}

fn provider(v: &Option<String>) -> Option<String> {
    input::opt(v).map(|c| c.to_ascii_uppercase())
}

fn year(v: &Option<String>) -> anyhow::Result<Option<FinancialYear>> {
    input::opt(v).map(|y| input::year("year", y).map_err(|e| CliError::invalid(e.as_flag()).into())).transpose()
}

fn party(field: &'static str, v: &Option<String>) -> anyhow::Result<Option<Party>> {
    input::opt(v)
        .map(|p| p.parse::<Party>().map_err(|e| anyhow::Error::from(CliError::invalid(format!("--{field}: {e}")))))
        .transpose()
}

/// A number for CSV: four decimals, empty when absent.
pub fn num4(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_default()
}

/// £ to the penny.
pub fn gbp(x: f64) -> String {
    if x.abs() >= 1000.0 { csx_protocol::validate::pounds((x * 100.0).round() as i128) } else { format!("£{x:.2}") }
}

/// 83 → `83rd`.
pub fn ordinal(p: f64) -> String {
    let n = p.round() as i64;
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn dash() -> String {
    "–".into()
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map(f).unwrap_or_else(dash)
}

fn score(x: f64) -> String {
    format!("{x:.2}")
}

fn net(x: f64) -> String {
    format!("{x:+.0}")
}

// ── prices ─────────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Args)]
pub struct PricesArgs {
    /// One service line (code, e.g. BI); with it, each provider's prices are shown too
    #[arg(long)]
    pub service_line: Option<String>,
    /// One provider (code, e.g. 0DE)
    #[arg(long)]
    pub provider: Option<String>,
    /// One financial year (2024/25 or 2024)
    #[arg(long)]
    pub year: Option<String>,
    /// Show each provider's prices on every line (implied by --service-line and --provider)
    #[arg(long)]
    pub by_provider: bool,
    /// Print CSV
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

pub fn prices(ctx: &Ctx, args: PricesArgs) -> anyhow::Result<()> {
    let q = PriceQuery {
        service_line: service_line(&args.service_line)?,
        provider: provider(&args.provider),
        year: year(&args.year)?,
    };
    let by_provider = args.by_provider || q.service_line.is_some() || q.provider.is_some();
    let mut answered = ask(ctx, Question::Prices(q))?;
    let Answer::Prices { cells } = &mut answered.answer else { anyhow::bail!("unexpected answer") };
    if !by_provider {
        cells.retain(|c| c.provider.is_none());
    }
    let cells = cells.clone();
    if cells.is_empty() && !ctx.out.json {
        ctx.out.note("No price disclosures held match; `csx price add` records yours, `csx sync` fetches others'.");
    }
    let csv = args.csv.then(|| price_rows(&cells));
    show(ctx, &answered, csv, || price_tables(&cells))
}

/// The price statistics table, then the member's position in words.
pub fn price_tables(cells: &[PriceCell]) -> String {
    let mut t = table(&[
        "service line",
        "provider",
        "year",
        "basis",
        "members",
        "min",
        "p25",
        "median",
        "p75",
        "p90",
        "max",
        "outliers",
        "you (percentile)",
    ]);
    for c in cells {
        let mut row = vec![
            format!("{} {}", c.service_line, c.service_line_name),
            c.provider_name.clone().unwrap_or_else(|| "all providers".into()),
            c.year.to_string(),
            c.basis.label(),
            c.members.to_string(),
        ];
        match &c.stats {
            Some(s) => {
                // A figure the cell may not show (docs/QUERIES.md) is a dash, never a number.
                row.extend([s.min, s.p25].map(|x| opt(x, gbp)));
                row.push(match s.median_band {
                    Some([low, high]) => format!("{}–{} (band)", gbp(low), gbp(high)),
                    None => opt(s.median, gbp),
                });
                row.extend([s.p75, s.p90, s.max].map(|x| opt(x, gbp)));
                row.push(opt(s.outliers, |n| n.to_string()));
            }
            None => {
                row.extend(["", ""].map(String::from));
                row.push(c.disclosure.explain());
                row.extend(["", "", "", ""].map(String::from));
            }
        }
        row.push(opt(c.you.as_ref(), |y| {
            let check = if y.checks.is_empty() { "" } else { ", check this figure" };
            match y.percentile {
                Some(p) => {
                    format!("{} ({}){}{check}", gbp(y.value), ordinal(p), if y.outlier { ", outlier" } else { "" })
                }
                None => format!("{}{check}", gbp(y.value)),
            }
        }));
        t.add_row(row);
    }
    let mut out = t.to_string();
    let positions: Vec<_> = cells.iter().filter_map(|c| c.you.as_ref()).collect();
    if !positions.is_empty() {
        out.push_str("\n\nWhere you stand:\n");
        for p in positions {
            out.push_str(&format!("  • {}\n", p.summary));
            for check in &p.checks {
                out.push_str(&format!("    {check}\n"));
            }
        }
        out.pop();
    }
    let checks: usize = cells.iter().filter_map(|c| c.checks).sum();
    if checks > 0 {
        out.push_str(&format!(
            "\n{checks} value{} in these figures look implausible (check this figure); they are counted as given.",
            if checks == 1 { "" } else { "s" }
        ));
    }
    out
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
        let f = num4;
        row.push(f(y.map(|y| y.value)));
        row.push(f(y.and_then(|y| y.percentile)));
        row.push(f(y.and_then(|y| y.gap)));
        row.push(f(y.and_then(|y| y.gap_pct)));
        row.push(y.and_then(|y| y.gap_per_year_pence).map(|p| p.to_string()).unwrap_or_default());
        let band = c.stats.as_ref().and_then(|s| s.median_band);
        row.push(band.map(|[l, h]| format!("{}-{}", num4(Some(l)), num4(Some(h)))).unwrap_or_default());
        row.push(c.checks.map(|n| n.to_string()).unwrap_or_default());
        row.push(y.map(|y| y.checks.join("; ")).unwrap_or_default());
        rows.push(row);
    }
    rows
}

// ── providers ──────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Args)]
pub struct ProvidersArgs {
    /// One service line (code, e.g. CON)
    #[arg(long)]
    pub service_line: Option<String>,
    /// One provider (code)
    #[arg(long)]
    pub provider: Option<String>,
    /// Print CSV
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

pub fn providers(ctx: &Ctx, args: ProvidersArgs) -> anyhow::Result<()> {
    let q = ProviderQuery { service_line: service_line(&args.service_line)?, provider: provider(&args.provider) };
    let answered = ask(ctx, Question::Providers(q))?;
    let Answer::Providers { scorecards } = &answered.answer else { anyhow::bail!("unexpected answer") };
    if scorecards.is_empty() && !ctx.out.json {
        ctx.out.note("No reviews held match; `csx review add` records yours.");
    }
    let csv = args.csv.then(|| scorecard_rows(scorecards));
    show(ctx, &answered, csv, || scorecard_table(scorecards).to_string())
}

fn trend(s: &Scorecard) -> String {
    s.trend.iter().map(|y| format!("{} {}", y.year, opt(y.overall, score))).collect::<Vec<_>>().join(" → ")
}

fn price_range(s: &Scorecard) -> String {
    match &s.prices {
        None => dash(),
        Some(p) => match &p.stats {
            Some(st) => match (st.median, st.p25, st.p75, st.median_band) {
                (Some(m), Some(lo), Some(hi), _) => format!("{} ({}–{}) {}", gbp(m), gbp(lo), gbp(hi), p.year),
                (_, _, _, Some([lo, hi])) => format!("{}–{} (band) {}", gbp(lo), gbp(hi), p.year),
                _ => p.year.to_string(),
            },
            None => format!("{} {}", p.disclosure.explain(), p.year),
        },
    }
}

fn switching(s: &Scorecard) -> String {
    format!("+{} −{} (net {:+})", s.switches.joined, s.switches.left, s.switches.net)
}

/// One row per provider and line: the scorecard in brief.
pub fn scorecard_table(cards: &[Scorecard]) -> comfy_table::Table {
    let mut t = table(&[
        "service line",
        "rank",
        "provider",
        "reviewers",
        "score /5",
        "recommend",
        "trend",
        "£/head median (p25–p75)",
        "switching",
        "still customers",
    ]);
    for s in cards {
        t.add_row(vec![
            format!("{} {}", s.service_line, s.service_line_name),
            opt(s.rank, |r| r.to_string()),
            format!("{} {}", s.provider, s.provider_name),
            s.reviewers.to_string(),
            if s.disclosure.shown() { opt(s.overall, score) } else { s.disclosure.explain() },
            opt(s.recommend.as_ref(), |r| net(r.score)),
            trend(s),
            price_range(s),
            switching(s),
            s.still_customers.to_string(),
        ]);
    }
    t
}

fn scorecard_rows(cards: &[Scorecard]) -> Vec<Vec<String>> {
    let mut header: Vec<String> = [
        "service_line",
        "provider",
        "provider_name",
        "reviews",
        "reviewers",
        "still_customers",
        "disclosure",
        "rank",
        "overall",
    ]
    .map(String::from)
    .to_vec();
    let dims: Vec<String> =
        cards.first().map(|c| c.dimensions.iter().map(|d| d.name.clone()).collect()).unwrap_or_default();
    header.extend(dims.iter().cloned());
    header.extend(
        [
            "recommend_net",
            "promoters",
            "passives",
            "detractors",
            "price_year",
            "price_median",
            "price_p25",
            "price_p75",
            "joined",
            "left",
            "net_switching",
        ]
        .map(String::from),
    );
    let f = num4;
    let mut rows = vec![header];
    for s in cards {
        let mut row = vec![
            s.service_line.clone(),
            s.provider.clone(),
            s.provider_name.clone(),
            s.reviews.to_string(),
            s.reviewers.to_string(),
            s.still_customers.to_string(),
            s.disclosure.explain(),
            s.rank.map(|r| r.to_string()).unwrap_or_default(),
            f(s.overall),
        ];
        for d in &dims {
            row.push(f(s.dimensions.iter().find(|x| &x.name == d).and_then(|x| x.mean)));
        }
        let r = s.recommend.as_ref();
        row.push(f(r.map(|r| r.score)));
        for n in [r.map(|r| r.promoters), r.map(|r| r.passives), r.map(|r| r.detractors)] {
            row.push(n.map(|n| n.to_string()).unwrap_or_default());
        }
        let st = s.prices.as_ref().and_then(|p| p.stats.as_ref());
        row.push(s.prices.as_ref().map(|p| p.year.to_string()).unwrap_or_default());
        row.extend([f(st.and_then(|s| s.median)), f(st.and_then(|s| s.p25)), f(st.and_then(|s| s.p75))]);
        row.extend([s.switches.joined.to_string(), s.switches.left.to_string(), s.switches.net.to_string()]);
        rows.push(row);
    }
    rows
}

/// `csx provider show CODE`.
pub fn provider_show(ctx: &Ctx, code: &str) -> anyhow::Result<()> {
    let answered = ask(ctx, Question::Provider { code: code.to_string() })?;
    let Answer::Provider(p) = &answered.answer else { anyhow::bail!("unexpected answer") };
    show(ctx, &answered, None, || profile_text(p))
}

fn profile_text(p: &ProviderProfile) -> String {
    let mut rows = vec![("provider".to_string(), format!("{} {}", p.code, p.name))];
    if let Some(k) = &p.kind {
        rows.push(("kind".into(), k.clone()));
    }
    if let Some(n) = &p.note {
        rows.push(("note".into(), n.clone()));
    }
    let reviewed = p.scorecards.iter().filter(|c| c.reviews > 0).count();
    rows.push(("service lines reviewed".into(), reviewed.to_string()));
    if reviewed < p.scorecards.len() {
        rows.push(("priced or switched only".into(), (p.scorecards.len() - reviewed).to_string()));
    }
    let mut out = fields(rows).to_string();
    if p.scorecards.is_empty() {
        out.push_str("\n\nNo member has reviewed, priced or switched this provider yet.");
        return out;
    }
    out.push_str("\n\n");
    out.push_str(&scorecard_table(&p.scorecards).to_string());
    for s in &p.scorecards {
        out.push_str(&format!("\n\n{} {} — {}\n", s.service_line, s.service_line_name, s.disclosure.explain()));
        let mut t = table(&["dimension", "answers", "mean /5 (age-weighted)"]);
        for d in &s.dimensions {
            let mean = match d.mean {
                Some(m) => score(m),
                None if d.answers == 0 => dash(),
                None => d.disclosure.explain(),
            };
            t.add_row(vec![d.name.clone(), d.answers.to_string(), mean]);
        }
        if let Some(r) = &s.recommend {
            t.add_row(vec![
                "would recommend (net score)".into(),
                r.answers.to_string(),
                format!(
                    "{} ({} promoters, {} passives, {} detractors)",
                    net(r.score),
                    r.promoters,
                    r.passives,
                    r.detractors
                ),
            ]);
        }
        out.push_str(&t.to_string());
        for c in &s.comments {
            out.push_str(&format!(
                "\n  “{}” — {}, {} ({}, {}{})",
                c.text,
                c.reviewer_role,
                c.org.name,
                c.year,
                c.written,
                if c.still_customer { "" } else { ", no longer a customer" }
            ));
        }
    }
    out
}

// ── switches ───────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Args)]
pub struct SwitchesArgs {
    /// One service line (code)
    #[arg(long)]
    pub service_line: Option<String>,
    /// A provider on either side (code)
    #[arg(long)]
    pub provider: Option<String>,
    /// Only switches away from this party: a provider code, in_house or shared:ODS (who left it)
    #[arg(long)]
    pub from: Option<String>,
    /// Only switches to this party (who joined it)
    #[arg(long)]
    pub to: Option<String>,
    /// The financial year the switch took effect in
    #[arg(long)]
    pub year: Option<String>,
    /// Print CSV (one row per switch)
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

pub fn switches(ctx: &Ctx, args: SwitchesArgs) -> anyhow::Result<()> {
    let q = SwitchQuery {
        service_line: service_line(&args.service_line)?,
        provider: provider(&args.provider),
        year: year(&args.year)?,
        from: party("from", &args.from)?,
        to: party("to", &args.to)?,
    };
    let answered = ask(ctx, Question::Switches(q))?;
    let Answer::Switches(a) = &answered.answer else { anyhow::bail!("unexpected answer") };
    if a.switches.is_empty() && !ctx.out.json {
        ctx.out.note("No switching reports held match; `csx switch add` records yours.");
    }
    let csv = args.csv.then(|| switch_rows(&a.switches));
    show(ctx, &answered, csv, || switch_tables(a))
}

fn side(p: &PartyView) -> String {
    match &p.party {
        Party::Provider(c) => format!("{c} {}", p.name),
        _ => p.name.clone(),
    }
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

/// The flows table (from → to, by line and year).
pub fn flow_table(flows: &[Flow]) -> comfy_table::Table {
    let mut t = table(&[
        "service line",
        "year",
        "from",
        "to",
        "switches",
        "reasons",
        "notice months",
        "transition months",
        "exit costs",
        "outcomes: cheaper / happier",
    ]);
    for f in flows {
        t.add_row(vec![
            format!("{} {}", f.service_line, f.service_line_name),
            f.year.to_string(),
            side(&f.from),
            side(&f.to),
            f.switches.to_string(),
            f.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join(", "),
            months(&f.notice_months),
            months(&f.transition_months),
            short_pounds(f.exit_costs_pence as i64),
            if f.outcomes == 0 {
                dash()
            } else {
                format!("{} of {}: {} / {}", f.outcomes, f.switches, f.cheaper, f.happier)
            },
        ]);
    }
    t
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

fn switch_tables(a: &SwitchesAnswer) -> String {
    let mut t = table(&[
        "member",
        "service line",
        "from",
        "to",
        "effective",
        "reasons",
        "notice",
        "exit costs",
        "transition",
        "outcome",
    ]);
    for r in &a.switches {
        let mut reasons: Vec<String> = r.reasons.iter().map(|x| x.to_string()).collect();
        if let Some(text) = &r.reason_text {
            reasons.push(format!("“{text}”"));
        }
        t.add_row(vec![
            format!("{} {}", r.org.ods, r.org.name),
            r.service_line.clone(),
            side(&r.from),
            side(&r.to),
            r.effective.to_string(),
            reasons.join("; "),
            opt(r.notice_months, |m| format!("{m} months")),
            opt(r.exit_costs_pence, |p| short_pounds(p as i64)),
            opt(r.transition_months, |m| format!("{m} months")),
            outcome_text(r),
        ]);
    }
    format!("Flows\n{}\n\nSwitches\n{t}", flow_table(&a.flows))
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

// ── motions ────────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Args)]
pub struct MotionsArgs {
    /// Only motions in this state: open, carried or closed
    #[arg(long, value_parser = ["open", "carried", "closed"])]
    pub status: Option<String>,
    /// Only motions about this service line
    #[arg(long)]
    pub service_line: Option<String>,
    /// Only motions about this provider
    #[arg(long)]
    pub provider: Option<String>,
}

pub fn motions(ctx: &Ctx, args: MotionsArgs) -> anyhow::Result<()> {
    let status = match args.status.as_deref() {
        Some("open") => Some(MotionStatus::Open),
        Some("carried") => Some(MotionStatus::Carried),
        Some("closed") => Some(MotionStatus::Closed),
        _ => None,
    };
    let q = MotionQuery { status, service_line: service_line(&args.service_line)?, provider: provider(&args.provider) };
    let answered = ask(ctx, Question::Motions(q))?;
    let Answer::Motions { motions } = &answered.answer else { anyhow::bail!("unexpected answer") };
    if motions.is_empty() && !ctx.out.json {
        ctx.out.note("No motions held match; `csx motion propose` puts one forward.");
    }
    show(ctx, &answered, None, || motion_table(motions).to_string())
}

fn compliance(m: &MotionView) -> String {
    opt(m.compliance.as_ref(), |c| match (c.meeting, c.unknown) {
        (Some(meeting), Some(unknown)) => format!(
            "{meeting} of {} members{}",
            c.members,
            if unknown > 0 { format!(" ({unknown} unknown)") } else { String::new() }
        ),
        _ => c.disclosure.explain(),
    })
}

fn closing(m: &MotionView) -> String {
    match m.days_left {
        d if d < 0 => format!("{} (closed)", m.closes_on),
        0 => format!("{} (today)", m.closes_on),
        d => format!("{} ({d} days)", m.closes_on),
    }
}

/// Motions, closest to carrying first.
pub fn motion_table(motions: &[MotionView]) -> comfy_table::Table {
    let mut t = table(&[
        "id",
        "motion",
        "term",
        "scope",
        "support",
        "still needed",
        "status",
        "closes",
        "contracts already meeting it",
    ]);
    for m in motions {
        let scope = match (&m.service_line_name, &m.provider_name) {
            (None, None) => "all".to_string(),
            (l, p) => [l.clone(), p.clone()].into_iter().flatten().collect::<Vec<_>>().join(", "),
        };
        t.add_row(vec![
            m.id.to_string()[..12].to_string(),
            m.title.clone(),
            m.term_text.clone().unwrap_or_else(dash),
            scope,
            format!("{} of {}", m.support, m.support_needed),
            m.still_needed.to_string(),
            m.status.to_string(),
            closing(m),
            compliance(m),
        ]);
    }
    t
}

/// `csx motion show ID`.
pub fn motion_show(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let answered = ask(ctx, Question::Motion { id: id.to_string() })?;
    let Answer::Motion(m) = &answered.answer else { anyhow::bail!("unexpected answer") };
    show(ctx, &answered, None, || motion_text(m))
}

fn motion_text(m: &MotionView) -> String {
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
    let mut out = fields(rows).to_string();
    let mut t = table(&["supporter", "since", "comment"]);
    for s in &m.supporters {
        t.add_row(vec![
            format!("{} {}", s.org.ods, s.org.name),
            s.since.to_string(),
            s.comment.clone().unwrap_or_default(),
        ]);
    }
    out.push_str(&format!("\n\nSupporters\n{t}"));
    out
}
