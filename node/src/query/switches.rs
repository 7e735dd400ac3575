//! Who moved which service line from whom to whom, why, at what cost, and how it went.

use std::collections::BTreeMap;

use csx_protocol::body::{Party, Switch, SwitchOutcome, SwitchReason};
use csx_protocol::{Date, FinancialYear, OrgKey, RecordId};
use serde::{Deserialize, Serialize};

use super::stats::Summary;
use super::{Ctx, Dataset, Item, OrgRef, Rests, latest_by, line_name, line_order};

/// Which switches to show.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SwitchQuery {
    #[serde(default)]
    pub service_line: Option<String>,
    /// A provider on either side of the switch.
    #[serde(default)]
    pub provider: Option<String>,
    /// The financial year the switch took effect in.
    #[serde(default)]
    pub year: Option<FinancialYear>,
    /// Only switches away from this party (who left it).
    #[serde(default)]
    pub from: Option<Party>,
    /// Only switches to this party (who joined it).
    #[serde(default)]
    pub to: Option<Party>,
}

/// One side of a switch, with its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartyView {
    pub party: Party,
    pub name: String,
}

/// How a switch went, as the member that switched reported it (its latest report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeView {
    pub id: RecordId,
    pub reported: Date,
    /// Annual cost after minus before, in pence.
    pub cost_change_pence: Option<i64>,
    /// Satisfaction after minus before, −4 to +4 on the 1–5 scale.
    pub satisfaction_change: Option<i8>,
    pub comment: Option<String>,
}

/// One switching report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchRow {
    pub id: RecordId,
    pub org: OrgRef,
    pub service_line: String,
    pub service_line_name: String,
    pub from: PartyView,
    pub to: PartyView,
    pub effective: Date,
    pub year: FinancialYear,
    pub reasons: Vec<SwitchReason>,
    pub reason_text: Option<String>,
    pub notice_months: Option<u8>,
    pub exit_costs_pence: Option<u64>,
    pub transition_months: Option<u8>,
    pub outcome: Option<OutcomeView>,
}

/// Switches of one line from one party to another in one year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub service_line: String,
    pub service_line_name: String,
    pub year: FinancialYear,
    pub from: PartyView,
    pub to: PartyView,
    pub switches: usize,
    pub members: usize,
    /// Reasons given, most often first.
    pub reasons: Vec<(SwitchReason, usize)>,
    pub notice_months: Option<Summary>,
    pub transition_months: Option<Summary>,
    /// Exit costs reported, summed (pence).
    pub exit_costs_pence: u64,
    /// Switches with a reported outcome.
    pub outcomes: usize,
    /// Of those, how many say the cost went down, and how many say satisfaction went up.
    pub cheaper: usize,
    pub happier: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwitchesAnswer {
    pub flows: Vec<Flow>,
    pub switches: Vec<SwitchRow>,
}

/// The name of a side of a switch.
pub fn party_view(d: &Dataset, party: &Party) -> PartyView {
    let name = match party {
        Party::Provider(code) => d.provider_name(code),
        Party::InHouse => "in house".into(),
        Party::Shared(ods) => match d.directory.by_ods(ods) {
            Some(o) => format!("shared with {}", o.name),
            None => format!("shared with {ods}"),
        },
    };
    PartyView { party: party.clone(), name }
}

/// Switching reports matching `q` (newest first) and the flows they belong to. Flows are added
/// up over every switch and then picked: every filter is a property of a whole flow (its line,
/// year, from and to), so a filter never changes what a flow holds.
pub fn switches(d: &Dataset, _ctx: &Ctx, q: &SwitchQuery, rests: &mut Rests) -> SwitchesAnswer {
    // Each switch's latest outcome from the organisation that switched.
    let org_of: BTreeMap<RecordId, OrgKey> = d.switches.iter().map(|it| (it.id, it.org)).collect();
    let by_switcher = d.outcomes.iter().filter(|o| org_of.get(&o.body.switch) == Some(&o.org));
    let outcomes: BTreeMap<RecordId, &Item<SwitchOutcome>> =
        latest_by(by_switcher, |o| o.body.switch).into_iter().map(|o| (o.body.switch, o)).collect();
    let mut rows: Vec<(SwitchRow, Vec<(RecordId, OrgKey)>)> = Vec::new();
    for it in &d.switches {
        let s: &Switch = &it.body;
        let mut backing = vec![(it.id, it.org)];
        let outcome = outcomes.get(&it.id).map(|o| {
            backing.push((o.id, o.org));
            OutcomeView {
                id: o.id,
                reported: Date::from_unix_ms(o.created_at).unwrap_or(s.effective),
                cost_change_pence: o.body.cost_change_pence,
                satisfaction_change: o.body.satisfaction_change,
                comment: o.body.comment.clone(),
            }
        });
        let row = SwitchRow {
            id: it.id,
            org: d.directory.org(&it.org),
            service_line: s.service_line.clone(),
            service_line_name: line_name(&s.service_line),
            from: party_view(d, &s.from),
            to: party_view(d, &s.to),
            effective: s.effective,
            year: s.effective.financial_year(),
            reasons: s.reasons.clone(),
            reason_text: s.reason_text.clone(),
            notice_months: s.notice_months,
            exit_costs_pence: s.exit_costs_pence,
            transition_months: s.transition_months,
            outcome,
        };
        rows.push((row, backing));
    }
    rows.sort_by_key(|(r, _)| std::cmp::Reverse((r.effective, r.year, r.org.ods.clone(), r.id)));
    let all: Vec<SwitchRow> = rows.iter().map(|(r, _)| r.clone()).collect();
    let on_side = |p: &Party, code: &str| matches!(p, Party::Provider(c) if c == code);
    let wanted = |line: &str, year: FinancialYear, from: &Party, to: &Party| {
        q.service_line.as_ref().is_none_or(|l| l == line)
            && q.provider.as_ref().is_none_or(|c| on_side(from, c) || on_side(to, c))
            && q.year.is_none_or(|y| y == year)
            && q.from.as_ref().is_none_or(|p| p == from)
            && q.to.as_ref().is_none_or(|p| p == to)
    };
    let flows =
        flows(&all).into_iter().filter(|f| wanted(&f.service_line, f.year, &f.from.party, &f.to.party)).collect();
    let switches = rows
        .into_iter()
        .filter(|(r, _)| wanted(&r.service_line, r.year, &r.from.party, &r.to.party))
        .map(|(r, backing)| {
            rests.add_all(&backing);
            r
        })
        .collect();
    SwitchesAnswer { flows, switches }
}

fn flows(rows: &[SwitchRow]) -> Vec<Flow> {
    let mut groups: BTreeMap<(String, FinancialYear, &PartyView, &PartyView), Vec<&SwitchRow>> = BTreeMap::new();
    for r in rows {
        groups.entry((r.service_line.clone(), r.year, &r.from, &r.to)).or_default().push(r);
    }
    let mut out: Vec<Flow> = groups
        .into_iter()
        .map(|((line, year, from, to), rs)| {
            let mut reasons: BTreeMap<SwitchReason, usize> = BTreeMap::new();
            for r in &rs {
                for reason in &r.reasons {
                    *reasons.entry(*reason).or_default() += 1;
                }
            }
            let mut reasons: Vec<(SwitchReason, usize)> = reasons.into_iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let months = |f: fn(&SwitchRow) -> Option<u8>| {
                Summary::of(&rs.iter().filter_map(|r| f(r)).map(f64::from).collect::<Vec<_>>())
            };
            let mut members: Vec<&str> = rs.iter().map(|r| r.org.ods.as_str()).collect();
            members.sort();
            members.dedup();
            let outcomes: Vec<&OutcomeView> = rs.iter().filter_map(|r| r.outcome.as_ref()).collect();
            Flow {
                service_line_name: line_name(&line),
                service_line: line,
                year,
                from: from.clone(),
                to: to.clone(),
                switches: rs.len(),
                members: members.len(),
                reasons,
                notice_months: months(|r| r.notice_months),
                transition_months: months(|r| r.transition_months),
                exit_costs_pence: rs.iter().filter_map(|r| r.exit_costs_pence).sum(),
                outcomes: outcomes.len(),
                cheaper: outcomes.iter().filter(|o| o.cost_change_pence.is_some_and(|c| c < 0)).count(),
                happier: outcomes.iter().filter(|o| o.satisfaction_change.is_some_and(|c| c > 0)).count(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (line_order(&a.service_line), std::cmp::Reverse(a.year), std::cmp::Reverse(a.switches), &a.from, &a.to).cmp(&(
            line_order(&b.service_line),
            std::cmp::Reverse(b.year),
            std::cmp::Reverse(b.switches),
            &b.from,
            &b.to,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, item, org};

    fn sw(i: u8, from: &str, to: &str, reasons: Vec<SwitchReason>, created_at: u64) -> Item<Switch> {
        item(
            3,
            i,
            created_at,
            Switch {
                service_line: "BI".into(),
                from: from.parse().expect("party"),
                to: to.parse().expect("party"),
                effective: Date::from_ymd(2024, 10, 1).expect("date"),
                reasons,
                reason_text: Some("slow reports".into()),
                notice_months: Some(6),
                exit_costs_pence: Some(1_000_000),
                transition_months: Some(3),
            },
        )
    }

    fn outcome(i: u8, switch: RecordId, cost: i64, created_at: u64) -> Item<SwitchOutcome> {
        item(
            4,
            i,
            created_at,
            SwitchOutcome { switch, cost_change_pence: Some(cost), satisfaction_change: Some(1), comment: None },
        )
    }

    #[test]
    fn flows_add_up_switches_with_reasons_and_outcomes() {
        let mut d = dataset(3);
        let a = sw(0, "0DE", "0AR", vec![SwitchReason::Cost, SwitchReason::Quality], 1);
        let b = sw(1, "0DE", "0AR", vec![SwitchReason::Cost], 1);
        let c = sw(2, "0DE", "in_house", vec![SwitchReason::Strategy], 1);
        d.outcomes.push(outcome(0, a.id, -500_000, 5));
        d.outcomes.push(outcome(0, a.id, -700_000, 9)); // the later report counts
        d.outcomes.push(outcome(1, c.id, -1, 5)); // not the switcher's: ignored
        d.switches.extend([a.clone(), b, c]);
        let ans = switches(
            &d,
            &ctx(),
            &SwitchQuery { provider: Some("0DE".into()), ..Default::default() },
            &mut Rests::default(),
        );
        assert_eq!(ans.switches.len(), 3);
        let to_ar = ans.flows.iter().find(|f| f.to.party == Party::Provider("0AR".into())).expect("flow");
        assert_eq!(
            (to_ar.switches, to_ar.members, to_ar.exit_costs_pence, to_ar.outcomes, to_ar.cheaper),
            (2, 2, 2_000_000, 1, 1)
        );
        assert_eq!(to_ar.reasons, vec![(SwitchReason::Cost, 2), (SwitchReason::Quality, 1)]);
        assert_eq!(to_ar.year, FinancialYear(2024));
        let row = ans.switches.iter().find(|r| r.id == a.id).expect("row");
        assert_eq!(row.outcome.as_ref().and_then(|o| o.cost_change_pence), Some(-700_000));
        let in_house = ans.flows.iter().find(|f| f.to.party == Party::InHouse).expect("flow");
        assert_eq!((in_house.to.name.as_str(), in_house.outcomes), ("in house", 0));
        // The provider filter matches either side.
        let ar = switches(
            &d,
            &ctx(),
            &SwitchQuery { provider: Some("0AR".into()), ..Default::default() },
            &mut Rests::default(),
        );
        assert_eq!(ar.switches.len(), 2);
    }

    fn ctx() -> Ctx {
        Ctx { me: org(0), k: 3, max_share_bp: 5000, now_ms: 1_750_000_000_000 }
    }

    #[test]
    fn every_filter_picks_whole_flows() {
        // Five switches on BI and CONTRACT, 2024/25 and 2025/26, between 0DE, 0AR and in house.
        let mut d = dataset(5);
        let at = |i: u8, line: &str, from: &str, to: &str, y: i32| {
            let mut s = sw(i, from, to, vec![SwitchReason::Cost], i as u64 + 1);
            s.body.service_line = line.into();
            s.body.effective = Date::from_ymd(y, 6, 1).expect("date");
            s
        };
        d.switches.extend([
            at(0, "BI", "0DE", "0AR", 2024),
            at(1, "BI", "0DE", "0AR", 2024),
            at(2, "BI", "0DE", "in_house", 2025),
            at(3, "CONTRACT", "0AR", "0DE", 2024),
            at(4, "CONTRACT", "in_house", "0DE", 2025),
        ]);
        let whole = switches(&d, &ctx(), &SwitchQuery::default(), &mut Rests::default());
        let queries = [
            SwitchQuery { service_line: Some("BI".into()), ..Default::default() },
            SwitchQuery { provider: Some("0AR".into()), ..Default::default() },
            SwitchQuery { year: Some(FinancialYear(2025)), ..Default::default() },
            SwitchQuery { from: Some("0DE".parse().expect("party")), ..Default::default() },
            SwitchQuery { to: Some(Party::InHouse), ..Default::default() },
        ];
        for q in queries {
            let picked = switches(&d, &ctx(), &q, &mut Rests::default());
            assert!(!picked.flows.is_empty(), "{q:?}");
            for f in &picked.flows {
                assert!(whole.flows.contains(f), "{q:?}: a filter changed flow {f:?}");
                let rows = picked
                    .switches
                    .iter()
                    .filter(|r| (&r.service_line, r.year, &r.from, &r.to) == (&f.service_line, f.year, &f.from, &f.to));
                assert_eq!(rows.count(), f.switches, "{q:?}: every switch of a flow picked is listed");
            }
        }
    }
}
