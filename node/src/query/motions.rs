//! Motions for collective action: who stands behind each, against its threshold, and how many
//! members' contracts already meet the term it asks for.

use std::collections::BTreeMap;

use csx_protocol::body::{ContractTerm, KpiBasis, Motion, Price, Stance, Support};
use csx_protocol::{Date, OrgKey, RecordId};
use serde::{Deserialize, Serialize};

use super::stats::{Disclosure, disclosure};
use super::{Ctx, Dataset, Item, OrgRef, Rests, latest_by, line_name};

/// Where a motion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MotionStatus {
    /// Open for support and short of its threshold.
    Open,
    /// Its support has reached the threshold.
    Carried,
    /// Its closing date passed short of the threshold.
    Closed,
}

impl std::fmt::Display for MotionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MotionStatus::Open => "open",
            MotionStatus::Carried => "carried",
            MotionStatus::Closed => "closed",
        })
    }
}

/// Which motions to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MotionQuery {
    #[serde(default)]
    pub status: Option<MotionStatus>,
    #[serde(default)]
    pub service_line: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
}

/// A member standing behind a motion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supporter {
    pub org: OrgRef,
    pub since: Date,
    pub comment: Option<String>,
}

/// How many members' current contracts in the motion's scope already meet its term. The counts
/// are a statistic about members' contracts, so they follow the disclosure rule: with fewer
/// than k members in scope they would tell who has which terms, and are withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compliance {
    /// Members with a current disclosure in scope.
    pub members: usize,
    pub disclosure: Disclosure,
    /// Every one of their in-scope contracts meets the term.
    pub meeting: Option<usize>,
    /// At least one of their in-scope contracts does not.
    pub not_meeting: Option<usize>,
    /// Their disclosures do not say.
    pub unknown: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionView {
    pub id: RecordId,
    pub title: String,
    pub text: String,
    pub proposer: OrgRef,
    pub proposed: Date,
    pub term: Option<ContractTerm>,
    /// The term in words.
    pub term_text: Option<String>,
    pub service_line: Option<String>,
    pub service_line_name: Option<String>,
    pub provider: Option<String>,
    pub provider_name: Option<String>,
    /// Members supporting it now (support given by the closing date and not withdrawn).
    pub support: usize,
    pub support_needed: u16,
    /// Supporters still needed to carry it.
    pub still_needed: usize,
    pub closes_on: Date,
    /// Days until it closes (negative once closed).
    pub days_left: i64,
    pub status: MotionStatus,
    pub supporters: Vec<Supporter>,
    /// Members that supported it and then withdrew.
    pub withdrawn: usize,
    pub compliance: Option<Compliance>,
}

/// A contract term in words.
pub fn term_text(term: &ContractTerm) -> String {
    match term {
        ContractTerm::MaxNoticeMonths(n) => format!("notice of at most {n} months"),
        ContractTerm::KpiBasis(k) => match k {
            KpiBasis::Outcome => "outcome-based KPIs".into(),
            KpiBasis::Process => "process KPIs".into(),
            KpiBasis::Mixed => "a mix of outcome and process KPIs".into(),
            KpiBasis::NoKpis => "no KPIs".into(),
        },
        ContractTerm::MinEfficiencyBp(bp) => {
            format!("an efficiency requirement of at least {:.2}% a year", *bp as f64 / 100.0)
        }
        ContractTerm::SatisfactionSurvey => "an annual client-satisfaction survey".into(),
    }
}

/// Whether a disclosed contract meets `term`; `None` when the disclosure does not say.
pub fn meets(term: &ContractTerm, p: &Price) -> Option<bool> {
    match term {
        ContractTerm::MaxNoticeMonths(n) => p.notice_months.map(|m| m <= *n),
        ContractTerm::KpiBasis(k) => p.kpi_basis.map(|b| b == *k),
        ContractTerm::MinEfficiencyBp(bp) => p.efficiency_bp.map(|e| e >= *bp),
        ContractTerm::SatisfactionSurvey => p.satisfaction_survey,
    }
}

/// The last moment support counts: the end of the closing day (UTC).
fn closes_at_ms(closes_on: Date) -> u64 {
    (closes_on.days() as u64 + 1) * 86_400_000
}

/// Motions matching `q`: open ones closest to carrying first, then carried, then closed.
pub fn motions(d: &Dataset, ctx: &Ctx, q: &MotionQuery, rests: &mut Rests) -> Vec<MotionView> {
    let supports = supports_by_motion(d);
    let mut out: Vec<MotionView> = d
        .motions
        .iter()
        .filter(|m| {
            q.service_line.as_ref().is_none_or(|l| m.body.service_line.as_ref() == Some(l))
                && q.provider.as_ref().is_none_or(|p| m.body.provider.as_ref() == Some(p))
        })
        .map(|m| view(d, ctx, m, supports.get(&m.id).map(Vec::as_slice).unwrap_or(&[]), rests))
        .filter(|v| q.status.is_none_or(|s| s == v.status))
        .collect();
    out.sort_by(|a, b| {
        (a.status, a.still_needed, a.closes_on, a.id).cmp(&(b.status, b.still_needed, b.closes_on, b.id))
    });
    out
}

/// One motion, or `None` if it is not held (or was retracted).
pub fn motion(d: &Dataset, ctx: &Ctx, id: &RecordId, rests: &mut Rests) -> Option<MotionView> {
    let m = d.motions.iter().find(|m| m.id == *id)?;
    let supports = supports_by_motion(d);
    Some(view(d, ctx, m, supports.get(id).map(Vec::as_slice).unwrap_or(&[]), rests))
}

fn supports_by_motion(d: &Dataset) -> BTreeMap<RecordId, Vec<&Item<Support>>> {
    let mut by: BTreeMap<RecordId, Vec<&Item<Support>>> = BTreeMap::new();
    for s in &d.supports {
        by.entry(s.body.motion).or_default().push(s);
    }
    by
}

fn view(d: &Dataset, ctx: &Ctx, m: &Item<Motion>, supports: &[&Item<Support>], rests: &mut Rests) -> MotionView {
    rests.add(m);
    let b = &m.body;
    let close = closes_at_ms(b.closes_on);
    // Each member's latest stance given by the close counts.
    let in_time = supports.iter().copied().filter(|s| s.created_at < close);
    let latest = latest_by(in_time, |s| s.org);
    let mut supporters = Vec::new();
    let mut withdrawn = 0;
    for s in &latest {
        rests.add(*s);
        match s.body.stance {
            Stance::Support => supporters.push((
                s.created_at,
                Supporter {
                    org: d.directory.org(&s.org),
                    since: Date::from_unix_ms(s.created_at).unwrap_or(b.closes_on),
                    comment: s.body.comment.clone(),
                },
            )),
            Stance::Withdraw => withdrawn += 1,
        }
    }
    supporters.sort_by(|a, b| (a.0, &a.1.org.name).cmp(&(b.0, &b.1.org.name)));
    let support = supporters.len();
    let needed = b.support_needed as usize;
    let days_left = b.closes_on.days() as i64 - ctx.today().days() as i64;
    let status = if support >= needed {
        MotionStatus::Carried
    } else if days_left < 0 {
        MotionStatus::Closed
    } else {
        MotionStatus::Open
    };
    MotionView {
        id: m.id,
        title: b.title.clone(),
        text: b.text.clone(),
        proposer: d.directory.org(&m.org),
        proposed: Date::from_unix_ms(m.created_at).unwrap_or(b.closes_on),
        term: b.term,
        term_text: b.term.as_ref().map(term_text),
        service_line: b.service_line.clone(),
        service_line_name: b.service_line.as_deref().map(line_name),
        provider: b.provider.clone(),
        provider_name: b.provider.as_deref().map(|p| d.provider_name(p)),
        support,
        support_needed: b.support_needed,
        still_needed: needed.saturating_sub(support),
        closes_on: b.closes_on,
        days_left,
        status,
        supporters: supporters.into_iter().map(|(_, s)| s).collect(),
        withdrawn,
        compliance: b.term.as_ref().map(|t| compliance(d, ctx, b, t, rests)),
    }
}

/// Counts members whose current in-scope contracts meet `term`. A member's current contracts are
/// its latest disclosures for each provider, line and contract reference, in the latest year it
/// disclosed for that provider and line.
fn compliance(d: &Dataset, ctx: &Ctx, motion: &Motion, term: &ContractTerm, rests: &mut Rests) -> Compliance {
    let in_scope = d.prices.iter().filter(|p| {
        motion.service_line.as_ref().is_none_or(|l| *l == p.body.service_line)
            && motion.provider.as_ref().is_none_or(|c| *c == p.body.provider)
    });
    let latest = latest_by(in_scope, |p| {
        (p.org, p.body.provider.clone(), p.body.service_line.clone(), p.body.year, p.body.contract_key())
    });
    let mut newest_year: BTreeMap<(OrgKey, &str, &str), csx_protocol::FinancialYear> = BTreeMap::new();
    for p in &latest {
        let e = newest_year.entry((p.org, &p.body.provider, &p.body.service_line)).or_insert(p.body.year);
        *e = (*e).max(p.body.year);
    }
    let mut verdicts: BTreeMap<OrgKey, Vec<Option<bool>>> = BTreeMap::new();
    for p in &latest {
        if newest_year.get(&(p.org, p.body.provider.as_str(), p.body.service_line.as_str())) == Some(&p.body.year) {
            rests.add(*p);
            verdicts.entry(p.org).or_default().push(meets(term, &p.body));
        }
    }
    let rule = disclosure(verdicts.keys().map(|o| (*o, 1.0)), ctx.k, ctx.max_share_bp);
    let count = |f: fn(&[Option<bool>]) -> bool| rule.shown().then(|| verdicts.values().filter(|v| f(v)).count());
    Compliance {
        members: verdicts.len(),
        meeting: count(|v| !v.contains(&Some(false)) && !v.contains(&None)),
        not_meeting: count(|v| v.contains(&Some(false))),
        unknown: count(|v| !v.contains(&Some(false)) && v.contains(&None)),
        disclosure: rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, item, org, price};
    use csx_protocol::body::KpiBasis;

    /// 2025-06-15 (Unix ms).
    const NOW: u64 = 1_749_945_600_000;

    fn ctx() -> Ctx {
        Ctx { me: org(0), k: 3, max_share_bp: 5000, now_ms: NOW }
    }

    fn motion(needed: u16, closes: Date, term: Option<ContractTerm>) -> Item<Motion> {
        item(
            5,
            0,
            1,
            Motion {
                title: "Six months' notice".into(),
                text: "Stand together on notice periods".into(),
                term,
                service_line: Some("BI".into()),
                provider: None,
                support_needed: needed,
                closes_on: closes,
            },
        )
    }

    fn support(i: u8, motion: RecordId, stance: Stance, at: u64) -> Item<Support> {
        item(6, i, at, Support { motion, stance, comment: None })
    }

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_ymd(y, m, d).expect("date")
    }

    #[test]
    fn the_latest_stance_before_the_close_counts() {
        let mut d = dataset(4);
        let m = motion(3, date(2025, 7, 1), None);
        let close = closes_at_ms(date(2025, 7, 1));
        d.supports.push(support(0, m.id, Stance::Support, 10));
        d.supports.push(support(1, m.id, Stance::Support, 10));
        d.supports.push(support(1, m.id, Stance::Withdraw, 20)); // withdrew
        d.supports.push(support(2, m.id, Stance::Support, 30));
        d.supports.push(support(3, m.id, Stance::Support, close)); // too late
        d.motions.push(m.clone());
        let v = super::motion(&d, &ctx(), &m.id, &mut Rests::default()).expect("held");
        assert_eq!((v.support, v.still_needed, v.withdrawn, v.status), (2, 1, 1, MotionStatus::Open));
        assert_eq!(v.days_left, 16);
        let names: Vec<&str> = v.supporters.iter().map(|s| s.org.name.as_str()).collect();
        assert_eq!(names, ["Member 0", "Member 2"]);
        // A third supporter carries it; past the close without enough, it is closed.
        d.supports.push(support(1, m.id, Stance::Support, 40));
        assert_eq!(
            super::motion(&d, &ctx(), &m.id, &mut Rests::default()).expect("held").status,
            MotionStatus::Carried
        );
        let mut late = dataset(2);
        let old = motion(3, date(2025, 6, 1), None);
        late.motions.push(old.clone());
        let v = super::motion(&late, &ctx(), &old.id, &mut Rests::default()).expect("held");
        assert_eq!((v.status, v.days_left), (MotionStatus::Closed, -14));
    }

    #[test]
    fn compliance_counts_members_whose_current_contracts_meet_the_term() {
        let mut d = dataset(4);
        let with_notice = |i: u8, year: u16, months: Option<u8>, at: u64| {
            let mut p = price(i, "0DE", "BI", year, 1_000_000, 100_000, at);
            p.body.notice_months = months;
            p
        };
        d.prices.push(with_notice(0, 2024, Some(12), 1)); // old year: superseded by 2025
        d.prices.push(with_notice(0, 2025, Some(6), 1)); // meets
        d.prices.push(with_notice(1, 2025, Some(9), 1)); // does not
        d.prices.push(with_notice(2, 2025, None, 1)); // unknown
        let mut other_line = with_notice(3, 2025, Some(3), 1);
        other_line.body.service_line = "HR".into(); // out of scope
        d.prices.push(other_line);
        let m = motion(3, date(2025, 7, 1), Some(ContractTerm::MaxNoticeMonths(6)));
        d.motions.push(m.clone());
        let v = super::motion(&d, &ctx(), &m.id, &mut Rests::default()).expect("held");
        assert_eq!(
            v.compliance,
            Some(Compliance {
                members: 3,
                disclosure: Disclosure::Shown,
                meeting: Some(1),
                not_meeting: Some(1),
                unknown: Some(1)
            })
        );
        assert_eq!(v.term_text.as_deref(), Some("notice of at most 6 months"));
        let mut p = d.prices[1].body.clone();
        p.kpi_basis = Some(KpiBasis::Outcome);
        assert_eq!(meets(&ContractTerm::KpiBasis(KpiBasis::Outcome), &p), Some(true));
        assert_eq!(meets(&ContractTerm::KpiBasis(KpiBasis::Process), &p), Some(false));
        assert_eq!(meets(&ContractTerm::SatisfactionSurvey, &p), None);
        // Two members in scope: the counts would say who has which terms, so they are withheld.
        d.prices.retain(|p| p.org != org(2));
        let v = super::motion(&d, &ctx(), &m.id, &mut Rests::default()).expect("held");
        let c = v.compliance.expect("a term");
        assert_eq!((c.members, c.meeting, c.not_meeting, c.unknown), (2, None, None, None));
        assert_eq!(c.disclosure, Disclosure::TooFewMembers { members: 2, k: 3 });
    }

    #[test]
    fn open_motions_closest_to_carrying_come_first() {
        let mut d = dataset(3);
        let mut far = motion(3, date(2025, 8, 1), None);
        far.id = crate::query::tests::id(5, 9, 1);
        let near = motion(2, date(2025, 9, 1), None);
        d.supports.push(support(1, near.id, Stance::Support, 5));
        d.motions.extend([far.clone(), near.clone()]);
        let list = motions(&d, &ctx(), &MotionQuery::default(), &mut Rests::default());
        assert_eq!(list.iter().map(|m| m.id).collect::<Vec<_>>(), [near.id, far.id]);
        let carried = motions(
            &d,
            &ctx(),
            &MotionQuery { status: Some(MotionStatus::Carried), ..Default::default() },
            &mut Rests::default(),
        );
        assert!(carried.is_empty());
    }
}
