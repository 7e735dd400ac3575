//! The built-in alert rules: pure functions of (the records just stored, the query engine's view
//! of the store, this member's own records, the roster, the date) that raise alerts with stable
//! keys. No I/O, and no figure of their own: prices, scores and motion counts are read from the
//! query engine's answers after the disclosure rules ([`crate::query`]), so an alert shows a
//! figure only where `csx prices`, `csx providers` or `csx motions` would show it.
//!
//! Event rules (a switch, a review, a member joining) key their alert by the record or member
//! it is about. State rules (a price above the market) alert when their condition starts to
//! hold; [`Memory`] keeps which conditions held at the last evaluation. Date rules (a notice
//! deadline, a motion closing) key their alert by the date and the threshold passed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use csx_protocol::body::Party;
use csx_protocol::{NodeKey, OrgKey, RecordId};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::settings::AlertsConfig;
use super::{Raised, Rule};
use crate::query::motions::{MotionQuery, MotionStatus};
use crate::query::prices::{Backed, Basis, PriceCell};
use crate::query::providers::ProviderQuery;
use crate::query::{Ctx, Dataset, Item, Rests, latest_by, line_name};

/// A member as the roster has it.
#[derive(Debug, Clone)]
pub struct MemberFact {
    pub org: OrgKey,
    pub ods: String,
    pub name: String,
    pub current: bool,
    pub revoked: bool,
}

/// A proven fork.
#[derive(Debug, Clone)]
pub struct ForkFact {
    pub author: NodeKey,
    pub seq: u64,
    /// The organisation whose node forked, when known.
    pub org: Option<String>,
}

/// What the rules see.
#[derive(Debug)]
pub struct Input<'a> {
    pub ctx: Ctx,
    /// The query engine's view of the store (retracted records and revoked members' records
    /// left out).
    pub data: &'a Dataset,
    /// Records stored since the last evaluation.
    pub new: &'a HashSet<RecordId>,
    pub members: &'a [MemberFact],
    pub forks: &'a [ForkFact],
}

/// What state rules saw at the last evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Conditions that held (a price above the market, by line, year and basis).
    #[serde(default)]
    pub active: BTreeSet<String>,
    /// Shown scores of the providers this member uses, by `line/provider`.
    #[serde(default)]
    pub scores: BTreeMap<String, f64>,
    /// Current members.
    #[serde(default)]
    pub members: BTreeSet<OrgKey>,
}

/// Most entries of each [`Memory`] table (a federation has hundreds of members and lines).
pub const MAX_MEMORY: usize = 50_000;

impl Memory {
    /// Keeps every table within [`MAX_MEMORY`].
    pub fn bound(&mut self) {
        while self.active.len() > MAX_MEMORY {
            self.active.pop_first();
        }
        while self.scores.len() > MAX_MEMORY {
            self.scores.pop_first();
        }
        while self.members.len() > MAX_MEMORY {
            self.members.pop_first();
        }
    }
}

/// Evaluates every rule; `memory` is updated to what state rules see now.
pub fn evaluate(input: &Input<'_>, config: &AlertsConfig, memory: &mut Memory) -> Vec<Raised> {
    let mut out = Vec::new();
    let using = providers_used(input.data, &input.ctx.me);
    price_above_market(input, config, memory, &mut out);
    switch_away(input, &using, &mut out);
    reviews(input, config, &using, memory, &mut out);
    motions(input, config, &mut out);
    notice_deadlines(input, config, &mut out);
    members(input, memory, &mut out);
    tenders(input, &mut out);
    integrity(input, &mut out);
    memory.bound();
    out
}

/// The providers this member buys each line from: those of its disclosures of the latest year
/// it disclosed for the line.
pub fn providers_used(d: &Dataset, me: &OrgKey) -> BTreeMap<String, BTreeSet<String>> {
    let mine = latest_by(d.prices.iter().filter(|it| it.org == *me), |it| {
        (it.body.provider.clone(), it.body.service_line.clone(), it.body.year, it.body.contract_key())
    });
    let mut latest_year = BTreeMap::new();
    for it in &mine {
        let y = latest_year.entry(it.body.service_line.clone()).or_insert(it.body.year);
        *y = (*y).max(it.body.year);
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for it in mine {
        if latest_year.get(&it.body.service_line) == Some(&it.body.year) {
            out.entry(it.body.service_line.clone()).or_default().insert(it.body.provider.clone());
        }
    }
    out
}

fn org_words(d: &Dataset, org: &OrgKey) -> String {
    let o = d.directory.org(org);
    format!("{} ({})", o.name, o.ods)
}

/// A short digest of a set of record ids: a cell's content.
fn digest(ids: impl IntoIterator<Item = RecordId>) -> String {
    let mut ids: Vec<RecordId> = ids.into_iter().collect();
    ids.sort();
    let mut h = sha2::Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

fn price_above_market(input: &Input<'_>, config: &AlertsConfig, memory: &mut Memory, out: &mut Vec<Raised>) {
    let (d, ctx) = (input.data, &input.ctx);
    let cells: Vec<Backed<PriceCell>> = crate::query::prices::all(d, ctx);
    // Of each line and basis, the newest year in which this member has a figure.
    let mut newest: BTreeMap<(String, Basis), usize> = BTreeMap::new();
    for (i, (c, _)) in cells.iter().enumerate() {
        if c.provider.is_some() || c.you.is_none() {
            continue;
        }
        let k = (c.service_line.clone(), c.basis.clone());
        match newest.get(&k) {
            Some(j) if cells[*j].0.year >= c.year => {}
            _ => {
                newest.insert(k, i);
            }
        }
    }
    let mut now_active = BTreeSet::new();
    for i in newest.into_values() {
        let (c, backing) = &cells[i];
        let (Some(you), Some(stats)) = (&c.you, &c.stats) else { continue };
        let p75 = stats.p75.filter(|p| config.price.above_p75 && you.value > *p);
        let gap = you.gap_pct.filter(|g| config.price.gap_pct > 0.0 && *g > config.price.gap_pct);
        if p75.is_none() && gap.is_none() {
            continue;
        }
        let cond = format!("price:{}:{}:{}", c.service_line, c.year, c.basis.label());
        now_active.insert(cond.clone());
        if memory.active.contains(&cond) {
            continue;
        }
        let unit = match &c.basis {
            Basis::PerHead => "head".to_string(),
            Basis::PerUnit { unit } => unit.clone(),
        };
        let against = match (p75, gap) {
            (Some(p), _) => format!("above the market's 75th percentile (£{p:.2}/{unit})"),
            (None, Some(g)) => format!("{g:.0}% above the median, past your alert's {:.0}%", config.price.gap_pct),
            (None, None) => continue,
        };
        let records: Vec<RecordId> =
            backing.iter().filter(|(id, org)| input.new.contains(id) || *org == ctx.me).map(|(id, _)| *id).collect();
        out.push(Raised {
            key: format!("{cond}@{}", digest(backing.iter().map(|(id, _)| *id))),
            rule: Rule::PriceAboveMarket,
            title: format!("You pay more than most for {} ({})", c.service_line_name, c.year),
            text: format!(
                "Your £{:.2}/{unit} for {} in {} is now {against}. {} The market figure rests on {} members' disclosures.",
                you.value, c.service_line_name, c.year, you.summary, c.members
            ),
            service_line: Some(c.service_line.clone()),
            provider: None,
            records,
            authors: vec![],
            link: Some(format!("/prices?service_line={}&year={}", c.service_line, c.year.0)),
        });
    }
    memory.active.retain(|k| !k.starts_with("price:"));
    memory.active.extend(now_active);
}

fn switch_away(input: &Input<'_>, using: &BTreeMap<String, BTreeSet<String>>, out: &mut Vec<Raised>) {
    let d = input.data;
    for it in d.switches.iter().filter(|it| input.new.contains(&it.id) && it.org != input.ctx.me) {
        let s = &it.body;
        let Party::Provider(code) = &s.from else { continue };
        if !using.get(&s.service_line).is_some_and(|ps| ps.contains(code)) {
            continue;
        }
        let from = crate::query::switches::party_view(d, &s.from).name;
        let to = crate::query::switches::party_view(d, &s.to).name;
        let mut reasons: Vec<String> = s.reasons.iter().map(|r| r.name().replace('_', " ")).collect();
        if let Some(t) = &s.reason_text {
            reasons.push(format!("“{t}”"));
        }
        let reasons = if reasons.is_empty() { "none given".to_string() } else { reasons.join("; ") };
        let who = org_words(d, &it.org);
        let line = line_name(&s.service_line);
        out.push(Raised {
            key: format!("switch_away:{}", it.id),
            rule: Rule::SwitchAway,
            title: format!("{who} is leaving {from} for {line}"),
            text: format!(
                "{who} switches {line} from {from} to {to}, effective {}. Reasons: {reasons}. You buy {line} from {from}.",
                s.effective
            ),
            service_line: Some(s.service_line.clone()),
            provider: Some(code.clone()),
            records: vec![it.id],
            authors: vec![who],
            link: Some(format!("/switching?service_line={}", s.service_line)),
        });
    }
}

fn reviews(
    input: &Input<'_>,
    config: &AlertsConfig,
    using: &BTreeMap<String, BTreeSet<String>>,
    memory: &mut Memory,
    out: &mut Vec<Raised>,
) {
    let (d, ctx) = (input.data, &input.ctx);
    let used: BTreeSet<&String> = using.values().flatten().collect();
    if used.is_empty() {
        memory.scores.clear();
        return;
    }
    let scorecards = crate::query::providers::scorecards(d, ctx, &ProviderQuery::default(), &mut Rests::default());
    let mut now = BTreeMap::new();
    for sc in scorecards.iter().filter(|sc| used.contains(&sc.provider)) {
        let key = format!("{}/{}", sc.service_line, sc.provider);
        let shown = sc.overall.filter(|_| sc.disclosure.shown());
        if let Some(s) = shown {
            now.insert(key.clone(), s);
        }
        let new_reviews: Vec<&Item<csx_protocol::body::Review>> = d
            .reviews
            .iter()
            .filter(|r| {
                input.new.contains(&r.id)
                    && r.org != ctx.me
                    && r.body.provider == sc.provider
                    && r.body.service_line == sc.service_line
            })
            .collect();
        let (Some(score), Some(review)) = (shown, new_reviews.last()) else { continue };
        // A single review's ratings are never shown: the alert speaks of the scorecard's shown
        // score after it, and quotes its comment only as the scorecard does.
        let quoted = sc
            .comments
            .iter()
            .find(|c| c.org == d.directory.org(&review.org) && review.body.comment.as_deref() == Some(c.text.as_str()));
        let (quote, authors) = match quoted {
            Some(c) => {
                (format!(" {} wrote: “{}”", c.org.name, c.text), vec![format!("{} ({})", c.org.name, c.org.ods)])
            }
            None => (String::new(), vec![]),
        };
        let what = format!("{} for {}", sc.provider_name, sc.service_line_name);
        let records: Vec<RecordId> = new_reviews.iter().map(|r| r.id).collect();
        let link = Some(format!("/providers/{}", sc.provider));
        if score < config.review.below {
            out.push(Raised {
                key: format!("poor_review:{}", review.id),
                rule: Rule::PoorReview,
                title: format!("A new review leaves {what} at {score:.1} of 5"),
                text: format!(
                    "After a new review, the score of {what} (a provider you use) is {score:.1} of 5, below your alert's {:.1}, from {} reviewers.{quote}",
                    config.review.below, sc.reviewers
                ),
                service_line: Some(sc.service_line.clone()),
                provider: Some(sc.provider.clone()),
                records: records.clone(),
                authors: authors.clone(),
                link: link.clone(),
            });
        }
        if let Some(before) = memory.scores.get(&key).copied()
            && before - score > config.review.drop
        {
            out.push(Raised {
                key: format!("score_drop:{}", review.id),
                rule: Rule::ScoreDrop,
                title: format!("The score of {what} fell from {before:.1} to {score:.1}"),
                text: format!(
                    "After a new review, the age-weighted score of {what} (a provider you use) fell from {before:.1} to {score:.1} of 5 (more than your alert's {:.1}).{quote}",
                    config.review.drop
                ),
                service_line: Some(sc.service_line.clone()),
                provider: Some(sc.provider.clone()),
                records,
                authors,
                link,
            });
        }
    }
    memory.scores = now;
}

fn motions(input: &Input<'_>, config: &AlertsConfig, out: &mut Vec<Raised>) {
    let (d, ctx) = (input.data, &input.ctx);
    let me = d.directory.org(&ctx.me);
    for m in crate::query::motions::motions(d, ctx, &MotionQuery::default(), &mut Rests::default()) {
        let supported = m.supporters.iter().any(|s| s.org == me);
        let link = Some(format!("/motions/{}", m.id));
        let base = |key: String, rule: Rule, title: String, text: String| Raised {
            key,
            rule,
            title,
            text,
            service_line: m.service_line.clone(),
            provider: m.provider.clone(),
            records: vec![m.id],
            authors: vec![format!("{} ({})", m.proposer.name, m.proposer.ods)],
            link: link.clone(),
        };
        let needed = m.support_needed as usize;
        match m.status {
            MotionStatus::Open if !supported => {
                if m.support * 100 >= config.motion.near_pct as usize * needed {
                    out.push(base(
                        format!("motion_near:{}", m.id),
                        Rule::MotionNearThreshold,
                        format!("“{}” has {} of the {} supporters it needs", m.title, m.support, needed),
                        format!(
                            "The motion “{}” proposed by {} has {} of {} supporters ({} still needed); it closes on {}. You have not supported it.",
                            m.title, m.proposer.name, m.support, needed, m.still_needed, m.closes_on
                        ),
                    ));
                }
                if (0..=config.motion.closing_days as i64).contains(&m.days_left) {
                    out.push(base(
                        format!("motion_closing:{}:{}", m.id, m.closes_on),
                        Rule::MotionClosing,
                        format!("“{}” closes in {} days", m.title, m.days_left),
                        format!(
                            "The motion “{}” closes on {} with {} of {} supporters. You have not supported it.",
                            m.title, m.closes_on, m.support, needed
                        ),
                    ));
                }
            }
            MotionStatus::Carried => out.push(base(
                format!("motion_carried:{}", m.id),
                Rule::MotionCarried,
                format!("“{}” carried", m.title),
                format!(
                    "The motion “{}” proposed by {} carried with {} supporters{}.",
                    m.title,
                    m.proposer.name,
                    m.support,
                    if supported { ", you among them" } else { "" }
                ),
            )),
            _ => {}
        }
    }
}

fn notice_deadlines(input: &Input<'_>, config: &AlertsConfig, out: &mut Vec<Raised>) {
    let (d, ctx) = (input.data, &input.ctx);
    let today = ctx.today();
    let mut thresholds = config.notice.days.clone();
    thresholds.sort_unstable();
    let mine = crate::query::renewals::dated_contracts(d).into_iter().filter(|it| it.org == ctx.me);
    for it in mine {
        let p = &it.body;
        let Some((ends, Some(notice_by))) = crate::query::renewals::contract_dates(p) else { continue };
        let days = notice_by.days() as i64 - today.days() as i64;
        if days < 0 {
            continue;
        }
        // The tightest threshold passed: a deadline first seen 20 days away alerts once, at 30.
        let Some(t) = thresholds.iter().find(|t| days <= **t as i64) else { continue };
        let provider = d.provider_name(&p.provider);
        let line = line_name(&p.service_line);
        let contract = p.contract_key().unwrap_or_default();
        out.push(Raised {
            key: format!("notice:{}:{}:{}:{}:{t}", p.provider, p.service_line, contract, notice_by),
            rule: Rule::NoticeDeadline,
            title: format!("Notice to leave {provider} for {line} must be given by {notice_by}"),
            text: format!(
                "Notice to leave {provider} for {line}{} must be given by {notice_by}, in {days} days: the contract ends on {ends} with {} months' notice. Others buying {line} may be renewing too: see the renewal calendar.",
                p.contract_ref.as_ref().map(|r| format!(" (contract {r})")).unwrap_or_default(),
                p.notice_months.unwrap_or(0)
            ),
            service_line: Some(p.service_line.clone()),
            provider: Some(p.provider.clone()),
            records: vec![it.id],
            authors: vec![],
            link: Some(format!("/renewals?service_line={}", p.service_line)),
        });
    }
}

fn members(input: &Input<'_>, memory: &mut Memory, out: &mut Vec<Raised>) {
    let current: BTreeSet<OrgKey> = input.members.iter().filter(|m| m.current).map(|m| m.org).collect();
    for m in input.members.iter().filter(|m| m.current && m.org != input.ctx.me && !memory.members.contains(&m.org)) {
        out.push(Raised {
            key: format!("member:{}", m.org),
            rule: Rule::MemberJoined,
            title: format!("{} ({}) joined the federation", m.name, m.ods),
            text: format!(
                "{} ({}) is now a member: its disclosures, reviews and switches will count in every answer.",
                m.name, m.ods
            ),
            service_line: None,
            provider: None,
            records: vec![],
            authors: vec![format!("{} ({})", m.name, m.ods)],
            link: Some("/node".into()),
        });
    }
    memory.members = current;
}

/// Whole pounds with thousands separators (`£1,234,567`).
fn pounds(pence: u64) -> String {
    format!("£{}", thousands(pence / 100))
}

/// A count with thousands separators (`1,234,567`).
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A new intent of another member in a joint tender forming where this member takes part
/// (its own intent, a join) or its own contract on the line comes up for renewal in the window.
/// The figures are the tender listing's (`csx tenders`): the combined value only when the
/// disclosure rule shows it.
fn tenders(input: &Input<'_>, out: &mut Vec<Raised>) {
    let (d, ctx) = (input.data, &input.ctx);
    let new: BTreeSet<String> =
        d.intents.iter().filter(|it| input.new.contains(&it.id) && it.org != ctx.me).map(|it| it.id.to_hex()).collect();
    if new.is_empty() {
        return;
    }
    let me = d.directory.org(&ctx.me);
    let query = crate::query::tenders::TenderQuery::default();
    for g in crate::query::tenders::tenders(d, ctx, &query, &mut Rests::default()) {
        let why = if g.yours.intent.is_some() {
            "you intend to re-procure it in this window".to_string()
        } else if !g.yours.joined.is_empty() {
            "you joined this joint tender".to_string()
        } else if let Some(q) = g.yours.renewal {
            format!("your own contract comes up for renewal in {q}")
        } else {
            continue;
        };
        for intent in g.intents.iter().filter(|i| new.contains(&i.id) && i.org != me) {
            let who = format!("{} ({})", intent.org.name, intent.org.ods);
            let t = &g.together;
            let value = match (t.value_low_pence, t.value_high_pence) {
                (Some(l), Some(h)) if l == h => format!(", buying {} a year", pounds(l)),
                (Some(l), Some(h)) => format!(", buying {} to {} a year", pounds(l), pounds(h)),
                (Some(l), None) => format!(", buying at least {} a year", pounds(l)),
                _ => String::new(),
            };
            let population = if t.population_unknown > 0 {
                format!("a population of at least {}", thousands(t.population))
            } else {
                format!("a population of {}", thousands(t.population))
            };
            out.push(Raised {
                key: format!("tender:{}", intent.id),
                rule: Rule::TenderForming,
                title: format!("{who} intends to re-procure {} from {}", g.service_line_name, intent.from),
                text: format!(
                    "{who} intends to re-procure {} from {}, open to a joint procurement, and {why}. The joint tender {} ({} to {}) now has {} members with {population}{value}. See `csx tenders` to join it.",
                    g.service_line_name,
                    intent.from,
                    g.group,
                    g.first,
                    g.last,
                    g.members.len()
                ),
                service_line: Some(g.service_line.clone()),
                provider: None,
                records: d.intents.iter().filter(|it| it.id.to_hex() == intent.id).map(|it| it.id).collect(),
                authors: vec![who],
                link: Some(format!("/tenders?service_line={}", g.service_line)),
            });
        }
    }
}

fn integrity(input: &Input<'_>, out: &mut Vec<Raised>) {
    for m in input.members.iter().filter(|m| m.revoked && !m.current) {
        out.push(Raised {
            key: format!("revoked:{}", m.org),
            rule: Rule::Integrity,
            title: format!("{} ({}) was revoked", m.name, m.ods),
            text: format!(
                "{} ({}) is no longer a member: members revoked it, and its records no longer count in any answer.",
                m.name, m.ods
            ),
            service_line: None,
            provider: None,
            records: vec![],
            authors: vec![format!("{} ({})", m.name, m.ods)],
            link: Some("/node".into()),
        });
    }
    for f in input.forks {
        let who = f.org.clone().unwrap_or_else(|| format!("node {}", f.author.short()));
        out.push(Raised {
            key: format!("fork:{}:{}", f.author, f.seq),
            rule: Rule::Integrity,
            title: format!("{who} signed two different records at one place in its feed"),
            text: format!(
                "Node {} of {who} signed two records at seq {}: a fork (a restored backup, or a stolen key). Nothing more is accepted from that node; its operator must retire it and issue a new one.",
                f.author.short(),
                f.seq
            ),
            service_line: None,
            provider: None,
            records: vec![],
            authors: vec![who],
            link: Some("/node".into()),
        });
    }
}

#[cfg(test)]
mod tests;
