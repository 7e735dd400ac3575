//! Each rule against a seeded dataset: the event that should fire it does, once; the near miss
//! does not; and no alert carries a figure the query engine withholds.

use std::collections::HashSet;

use csx_protocol::body::{Motion, Party, Stance, Support, Switch, SwitchReason};
use csx_protocol::{Date, NodeKey, OrgKey, RecordId};

use super::*;
use crate::alerts::settings::AlertsConfig;
use crate::query::tests::{dataset, item, org, price, review};

fn d(s: &str) -> Date {
    s.parse().expect("date")
}

fn ctx_on(me: u8, day: &str) -> Ctx {
    Ctx { me: org(me), k: 3, max_share_bp: 5000, now_ms: d(day).days() as u64 * 86_400_000 + 3_600_000 }
}

/// Evaluates `data` as member `me` on `day` with `new` the records just stored.
fn run(data: &Dataset, me: u8, day: &str, new: &[RecordId], config: &AlertsConfig, memory: &mut Memory) -> Vec<Raised> {
    run_with(data, me, day, new, config, memory, &[], &[])
}

#[allow(clippy::too_many_arguments)]
fn run_with(
    data: &Dataset,
    me: u8,
    day: &str,
    new: &[RecordId],
    config: &AlertsConfig,
    memory: &mut Memory,
    members: &[MemberFact],
    forks: &[ForkFact],
) -> Vec<Raised> {
    let new: HashSet<RecordId> = new.iter().copied().collect();
    let input = Input { ctx: ctx_on(me, day), data, new: &new, members, forks };
    evaluate(&input, config, memory)
}

fn of(raised: &[Raised], rule: Rule) -> Vec<&Raised> {
    raised.iter().filter(|r| r.rule == rule).collect()
}

/// Members 1–4 pay £10 a head for BI in 2025/26 from 0DE; member 0 (us) pays `ours` a head.
fn bi_market(ours: f64) -> Dataset {
    let mut data = dataset(6);
    for i in 1..=4u8 {
        data.prices.push(price(i, "0DE", "BI", 2025, 10 * 100 * 100_000, 100_000, 10 + i as u64));
    }
    data.prices.push(price(0, "0DE", "BI", 2025, (ours * 100.0 * 100_000.0) as u64, 100_000, 20));
    data
}

#[test]
fn a_price_above_the_markets_p75_alerts_once_and_one_at_the_market_does_not() {
    let config = AlertsConfig::default();
    let data = bi_market(11.0);
    let mut memory = Memory::default();
    let newest = data.prices.last().map(|p| p.id).expect("price");
    let raised = run(&data, 0, "2025-06-01", &[newest], &config, &mut memory);
    let price = of(&raised, Rule::PriceAboveMarket);
    assert_eq!(price.len(), 1, "{raised:#?}");
    assert!(
        price[0].text.contains("£11.00/head") && price[0].text.contains("75th percentile (£10.00/head)"),
        "{}",
        price[0].text
    );
    assert_eq!(price[0].link.as_deref(), Some("/prices?service_line=BI&year=2025"));
    assert_eq!(price[0].records, vec![newest], "our own disclosure, no one else's");
    assert!(price[0].authors.is_empty(), "whose disclosure moved the market is not named");
    // The condition still holds: no second alert.
    assert!(of(&run(&data, 0, "2025-06-02", &[], &config, &mut memory), Rule::PriceAboveMarket).is_empty());
    // The near miss: paying the market's price.
    let mut fresh = Memory::default();
    assert!(of(&run(&bi_market(10.0), 0, "2025-06-01", &[], &config, &mut fresh), Rule::PriceAboveMarket).is_empty());
    // Below five members the cell shows only the band of its median, no p75 and no gap: nothing
    // to alert on without giving a withheld figure away.
    let mut four = bi_market(30.0);
    four.prices.retain(|p| p.org != org(4));
    assert!(of(&run(&four, 0, "2025-06-01", &[], &config, &mut Memory::default()), Rule::PriceAboveMarket).is_empty());
}

#[test]
fn a_gap_past_the_set_percentage_alerts_when_the_p75_test_is_off() {
    let config = AlertsConfig {
        price: crate::alerts::settings::PriceRule { enabled: true, above_p75: false, gap_pct: 25.0 },
        ..AlertsConfig::default()
    };
    let raised = run(&bi_market(12.0), 0, "2025-06-01", &[], &config, &mut Memory::default());
    assert_eq!(of(&raised, Rule::PriceAboveMarket).len(), 0, "20% above the median is inside 25%");
    let raised = run(&bi_market(13.0), 0, "2025-06-01", &[], &config, &mut Memory::default());
    let p = of(&raised, Rule::PriceAboveMarket);
    assert_eq!(p.len(), 1);
    assert!(p[0].text.contains("30% above the median"), "{}", p[0].text);
}

fn switch(i: u8, line: &str, from: &str, to: &str, at: u64) -> Item<Switch> {
    item(
        3,
        i,
        at,
        Switch {
            service_line: line.into(),
            from: Party::Provider(from.into()),
            to: Party::Provider(to.into()),
            effective: d("2025-10-01"),
            reasons: vec![SwitchReason::Cost, SwitchReason::DataQuality],
            reason_text: Some("dashboards late every month".into()),
            notice_months: None,
            exit_costs_pence: None,
            transition_months: None,
        },
    )
}

#[test]
fn a_member_leaving_a_provider_we_use_on_a_line_we_buy_alerts_once_with_its_reasons() {
    let config = AlertsConfig::default();
    let mut data = bi_market(10.0);
    let away = switch(1, "BI", "0DE", "0AR", 30);
    let other_line = switch(2, "FIN", "0DE", "0AR", 31);
    let other_provider = switch(3, "BI", "0AR", "0DE", 32);
    let ours = switch(0, "BI", "0DE", "0AR", 33);
    data.switches = vec![away.clone(), other_line.clone(), other_provider.clone(), ours.clone()];
    let new = [away.id, other_line.id, other_provider.id, ours.id];
    let mut memory = Memory::default();
    let raised = run(&data, 0, "2025-06-01", &new, &config, &mut memory);
    let s = of(&raised, Rule::SwitchAway);
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0].key, format!("switch_away:{}", away.id));
    assert!(s[0].title.starts_with("Member 1 (M1) is leaving"), "{}", s[0].title);
    assert!(s[0].text.contains("cost; data quality; “dashboards late every month”"), "{}", s[0].text);
    // Not new any more: nothing.
    assert!(of(&run(&data, 0, "2025-06-01", &[], &config, &mut memory), Rule::SwitchAway).is_empty());
}

#[test]
fn a_new_review_that_lowers_a_providers_shown_score_alerts_and_a_good_one_does_not() {
    let config = AlertsConfig {
        review: crate::alerts::settings::ReviewRule { enabled: true, below: 3.5, drop: 0.3 },
        ..AlertsConfig::default()
    };
    let mut data = bi_market(10.0);
    data.reviews = (1..=3).map(|i| review(i, "0DE", "BI", 2025, 4, None, 40 + i as u64)).collect();
    let mut memory = Memory::default();
    // The first look learns the score (4.0) and says nothing.
    assert!(run(&data, 0, "2025-06-01", &[], &config, &mut memory).iter().all(|r| r.rule != Rule::ScoreDrop));
    assert_eq!(memory.scores.get("BI/0DE"), Some(&4.0));
    // A good review: no alert.
    let mut good = data.clone();
    let g = review(4, "0DE", "BI", 2025, 4, None, 50);
    good.reviews.push(g.clone());
    let raised = run(&good, 0, "2025-06-01", &[g.id], &config, &mut memory.clone());
    assert!(of(&raised, Rule::ScoreDrop).is_empty() && of(&raised, Rule::PoorReview).is_empty(), "{raised:#?}");
    // A poor one: (4 + 4 + 4 + 1) ÷ 4 = 3.25, down 0.75 and below 3.5.
    let mut poor = data.clone();
    let p = review(4, "0DE", "BI", 2025, 1, None, 50);
    poor.reviews.push(p.clone());
    let raised = run(&poor, 0, "2025-06-01", &[p.id], &config, &mut memory);
    let drop = of(&raised, Rule::ScoreDrop);
    assert_eq!(drop.len(), 1, "{raised:#?}");
    assert!(drop[0].title.contains("fell from 4.0 to 3.2"), "{}", drop[0].title);
    assert_eq!(of(&raised, Rule::PoorReview).len(), 1);
    // The single review's own ratings appear nowhere.
    assert!(raised.iter().all(|r| !r.text.contains("1.0 of 5") && !r.text.contains("rated 1")), "{raised:#?}");
    // Once seen, the same review does not alert again.
    assert!(of(&run(&poor, 0, "2025-06-02", &[], &config, &mut memory), Rule::ScoreDrop).is_empty());
}

fn motion(closes: &str, needed: u16) -> Item<Motion> {
    item(
        5,
        5,
        60,
        Motion {
            title: "Open data models".into(),
            text: "Ask every provider for open data models.".into(),
            term: None,
            service_line: Some("BI".into()),
            provider: None,
            support_needed: needed,
            closes_on: d(closes),
        },
    )
}

fn support(i: u8, m: RecordId, at: u64) -> Item<Support> {
    item(6, i, at, Support { motion: m, stance: Stance::Support, comment: None })
}

#[test]
fn motions_near_their_threshold_closing_soon_and_carried_alert_those_who_have_not_supported() {
    let config = AlertsConfig::default();
    let mut data = dataset(6);
    let m = motion("2025-06-30", 4);
    data.motions = vec![m.clone()];
    data.supports = vec![support(1, m.id, 61), support(2, m.id, 62)];
    // 2 of 4 (50%), closing in 29 days: nothing.
    assert!(run(&data, 0, "2025-06-01", &[], &config, &mut Memory::default()).is_empty());
    // 3 of 4 (75%): near its threshold, for member 0 but not for member 1, who supports it.
    data.supports.push(support(3, m.id, 63));
    let near = run(&data, 0, "2025-06-01", &[], &config, &mut Memory::default());
    assert_eq!(of(&near, Rule::MotionNearThreshold).len(), 1, "{near:#?}");
    assert!(of(&near, Rule::MotionClosing).is_empty());
    assert!(
        of(&run(&data, 1, "2025-06-01", &[], &config, &mut Memory::default()), Rule::MotionNearThreshold).is_empty()
    );
    // Seven days before it closes.
    let closing = run(&data, 0, "2025-06-23", &[], &config, &mut Memory::default());
    assert_eq!(of(&closing, Rule::MotionClosing).len(), 1);
    assert!(of(&run(&data, 0, "2025-06-22", &[], &config, &mut Memory::default()), Rule::MotionClosing).is_empty());
    // Carried: everyone hears, once (the key is the motion's).
    data.supports.push(support(4, m.id, 64));
    let carried = run(&data, 1, "2025-06-02", &[], &config, &mut Memory::default());
    let c = of(&carried, Rule::MotionCarried);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].key, format!("motion_carried:{}", m.id));
    assert!(c[0].text.contains("you among them"));
}

#[test]
fn a_notice_deadline_alerts_at_90_30_and_7_days_with_one_key_per_threshold() {
    let config = AlertsConfig::default();
    let mut data = dataset(3);
    let mut p = price(0, "0DE", "BI", 2025, 1_000_000, 100_000, 10);
    p.body.contract_start = Some(d("2023-10-01"));
    p.body.contract_months = Some(36);
    p.body.notice_months = Some(6);
    data.prices.push(p);
    let keys = |day: &str| -> Vec<String> {
        of(&run(&data, 0, day, &[], &config, &mut Memory::default()), Rule::NoticeDeadline)
            .iter()
            .map(|r| r.key.clone())
            .collect()
    };
    // Notice by 2026-04-01 (the contract ends 2026-10-01, six months' notice).
    assert!(keys("2025-12-31").is_empty(), "91 days: not yet");
    let at90 = keys("2026-01-01");
    assert_eq!(at90, ["notice:0DE:BI::2026-04-01:90"]);
    assert_eq!(keys("2026-01-02"), at90, "the same event the next day: the same key");
    assert_eq!(keys("2026-03-02"), ["notice:0DE:BI::2026-04-01:30"]);
    assert_eq!(keys("2026-03-25"), ["notice:0DE:BI::2026-04-01:7"]);
    assert!(keys("2026-04-02").is_empty(), "passed");
    let at = run(&data, 0, "2026-01-01", &[], &config, &mut Memory::default());
    assert_eq!(
        of(&at, Rule::NoticeDeadline)[0].title,
        "Notice to leave NHS Arden and Greater East Midlands CSU (AGEM) for Business intelligence must be given by 2026-04-01"
    );
    // Another member's contract is not ours to be told about.
    assert!(of(&run(&data, 1, "2026-01-01", &[], &config, &mut Memory::default()), Rule::NoticeDeadline).is_empty());
}

fn member(i: u8, current: bool, revoked: bool) -> MemberFact {
    MemberFact { org: org(i), ods: format!("M{i}"), name: format!("Member {i}"), current, revoked }
}

#[test]
fn a_member_joining_and_a_revocation_or_fork_alert_once() {
    let config = AlertsConfig::default();
    let data = dataset(3);
    let mut memory = Memory { members: [org(0), org(1)].into_iter().collect(), ..Memory::default() };
    let members = [member(0, true, false), member(1, true, false), member(2, true, false), member(3, false, true)];
    let forks = [ForkFact { author: NodeKey([9; 32]), seq: 7, org: Some("M1".into()) }];
    let raised = run_with(&data, 0, "2025-06-01", &[], &config, &mut memory, &members, &forks);
    let joined = of(&raised, Rule::MemberJoined);
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].key, format!("member:{}", org(2)));
    let integrity = of(&raised, Rule::Integrity);
    assert_eq!(integrity.len(), 2, "{integrity:#?}");
    assert!(integrity.iter().any(|r| r.key == format!("revoked:{}", OrgKey([4; 32]))));
    assert!(integrity.iter().any(|r| r.key.starts_with("fork:") && r.title.starts_with("M1 signed")));
    // The next look: the member is known now.
    let again = run_with(&data, 0, "2025-06-02", &[], &config, &mut memory, &members, &forks);
    assert!(of(&again, Rule::MemberJoined).is_empty());
}

/// The figure a withheld cell holds never reaches an alert: member 1 alone discloses FIN at
/// £37.00 a head, and member 0 pays £99.00; every rule runs, and no alert says either figure
/// of the withheld cell.
#[test]
fn a_withheld_statistic_never_appears_in_an_alert() {
    let config = AlertsConfig::default();
    let mut data = bi_market(11.0);
    let theirs = price(1, "0DE", "FIN", 2025, 37 * 100 * 100_000, 100_000, 70);
    let ours = price(0, "0DE", "FIN", 2025, 99 * 100 * 100_000, 100_000, 71);
    data.prices.extend([theirs.clone(), ours.clone()]);
    let mut s = switch(1, "FIN", "0DE", "0AR", 72);
    s.body.reason_text = None;
    data.switches.push(s.clone());
    let raised = run(&data, 0, "2025-06-01", &[theirs.id, ours.id, s.id], &config, &mut Memory::default());
    assert!(!raised.is_empty(), "the BI price and the FIN switch alert");
    for r in &raised {
        let all = format!("{} {}", r.title, r.text);
        assert!(!all.contains("37.00") && !all.contains("£37"), "withheld figure in {all}");
        assert!(!(r.rule == Rule::PriceAboveMarket && r.service_line.as_deref() == Some("FIN")), "{r:#?}");
    }
}

fn intent(i: u8, line: &str, from: &str, population: u64, at: u64) -> Item<csx_protocol::body::Intent> {
    item(
        9,
        i,
        at,
        csx_protocol::body::Intent {
            service_line: line.into(),
            from: d(from),
            value_band: csx_protocol::body::ValueBand::From100kTo250k,
            population,
            note: None,
        },
    )
}

/// Member 0 intends to re-procure BI from 2026-10-01 (2026/27 Q3). A new intent of member 1 on
/// BI from 2027-01-15 (Q4, the same window) tells member 0, once; member 2, who buys BI but
/// neither intends, joined nor renews in the window, is not told; an intent on another line
/// tells no one; and member 3, whose BI contract renews in 2027-01, is told.
#[test]
fn another_members_intent_in_a_window_we_take_part_in_alerts_once() {
    let config = AlertsConfig::default();
    let mut data = dataset(6);
    let ours = intent(0, "BI", "2026-10-01", 300_000, 10);
    let theirs = intent(1, "BI", "2027-01-15", 200_000, 11);
    let other_line = intent(4, "CHC", "2026-10-01", 100_000, 12);
    let later = intent(5, "BI", "2027-07-01", 100_000, 13);
    data.intents = vec![ours.clone(), theirs.clone(), other_line.clone(), later.clone()];
    // Member 2 buys BI (no contract dates); member 3's 24-month contract from 2025-01-01
    // renews in 2027-01, inside the window (2026/27 Q3–Q4).
    data.prices.push(price(2, "0DE", "BI", 2025, 1_000_000, 100_000, 5));
    let mut p3 = price(3, "0DE", "BI", 2025, 2_000_000, 100_000, 6);
    p3.body.contract_start = Some(d("2025-01-01"));
    p3.body.contract_months = Some(24);
    data.prices.push(p3);
    let new = [ours.id, theirs.id, other_line.id, later.id];
    let raised = run(&data, 0, "2026-06-01", &new, &config, &mut Memory::default());
    let t = of(&raised, Rule::TenderForming);
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(t[0].key, format!("tender:{}", theirs.id));
    assert_eq!(t[0].records, vec![theirs.id]);
    assert_eq!(t[0].title, "Member 1 (M1) intends to re-procure Business intelligence from 2027-01-15");
    // Two members, 300,000 + 200,000 people; the value rests on two members, fewer than k = 3:
    // not given.
    assert!(t[0].text.contains("now has 2 members with a population of 500,000"), "{}", t[0].text);
    assert!(!t[0].text.contains('£'), "{}", t[0].text);
    assert_eq!(t[0].link.as_deref(), Some("/tenders?service_line=BI"));
    // Not new any more: nothing.
    assert!(of(&run(&data, 0, "2026-06-01", &[], &config, &mut Memory::default()), Rule::TenderForming).is_empty());
    // Member 2 is not in the window; member 3 renews in it and hears of both intents.
    assert!(of(&run(&data, 2, "2026-06-01", &new, &config, &mut Memory::default()), Rule::TenderForming).is_empty());
    let renewing = run(&data, 3, "2026-06-01", &new, &config, &mut Memory::default());
    let keys: BTreeSet<String> = of(&renewing, Rule::TenderForming).iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, [format!("tender:{}", ours.id), format!("tender:{}", theirs.id)].into_iter().collect());
    assert!(
        of(&renewing, Rule::TenderForming)[0].text.contains("your own contract comes up for renewal in 2026/27 Q4")
    );
    // A member who joined member 0's intent hears of member 1's. It disclosed £10,000 a year
    // for BI: three members valued now (k = 3), two £100k–£250k bands and its £10,000.
    data.prices.push(price(4, "0DE", "BI", 2025, 1_000_000, 100_000, 7));
    data.joins.push(item(10, 4, 20, csx_protocol::body::TenderJoin { intent: ours.id, comment: None }));
    let joined = run(&data, 4, "2026-06-01", &[theirs.id], &config, &mut Memory::default());
    let j = of(&joined, Rule::TenderForming);
    assert_eq!(j.len(), 1);
    // Population 300,000 + 200,000 + member 4's registered 500,000.
    assert!(j[0].text.contains("3 members with a population of 1,000,000"), "{}", j[0].text);
    assert!(j[0].text.contains("buying £210,000 to £510,000 a year"), "{}", j[0].text);
}

#[test]
fn pounds_have_thousands_separators() {
    assert_eq!(pounds(0), "£0");
    assert_eq!(pounds(99_999), "£999");
    assert_eq!(pounds(100_000), "£1,000");
    assert_eq!(pounds(12_345_678_900), "£123,456,789");
}
