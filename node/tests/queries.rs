//! Queries over a real store: what counts (the latest, unretracted disclosures of current
//! members) and what is ignored (unknown kinds, other organisations' retractions).

use csx_node::author::Author;
use csx_node::membership::Membership;
use csx_node::query::prices::{Basis, PriceQuery};
use csx_node::query::providers::ProviderQuery;
use csx_node::query::{Answer, Ctx, Question, answer};
use csx_node::store::{SledStore, Store, StoreConfig};
use csx_protocol::body::*;
use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, FinancialYear, Founder, Genesis, Record, RecordId, VerifyContext};

const NOW: u64 = 1_750_000_000_000;

struct Org {
    secret: SecretKey,
    node: Author,
    ods: &'static str,
}

fn orgs(genesis_for: impl Fn(&[Founder]) -> Genesis) -> (Genesis, Vec<Org>) {
    let specs = [(1u8, "QE1"), (2, "QF7"), (3, "QGH")];
    let founders: Vec<Founder> = specs
        .iter()
        .map(|(s, ods)| Founder {
            org_key: SecretKey::from_seed(&[*s; 32]).org_key(),
            ods_code: ods.to_string(),
            name: format!("NHS {ods} ICB"),
        })
        .collect();
    let genesis = genesis_for(&founders);
    let orgs = specs
        .iter()
        .map(|(s, ods)| Org {
            secret: SecretKey::from_seed(&[*s; 32]),
            node: Author::new(SecretKey::from_seed(&[*s + 100; 32]), genesis.id(), None),
            ods,
        })
        .collect();
    (genesis, orgs)
}

impl Org {
    /// Signs `bodies` after the node's certificate and profile (on the first call), and stores them.
    fn write(&mut self, store: &dyn Store, bodies: Vec<Body>, at: u64) -> Vec<Record> {
        let mut all = Vec::new();
        if self.node.head().is_none() {
            let cert = NodeCert::issue(&self.secret, self.node.key().node_key(), self.ods, u64::MAX / 2).expect("cert");
            all.push(Body::NodeCert(cert));
            all.push(Body::Profile(Profile {
                name: format!("NHS {} ICB", self.ods),
                org_kind: OrgKind::Icb,
                population: Some(100_000),
                population_year: Some(FinancialYear(2024)),
                region: None,
                predecessors: vec![],
                successors: vec![],
            }));
        }
        let n = all.len();
        all.extend(bodies);
        let records = self.node.sign(all, at).expect("signs");
        self.node.advance(&records);
        let ctx = VerifyContext::new(self.node.federation(), NOW);
        let verified = records
            .iter()
            .map(|r| Record::decode(r.bytes().to_vec()).and_then(|r| r.verify(&ctx)).expect("valid"))
            .collect();
        store.insert(verified).expect("insert");
        records[n..].to_vec()
    }
}

fn price(provider: &str, pounds_per_head: u64) -> Body {
    Body::Price(Price {
        provider: provider.into(),
        service_line: "BI".into(),
        year: FinancialYear(2024),
        annual_value_pence: pounds_per_head * 100 * 100_000,
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
    })
}

fn retract(target: RecordId) -> Body {
    Body::Retract(Retract::one(target, "entered in error"))
}

fn bi_cell(store: &dyn Store, genesis: &Genesis, me: &Org) -> (csx_node::query::prices::PriceCell, usize, usize) {
    let membership = Membership::load(genesis.clone(), store).expect("membership");
    let ctx = Ctx { me: me.secret.org_key(), k: 3, max_share_bp: 5000, now_ms: NOW };
    let q = Question::Prices(PriceQuery { service_line: Some("BI".into()), ..Default::default() });
    let answered = answer(store, &membership.roster(), &ctx, &q).expect("answers");
    let Answer::Prices { cells } = answered.answer else { panic!("a prices answer") };
    let cell = cells.into_iter().find(|c| c.provider.is_none() && c.basis == Basis::PerHead).expect("all providers");
    (cell, answered.provenance.records, answered.provenance.members)
}

#[test]
fn only_the_latest_unretracted_disclosures_count_and_foreign_retractions_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path(), StoreConfig::default()).expect("store");
    let (genesis, mut o) = orgs(|f| Genesis::new("Query test", 1_700_000_000_000, f.to_vec()));
    let a_first = o[0].write(&store, vec![price("0DE", 1)], NOW - 10_000)[0].id();
    o[1].write(&store, vec![price("0DE", 2)], NOW - 10_000);
    o[2].write(&store, vec![price("0DE", 3)], NOW - 10_000);
    let (cell, records, members) = bi_cell(&store, &genesis, &o[0]);
    // Three members: the cell shows the band its median (£2) lies in.
    assert_eq!(cell.stats.as_ref().and_then(|s| s.median_band), Some([2.0, 2.5]));
    assert_eq!((records, members), (3, 3));

    // A's later disclosure for the same provider, line and year supersedes its first.
    let a_current_price = o[0].write(&store, vec![price("0DE", 4)], NOW - 5_000)[0].id();
    let (cell, records, _) = bi_cell(&store, &genesis, &o[0]);
    let s = cell.stats.expect("shown");
    assert_eq!((s.median_band, cell.you.map(|y| y.value), records), (Some([2.5, 3.15]), Some(4.0), 3));

    // B discloses a second contract (0AR), then retracts it: it leaves every statistic.
    let b_extra = o[1].write(&store, vec![price("0AR", 50)], NOW - 4_000);
    let (cell, records, _) = bi_cell(&store, &genesis, &o[0]);
    assert_eq!((cell.records, records), (4, 4));
    o[1].write(&store, vec![retract(b_extra[0].id())], NOW - 3_000);
    let (cell, records, _) = bi_cell(&store, &genesis, &o[0]);
    assert_eq!((cell.records, records), (3, 3));
    assert_eq!(cell.stats.expect("shown").median_band, Some([2.5, 3.15]), "values £2, £3 and £4 again");

    // C "retracts" A's current disclosure: only the organisation that wrote a record can.
    o[2].write(&store, vec![retract(a_current_price)], NOW - 2_000);
    let (cell, _, _) = bi_cell(&store, &genesis, &o[0]);
    assert!(cell.stats.is_some(), "still shown");
    let you = cell.you.expect("A disclosed");
    assert_eq!(you.value, 4.0, "C cannot withdraw A's disclosure");

    // A retracts its own: its earlier disclosure is the latest unretracted one again.
    o[0].write(&store, vec![retract(a_current_price)], NOW - 1_000);
    let (cell, _, _) = bi_cell(&store, &genesis, &o[0]);
    assert_eq!(cell.you.expect("A's first disclosure").value, 1.0);
    // And that one too: two members remain, below k = 3, so the statistic is suppressed.
    o[0].write(&store, vec![retract(a_first)], NOW - 500);
    let (cell, _, members) = bi_cell(&store, &genesis, &o[0]);
    assert!(cell.stats.is_none() && cell.you.is_none());
    assert_eq!((cell.members, members), (2, 2));
}

#[test]
fn one_retraction_withdraws_every_record_it_names_of_its_own_organisation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path(), StoreConfig::default()).expect("store");
    let (genesis, mut o) = orgs(|f| Genesis::new("Query test", 1_700_000_000_000, f.to_vec()));
    // A imports a batch of three contracts; B and C disclose one each.
    let batch = o[0].write(&store, vec![price("0DE", 1), price("0AR", 7), price("0DF", 9)], NOW - 10_000);
    let b = o[1].write(&store, vec![price("0DE", 2)], NOW - 10_000);
    o[2].write(&store, vec![price("0DE", 3)], NOW - 10_000);
    let (cell, records, _) = bi_cell(&store, &genesis, &o[0]);
    assert_eq!((cell.records, records), (5, 5));

    // A undoes its batch with one retraction naming all three, and slips in B's record: A's
    // three leave every answer, B's stays (only its own organisation can withdraw it).
    let ids: Vec<RecordId> = batch.iter().map(|r| r.id()).collect();
    let undo = Retract { target: ids[0], reason: "imported twice".into(), also: vec![ids[1], ids[2], b[0].id()] };
    o[0].write(&store, vec![Body::Retract(undo)], NOW - 5_000);
    let (cell, records, members) = bi_cell(&store, &genesis, &o[0]);
    assert_eq!((cell.records, records, members), (2, 2, 2), "B's and C's disclosures remain");
    assert!(cell.you.is_none(), "A has no current disclosure");
    for id in &ids {
        assert!(
            store.scan(csx_node::store::Scan::RefersTo { id: *id, kind: Some(Kind::Retract) }, false).next().is_some()
        );
    }
}

#[test]
fn records_of_unknown_kinds_are_kept_but_ignored_by_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path(), StoreConfig::default()).expect("store");
    let (genesis, mut o) = orgs(|f| Genesis::new("Query test", 1_700_000_000_000, f.to_vec()));
    let review = |rating: u8| {
        Body::Review(Review {
            provider: "0DE".into(),
            service_line: "BI".into(),
            year: FinancialYear(2025),
            quality: Some(rating),
            timeliness: None,
            responsiveness: None,
            data_accuracy: None,
            flexibility: None,
            value_for_money: None,
            kpi_delivery: None,
            would_recommend: None,
            still_customer: true,
            reviewer_role: "Head of BI".into(),
            comment: None,
        })
    };
    for (i, org) in o.iter_mut().enumerate() {
        org.write(&store, vec![review(2 + i as u8)], NOW - 1_000);
    }
    // A newer version's kind (200) from member 0: held and synced, never counted.
    let unknown = o[0].write(&store, vec![Body::Unknown { code: 200, bytes: vec![1, 0, 1, 9] }], NOW - 500);
    assert!(store.get(&unknown[0].id()).expect("read").is_some(), "kept");
    let membership = Membership::load(genesis.clone(), &store).expect("membership");
    let ctx = Ctx { me: o[0].secret.org_key(), k: 3, max_share_bp: 5000, now_ms: NOW };
    let answered =
        answer(&store, &membership.roster(), &ctx, &Question::Providers(ProviderQuery::default())).expect("answers");
    let Answer::Providers { scorecards } = answered.answer else { panic!("a providers answer") };
    assert_eq!(scorecards.len(), 1);
    assert_eq!((scorecards[0].reviews, scorecards[0].overall), (3, Some(3.0)));
    assert_eq!(answered.provenance.records, 3, "the unknown record is not part of the answer");
}

fn review(year: u16, rating: u8, recommend: Option<u8>, still_customer: bool) -> Body {
    let r = Some(rating);
    Body::Review(Review {
        provider: "0DE".into(),
        service_line: "BI".into(),
        year: FinancialYear(year),
        quality: r,
        timeliness: r,
        responsiveness: r,
        data_accuracy: r,
        flexibility: r,
        value_for_money: r,
        kpi_delivery: r,
        would_recommend: recommend,
        still_customer,
        reviewer_role: "Head of BI".into(),
        comment: None,
    })
}

fn with_ref(body: Body, contract_ref: &str) -> Body {
    match body {
        Body::Price(mut p) => {
            p.contract_ref = Some(contract_ref.into());
            Body::Price(p)
        }
        other => other,
    }
}

#[test]
fn the_rows_of_one_import_keep_their_order_and_lots_add_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path(), StoreConfig::default()).expect("store");
    let (genesis, mut o) = orgs(|f| Genesis::new("Query test", 1_700_000_000_000, f.to_vec()));
    // One import by A, one write time: £9 a head, then the corrected £1 for the same contract,
    // then a second lot (£2) — the second row replaces the first whatever their ids, and the
    // lots add up: A pays £3 a head.
    let rows =
        o[0].write(&store, vec![price("0DE", 9), price("0DE", 1), with_ref(price("0DE", 2), "Lot 2")], NOW - 10_000);
    o[1].write(&store, vec![price("0DE", 2)], NOW - 10_000);
    o[2].write(&store, vec![price("0DE", 4)], NOW - 10_000);
    let (cell, records, _) = bi_cell(&store, &genesis, &o[0]);
    assert_eq!(cell.you.as_ref().map(|y| y.value), Some(3.0), "{:?}", cell.you);
    assert_eq!((cell.records, records), (4, 4), "A's two current contracts, B's and C's");
    assert!(rows[0].id() != rows[1].id());
    // A withdraws the correction: the first row is its current disclosure of that contract again.
    o[0].write(&store, vec![retract(rows[1].id())], NOW - 5_000);
    let (cell, _, _) = bi_cell(&store, &genesis, &o[0]);
    assert_eq!(cell.you.as_ref().map(|y| y.value), Some(11.0));
}

#[test]
fn an_older_years_review_written_later_is_not_the_members_current_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path(), StoreConfig::default()).expect("store");
    let (genesis, mut o) = orgs(|f| Genesis::new("Query test", 1_700_000_000_000, f.to_vec()));
    // A reviews this year (it has left them, would not recommend: 2), then fills in last year
    // (still a customer then, 10) in a later import.
    o[0].write(&store, vec![review(2025, 2, Some(2), false)], NOW - 10_000);
    o[0].write(&store, vec![review(2024, 4, Some(10), true)], NOW - 5_000);
    o[1].write(&store, vec![review(2025, 3, Some(7), true)], NOW - 10_000);
    o[2].write(&store, vec![review(2025, 3, Some(7), true)], NOW - 10_000);
    let membership = Membership::load(genesis.clone(), &store).expect("membership");
    let ctx = Ctx { me: o[0].secret.org_key(), k: 3, max_share_bp: 5000, now_ms: NOW };
    let answered =
        answer(&store, &membership.roster(), &ctx, &Question::Providers(ProviderQuery::default())).expect("answers");
    let Answer::Providers { scorecards } = answered.answer else { panic!("a providers answer") };
    let c = &scorecards[0];
    assert_eq!((c.reviews, c.reviewers, c.still_customers), (4, 3, 2), "A's current view is 2025/26's");
    let r = c.recommend.as_ref().expect("three answers");
    assert_eq!((r.promoters, r.passives, r.detractors), (0, 2, 1), "A's latest answer is 2, not 10");
}
