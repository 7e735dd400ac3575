//! Joint tenders forming: members' intents to procure, grouped by service line and window, with
//! who joined them, how many other members' contracts on the line end in the window, and what
//! the group would buy together (docs/QUERIES.md, "Joint tenders").
//!
//! - A member's **intent** counts while its start date is not in a quarter already past; of a
//!   member's intents on one line, the latest written counts.
//! - **Windows**: a line's intents sorted by start date; the earliest not yet grouped opens a
//!   window of its financial quarter and the next one; every intent starting in the window
//!   belongs to it. The next intent after the window opens the next window.
//! - **Joining**: a `tender_join` names an intent; its member joins that intent's group.
//! - **Renewals**: other members (neither intending nor joined) whose current price disclosure
//!   on the line has a contract start and length whose renewal (start + length) falls in the
//!   window. Only their number is given, and only through the disclosure rule (k members).
//! - **Together**: the population is the intents' populations plus the joiners' registered
//!   populations (all public to members). The annual value adds each participant's current
//!   disclosures on the line (ex VAT) or, without one, its intent's value band; it rests on
//!   price disclosures, so it is shown only through the disclosure rule over the participants.

use std::collections::{BTreeMap, BTreeSet};

use csx_protocol::body::{Intent, Price, ValueBand};
use csx_protocol::{Date, FinancialYear, OrgKey, RecordId};
use serde::{Deserialize, Serialize};

use super::prices::ex_vat_pence;
use super::stats::{Disclosure, disclosure};
use super::{Ctx, Dataset, Item, OrgRef, Rests, latest_by, line_name, line_order};

/// A financial quarter: Q1 is April to June.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Quarter {
    pub year: FinancialYear,
    /// 1 to 4.
    pub q: u8,
}

impl Quarter {
    /// The quarter of month `month` (1–12) of calendar year `year`.
    pub fn of_month(year: i32, month: u8) -> Quarter {
        let fy = if month >= 4 { year } else { year - 1 };
        Quarter { year: FinancialYear(fy.clamp(0, u16::MAX as i32) as u16), q: ((month as u32 + 8) % 12 / 3 + 1) as u8 }
    }
    pub fn of(date: Date) -> Quarter {
        Quarter::of_month(date.year(), date.month())
    }
    fn index(self) -> u32 {
        self.year.0 as u32 * 4 + (self.q as u32 - 1)
    }
    fn from_index(i: u32) -> Quarter {
        Quarter { year: FinancialYear((i / 4) as u16), q: (i % 4 + 1) as u8 }
    }
    pub fn next(self) -> Quarter {
        Quarter::from_index(self.index() + 1)
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} Q{}", self.year, self.q)
    }
}

/// When a disclosed contract comes up for renewal: its start plus its length, as a month.
pub fn renewal_month(p: &Price) -> Option<(i32, u8)> {
    let (start, months) = (p.contract_start?, p.contract_months?);
    let m = start.year() * 12 + (start.month() as i32 - 1) + months as i32;
    Some((m.div_euclid(12), (m.rem_euclid(12) + 1) as u8))
}

/// One intent in a group, with who joined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentView {
    pub id: String,
    pub org: OrgRef,
    pub from: Date,
    pub value_band: ValueBand,
    pub population: u64,
    pub note: Option<String>,
    pub joined_by: Vec<OrgRef>,
}

/// What the group's members would buy together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Together {
    /// Population covered by the participants whose population is known.
    pub population: u64,
    /// Participants whose population is not known (a joiner without a registered population).
    pub population_unknown: usize,
    /// Whether the annual value may be shown.
    pub value_disclosure: Disclosure,
    /// The annual value (pence, ex VAT): at least this much…
    pub value_low_pence: Option<u64>,
    /// …and below this (`None` with a low: an open-ended value band).
    pub value_high_pence: Option<u64>,
    /// Participants whose value comes from their own disclosures, from their intent's band, and
    /// neither.
    pub from_disclosures: usize,
    pub from_bands: usize,
    pub value_unknown: usize,
}

/// Other members' contracts on the line that come up for renewal in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewals {
    pub disclosure: Disclosure,
    /// How many (only when shown).
    pub members: Option<usize>,
}

/// The asking member's part in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Yours {
    /// The id of your intent in this group.
    pub intent: Option<String>,
    /// The intents you joined.
    pub joined: Vec<String>,
    /// When your own contract on this line comes up for renewal, if in the window.
    pub renewal: Option<Quarter>,
}

/// A joint tender forming: one service line, one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenderGroup {
    /// The group's name: line and first quarter (`BI 2026/27 Q1`).
    pub group: String,
    pub service_line: String,
    pub service_line_name: String,
    pub first: Quarter,
    pub last: Quarter,
    pub intents: Vec<IntentView>,
    /// Every participant: intending members, then those who joined.
    pub members: Vec<OrgRef>,
    pub renewals: Renewals,
    pub together: Together,
    pub yours: Yours,
}

/// Which groups to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TenderQuery {
    #[serde(default)]
    pub service_line: Option<String>,
}

/// The intents that count: each member's latest per line, not started in a past quarter.
fn current_intents<'a>(d: &'a Dataset, ctx: &Ctx) -> Vec<&'a Item<Intent>> {
    let now = Quarter::of(ctx.today());
    latest_by(&d.intents, |it: &Item<Intent>| (it.org, it.body.service_line.clone()))
        .into_iter()
        .filter(|it| Quarter::of(it.body.from) >= now)
        .collect()
}

/// Every member's current disclosures on each line: (line, member) → the latest year's
/// contracts (latest per provider and contract reference).
fn current_contracts(d: &Dataset) -> BTreeMap<(String, OrgKey), Vec<&Item<Price>>> {
    let current = latest_by(&d.prices, |it: &Item<Price>| {
        (it.org, it.body.provider.clone(), it.body.service_line.clone(), it.body.year, it.body.contract_key())
    });
    let mut by: BTreeMap<(String, OrgKey), Vec<&Item<Price>>> = BTreeMap::new();
    for it in current {
        by.entry((it.body.service_line.clone(), it.org)).or_default().push(it);
    }
    for items in by.values_mut() {
        let latest = items.iter().map(|it| it.body.year).max();
        items.retain(|it| Some(it.body.year) == latest);
    }
    by
}

/// Every joint tender forming, by line then window.
pub fn tenders(d: &Dataset, ctx: &Ctx, q: &TenderQuery, rests: &mut Rests) -> Vec<TenderGroup> {
    let intents = current_intents(d, ctx);
    let contracts = current_contracts(d);
    let by_id: BTreeMap<RecordId, &Item<Intent>> = intents.iter().map(|it| (it.id, *it)).collect();
    // Joiners of each intent (a member joins once; its own intent needs no joining).
    let mut joiners: BTreeMap<RecordId, BTreeSet<OrgKey>> = BTreeMap::new();
    for j in &d.joins {
        if let Some(intent) = by_id.get(&j.body.intent)
            && intent.org != j.org
        {
            joiners.entry(intent.id).or_default().insert(j.org);
            rests.add(j);
        }
    }
    let mut lines: BTreeMap<(usize, String), Vec<&Item<Intent>>> = BTreeMap::new();
    for it in intents {
        if q.service_line.as_ref().is_none_or(|l| *l == it.body.service_line) {
            lines.entry(line_order(&it.body.service_line)).or_default().push(it);
        }
    }
    let mut out = Vec::new();
    for ((_, line), mut items) in lines {
        items.sort_by_key(|it| (it.body.from, it.created_at, it.id));
        let mut rest = items.as_slice();
        while let Some(first) = rest.first() {
            let open = Quarter::of(first.body.from);
            let last = open.next();
            let n = rest.iter().take_while(|it| Quarter::of(it.body.from) <= last).count();
            let (group, after) = rest.split_at(n);
            rest = after;
            out.push(group_of(d, ctx, &line, open, last, group, &joiners, &contracts, rests));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn group_of(
    d: &Dataset,
    ctx: &Ctx,
    line: &str,
    first: Quarter,
    last: Quarter,
    group: &[&Item<Intent>],
    joiners: &BTreeMap<RecordId, BTreeSet<OrgKey>>,
    contracts: &BTreeMap<(String, OrgKey), Vec<&Item<Price>>>,
    rests: &mut Rests,
) -> TenderGroup {
    // Participants: intending members, then joiners, each once, with the intent that brought it.
    let mut participants: Vec<(OrgKey, Option<&Intent>)> = Vec::new();
    let mut seen = BTreeSet::new();
    for it in group {
        rests.add(*it);
        if seen.insert(it.org) {
            participants.push((it.org, Some(&it.body)));
        }
    }
    for it in group {
        for org in joiners.get(&it.id).into_iter().flatten() {
            if seen.insert(*org) {
                participants.push((*org, None));
            }
        }
    }
    // Together: population and annual value.
    let mut t = Together {
        population: 0,
        population_unknown: 0,
        value_disclosure: Disclosure::Shown,
        value_low_pence: None,
        value_high_pence: None,
        from_disclosures: 0,
        from_bands: 0,
        value_unknown: 0,
    };
    let (mut low, mut high, mut open_ended) = (0u64, 0u64, false);
    let mut valued = Vec::new();
    // The disclosures the value rests on: provenance only when the value is shown.
    let mut backing = Vec::new();
    for (org, intent) in &participants {
        match intent.map(|i| i.population).or_else(|| d.directory.population(org)) {
            Some(p) => t.population += p,
            None => t.population_unknown += 1,
        }
        if let Some(items) = contracts.get(&(line.to_string(), *org)) {
            let v = items.iter().map(|it| ex_vat_pence(&it.body)).sum::<f64>().round() as u64;
            low += v;
            high += v;
            t.from_disclosures += 1;
            valued.push((*org, 1.0));
            backing.extend(items.iter().copied());
        } else if let Some(i) = intent {
            let (l, h) = i.value_band.bounds_pence();
            low += l;
            match h {
                Some(h) => high += h,
                None => open_ended = true,
            }
            t.from_bands += 1;
            valued.push((*org, 1.0));
        } else {
            t.value_unknown += 1;
        }
    }
    // The value rests on members' confidential disclosures: the disclosure rule over the
    // participants valued (a band is public, but a sum of one band and one disclosure would
    // give the disclosure away to anyone who knows the band's member's figure).
    t.value_disclosure = disclosure(valued, ctx.k, ctx.max_share_bp);
    if t.value_disclosure.shown() {
        for it in backing {
            rests.add(it);
        }
        t.value_low_pence = Some(low);
        t.value_high_pence = (!open_ended).then_some(high);
    }
    // Renewals of members not taking part.
    let mut renewing = Vec::new();
    let mut my_renewal = None;
    for ((l, org), items) in contracts {
        if l != line {
            continue;
        }
        let due: Option<Quarter> = items
            .iter()
            .filter_map(|it| renewal_month(&it.body).map(|(y, m)| Quarter::of_month(y, m)))
            .filter(|q| (first..=last).contains(q))
            .min();
        let Some(due) = due else { continue };
        if *org == ctx.me {
            my_renewal = Some(due);
        }
        if !seen.contains(org) {
            renewing.push((*org, 1.0));
        }
    }
    let renewal_rule = disclosure(renewing.iter().copied(), ctx.k, ctx.max_share_bp).of_a_count();
    let renewals = Renewals {
        members: renewal_rule.shown().then_some(renewing.len()),
        disclosure: if renewing.is_empty() { Disclosure::Shown } else { renewal_rule },
    };
    let renewals = if renewing.is_empty() { Renewals { members: Some(0), ..renewals } } else { renewals };
    let intents: Vec<IntentView> = group
        .iter()
        .map(|it| IntentView {
            id: it.id.to_hex(),
            org: d.directory.org(&it.org),
            from: it.body.from,
            value_band: it.body.value_band,
            population: it.body.population,
            note: it.body.note.clone(),
            joined_by: joiners.get(&it.id).into_iter().flatten().map(|o| d.directory.org(o)).collect(),
        })
        .collect();
    let yours = Yours {
        intent: group.iter().find(|it| it.org == ctx.me).map(|it| it.id.to_hex()),
        joined: group
            .iter()
            .filter(|it| joiners.get(&it.id).is_some_and(|j| j.contains(&ctx.me)))
            .map(|it| it.id.to_hex())
            .collect(),
        renewal: my_renewal,
    };
    TenderGroup {
        group: format!("{line} {first}"),
        service_line: line.to_string(),
        service_line_name: line_name(line),
        first,
        last,
        intents,
        members: participants.iter().map(|(o, _)| d.directory.org(o)).collect(),
        renewals,
        together: t,
        yours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, item, org, price};
    use csx_protocol::body::TenderJoin;

    /// 1 June 2026: financial year 2026/27, Q1.
    const NOW: u64 = 1_780_272_000_000;

    fn ctx(k: u16) -> Ctx {
        Ctx { me: org(0), k, max_share_bp: 10_000, now_ms: NOW }
    }

    fn date(s: &str) -> Date {
        s.parse().expect("date")
    }

    fn intent(i: u8, line: &str, from: &str, band: ValueBand, population: u64, at: u64) -> Item<Intent> {
        item(9, i, at, Intent { service_line: line.into(), from: date(from), value_band: band, population, note: None })
    }

    #[test]
    fn quarters_are_financial() {
        assert_eq!(Quarter::of(date("2026-04-01")).to_string(), "2026/27 Q1");
        assert_eq!(Quarter::of(date("2026-12-31")).to_string(), "2026/27 Q3");
        assert_eq!(Quarter::of(date("2027-03-31")).to_string(), "2026/27 Q4");
        assert_eq!(Quarter::of(date("2027-03-31")).next().to_string(), "2027/28 Q1");
    }

    #[test]
    fn intents_group_by_line_and_window_with_joiners_renewals_and_what_they_buy_together() {
        // Six members; k = 2.
        let mut d = dataset(6);
        // BI: member 0 from 2026-10-01 (Q3), member 1 from 2027-01-15 (Q4: same window), member 2
        // from 2027-04-01 (2027/28 Q1: the next window). CHC: member 3 in Q2.
        d.intents.push(intent(0, "BI", "2026-10-01", ValueBand::From250kTo500k, 300_000, 10));
        d.intents.push(intent(1, "BI", "2027-01-15", ValueBand::From100kTo250k, 200_000, 11));
        d.intents.push(intent(2, "BI", "2027-04-01", ValueBand::Under100k, 50_000, 12));
        d.intents.push(intent(3, "CHC", "2026-07-01", ValueBand::Over5m, 900_000, 13));
        // A stale intent (started last quarter) does not count.
        d.intents.push(intent(5, "BI", "2026-03-01", ValueBand::Under100k, 1, 14));
        // Member 4 joins member 0's intent; member 1's own join of it is redundant (it intends).
        let first = d.intents[0].id;
        d.joins.push(item(10, 4, 20, TenderJoin { intent: first, comment: None }));
        // Member 0 disclosed £360,000 a year on BI (2025), a 24-month contract from 2024-10-01:
        // renewal 2026-10 (Q3). Member 5 disclosed a BI contract from 2025-01-01 for 24 months:
        // renewal 2027-01 (Q4), not taking part. Member 3 renews CHC, not BI.
        let mut p0 = price(0, "0DE", "BI", 2025, 36_000_000, 300_000, 5);
        p0.body.contract_start = Some(date("2024-10-01"));
        p0.body.contract_months = Some(24);
        let mut p5 = price(5, "0DE", "BI", 2025, 10_000_000, 100_000, 6);
        p5.body.contract_start = Some(date("2025-01-01"));
        p5.body.contract_months = Some(24);
        d.prices.extend([p0, p5]);
        let groups = tenders(&d, &ctx(2), &TenderQuery::default(), &mut Rests::default());
        let names: Vec<&str> = groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["BI 2026/27 Q3", "BI 2027/28 Q1", "CHC 2026/27 Q2"]);
        let bi = &groups[0];
        assert_eq!(bi.last.to_string(), "2026/27 Q4");
        let who: Vec<&str> = bi.members.iter().map(|m| m.ods.as_str()).collect();
        assert_eq!(who, ["M0", "M1", "M4"]);
        assert_eq!(bi.intents[0].joined_by.iter().map(|o| o.ods.as_str()).collect::<Vec<_>>(), ["M4"]);
        // Population: 300,000 + 200,000 (intents) + 500,000 (member 4's registered population).
        assert_eq!((bi.together.population, bi.together.population_unknown), (1_000_000, 0));
        // Value: member 0's disclosure £360,000; member 1's band £100k–£250k; member 4 none.
        assert_eq!((bi.together.from_disclosures, bi.together.from_bands, bi.together.value_unknown), (1, 1, 1));
        assert_eq!(bi.together.value_low_pence, Some(36_000_000 + 10_000_000));
        assert_eq!(bi.together.value_high_pence, Some(36_000_000 + 25_000_000));
        // Renewals of others in the window: member 5 only, fewer than k = 2: withheld.
        assert_eq!(bi.renewals.members, None);
        assert_eq!(bi.renewals.disclosure, Disclosure::FewerThan { k: 2 }, "the count withheld is not given");
        // Yours: member 0 intends, and its contract renews in Q3.
        assert_eq!(bi.yours.intent.as_deref(), Some(d.intents[0].id.to_hex().as_str()));
        assert_eq!(bi.yours.renewal.map(|q| q.to_string()).as_deref(), Some("2026/27 Q3"));
        // The next window: member 2 alone, its value withheld (one member), population shown.
        let next = &groups[1];
        assert_eq!(next.together.population, 50_000);
        assert_eq!(next.together.value_low_pence, None);
        assert!(!next.together.value_disclosure.shown());
        // An open-ended band has no upper bound... but a lone member's value is withheld anyway.
        assert_eq!(groups[2].together.value_high_pence, None);
        // With k = 1 the renewal count and the open-ended value are shown.
        let groups = tenders(&d, &ctx(1), &TenderQuery::default(), &mut Rests::default());
        assert_eq!(groups[0].renewals.members, Some(1));
        assert_eq!(groups[2].together.value_low_pence, Some(500_000_000));
        assert_eq!(groups[2].together.value_high_pence, None);
    }

    #[test]
    fn a_withheld_value_names_none_of_the_disclosures_it_would_rest_on() {
        let mut d = dataset(3);
        d.intents.push(intent(0, "BI", "2026-10-01", ValueBand::Under100k, 10, 10));
        d.intents.push(intent(1, "BI", "2026-11-01", ValueBand::Under100k, 10, 11));
        d.prices.push(price(0, "0DE", "BI", 2025, 36_000_000, 300_000, 5));
        let disclosure_id = d.prices[0].id;
        // k = 3: two participants valued, the value withheld, and its disclosure not in provenance.
        let mut rests = Rests::default();
        let groups = tenders(&d, &ctx(3), &TenderQuery::default(), &mut rests);
        assert_eq!(groups[0].together.value_low_pence, None);
        assert!(!rests.records.contains(&disclosure_id), "a withheld value's disclosure is not named");
        // k = 2: shown, and then named.
        let mut rests = Rests::default();
        let groups = tenders(&d, &ctx(2), &TenderQuery::default(), &mut rests);
        assert!(groups[0].together.value_low_pence.is_some());
        assert!(rests.records.contains(&disclosure_id));
    }

    #[test]
    fn a_members_later_intent_on_a_line_replaces_its_earlier() {
        let mut d = dataset(2);
        d.intents.push(intent(0, "BI", "2026-10-01", ValueBand::Under100k, 10, 10));
        d.intents.push(intent(0, "BI", "2027-07-01", ValueBand::Under100k, 10, 11));
        let groups = tenders(&d, &ctx(1), &TenderQuery::default(), &mut Rests::default());
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].group, "BI 2027/28 Q2");
    }

    #[test]
    fn a_contract_renews_at_start_plus_length() {
        let mut p = price(0, "0DE", "BI", 2025, 1, 1, 1).body;
        p.contract_start = Some(date("2024-11-15"));
        p.contract_months = Some(14);
        assert_eq!(renewal_month(&p), Some((2026, 1)));
        p.contract_months = None;
        assert_eq!(renewal_month(&p), None);
    }
}
