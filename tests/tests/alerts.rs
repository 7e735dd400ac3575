//! The alert rules on real nodes: an in-process federation of six members, each node running
//! its alert watcher over its own store. For each built-in rule, the event that should fire it
//! does, once, on the nodes it concerns and on no other; alerts are not raised again across a
//! daemon restart; a figure the disclosure rule withholds never appears in an alert; and (the
//! issue's "done when") a high price, a switch away from a shared provider and a motion nearing
//! its threshold reach the members concerned by webhook and by email within seconds.

use std::time::Duration;

use csx_node::alerts::settings::{AlertsConfig, Delivery, EmailTarget, ReviewRule, Security, Smtp, WebhookTarget};
use csx_node::alerts::{Alert, Rule};
use csx_node::query::renewals::add_months;
use csx_protocol::body::{
    Endorse, Intent, Motion, Party, PricingModel, Review, Revoke, Stance, Support, Switch, SwitchReason, ValueBand,
};
use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, Date, FinancialYear, Record};
use csx_tests::federation::Federation;
use csx_tests::sinks::{WebhookSink, smtp_sink};
use csx_tests::wait_until;

/// Longest wait for records to reach every node, or alerts to be delivered.
const SETTLE: Duration = Duration::from_secs(30);

fn today() -> Date {
    Date::from_unix_ms(csx_tests::now_ms()).expect("a date")
}

fn days_from_today(days: i64) -> Date {
    Date::from_days((today().days() as i64 + days) as u32).expect("a date")
}

/// The financial year today is in.
fn this_year() -> FinancialYear {
    let t = today();
    FinancialYear((if t.month() >= 4 { t.year() } else { t.year() - 1 }) as u16)
}

/// A fixed-price disclosure of `per_head` pounds a head for 100,000 people.
fn price(line: &str, provider: &str, per_head: u64) -> csx_protocol::body::Price {
    csx_protocol::body::Price {
        provider: provider.into(),
        service_line: line.into(),
        year: this_year(),
        annual_value_pence: per_head * 100 * 100_000,
        vat_included: false,
        pricing_model: PricingModel::Fixed,
        population_covered: 100_000,
        unit_name: None,
        unit_count: None,
        scope: None,
        contract_start: None,
        contract_months: None,
        notice_months: None,
        efficiency_bp: None,
        kpi_basis: None,
        buying_route: None,
        satisfaction_survey: None,
        contract_ref: None,
    }
}

fn switch(line: &str, from: &str, to: &str, why: &str) -> Body {
    Body::Switch(Switch {
        service_line: line.into(),
        from: Party::Provider(from.into()),
        to: Party::Provider(to.into()),
        effective: days_from_today(60),
        reasons: vec![SwitchReason::Cost, SwitchReason::DataQuality],
        reason_text: Some(why.into()),
        notice_months: None,
        exit_costs_pence: None,
        transition_months: None,
    })
}

fn review(rating: u8) -> Body {
    let r = Some(rating);
    Body::Review(Review {
        provider: "0DE".into(),
        service_line: "BI".into(),
        year: this_year(),
        quality: r,
        timeliness: r,
        responsiveness: r,
        data_accuracy: r,
        flexibility: r,
        value_for_money: r,
        kpi_delivery: r,
        would_recommend: None,
        still_customer: true,
        reviewer_role: "Head of Contracting".into(),
        comment: None,
    })
}

fn motion(title: &str, needed: u16, closes_in_days: i64) -> Body {
    Body::Motion(Motion {
        title: title.into(),
        text: "Ask every BI provider for open data models.".into(),
        term: None,
        service_line: Some("BI".into()),
        provider: None,
        support_needed: needed,
        closes_on: days_from_today(closes_in_days),
    })
}

fn support(m: &Record) -> Body {
    Body::Support(Support { motion: m.id(), stance: Stance::Support, comment: None })
}

/// Starts the federation's nodes (each dials every earlier one) and their alert watchers, and
/// lets each watcher take its first look (which learns what holds and reports nothing new).
async fn start(fed: &mut Federation, config: impl Fn(usize) -> AlertsConfig) {
    let n = fed.members.len();
    fed.connect_chain(n);
    fed.start_all().await;
    for i in 0..n {
        let home = fed.members[i].home.clone();
        let node = fed.members[i].node.as_mut().expect("running");
        let problems = node.start_alerts(&home, config(i), None).expect("alerts start");
        assert!(problems.is_empty(), "{problems:?}");
        evaluate(fed, i);
    }
}

/// Evaluates member `i`'s rules now (as its watcher does when records arrive): afterwards every
/// record its store holds has been seen by the rules. Returns its whole log.
fn evaluate(fed: &Federation, i: usize) -> Vec<Alert> {
    let api = fed.node(i).api();
    let alerts = api.alerts().expect("alerts are on");
    alerts.evaluate(api.service()).expect("the rules evaluate");
    alerts.list(0, 0)
}

/// Whether node `i`'s roster is the one its stored records make: a node stores a membership
/// record before it recomputes its roster, and the rules read the roster.
fn membership_applied(fed: &Federation, i: usize) -> bool {
    let service = fed.node(i).api().service();
    let membership = service.membership();
    csx_node::membership::Membership::load(membership.genesis().clone(), service.store().as_ref())
        .is_ok_and(|m| m.roster().same_as(&membership.roster()))
}

/// Waits until every running node holds `records`, then evaluates every node's rules: their
/// logs, by member.
async fn settle(fed: &Federation, records: &[Record]) -> Vec<Vec<Alert>> {
    wait_until("every node holds the new records and has applied them to its membership", SETTLE, || {
        fed.running().into_iter().all(|i| records.iter().all(|r| fed.holds(i, r)) && membership_applied(fed, i))
    })
    .await;
    fed.running().into_iter().map(|i| evaluate(fed, i)).collect()
}

fn of(log: &[Alert], rule: Rule) -> Vec<&Alert> {
    log.iter().filter(|a| a.raised.rule == rule).collect()
}

/// How many alerts of `rule` each member's log holds.
fn counts(logs: &[Vec<Alert>], rule: Rule) -> Vec<usize> {
    logs.iter().map(|l| of(l, rule).len()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_fires_once_on_the_members_it_concerns_and_not_again_after_a_restart() {
    let mut fed = Federation::new(6);
    // Member 0 is told of poor reviews below 3.5; everyone else keeps the defaults (2.5).
    start(&mut fed, |i| AlertsConfig {
        review: ReviewRule { below: if i == 0 { 3.5 } else { 2.5 }, ..ReviewRule::default() },
        ..AlertsConfig::default()
    })
    .await;

    // Prices. Members 1–4 pay £10 a head for BI from 0DE; member 0 pays £20, on a contract whose
    // notice falls due in about two months (30 months in of 36, four months' notice). With five
    // members the market's p75 is shown (£10): member 0 is above it, the others at it. Member 5
    // buys no BI. FIN: members 0 (£99) and 1 (£37) only, fewer than k = 3, so withheld.
    let mut records = Vec::new();
    for i in 1..=4 {
        records.extend(fed.publish(i, vec![Body::Price(price("BI", "0DE", 10))]).await);
    }
    let mut ours = price("BI", "0DE", 20);
    ours.contract_start = add_months(today(), -30);
    ours.contract_months = Some(36);
    ours.notice_months = Some(4);
    records.extend(fed.publish(0, vec![Body::Price(ours), Body::Price(price("FIN", "0DE", 99))]).await);
    records.extend(fed.publish(1, vec![Body::Price(price("FIN", "0DE", 37))]).await);
    let logs = settle(&fed, &records).await;
    assert_eq!(counts(&logs, Rule::PriceAboveMarket), [1, 0, 0, 0, 0, 0], "{logs:#?}");
    let above = of(&logs[0], Rule::PriceAboveMarket)[0];
    assert_eq!(above.raised.service_line.as_deref(), Some("BI"));
    assert!(above.raised.text.contains("Your £20.00/head"), "{}", above.raised.text);
    assert!(above.raised.text.contains("75th percentile (£10.00/head)"), "{}", above.raised.text);
    assert_eq!(counts(&logs, Rule::NoticeDeadline), [1, 0, 0, 0, 0, 0], "{logs:#?}");
    assert!(of(&logs[0], Rule::NoticeDeadline)[0].raised.key.ends_with(":90"), "the 90-day threshold");

    // A switch. Member 2 leaves 0DE for BI: members 0, 1, 3 and 4 buy BI from 0DE and are
    // told; member 2 (its own switch) and member 5 (no BI) are not. Member 1 leaves 0DE for
    // FIN: member 0 buys FIN from 0DE and is told, without the withheld FIN figures.
    let mut records = fed.publish(2, vec![switch("BI", "0DE", "0AR", "dashboards late every month")]).await;
    records.extend(fed.publish(1, vec![switch("FIN", "0DE", "0AR", "ledger errors")]).await);
    let logs = settle(&fed, &records).await;
    assert_eq!(counts(&logs, Rule::SwitchAway), [2, 1, 0, 1, 1, 0], "{logs:#?}");
    let bi = of(&logs[3], Rule::SwitchAway)[0];
    assert_eq!(bi.raised.records, vec![records[0].id()]);
    assert!(
        bi.raised.text.contains("Reasons: cost; data quality; “dashboards late every month”"),
        "{}",
        bi.raised.text
    );

    // Reviews. Members 1–3 rate 0DE 4 of 5 for BI (three reviewers: the score is shown), and
    // every node learns it; then member 4 rates it 1: (4 + 4 + 4 + 1) ÷ 4 = 3.25, a drop of
    // 0.75. Members 0–3 use 0DE and are told of the drop; member 0 also of a score below its
    // 3.5; member 4 wrote it, member 5 does not use 0DE.
    let mut records = Vec::new();
    for i in 1..=3 {
        records.extend(fed.publish(i, vec![review(4)]).await);
    }
    let logs = settle(&fed, &records).await;
    assert_eq!(counts(&logs, Rule::ScoreDrop), [0; 6]);
    let poor = fed.publish(4, vec![review(1)]).await;
    let logs = settle(&fed, &poor).await;
    assert_eq!(counts(&logs, Rule::ScoreDrop), [1, 1, 1, 1, 0, 0], "{logs:#?}");
    assert_eq!(counts(&logs, Rule::PoorReview), [1, 0, 0, 0, 0, 0], "{logs:#?}");
    assert!(of(&logs[0], Rule::ScoreDrop)[0].raised.title.contains("fell from 4.0 to 3.2"));

    // Motions. Member 5 proposes one needing 4 supporters, closing in 30 days; members 1–3
    // support it (75%): members 0, 4 and 5, who have not, are told. Then member 4 supports it
    // and it carries: everyone is told. A second motion closes in 5 days: everyone is told.
    let m = fed.publish(5, vec![motion("Open data models", 4, 30)]).await;
    settle(&fed, &m).await;
    let mut records = Vec::new();
    for i in 1..=3 {
        records.extend(fed.publish(i, vec![support(&m[0])]).await);
    }
    let logs = settle(&fed, &records).await;
    assert_eq!(counts(&logs, Rule::MotionNearThreshold), [1, 0, 0, 0, 1, 1], "{logs:#?}");
    assert_eq!(counts(&logs, Rule::MotionCarried), [0; 6]);
    assert_eq!(counts(&logs, Rule::MotionClosing), [0; 6], "30 days is not within 7");
    let mut records = fed.publish(4, vec![support(&m[0])]).await;
    records.extend(fed.publish(5, vec![motion("Common KPIs", 5, 5)]).await);
    let logs = settle(&fed, &records).await;
    assert_eq!(counts(&logs, Rule::MotionCarried), [1; 6], "{logs:#?}");
    assert_eq!(counts(&logs, Rule::MotionClosing), [1; 6], "{logs:#?}");
    assert_eq!(counts(&logs, Rule::MotionNearThreshold), [1, 0, 0, 0, 1, 1], "not again");

    // Membership. Members 0 and 1 endorse a new organisation (the threshold is 2): everyone is
    // told it joined. Then they revoke it: everyone is told (integrity).
    let newcomer = SecretKey::generate().expect("key").org_key();
    let endorse = Body::Endorse(Endorse {
        org_key: newcomer,
        ods_code: "QYG".into(),
        name: "NHS Newcomer ICB".into(),
        comment: None,
    });
    let mut records = fed.publish(0, vec![endorse.clone()]).await;
    records.extend(fed.publish(1, vec![endorse]).await);
    let logs = settle(&fed, &records).await;
    assert_eq!(counts(&logs, Rule::MemberJoined), [1; 6], "{logs:#?}");
    assert!(of(&logs[3], Rule::MemberJoined)[0].raised.title.starts_with("NHS Newcomer ICB (QYG) joined"));
    assert_eq!(counts(&logs, Rule::Integrity), [0; 6]);
    let revoke = Body::Revoke(Revoke { org_key: newcomer, reason: "joined in error".into(), nodes: vec![] });
    let mut records = fed.publish(0, vec![revoke.clone()]).await;
    records.extend(fed.publish(1, vec![revoke]).await);
    let logs = settle(&fed, &records).await;
    assert_eq!(counts(&logs, Rule::Integrity), [1; 6], "{logs:#?}");
    assert_eq!(counts(&logs, Rule::MemberJoined), [1; 6], "not again");

    // Joint tenders. Member 3 intends to re-procure BI from a date 400 days away; then member 1
    // intends to from a month later (the same window): member 3 is told, no one else (member
    // 0's contract renews well before the window).
    let from = days_from_today(400);
    let intent = |from: Date, population: u64| {
        Body::Intent(Intent {
            service_line: "BI".into(),
            from,
            value_band: ValueBand::From250kTo500k,
            population,
            note: None,
        })
    };
    let first = fed.publish(3, vec![intent(from, 400_000)]).await;
    let logs = settle(&fed, &first).await;
    assert_eq!(counts(&logs, Rule::TenderForming), [0; 6], "{logs:#?}");
    let second = fed.publish(1, vec![intent(Date::from_days(from.days() + 31).expect("date"), 300_000)]).await;
    let logs = settle(&fed, &second).await;
    assert_eq!(counts(&logs, Rule::TenderForming), [0, 0, 0, 1, 0, 0], "{logs:#?}");
    let t = of(&logs[3], Rule::TenderForming)[0];
    assert!(t.raised.title.starts_with(&format!("NHS Test ICB 1 ({}) intends", fed.members[1].ods)));
    assert!(t.raised.text.contains("now has 2 members with a population of 700,000"), "{}", t.raised.text);

    // No alert on any node carries a withheld figure: FIN's £37 and £99 a head (two members).
    for (i, log) in logs.iter().enumerate() {
        for a in log {
            let words = format!("{} {}", a.raised.title, a.raised.text);
            assert!(!words.contains("37.00") && !words.contains("99.00"), "member {i}: {words}");
            assert!(!(a.raised.rule == Rule::PriceAboveMarket && a.raised.service_line.as_deref() == Some("FIN")));
        }
    }
    // Every alert in a log has its own seq, in order.
    for log in &logs {
        assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
    }

    // A restart: member 0's daemon stops and starts again. Its first look raises nothing (the
    // notice deadline, the carried motion and the rest were raised before), the log is as it
    // was, and the next event numbers on from it.
    let before = logs[0].clone();
    fed.stop(0).await;
    fed.start(0).await;
    let home = fed.members[0].home.clone();
    let config = AlertsConfig { review: ReviewRule { below: 3.5, ..ReviewRule::default() }, ..AlertsConfig::default() };
    fed.members[0].node.as_mut().expect("running").start_alerts(&home, config, None).expect("alerts start");
    let after = evaluate(&fed, 0);
    assert_eq!(after, before, "nothing raised again after the restart");
    let more = fed.publish(3, vec![switch("BI", "0DE", "0CX", "no analyst cover")]).await;
    let logs = settle(&fed, &more).await;
    let new: Vec<&Alert> = logs[0].iter().filter(|a| a.seq > before.last().map_or(0, |a| a.seq)).collect();
    assert_eq!(new.len(), 1, "{new:#?}");
    assert_eq!(new[0].raised.rule, Rule::SwitchAway);
    assert_eq!(new[0].seq, before.last().map_or(0, |a| a.seq) + 1);
    fed.stop_all().await;
}

/// Alert delivery for one member: a webhook path of its own and an address of its own.
fn delivering(i: usize, hook: &WebhookSink, smtp_port: u16) -> AlertsConfig {
    AlertsConfig {
        delivery: Delivery { attempts: 4, backoff_ms: 50, queue: 100, timeout_secs: 5 },
        smtp: Smtp {
            host: "127.0.0.1".into(),
            port: smtp_port,
            security: Security::Plain,
            username: String::new(),
            password_file: String::new(),
            from: "csx <csx@example.nhs.uk>".into(),
        },
        webhooks: vec![WebhookTarget { url: hook.url(&format!("/m{i}")), ..Default::default() }],
        email: vec![EmailTarget { to: vec![format!("m{i}@example.nhs.uk")], ..Default::default() }],
        ..AlertsConfig::default()
    }
}

/// The "done when": on a seeded federation of six, a member who discloses a high price,
/// a member who switches away from a shared provider, and a motion nearing its threshold each
/// produce the right alerts on the other members' nodes, by webhook and by email, within
/// seconds — through each daemon's own watcher, as records arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_price_a_switch_and_a_motion_reach_the_other_members_by_webhook_and_email_within_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mail = smtp_sink(&dir.path().join("mail"));
    let hook = WebhookSink::start(0);
    let mut fed = Federation::new(6);
    start(&mut fed, |i| delivering(i, &hook, mail.port)).await;
    // Seeded: members 1–3 pay £10 a head for BI from 0DE, member 0 pays £20. Four members:
    // the market's spread is withheld, so nothing alerts yet.
    let mut seeded = Vec::new();
    for i in 1..=3 {
        seeded.extend(fed.publish(i, vec![Body::Price(price("BI", "0DE", 10))]).await);
    }
    seeded.extend(fed.publish(0, vec![Body::Price(price("BI", "0DE", 20))]).await);
    let logs = settle(&fed, &seeded).await;
    assert!(logs.iter().all(|l| l.is_empty()), "{logs:#?}");

    // Told by webhook and by email: each (member, rule) expected, within `within`.
    let within = Duration::from_secs(15);
    let delivered = |i: usize, rule: Rule| {
        let by_hook = hook.delivered(&format!("/m{i}")).iter().any(|h| h.json()["alert"]["rule"] == rule.as_str());
        let titles: Vec<String> = fed
            .node(i)
            .api()
            .alerts()
            .map(|a| a.list(0, 0))
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a.raised.rule == rule)
            .map(|a| format!("[csx] {}", a.raised.title))
            .collect();
        let to = format!("m{i}@example.nhs.uk");
        let by_mail = mail.messages().iter().any(|m| {
            m["rcpt_tos"].as_array().is_some_and(|r| r.iter().any(|x| x == to.as_str()))
                && titles.iter().any(|t| m["subject"] == t.as_str())
        });
        by_hook && by_mail
    };

    // 1. Member 4 discloses a high price (£20 a head): five members now, the median £10.
    // Member 0, paying £20 too, is now 100% above the median (past the 25% alert) and is told
    // on its own node; so is member 4. Those paying the median are not.
    fed.publish(4, vec![Body::Price(price("BI", "0DE", 20))]).await;
    wait_until("member 0 is told its price is above the market, by webhook and email", within, || {
        delivered(0, Rule::PriceAboveMarket)
    })
    .await;
    wait_until("member 4 too", within, || delivered(4, Rule::PriceAboveMarket)).await;

    // 2. Member 2 switches away from 0DE for BI: members 0, 1, 3 and 4 buy BI from 0DE.
    fed.publish(2, vec![switch("BI", "0DE", "0AR", "dashboards late every month")]).await;
    for i in [0, 1, 3, 4] {
        wait_until(&format!("member {i} is told of the switch by webhook and email"), within, || {
            delivered(i, Rule::SwitchAway)
        })
        .await;
    }

    // 3. Member 5 proposes a motion needing 4 supporters; members 1–3 support it: members 0, 4
    // and 5 have not, and are told it is near its threshold.
    let m = fed.publish(5, vec![motion("Open data models", 4, 30)]).await;
    // Supporting needs the motion at hand: wait until the supporters' nodes hold it.
    wait_until("the motion reaches every node", SETTLE, || (0..6).all(|i| fed.holds(i, &m[0]))).await;
    for i in 1..=3 {
        fed.publish(i, vec![support(&m[0])]).await;
    }
    for i in [0, 4, 5] {
        wait_until(&format!("member {i} is told the motion is near its threshold"), within, || {
            delivered(i, Rule::MotionNearThreshold)
        })
        .await;
    }

    // Nobody was told what does not concern them: every delivery matches its node's log, and
    // no member was sent an alert of a rule that should not fire for it.
    for i in 0..6 {
        let log = evaluate(&fed, i);
        let hooks = hook.delivered(&format!("/m{i}"));
        let rules: Vec<String> =
            hooks.iter().map(|h| h.json()["alert"]["rule"].as_str().unwrap_or("").to_string()).collect();
        let logged: Vec<String> = log.iter().map(|a| a.raised.rule.as_str().to_string()).collect();
        assert_eq!(rules, logged, "member {i}: delivered once each, as logged");
        let expect: &[Rule] = match i {
            0 => &[Rule::PriceAboveMarket, Rule::SwitchAway, Rule::MotionNearThreshold],
            1 | 3 => &[Rule::SwitchAway],
            2 => &[],
            4 => &[Rule::PriceAboveMarket, Rule::SwitchAway, Rule::MotionNearThreshold],
            _ => &[Rule::MotionNearThreshold],
        };
        let expect: Vec<String> = expect.iter().map(|r| r.as_str().to_string()).collect();
        assert_eq!(logged, expect, "member {i}");
    }
    fed.stop_all().await;
}
