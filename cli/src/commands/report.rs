//! `csx report`: the market for every service line in one document — Markdown for people, CSV
//! (one measure per row) for spreadsheets, JSON for programs.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use csx_node::query::prices::short_pounds;
use csx_node::query::report::{LineReport, Ranked, Report};
use csx_node::query::stats::Distribution;
use csx_node::query::switches::PartyView;
use csx_node::query::{Provenance, Question};

use super::market::{ask, num4};
use crate::context::Ctx;
use crate::error::CliError;
use crate::labels::gbp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Markdown,
    Csv,
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx report --out market.md              the whole market as a Markdown document
  csx report --format csv --out market.csv  one measure per row, for Excel
  csx report --json > market.json")]
pub struct ReportArgs {
    /// Document format (`--json` is the same as `--format json`)
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Write to this file (replaced whole, never half-written) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: ReportArgs) -> anyhow::Result<()> {
    let format = if ctx.out.json {
        Format::Json
    } else if ctx.out.csv {
        Format::Csv
    } else {
        args.format
    };
    let answered = ask(ctx, Question::Report)?;
    let report = answered.report()?;
    let mut bytes = Vec::new();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut bytes, &answered)?;
            bytes.push(b'\n');
        }
        Format::Csv => bytes = crate::output::csv_bytes(&rows(report, &answered.provenance))?,
        Format::Markdown => bytes.extend(markdown(report, &answered.provenance).into_bytes()),
    }
    match args.out {
        None => crate::output::write_stdout(&bytes)?,
        Some(path) => {
            write_whole(&path, &bytes)?;
            ctx.out.note(format!(
                "wrote {} ({} service lines, {} open motions)",
                path.display(),
                report.lines.len(),
                report.motions.len()
            ));
        }
    }
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let bad = |e: std::io::Error| CliError::invalid(format!("--out: cannot write {}: {e}", path.display()));
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(bad)?;
    tmp.write_all(bytes).map_err(bad)?;
    tmp.as_file().sync_all().map_err(bad)?;
    tmp.persist(path).map_err(|e| bad(e.error))?;
    Ok(())
}

fn side(p: &PartyView) -> String {
    p.name.clone()
}

/// A Markdown table cell: no pipes or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn md_table(out: &mut String, headers: &[&str], rows: Vec<Vec<String>>) {
    out.push_str(&format!("| {} |\n", headers.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(headers.len())));
    for r in rows {
        out.push_str(&format!("| {} |\n", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")));
    }
}

fn ranked(r: &Ranked) -> String {
    let rec = r.recommend.map(|n| format!(", recommend {n:+.0}")).unwrap_or_default();
    format!("{}. {} ({}) {:.2}/5 from {} members{rec}", r.rank, r.provider_name, r.provider, r.overall, r.reviewers)
}

/// A shown price distribution in words: only the figures its cell may show.
fn spread(s: &Distribution) -> String {
    let mut parts = Vec::new();
    if let Some([low, high]) = s.median_band {
        parts.push(format!(
            "the median lies between {} and {} (exact figures are shown from 5 members)",
            gbp(low),
            gbp(high)
        ));
    }
    if let Some(m) = s.median {
        parts.push(format!("median {}", gbp(m)));
    }
    if let (Some(lo), Some(hi)) = (s.p25, s.p75) {
        parts.push(format!("middle half {}–{}", gbp(lo), gbp(hi)));
    }
    if let Some(p90) = s.p90 {
        parts.push(format!("90th percentile {}", gbp(p90)));
    }
    if let (Some(lo), Some(hi)) = (s.min, s.max) {
        parts.push(format!("range {}–{}", gbp(lo), gbp(hi)));
    }
    if let Some(n) = s.outliers.filter(|n| *n > 0) {
        parts.push(format!("{n} outlier{}", if n == 1 { "" } else { "s" }));
    }
    parts.join("; ")
}

fn line_markdown(out: &mut String, l: &LineReport) {
    out.push_str(&format!("\n## {} — {}\n\n", l.service_line, l.service_line_name));
    match &l.prices {
        None => out.push_str("**Prices:** no disclosures yet.\n"),
        Some(c) => {
            match &c.stats {
                Some(s) => out.push_str(&format!(
                    "**Prices {}, {} ({} members):** {}.\n",
                    c.year,
                    c.basis.label(),
                    c.members,
                    spread(s)
                )),
                None => out.push_str(&format!("**Prices {}:** {}.\n", c.year, c.disclosure.explain())),
            }
            if let Some(y) = &c.you {
                out.push_str(&format!("\n**Your position:** {}\n", y.summary));
                for check in &y.checks {
                    out.push_str(&format!("\n_{check}_\n"));
                }
            }
        }
    }
    if l.top.is_empty() {
        out.push_str(&match l.reviewed {
            0 => "\n**Providers:** none reviewed yet.\n".to_string(),
            n => format!("\n**Providers:** {n} reviewed; none has a score that can be shown yet.\n"),
        });
    } else {
        out.push_str("\n**Best scored:** ");
        out.push_str(&l.top.iter().map(ranked).collect::<Vec<_>>().join("; "));
        out.push('\n');
        if !l.bottom.is_empty() {
            out.push_str("\n**Lowest scored:** ");
            out.push_str(&l.bottom.iter().map(ranked).collect::<Vec<_>>().join("; "));
            out.push('\n');
        }
    }
    if l.flows.is_empty() {
        out.push_str("\n**Switching:** none reported.\n");
    } else {
        out.push_str("\n**Switching:**\n\n");
        let rows = l
            .flows
            .iter()
            .map(|f| {
                vec![
                    f.year.to_string(),
                    side(&f.from),
                    side(&f.to),
                    f.switches.to_string(),
                    f.reasons.iter().map(|(r, n)| format!("{r} ({n})")).collect::<Vec<_>>().join(", "),
                    short_pounds(f.exit_costs_pence as i64),
                    format!("{} of {} reported: {} cheaper, {} happier", f.outcomes, f.switches, f.cheaper, f.happier),
                ]
            })
            .collect();
        md_table(out, &["year", "from", "to", "switches", "reasons", "exit costs", "outcomes"], rows);
    }
}

/// The report as Markdown.
pub fn markdown(r: &Report, p: &Provenance) -> String {
    let mut out = format!(
        "# Commissioning support market report\n\nFor {} ({}), {}.\n\n_{}_\n",
        r.member.name,
        r.member.ods,
        r.generated,
        p.line()
    );
    out.push_str("\n## Open motions for collective action\n\n");
    if r.motions.is_empty() {
        out.push_str("None open.\n");
    } else {
        let rows = r
            .motions
            .iter()
            .map(|m| {
                vec![
                    m.title.clone(),
                    m.term_text.clone().unwrap_or_default(),
                    format!("{} of {}", m.support, m.support_needed),
                    m.still_needed.to_string(),
                    m.closes_on.to_string(),
                    m.compliance
                        .as_ref()
                        .map(|c| match c.meeting {
                            Some(n) => format!("{n} of {} with disclosures", c.members),
                            None => c.disclosure.explain(),
                        })
                        .unwrap_or_default(),
                    m.id.to_string()[..12].to_string(),
                ]
            })
            .collect();
        md_table(
            &mut out,
            &["motion", "term", "support", "still needed", "closes", "members already meeting it", "id"],
            rows,
        );
    }
    worth_markdown(&mut out, r);
    for l in &r.lines {
        line_markdown(&mut out, l);
    }
    replies_markdown(&mut out, r);
    out
}

/// What acting together is worth, and the joint tenders forming.
fn worth_markdown(out: &mut String, r: &Report) {
    let w = &r.worth;
    out.push_str("\n## What acting together is worth\n\n");
    if w.lines.is_empty() {
        out.push_str("No price disclosures yet.\n");
    } else {
        out.push_str(&format!(
            "Members pay {} a year above the median £/head of their lines, over {} line{} shown{}.\n\n",
            short_pounds(w.total_pence as i64),
            w.lines_shown,
            if w.lines_shown == 1 { "" } else { "s" },
            match w.lines_withheld {
                0 => String::new(),
                n => format!(" ({n} withheld and left out of the total)"),
            }
        ));
        let rows = w
            .lines
            .iter()
            .map(|l| {
                vec![
                    l.service_line_name.clone(),
                    l.year.to_string(),
                    l.members.to_string(),
                    l.above.map(|a| a.to_string()).unwrap_or_else(|| "–".into()),
                    match l.above_median_pence {
                        Some(p) => short_pounds(p as i64),
                        None => l.disclosure.explain(),
                    },
                ]
            })
            .collect();
        md_table(out, &["service line", "year", "members", "above the median", "paid above it a year"], rows);
    }
    out.push_str("\n## Joint tenders forming\n\n");
    if r.tenders.is_empty() {
        out.push_str("None: no member has announced an intent to procure.\n");
        return;
    }
    let rows = r
        .tenders
        .iter()
        .map(|g| {
            vec![
                g.service_line_name.clone(),
                format!("{} to {}", g.first, g.last),
                g.members.iter().map(|m| m.name.clone()).collect::<Vec<_>>().join(", "),
                g.together.population.to_string(),
                crate::commands::tender::value_words(g),
                match g.renewals.members {
                    Some(n) => n.to_string(),
                    None => g.renewals.disclosure.explain(),
                },
            ]
        })
        .collect();
    md_table(
        out,
        &[
            "service line",
            "window",
            "members",
            "population together",
            "annual value together",
            "other renewals in the window",
        ],
        rows,
    );
}

/// Providers' replies, under the reviews they answer.
fn replies_markdown(out: &mut String, r: &Report) {
    if r.replies.is_empty() {
        return;
    }
    out.push_str("\n## Providers' replies to reviews\n\n");
    for a in &r.replies {
        out.push_str(&format!(
            "- Review `{}` by {} ({}, {} {}){}\n",
            &a.review[..12],
            a.reviewer.name,
            a.reviewer_role,
            a.service_line,
            a.year,
            a.comment.as_ref().map(|c| format!(": “{c}”")).unwrap_or_default()
        ));
        for rep in &a.replies {
            out.push_str(&format!(
                "  - **Provider's reply** from {} ({}), signed {} with its confirmed key `{}`: “{}”\n",
                rep.provider_name,
                rep.provider,
                rep.signed_on.map(|d| d.to_string()).unwrap_or_else(|| "–".into()),
                &rep.provider_key[..12],
                rep.text
            ));
        }
    }
}

/// The report as rows of `section, service_line, year, provider, subject, measure, value, note`.
pub fn rows(r: &Report, p: &Provenance) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![
        ["section", "service_line", "year", "provider", "subject", "measure", "value", "note"]
            .map(String::from)
            .to_vec(),
    ];
    let mut push = |section: &str,
                    line: &str,
                    year: String,
                    provider: &str,
                    subject: &str,
                    measure: &str,
                    value: String,
                    note: &str| {
        out.push(vec![
            section.into(),
            line.into(),
            year,
            provider.into(),
            subject.into(),
            measure.into(),
            value,
            note.into(),
        ]);
    };
    let f = |x: f64| num4(Some(x));
    push("provenance", "", String::new(), "", &r.member.ods, "records", p.records.to_string(), "");
    push("provenance", "", String::new(), "", &r.member.ods, "members", p.members.to_string(), "");
    push(
        "provenance",
        "",
        String::new(),
        "",
        &r.member.ods,
        "federation_members",
        p.federation_members.to_string(),
        "",
    );
    push(
        "provenance",
        "",
        String::new(),
        "",
        &r.member.ods,
        "last_sync_at",
        p.last_sync_at.map(|t| t.to_string()).unwrap_or_default(),
        "Unix ms",
    );
    for l in &r.lines {
        let line = l.service_line.as_str();
        if let Some(c) = &l.prices {
            let (year, basis, note) = (c.year.to_string(), c.basis.label(), c.disclosure.explain());
            push("prices", line, year.clone(), "", "all providers", "members", c.members.to_string(), &basis);
            if let Some(s) = &c.stats {
                if let Some([low, high]) = s.median_band {
                    push("prices", line, year.clone(), "", "all providers", "median_band_low", f(low), &basis);
                    push("prices", line, year.clone(), "", "all providers", "median_band_high", f(high), &basis);
                }
                for (m, v) in [
                    ("min", s.min),
                    ("p25", s.p25),
                    ("median", s.median),
                    ("p75", s.p75),
                    ("p90", s.p90),
                    ("max", s.max),
                ] {
                    if let Some(v) = v {
                        push("prices", line, year.clone(), "", "all providers", m, f(v), &basis);
                    }
                }
                if let Some(n) = s.outliers {
                    push("prices", line, year.clone(), "", "all providers", "outliers", n.to_string(), &basis);
                }
                if let Some(n) = c.checks.filter(|n| *n > 0) {
                    push(
                        "prices",
                        line,
                        year.clone(),
                        "",
                        "all providers",
                        "check_this_figure",
                        n.to_string(),
                        "values that look implausible, counted as given",
                    );
                }
            } else {
                push("prices", line, year.clone(), "", "all providers", "suppressed", String::new(), &note);
            }
            if let Some(y) = &c.you {
                push("prices", line, year.clone(), "", "you", "value", f(y.value), &basis);
                if let Some(v) = y.percentile {
                    push("prices", line, year.clone(), "", "you", "percentile", f(v), "");
                }
                if let Some(v) = y.gap_pct {
                    push("prices", line, year.clone(), "", "you", "gap_pct", f(v), "");
                }
                if let Some(v) = y.gap_per_year_pence {
                    push("prices", line, year.clone(), "", "you", "gap_per_year_pence", v.to_string(), &y.summary);
                }
            }
        }
        for (section, list) in [("top", &l.top), ("bottom", &l.bottom)] {
            for x in list {
                let name = x.provider_name.as_str();
                push(section, line, String::new(), &x.provider, name, "rank", x.rank.to_string(), "");
                push(section, line, String::new(), &x.provider, name, "score", f(x.overall), "age-weighted mean, 1-5");
                push(section, line, String::new(), &x.provider, name, "reviewers", x.reviewers.to_string(), "");
                if let Some(n) = x.recommend {
                    push(section, line, String::new(), &x.provider, name, "recommend_net", f(n), "");
                }
            }
        }
        for fl in &l.flows {
            let year = fl.year.to_string();
            let from = fl.from.party.to_string();
            let to = fl.to.party.to_string();
            let reasons = fl.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join("; ");
            push("switching", line, year.clone(), &from, &to, "switches", fl.switches.to_string(), &reasons);
            push("switching", line, year.clone(), &from, &to, "exit_costs_pence", fl.exit_costs_pence.to_string(), "");
            push("switching", line, year.clone(), &from, &to, "outcomes", fl.outcomes.to_string(), "");
            push("switching", line, year.clone(), &from, &to, "cheaper", fl.cheaper.to_string(), "");
            push("switching", line, year, &from, &to, "happier", fl.happier.to_string(), "");
        }
    }
    for m in &r.motions {
        let id = m.id.to_string();
        let term = m.term_text.clone().unwrap_or_default();
        let line = m.service_line.clone().unwrap_or_default();
        let provider = m.provider.clone().unwrap_or_default();
        push("motion", &line, String::new(), &provider, &m.title, "support", m.support.to_string(), &term);
        push("motion", &line, String::new(), &provider, &m.title, "support_needed", m.support_needed.to_string(), &id);
        push("motion", &line, String::new(), &provider, &m.title, "closes_on", m.closes_on.to_string(), "");
        if let Some(c) = &m.compliance {
            push(
                "motion",
                &line,
                String::new(),
                &provider,
                &m.title,
                "members_meeting_term",
                c.meeting.map(|n| n.to_string()).unwrap_or_default(),
                &match c.meeting {
                    Some(_) => format!("of {}", c.members),
                    None => c.disclosure.explain(),
                },
            );
        }
    }
    out
}
