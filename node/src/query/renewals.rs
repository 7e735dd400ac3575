//! The renewal calendar: per service line and financial quarter, how many members' contracts end,
//! from price disclosures' contract start and length — a count over members, so it follows the
//! disclosure rule like every statistic — with the providers of those contracts, and the asking
//! member's own contract dates (end and notice date). Also the date arithmetic the notice
//! deadline alert shares ([`contract_dates`]).

use std::collections::{BTreeMap, BTreeSet};

use csx_protocol::body::Price;
use csx_protocol::{Date, FinancialYear, OrgKey, RecordId};
use serde::{Deserialize, Serialize};

use super::stats::disclosure;
use super::{Ctx, Dataset, Item, Rests, line_name, line_order};

/// Quarters shown when the question does not say: three years ahead.
pub const DEFAULT_QUARTERS: u8 = 12;
/// Most quarters one question may ask for (ten years: the longest contract is 120 months).
pub const MAX_QUARTERS: u8 = 40;

/// Which renewals to show.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RenewalQuery {
    #[serde(default)]
    pub service_line: Option<String>,
    /// Quarters from the current one (default [`DEFAULT_QUARTERS`], at most [`MAX_QUARTERS`]).
    #[serde(default)]
    pub quarters: Option<u8>,
}

/// A financial quarter: Q1 is April to June of the financial year's first calendar year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Quarter {
    pub year: FinancialYear,
    /// 1 to 4.
    pub q: u8,
}

impl Quarter {
    /// The financial quarter `date` falls in.
    pub fn of(date: Date) -> Quarter {
        let q = match date.month() {
            4..=6 => 1,
            7..=9 => 2,
            10..=12 => 3,
            _ => 4,
        };
        Quarter { year: date.financial_year(), q }
    }
    pub fn next(self) -> Quarter {
        if self.q == 4 {
            Quarter { year: FinancialYear(self.year.0 + 1), q: 1 }
        } else {
            Quarter { q: self.q + 1, ..self }
        }
    }
    /// Its first day.
    pub fn start(self) -> Option<Date> {
        let (y, m) = match self.q {
            1 => (self.year.0 as i32, 4),
            2 => (self.year.0 as i32, 7),
            3 => (self.year.0 as i32, 10),
            _ => (self.year.0 as i32 + 1, 1),
        };
        Date::from_ymd(y, m, 1)
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} Q{}", self.year, self.q)
    }
}

/// `date` moved by `months` (the day clamped to the month's length).
pub fn add_months(date: Date, months: i32) -> Option<Date> {
    let day: u8 = date.to_string().get(8..10)?.parse().ok()?;
    let total = date.year() * 12 + (date.month() as i32 - 1) + months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    (0..4).find_map(|back| Date::from_ymd(ny, nm as u8, day.saturating_sub(back)))
}

/// When a disclosed contract ends (start + length) and when notice to leave it must be given
/// (end − notice period), where the disclosure says.
pub fn contract_dates(p: &Price) -> Option<(Date, Option<Date>)> {
    let ends = add_months(p.contract_start?, p.contract_months? as i32)?;
    let notice_by = p.notice_months.and_then(|n| add_months(ends, -(n as i32)));
    Some((ends, notice_by))
}

/// Each member's contracts with dates: of each (member, provider, line, contract reference),
/// the disclosure of the latest year that gives a start and a length (later years' disclosures
/// of the same contract repeat or correct them).
pub(crate) fn dated_contracts(d: &Dataset) -> Vec<&Item<Price>> {
    let dated = d.prices.iter().filter(|it| it.body.contract_start.is_some() && it.body.contract_months.is_some());
    super::latest_by(dated, |it: &Item<Price>| {
        (it.org, it.body.provider.clone(), it.body.service_line.clone(), it.body.contract_key())
    })
}

/// How many members' contracts on a line end in a quarter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewalCell {
    pub service_line: String,
    pub service_line_name: String,
    pub quarter: Quarter,
    /// Members with a contract ending then; only when the disclosure rule allows.
    pub members: Option<usize>,
    /// Why the count is withheld ("fewer than 3 members"), when it is.
    pub withheld: Option<String>,
    /// Providers of those contracts with `k` or more of the members each; the rest are
    /// counted in `other_members` (a provider with fewer would point at them).
    pub providers: Vec<ProviderCount>,
    pub other_members: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderCount {
    pub provider: String,
    pub provider_name: String,
    pub members: usize,
}

/// One of the asking member's own contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnContract {
    pub id: RecordId,
    pub service_line: String,
    pub service_line_name: String,
    pub provider: String,
    pub provider_name: String,
    pub contract_ref: Option<String>,
    pub starts: Date,
    pub ends: Date,
    pub quarter: Quarter,
    pub notice_by: Option<Date>,
    /// Days from today to the notice date (negative once passed).
    pub days_to_notice: Option<i64>,
}

/// The renewal calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Renewals {
    /// The quarters covered, from the current one.
    pub from: Quarter,
    pub to: Quarter,
    /// Line by line, quarter by quarter (only quarters in which some member's contract ends).
    pub cells: Vec<RenewalCell>,
    /// The asking member's contracts ending from the current quarter on, soonest first.
    pub yours: Vec<OwnContract>,
}

/// The renewal calendar for `q`, as `ctx.me` sees it.
pub fn renewals(d: &Dataset, ctx: &Ctx, q: &RenewalQuery, rests: &mut Rests) -> Renewals {
    let today = ctx.today();
    let from = Quarter::of(today);
    let n = q.quarters.unwrap_or(DEFAULT_QUARTERS).clamp(1, MAX_QUARTERS);
    let mut to = from;
    for _ in 1..n {
        to = to.next();
    }
    let in_range = |qt: Quarter| qt >= from && qt <= to;
    // (line, quarter) → member → providers, with the records behind.
    type Cell = BTreeMap<OrgKey, BTreeSet<String>>;
    type Backing = Vec<(RecordId, OrgKey)>;
    let mut cells: BTreeMap<(String, Quarter), (Cell, Backing)> = BTreeMap::new();
    let mut yours = Vec::new();
    for it in dated_contracts(d) {
        let p = &it.body;
        if q.service_line.as_ref().is_some_and(|l| *l != p.service_line) {
            continue;
        }
        let Some((ends, notice_by)) = contract_dates(p) else { continue };
        let quarter = Quarter::of(ends);
        if !in_range(quarter) || ends < today {
            continue;
        }
        let c = cells.entry((p.service_line.clone(), quarter)).or_default();
        c.0.entry(it.org).or_default().insert(p.provider.clone());
        c.1.push((it.id, it.org));
        if it.org == ctx.me {
            yours.push(OwnContract {
                id: it.id,
                service_line: p.service_line.clone(),
                service_line_name: line_name(&p.service_line),
                provider: p.provider.clone(),
                provider_name: d.provider_name(&p.provider),
                contract_ref: p.contract_ref.clone(),
                starts: p.contract_start.unwrap_or(ends),
                ends,
                quarter,
                notice_by,
                days_to_notice: notice_by.map(|n| n.days() as i64 - today.days() as i64),
            });
        }
    }
    let k = ctx.k as usize;
    let mut out: Vec<RenewalCell> = cells
        .into_iter()
        .map(|((line, quarter), (members, backing))| {
            let rule = disclosure(members.keys().map(|o| (*o, 1.0)), ctx.k, ctx.max_share_bp);
            let shown = rule.shown();
            let mut providers = Vec::new();
            let mut other_members = None;
            if shown {
                rests.add_all(&backing);
                let mut by: BTreeMap<&str, usize> = BTreeMap::new();
                for ps in members.values() {
                    for p in ps {
                        *by.entry(p.as_str()).or_default() += 1;
                    }
                }
                let named: BTreeSet<&str> = by.iter().filter(|(_, n)| **n >= k).map(|(p, _)| *p).collect();
                providers = by
                    .iter()
                    .filter(|(p, _)| named.contains(*p))
                    .map(|(p, n)| ProviderCount {
                        provider: p.to_string(),
                        provider_name: d.provider_name(p),
                        members: *n,
                    })
                    .collect();
                providers.sort_by(|a, b| b.members.cmp(&a.members).then(a.provider.cmp(&b.provider)));
                other_members =
                    Some(members.values().filter(|ps| ps.iter().any(|p| !named.contains(p.as_str()))).count());
            }
            RenewalCell {
                service_line_name: line_name(&line),
                service_line: line,
                quarter,
                members: shown.then_some(members.len()),
                withheld: (!shown).then(|| rule.of_a_count().explain()),
                providers,
                other_members,
            }
        })
        .collect();
    out.sort_by_key(|a| (line_order(&a.service_line), a.quarter));
    yours.sort_by_key(|c| (c.notice_by.unwrap_or(c.ends), c.ends));
    Renewals { from, to, cells: out, yours }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, org, price};

    fn d(s: &str) -> Date {
        s.parse().expect("date")
    }

    fn dated(i: u8, provider: &str, line: &str, start: &str, months: u16, notice: Option<u8>) -> Item<Price> {
        let mut p = price(i, provider, line, 2025, 1_000_000, 100_000, 10 * line.len() as u64 + i as u64);
        p.body.contract_start = Some(d(start));
        p.body.contract_months = Some(months);
        p.body.notice_months = notice;
        p
    }

    fn ctx(me: u8, today: &str) -> Ctx {
        Ctx { me: org(me), k: 3, max_share_bp: 5000, now_ms: d(today).days() as u64 * 86_400_000 }
    }

    #[test]
    fn quarters_and_months() {
        assert_eq!(Quarter::of(d("2026-04-01")).to_string(), "2026/27 Q1");
        assert_eq!(Quarter::of(d("2026-12-31")).to_string(), "2026/27 Q3");
        assert_eq!(Quarter::of(d("2027-03-31")).to_string(), "2026/27 Q4");
        assert_eq!(Quarter::of(d("2027-03-31")).next().to_string(), "2027/28 Q1");
        assert_eq!(Quarter::of(d("2027-02-01")).start(), Some(d("2027-01-01")));
        assert_eq!(add_months(d("2024-01-31"), 1), Some(d("2024-02-29")));
        let mut p = dated(0, "0DE", "BI", "2024-04-01", 36, Some(6)).body;
        assert_eq!(contract_dates(&p), Some((d("2027-04-01"), Some(d("2026-10-01")))));
        p.notice_months = None;
        assert_eq!(contract_dates(&p), Some((d("2027-04-01"), None)));
    }

    /// By hand, today 2026-05-15 (2026/27 Q1), k = 3:
    /// - BI: members 0, 1, 2 end 2026-10-01 .. 2026-12-01 (2026/27 Q3): three members, shown;
    ///   0 and 1 with 0DE (2 < k: not named), 2 with 0AR: 3 members "other".
    ///   Member 3 ends 2027-01-15 (Q4): alone, withheld.
    /// - BI: member 4's contract ended 2026-04-30 (before today): not counted.
    /// - Member 1's earlier disclosure of the same contract (no ref) is superseded by its later one.
    /// - FIN: members 0, 1, 2, 3 all with 0DE, ending 2027/28 Q1: shown, 0DE named with 4.
    #[test]
    fn the_calendar_counts_members_by_line_and_quarter_and_withholds_small_cells() {
        let mut data = dataset(6);
        let mut old = dated(1, "0DE", "BI", "2023-01-01", 12, None);
        old.created_at = 1;
        old.seq = 1;
        data.prices = vec![
            dated(0, "0DE", "BI", "2023-10-01", 36, Some(6)),
            old,
            dated(1, "0DE", "BI", "2024-11-01", 24, Some(3)),
            dated(2, "0AR", "BI", "2025-12-01", 12, None),
            dated(3, "0DE", "BI", "2026-01-15", 12, None),
            dated(4, "0DE", "BI", "2025-04-30", 12, None),
            dated(0, "0DE", "FIN", "2024-04-01", 36, None),
            dated(1, "0DE", "FIN", "2024-05-01", 36, None),
            dated(2, "0DE", "FIN", "2024-06-01", 36, None),
            dated(3, "0DE", "FIN", "2024-04-20", 36, None),
        ];
        let mut rests = Rests::default();
        let r = renewals(&data, &ctx(0, "2026-05-15"), &RenewalQuery::default(), &mut rests);
        assert_eq!(r.from.to_string(), "2026/27 Q1");
        assert_eq!(r.to.to_string(), "2028/29 Q4");
        let cell = |line: &str, q: &str| r.cells.iter().find(|c| c.service_line == line && c.quarter.to_string() == q);
        let bi = cell("BI", "2026/27 Q3").expect("BI Q3");
        assert_eq!(bi.members, Some(3));
        assert!(bi.providers.is_empty(), "{:?}", bi.providers);
        assert_eq!(bi.other_members, Some(3));
        let alone = cell("BI", "2026/27 Q4").expect("BI Q4");
        assert_eq!((alone.members, alone.withheld.as_deref()), (None, Some("fewer than 3 members")));
        assert!(alone.providers.is_empty() && alone.other_members.is_none());
        assert_eq!(r.cells.iter().filter(|c| c.service_line == "BI").count(), 2, "the ended contract is not counted");
        let fin = cell("FIN", "2027/28 Q1").expect("FIN");
        assert_eq!(fin.members, Some(4));
        assert_eq!(fin.providers.len(), 1);
        assert_eq!((fin.providers[0].provider.as_str(), fin.providers[0].members), ("0DE", 4));
        assert_eq!(fin.other_members, Some(0));
        // Member 0's own dates: BI notice by 2026-04-01 (passed, −44 days), FIN no notice.
        assert_eq!(r.yours.len(), 2);
        assert_eq!(r.yours[0].service_line, "BI");
        assert_eq!(r.yours[0].notice_by, Some(d("2026-04-01")));
        assert_eq!(r.yours[0].days_to_notice, Some(-44));
        assert_eq!(r.yours[1].ends, d("2027-04-01"));
        // What it rests on: the shown cells' records only (3 + 4).
        assert_eq!(rests.records(), 7);
        // A line filter picks cells and changes none.
        let only = renewals(
            &data,
            &ctx(0, "2026-05-15"),
            &RenewalQuery { service_line: Some("FIN".into()), quarters: Some(5) },
            &mut Rests::default(),
        );
        assert_eq!(only.cells.len(), 1);
        assert_eq!(only.cells[0], *fin);
        assert_eq!(only.to.to_string(), "2027/28 Q1");
    }
}
