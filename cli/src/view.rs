//! How records look to people: a row per record for listings, a summary line for feeds, and
//! their fields as CSV columns named like the import's (so a listing exported to a spreadsheet
//! can be edited and imported again).

use std::collections::HashMap;

use csx_node::api::Listed;
use csx_protocol::body::{Kind, Review};
use csx_protocol::validate::pounds;
use csx_protocol::{Body, Record, RecordId};
use serde::Serialize;

use crate::labels;
use crate::output::Grid;

/// A decoded listed record, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub record: Record,
    pub org: Option<String>,
    pub retracted_by: Option<RecordId>,
}

pub fn decode(items: Vec<Listed>) -> anyhow::Result<Vec<Shown>> {
    items
        .into_iter()
        .map(|l| Ok(Shown { record: l.record.decode()?, org: l.org, retracted_by: l.retracted_by }))
        .collect()
}

/// Provider names by code, for showing names beside codes.
pub type Names = HashMap<String, String>;

/// `0DE AGEM` for a code, from `names`.
pub fn provider(names: &Names, code: &str) -> String {
    labels::provider(code, names.get(code).map(String::as_str).unwrap_or(code))
}

/// `2025-06-15 10:32` (UTC) from Unix milliseconds.
pub fn time(ms: u64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64) else {
        return ms.to_string();
    };
    format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute())
}

/// The mean of a review's ratings, to one decimal: `3.7`.
fn mean_rating(r: &Review) -> String {
    let given: Vec<u8> = r.ratings().iter().flatten().copied().collect();
    if given.is_empty() {
        return "–".into();
    }
    format!("{:.1}", given.iter().map(|v| *v as f64).sum::<f64>() / given.len() as f64)
}

/// Each rating by name: `quality 4, timeliness 3`.
fn ratings(r: &Review) -> String {
    r.ratings()
        .iter()
        .zip(csx_protocol::body::RATING_DIMENSIONS)
        .filter_map(|(v, d)| v.map(|v| format!("{} {v}", labels::words(d))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// £ per head, to the penny.
pub fn per_head(pence: u64, population: u64) -> String {
    if population == 0 {
        return "–".into();
    }
    labels::gbp(pence as f64 / 100.0 / population as f64)
}

/// One line saying what a record is.
pub fn summary(body: &Body) -> String {
    match body {
        Body::NodeCert(c) => {
            format!("certifies node {} for {} until {}", c.node_key.short(), c.ods_code, time(c.expires_at))
        }
        Body::Profile(p) => {
            let population = p.population.map(|n| labels::count(n as usize)).unwrap_or_else(|| "–".into());
            format!("{} ({}), population {population}", p.name, labels::words(p.org_kind.name()))
        }
        Body::Endorse(e) => format!("endorses {} {} ({})", e.ods_code, e.name, e.org_key.short()),
        Body::Revoke(r) => format!("revokes {}: {}", r.org_key.short(), r.reason),
        Body::RetireNode(r) => format!("retires node {} after record {}", r.node_key.short(), r.last_valid_seq),
        Body::Provider(p) => format!("provider {} {} ({})", p.code, p.name, labels::words(p.provider_kind.name())),
        Body::Review(r) => format!(
            "{} {} {}: mean rating {}, would recommend {}",
            r.provider,
            r.service_line,
            r.year,
            mean_rating(r),
            r.would_recommend.map(|v| format!("{v}/10")).unwrap_or_else(|| "–".into())
        ),
        Body::Price(p) => format!(
            "{} {} {}: {} a year ({}), {} a head",
            p.provider,
            p.service_line,
            p.year,
            pounds(p.annual_value_pence as i128),
            labels::words(p.pricing_model.name()),
            per_head(p.annual_value_pence, p.population_covered)
        ),
        Body::Switch(s) => format!(
            "{}: {} → {} from {}",
            s.service_line,
            labels::words(&s.from.to_string()),
            labels::words(&s.to.to_string()),
            s.effective
        ),
        Body::SwitchOutcome(o) => format!(
            "outcome of {}: cost {}, satisfaction {}",
            o.switch.short(),
            o.cost_change_pence.map(|p| pounds(p as i128)).unwrap_or_else(|| "–".into()),
            o.satisfaction_change.map(|s| format!("{s:+}")).unwrap_or_else(|| "–".into())
        ),
        Body::Motion(m) => format!("motion \"{}\" needs {} by {}", m.title, m.support_needed, m.closes_on),
        Body::Support(s) => format!("{} motion {}", s.stance, s.motion.short()),
        Body::Retract(r) => match r.also.len() {
            0 => format!("retracts {}: {}", r.target.short(), r.reason),
            n => format!("retracts {} records ({} and {n} more): {}", n + 1, r.target.short(), r.reason),
        },
        Body::ProviderKey(k) => format!(
            "registers reply key {} for provider {}{}",
            csx_protocol::NodeKey(k.key).short(),
            k.provider,
            k.contact.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
        ),
        Body::ProviderReply(r) => format!(
            "the provider's reply (key {}) to review {}: {}",
            csx_protocol::NodeKey(r.provider_key).short(),
            r.review.short(),
            first_words(&r.text)
        ),
        Body::Intent(i) => format!(
            "intends to re-procure {} from {} ({}, population {})",
            i.service_line,
            i.from,
            labels::value_band(i.value_band),
            labels::count(i.population as usize)
        ),
        Body::TenderJoin(j) => format!("joins the joint tender of intent {}", j.intent.short()),
        Body::Unknown { code, bytes } => format!("unknown kind {code} ({} bytes)", bytes.len()),
    }
}

/// The start of a text, for one-line summaries.
fn first_words(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let mut out: String = line.chars().take(60).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

fn mark(s: &Shown) -> String {
    if s.retracted_by.is_some() { "retracted".into() } else { String::new() }
}

/// A table of records of one kind (or mixed kinds when `kind` is `None`): the columns a reader
/// needs by default, the rest with `--wide`; a last column marks retracted records when any is.
pub fn records_table(kind: Option<Kind>, items: &[Shown], names: &Names) -> Grid {
    let org = |s: &Shown| s.org.clone().unwrap_or_else(|| s.record.author().short());
    let line_year = |line: &str, year: &csx_protocol::FinancialYear| format!("{line} {year}");
    let mut g = match kind {
        Some(Kind::Review) => {
            let mut g = Grid::new()
                .keep("id")
                .keep("member")
                .text("provider")
                .keep("line, year")
                .num("mean /5")
                .num("would recommend")
                .keep("still customer")
                .wide()
                .text("ratings")
                .wide()
                .text("reviewer")
                .wide();
            for s in items {
                if let Body::Review(r) = s.record.body() {
                    g.row(vec![
                        s.record.id().short(),
                        org(s),
                        provider(names, &r.provider),
                        line_year(&r.service_line, &r.year),
                        mean_rating(r),
                        r.would_recommend.map(|v| format!("{v}/10")).unwrap_or_else(|| "–".into()),
                        if r.still_customer { "yes" } else { "no" }.into(),
                        ratings(r),
                        r.reviewer_role.clone(),
                        mark(s),
                    ]);
                }
            }
            g
        }
        Some(Kind::Price) => {
            let mut g = Grid::new()
                .keep("id")
                .keep("member")
                .text("provider")
                .keep("line, year")
                .num("a year")
                .num("a head")
                .text("priced")
                .wide()
                .num("population")
                .wide()
                .keep("VAT")
                .wide();
            for s in items {
                if let Body::Price(p) = s.record.body() {
                    g.row(vec![
                        s.record.id().short(),
                        org(s),
                        provider(names, &p.provider),
                        line_year(&p.service_line, &p.year),
                        pounds(p.annual_value_pence as i128),
                        per_head(p.annual_value_pence, p.population_covered),
                        match (&p.unit_name, p.unit_count) {
                            (Some(u), Some(n)) => format!(
                                "{} ({} {u}s)",
                                labels::words(p.pricing_model.name()),
                                labels::count(n as usize)
                            ),
                            _ => labels::words(p.pricing_model.name()),
                        },
                        labels::count(p.population_covered as usize),
                        if p.vat_included { "included" } else { "excluded" }.into(),
                        mark(s),
                    ]);
                }
            }
            g
        }
        Some(Kind::Switch) => {
            let mut g =
                Grid::new().keep("id").keep("member").keep("line").text("from → to").keep("effective").text("why");
            for s in items {
                if let Body::Switch(w) = s.record.body() {
                    let reasons = w.reasons.iter().map(labels::reason).collect::<Vec<_>>().join(", ");
                    let side = |p: &csx_protocol::body::Party| match p.provider_code() {
                        Some(code) => provider(names, code),
                        None => labels::words(&p.to_string()).replace("shared:", "shared with "),
                    };
                    g.row(vec![
                        s.record.id().short(),
                        org(s),
                        w.service_line.clone(),
                        format!("{} → {}", side(&w.from), side(&w.to)),
                        w.effective.to_string(),
                        reasons,
                        mark(s),
                    ]);
                }
            }
            g
        }
        Some(Kind::Motion) => {
            let mut g = Grid::new()
                .keep("id")
                .keep("member")
                .text("title")
                .num("support needed")
                .keep("closes")
                .text("term")
                .wide();
            for s in items {
                if let Body::Motion(m) = s.record.body() {
                    g.row(vec![
                        s.record.id().short(),
                        org(s),
                        m.title.clone(),
                        m.support_needed.to_string(),
                        m.closes_on.to_string(),
                        m.term.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "–".into()),
                        mark(s),
                    ]);
                }
            }
            g
        }
        _ => {
            let mut g = Grid::new()
                .keep("id")
                .keep("member")
                .num("record")
                .wide()
                .keep("kind")
                .keep("written (UTC)")
                .text("what");
            for s in items {
                g.row(vec![
                    s.record.id().short(),
                    org(s),
                    s.record.seq().to_string(),
                    labels::words(&s.record.body().kind_name()),
                    time(s.record.created_at()),
                    summary(s.record.body()),
                    mark(s),
                ]);
            }
            g
        }
    };
    g = g.text("").optional();
    g
}

/// Records as CSV: who and when, then the body's fields named and written as the import takes
/// them (`annual_value` in pounds, `efficiency` as a percentage).
pub fn records_csv(items: &[Shown]) -> Vec<Vec<String>> {
    let mut header: Vec<String> =
        ["id", "member", "node", "record", "written", "kind", "retracted_by"].map(String::from).to_vec();
    let bodies: Vec<serde_json::Map<String, serde_json::Value>> = items
        .iter()
        .map(|s| match serde_json::to_value(s.record.body()) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        })
        .collect();
    for b in &bodies {
        for k in b.keys() {
            let name = column(k);
            if k != "kind" && !header.contains(&name) {
                header.push(name);
            }
        }
    }
    let mut rows = vec![header.clone()];
    for (s, body) in items.iter().zip(&bodies) {
        let mut row = vec![
            s.record.id().to_hex(),
            s.org.clone().unwrap_or_default(),
            s.record.author().to_hex(),
            s.record.seq().to_string(),
            time(s.record.created_at()),
            s.record.body().kind_name(),
            s.retracted_by.map(|r| r.to_hex()).unwrap_or_default(),
        ];
        for name in &header[7..] {
            let value = body.iter().find(|(k, _)| column(k) == *name).map(|(k, v)| cell(k, v)).unwrap_or_default();
            row.push(value);
        }
        rows.push(row);
    }
    rows
}

/// The import's column for a body field (`annual_value` for `annual_value_pence`).
fn column(field: &str) -> String {
    match field {
        "annual_value_pence" => "annual_value",
        "exit_costs_pence" => "exit_costs",
        "cost_change_pence" => "cost_change",
        "efficiency_bp" => "efficiency",
        "provider_kind" => "kind",
        other => other,
    }
    .to_string()
}

/// A field's value as the import reads it.
fn cell(field: &str, v: &serde_json::Value) -> String {
    use serde_json::Value;
    match (field, v) {
        (_, Value::Null) => String::new(),
        (f, Value::Number(n)) if f.ends_with("_pence") => n
            .as_i64()
            .map(|p| format!("{}{}.{:02}", if p < 0 { "-" } else { "" }, p.abs() / 100, p.abs() % 100))
            .unwrap_or_default(),
        (f, Value::Number(n)) if f.ends_with("_bp") => {
            n.as_u64().map(|bp| format!("{}%", csx_node::input::format_bp(bp as u16))).unwrap_or_default()
        }
        ("year", Value::Number(n)) => {
            n.as_u64().map(|y| csx_protocol::FinancialYear(y as u16).to_string()).unwrap_or_default()
        }
        (_, Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        (_, other) => other.to_string(),
    }
}
