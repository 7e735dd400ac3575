//! How records look to people: a row per record for listings, a summary line for feeds.

use comfy_table::Table;
use csx_node::api::Listed;
use csx_protocol::body::{Kind, Review};
use csx_protocol::validate::pounds;
use csx_protocol::{Body, Record, RecordId};
use serde::Serialize;

use crate::output::table;

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

/// `2025-06-15 10:32` (UTC) from Unix milliseconds.
pub fn time(ms: u64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64) else {
        return ms.to_string();
    };
    format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute())
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "–".into())
}

fn ratings(r: &Review) -> String {
    let letters = ["Q", "T", "R", "D", "F", "V", "K"];
    r.ratings().iter().zip(letters).filter_map(|(v, l)| v.map(|v| format!("{l}{v}"))).collect::<Vec<_>>().join(" ")
}

/// £ per head, to the penny.
pub fn per_head(pence: u64, population: u64) -> String {
    if population == 0 {
        return "–".into();
    }
    format!("£{:.2}", pence as f64 / 100.0 / population as f64)
}

/// One line saying what a record is.
pub fn summary(body: &Body) -> String {
    match body {
        Body::NodeCert(c) => {
            format!("certifies node {} for {} until {}", c.node_key.short(), c.ods_code, time(c.expires_at))
        }
        Body::Profile(p) => format!("{} ({}), population {}", p.name, p.org_kind, opt(&p.population)),
        Body::Endorse(e) => format!("endorses {} {} ({})", e.ods_code, e.name, e.org_key.short()),
        Body::Revoke(r) => format!("revokes {}: {}", r.org_key.short(), r.reason),
        Body::RetireNode(r) => format!("retires node {} after seq {}", r.node_key.short(), r.last_valid_seq),
        Body::Provider(p) => format!("provider {} {} ({})", p.code, p.name, p.provider_kind),
        Body::Review(r) => format!(
            "{} {} {}: {} recommend {}",
            r.provider,
            r.service_line,
            r.year,
            ratings(r),
            opt(&r.would_recommend)
        ),
        Body::Price(p) => format!(
            "{} {} {}: {} a year ({}), {}/head",
            p.provider,
            p.service_line,
            p.year,
            pounds(p.annual_value_pence as i128),
            p.pricing_model,
            per_head(p.annual_value_pence, p.population_covered)
        ),
        Body::Switch(s) => format!("{}: {} → {} from {}", s.service_line, s.from, s.to, s.effective),
        Body::SwitchOutcome(o) => format!(
            "outcome of {}: cost {}, satisfaction {}",
            o.switch.short(),
            o.cost_change_pence.map(|p| pounds(p as i128)).unwrap_or_else(|| "–".into()),
            opt(&o.satisfaction_change)
        ),
        Body::Motion(m) => format!("motion \"{}\" needs {} by {}", m.title, m.support_needed, m.closes_on),
        Body::Support(s) => format!("{} motion {}", s.stance, s.motion.short()),
        Body::Retract(r) => format!("retracts {}: {}", r.target.short(), r.reason),
        Body::Unknown { code, bytes } => format!("unknown kind {code} ({} bytes)", bytes.len()),
    }
}

fn mark(s: &Shown) -> String {
    match s.retracted_by {
        Some(_) => "retracted".into(),
        None => String::new(),
    }
}

/// A table of records of one kind (or mixed kinds when `kind` is `None`). The last column marks
/// retracted records and is left out when none is.
pub fn records_table(kind: Option<Kind>, items: &[Shown]) -> Table {
    let full = rows_table(kind, items);
    if items.iter().any(|s| s.retracted_by.is_some()) {
        return full;
    }
    let mut t = table(&[]);
    let header: Vec<String> = full.header().map(|h| h.cell_iter().map(|c| c.content()).collect()).unwrap_or_default();
    t.set_header(header[..header.len().saturating_sub(1)].to_vec());
    for row in full.row_iter() {
        let cells: Vec<String> = row.cell_iter().map(|c| c.content()).collect();
        t.add_row(cells[..cells.len().saturating_sub(1)].to_vec());
    }
    t
}

fn rows_table(kind: Option<Kind>, items: &[Shown]) -> Table {
    let org = |s: &Shown| s.org.clone().unwrap_or_else(|| s.record.author().short());
    match kind {
        Some(Kind::Review) => {
            let mut t =
                table(&["id", "org", "provider", "line", "year", "ratings", "recommend", "customer", "role", ""]);
            for s in items {
                if let Body::Review(r) = s.record.body() {
                    t.add_row(vec![
                        s.record.id().short(),
                        org(s),
                        r.provider.clone(),
                        r.service_line.clone(),
                        r.year.to_string(),
                        ratings(r),
                        opt(&r.would_recommend),
                        if r.still_customer { "yes" } else { "no" }.into(),
                        r.reviewer_role.clone(),
                        mark(s),
                    ]);
                }
            }
            t
        }
        Some(Kind::Price) => {
            let mut t =
                table(&["id", "org", "provider", "line", "year", "annual value", "model", "population", "£/head", ""]);
            for s in items {
                if let Body::Price(p) = s.record.body() {
                    t.add_row(vec![
                        s.record.id().short(),
                        org(s),
                        p.provider.clone(),
                        p.service_line.clone(),
                        p.year.to_string(),
                        pounds(p.annual_value_pence as i128),
                        p.pricing_model.to_string(),
                        p.population_covered.to_string(),
                        per_head(p.annual_value_pence, p.population_covered),
                        mark(s),
                    ]);
                }
            }
            t
        }
        Some(Kind::Switch) => {
            let mut t = table(&["id", "org", "line", "from", "to", "effective", "reasons", ""]);
            for s in items {
                if let Body::Switch(w) = s.record.body() {
                    let reasons = w.reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ");
                    t.add_row(vec![
                        s.record.id().short(),
                        org(s),
                        w.service_line.clone(),
                        w.from.to_string(),
                        w.to.to_string(),
                        w.effective.to_string(),
                        reasons,
                        mark(s),
                    ]);
                }
            }
            t
        }
        Some(Kind::Motion) => {
            let mut t = table(&["id", "org", "title", "term", "needs", "closes", ""]);
            for s in items {
                if let Body::Motion(m) = s.record.body() {
                    t.add_row(vec![
                        s.record.id().short(),
                        org(s),
                        m.title.clone(),
                        opt(&m.term),
                        m.support_needed.to_string(),
                        m.closes_on.to_string(),
                        mark(s),
                    ]);
                }
            }
            t
        }
        _ => {
            let mut t = table(&["id", "org", "seq", "kind", "created", "what", ""]);
            for s in items {
                t.add_row(vec![
                    s.record.id().short(),
                    org(s),
                    s.record.seq().to_string(),
                    s.record.body().kind_name(),
                    time(s.record.created_at()),
                    summary(s.record.body()),
                    mark(s),
                ]);
            }
            t
        }
    }
}
