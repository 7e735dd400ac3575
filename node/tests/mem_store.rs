//! The in-memory store behaves as the sled store: the same records offered in the same batches
//! give the same outcomes, heads, digests, scans, latest records, waiting records, forks,
//! quarantine and truncation.

mod common;
use common::{NOW, author, cert, verified};
use csx_node::store::{MemStore, Outcome, Refusal, Scan, SledStore, Store, StoreConfig};
use csx_protocol::body::*;
use csx_protocol::{Body, FinancialYear, Kind, Record, RecordId};

fn review(n: u8) -> Body {
    Body::Review(Review {
        provider: if n.is_multiple_of(3) { "0DE".into() } else { "1AB".into() },
        service_line: if n.is_multiple_of(2) { "BI".into() } else { "CONTRACT".into() },
        year: FinancialYear(2024),
        quality: Some(1 + n % 5),
        timeliness: None,
        responsiveness: None,
        data_accuracy: None,
        flexibility: None,
        value_for_money: None,
        kpi_delivery: None,
        would_recommend: Some(n % 11),
        still_customer: true,
        reviewer_role: "Head of BI".into(),
        comment: Some(format!("review {n}")),
    })
}

fn price(n: u8) -> Body {
    Body::Price(Price {
        provider: "0DE".into(),
        service_line: "BI".into(),
        year: FinancialYear(2024),
        annual_value_pence: (1_000 + n as u64) * 100,
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
        contract_ref: if n.is_multiple_of(2) { Some("C-1".into()) } else { None },
    })
}

/// A feed of a certificate then `n` reviews and prices, written at increasing times.
fn feed(seed: u8, n: u8, salt: u8) -> Vec<Record> {
    let mut a2 = author(seed);
    let out0 = a2.sign(vec![cert(&a2)], NOW).expect("signs");
    a2.advance(&out0);
    let mut out = out0;
    for i in 0..n {
        let body = if i.is_multiple_of(2) { review(i.wrapping_add(salt)) } else { price(i.wrapping_add(salt)) };
        // Two records per write time, so that the seq breaks ties.
        let r = a2.sign(vec![body], NOW + (i / 2) as u64 * 1_000).expect("signs");
        a2.advance(&r);
        out.extend(r);
    }
    out
}

/// A small deterministic generator (xorshift), so the test needs no dependency.
struct Gen(u64);
impl Gen {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn ids(it: csx_node::store::Records<'_>) -> Vec<RecordId> {
    it.map(|r| r.expect("reads").id()).collect()
}

/// Everything observable of a store, for comparison.
fn observe(store: &dyn Store, authors: &[csx_protocol::NodeKey], skip: &[RecordId]) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("heads {:?}", store.heads().expect("heads")));
    line(format!("stats {:?}", store.stats().expect("stats")));
    line(format!("root {:?}", store.heads_index().root()));
    line(format!("forks {:?}", store.forks().expect("forks").iter().map(|p| (p.author, p.seq)).collect::<Vec<_>>()));
    for newest in [false, true] {
        line(format!("kind {:?}", ids(store.scan(Scan::Kind(Kind::Review), newest))));
        line(format!("kind {:?}", ids(store.scan(Scan::Kind(Kind::Price), newest))));
        line(format!("line {:?}", ids(store.scan(Scan::ServiceLine { code: "BI", kind: None }, newest))));
        line(format!(
            "line {:?}",
            ids(store.scan(Scan::ServiceLine { code: "CONTRACT", kind: Some(Kind::Review) }, newest))
        ));
        line(format!("provider {:?}", ids(store.scan(Scan::Provider { code: "1AB", kind: None }, newest))));
    }
    for kind in [Kind::Review, Kind::Price] {
        line(format!(
            "latest {:?}",
            store.latest(kind, &|_| false).expect("latest").iter().map(|r| r.id()).collect::<Vec<_>>()
        ));
        line(format!(
            "latest skipping {:?}",
            store.latest(kind, &|id| skip.contains(id)).expect("latest").iter().map(|r| r.id()).collect::<Vec<_>>()
        ));
    }
    line(format!("count {:?}", store.count_kind(Kind::Review.code() as u16).expect("count")));
    for a in authors {
        line(format!("author {:?}", ids(store.scan(Scan::Author(*a), true))));
        line(format!("pending {:?}", store.pending_seqs(a).expect("pending")));
        line(format!("fork {:?}", store.fork_proof(a).expect("proof").map(|p| p.seq)));
        line(format!("bytes {:?}", store.feed_bytes(a, 2, 3, 100_000).expect("bytes").len()));
        line(format!("quarantined {:?}", store.quarantined(a).expect("q").len()));
    }
    line(format!("authors in quarantine {:?}", store.quarantined_authors().expect("q")));
    out
}

#[test]
fn the_memory_store_matches_the_sled_store_record_for_record() {
    // What the runs went through, so the comparison is known to cover it.
    let (mut forks, mut held, mut released, mut duplicates) = (0, 0, 0, 0);
    for seed in 1..=6u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StoreConfig { max_pending_per_author: 6, ..StoreConfig::default() };
        let sled = SledStore::open(dir.path(), config.clone()).expect("opens");
        let mem = MemStore::new(config.max_pending_per_author);
        let (a, b, c) = (author(1), author(2), author(3));
        let mut records = feed(1, 12, 0);
        records.extend(feed(2, 9, 1));
        // Author c signs two feeds that part at seq 4: a fork, found in whatever order they come.
        let c1 = feed(3, 6, 2);
        let c2 = feed(3, 6, 3);
        records.extend(c1.iter().cloned());
        records.extend(c2[4..].iter().cloned());
        let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Shuffle, then offer in batches of random size (some records twice).
        for i in (1..records.len()).rev() {
            records.swap(i, g.next(i + 1));
        }
        let dup = records[g.next(records.len())].clone();
        records.push(dup);
        let mut at = 0;
        while at < records.len() {
            let n = 1 + g.next(5);
            let batch = &records[at..(at + n).min(records.len())];
            let (rs, rm) = (sled.insert(verified(batch)).expect("sled"), mem.insert(verified(batch)).expect("mem"));
            assert_eq!(rs.outcomes, rm.outcomes, "seed {seed}");
            assert_eq!(rs.released, rm.released, "seed {seed}");
            assert_eq!(rs.forks, rm.forks, "seed {seed}");
            forks += rs.forks.len();
            held += rs.outcomes.iter().filter(|o| **o == Outcome::Held).count();
            duplicates += rs.outcomes.iter().filter(|o| **o == Outcome::Duplicate).count();
            released += rs.released.len();
            at += n;
        }
        let authors: Vec<_> = [&a, &b, &c].iter().map(|x| x.key().node_key()).collect();
        let skip: Vec<RecordId> =
            sled.latest(Kind::Review, &|_| false).expect("latest").iter().map(|r| r.id()).collect();
        assert_eq!(observe(&sled, &authors, &skip), observe(&mem, &authors, &skip), "seed {seed}");
        let prefix = &records[0].id().to_hex()[..3];
        assert_eq!(sled.ids_with_prefix(prefix, 10).expect("p"), mem.ids_with_prefix(prefix, 10).expect("p"));
        for id in records.iter().map(|r| r.id()) {
            assert_eq!(sled.locate(&id).expect("l"), mem.locate(&id).expect("l"));
            assert_eq!(sled.get(&id).expect("g"), mem.get(&id).expect("g"));
        }

        // Quarantine, truncation, fork proofs given directly.
        let d = author(4);
        let dfeed = feed(4, 3, 4);
        assert_eq!(sled.quarantine(verified(&dfeed)).expect("q"), mem.quarantine(verified(&dfeed)).expect("q"));
        let keep = 1 + g.next(8) as u64;
        assert_eq!(sled.truncate_feed(&authors[0], keep).expect("t"), mem.truncate_feed(&authors[0], keep).expect("t"));
        assert_eq!(sled.truncate_feed(&authors[1], 0).expect("t"), mem.truncate_feed(&authors[1], 0).expect("t"));
        let dk = d.key().node_key();
        assert_eq!(sled.take_quarantined(&dk).expect("t"), mem.take_quarantined(&dk).expect("t"));
        let e = author(5);
        let (e1, e2) = (feed(5, 1, 5), feed(5, 1, 6));
        let pair = |x: &[Record], y: &[Record]| (verified(&x[1..2]).remove(0), verified(&y[1..2]).remove(0));
        let (f, s) = pair(&e1, &e2);
        let (f2, s2) = pair(&e1, &e2);
        assert_eq!(sled.add_fork_proof(f, s).expect("proof"), mem.add_fork_proof(f2, s2).expect("proof"));
        let mut all = authors.clone();
        all.extend([dk, e.key().node_key()]);
        assert_eq!(observe(&sled, &all, &skip), observe(&mem, &all, &skip), "seed {seed} after truncation");
    }
    assert!(forks >= 6 && held > 0 && released > 0 && duplicates > 0, "{forks} {held} {released} {duplicates}");
}

#[test]
fn the_memory_store_refuses_as_the_sled_store_does() {
    let store = MemStore::new(2);
    let a = author(7);
    let records = feed(7, 5, 0);
    // Beyond the gap: two wait, the third is refused.
    let r = store.insert(verified(&records[2..5])).expect("insert");
    assert_eq!(r.outcomes, vec![Outcome::Held, Outcome::Held, Outcome::Refused { reason: Refusal::PendingFull }]);
    let r = store.insert(verified(&records[..2])).expect("insert");
    assert_eq!(r.outcomes, vec![Outcome::Appended, Outcome::Appended]);
    assert_eq!(r.released.len(), 2);
    assert_eq!(store.head(&a.key().node_key()).expect("head").map(|h| h.seq), Some(4));
    // Another record at seq 5 naming the wrong predecessor.
    let other = feed(7, 5, 9);
    let r = store.insert(verified(&other[4..5])).expect("insert");
    assert_eq!(r.outcomes, vec![Outcome::Refused { reason: Refusal::WrongPrev }]);
    // Another record at seq 3: a fork, and nothing more is accepted from the author.
    let r = store.insert(verified(&other[2..3])).expect("insert");
    assert_eq!(r.outcomes, vec![Outcome::Fork]);
    assert!(store.heads_index().is_forked(&a.key().node_key()));
    let r = store.insert(verified(&records[4..5])).expect("insert");
    assert_eq!(r.outcomes, vec![Outcome::Refused { reason: Refusal::ForkedAuthor }]);
    store.meta_put("x", b"1").expect("meta");
    assert_eq!(store.meta_get("x").expect("meta"), Some(b"1".to_vec()));
    assert_eq!(store.meta_names().expect("meta"), vec!["x".to_string()]);
}
