use super::messages::{R_HEADS, R_RECORDS};
use super::*;
use crate::feed::Head;
use crate::ids::{FederationId, NodeKey, RecordId};
use crate::record::Header;
use std::collections::{BTreeMap, VecDeque};

fn key(b0: u8, b1: u8) -> NodeKey {
    let mut k = [b1; 32];
    k[0] = b0;
    NodeKey(k)
}
fn head(seq: u64) -> Head {
    Head { seq, id: RecordId([seq as u8; 32]) }
}

#[test]
fn equal_heads_have_equal_roots_and_order_does_not_matter() {
    let mut a = HeadsIndex::from_heads([(key(1, 1), head(3)), (key(200, 2), head(5))]);
    let mut b = HeadsIndex::from_heads([(key(200, 2), head(5)), (key(1, 1), head(3))]);
    assert_eq!(a.root(), b.root());
    b.set(key(1, 1), head(4));
    assert_ne!(a.root(), b.root());
    let differing: Vec<usize> = (0..BUCKETS).filter(|&i| a.buckets()[i] != b.buckets()[i]).collect();
    assert_eq!(differing, vec![1]);
}

#[test]
fn messages_round_trip_and_reject_trailing_bytes() {
    let reqs = [
        SyncRequest::Summary { federation: FederationId([1; 32]), root: [2; 32] },
        SyncRequest::Heads { buckets: vec![0, 7, 255] },
        SyncRequest::Fetch { author: key(3, 3), from_seq: 10, to_seq: 20, max_bytes: 1 << 20 },
        SyncRequest::Proof { author: key(5, 5) },
        SyncRequest::Membership { known: [6; 32], after: RecordId([7; 32]) },
    ];
    for r in reqs {
        let mut bytes = r.encode();
        assert_eq!(SyncRequest::decode(&bytes), Ok(r.clone()));
        bytes.push(0);
        assert!(SyncRequest::decode(&bytes).is_err());
    }
    let resps = [
        SyncResponse::InSync,
        SyncResponse::Differs { buckets: vec![[9; BUCKET_DIGEST_LEN]; 256], forked: vec![key(1, 2)] },
        SyncResponse::Proof { first: vec![1, 2], second: vec![3] },
        SyncResponse::Heads { heads: vec![(key(4, 4), head(9))] },
        SyncResponse::Records { records: vec![vec![1, 2, 3], vec![]] },
        SyncResponse::Refused { code: RefusalCode::NotAMember, message: "no".into() },
    ];
    for r in resps {
        let bytes = r.encode();
        assert_eq!(SyncResponse::decode(&bytes), Ok(r));
    }
    assert_eq!(SyncRequest::Summary { federation: FederationId([0; 32]), root: [0; 32] }.encode().len(), 65);
    assert_eq!(SyncResponse::InSync.encode().len(), 1);
}

/// A feed store for tests: author -> records in seq order, and fork proofs.
struct Side {
    heads: HeadsIndex,
    feeds: BTreeMap<NodeKey, Vec<Vec<u8>>>,
    proofs: BTreeMap<NodeKey, (Vec<u8>, Vec<u8>)>,
}

const FED: FederationId = FederationId([5; 32]);

fn record(key: &crate::keys::SecretKey, seq: u64, prev: Option<RecordId>) -> Vec<u8> {
    let header = Header { version: 1, kind: 99, federation: FED, author: key.node_key(), seq, prev, created_at: 1 };
    crate::record::Record::sign_unchecked(key, &header, &[1, 0, 1, seq as u8])
}

impl Side {
    fn new() -> Side {
        Side { heads: HeadsIndex::default(), feeds: BTreeMap::new(), proofs: BTreeMap::new() }
    }
    fn add(&mut self, bytes: Vec<u8>) {
        let h = Header::parse(&bytes).expect("valid header");
        let feed = self.feeds.entry(h.author).or_default();
        if let Some(held) = feed.get(h.seq as usize - 1) {
            if *held != bytes {
                self.proofs.insert(h.author, (held.clone(), bytes));
                self.heads.mark_forked(h.author);
            }
            return;
        }
        assert_eq!(feed.len() as u64 + 1, h.seq, "appended in order");
        let id = crate::record::record_id(&bytes);
        feed.push(bytes);
        self.heads.set(h.author, Head { seq: h.seq, id });
    }
    fn write(&mut self, seed: u8, n: u64) {
        let key = crate::keys::SecretKey::from_seed(&[seed; 32]);
        for _ in 0..n {
            let held = self.heads.get(&key.node_key());
            let seq = held.map_or(1, |h| h.seq + 1);
            self.add(record(&key, seq, held.map(|h| h.id)));
        }
    }
    fn respond(&mut self, req: &SyncRequest) -> SyncResponse {
        let source = Feeds(self.feeds.clone(), self.proofs.clone());
        respond(&FED, req, &mut self.heads, 1 << 20, &source)
    }
}

struct Feeds(BTreeMap<NodeKey, Vec<Vec<u8>>>, BTreeMap<NodeKey, (Vec<u8>, Vec<u8>)>);

impl SyncSource for Feeds {
    fn feed(&self, a: &NodeKey, from: u64, to: u64, max: usize) -> Vec<Vec<u8>> {
        let mut out = vec![];
        let mut size = 0;
        for r in &self.0[a][(from - 1) as usize..to as usize] {
            if !out.is_empty() && size + r.len() > max {
                break;
            }
            size += r.len();
            out.push(r.clone());
        }
        out
    }
    fn fork_proof(&self, a: &NodeKey) -> Option<(Vec<u8>, Vec<u8>)> {
        self.1.get(a).cloned()
    }
    fn membership(&self) -> Vec<(RecordId, Vec<u8>)> {
        vec![]
    }
}

#[test]
fn membership_is_paged_by_id_and_in_sync_when_the_digests_agree() {
    let records: Vec<(RecordId, Vec<u8>)> = (1..=5u8).map(|i| (RecordId([i * 10; 32]), vec![i; 100])).collect();
    let ids: Vec<RecordId> = records.iter().map(|(id, _)| *id).collect();
    let all = membership_digest(&ids);
    assert_eq!(respond_membership(&all, &RecordId([0; 32]), &records, 1 << 20), SyncResponse::InSync);
    let page = |after: u8, max| match respond_membership(&[0; 32], &RecordId([after; 32]), &records, max) {
        SyncResponse::Records { records } => records.iter().map(|r| r[0]).collect::<Vec<u8>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(page(0, 1 << 20), vec![1, 2, 3, 4, 5]);
    assert_eq!(page(20, 250), vec![3, 4], "after id 20, about 250 bytes");
    assert_eq!(page(45, 10), vec![5], "at least one record");
    assert!(page(50, 1 << 20).is_empty(), "an empty page ends it");
    assert_ne!(membership_digest(&ids[..4]), all);
}

/// Runs one round of `a` pulling from `b`; returns the requests sent.
fn round(a: &mut Side, b: &mut Side, limits: SyncLimits) -> (SyncEnd, usize) {
    let (mut s, first) = SyncSession::start(FED, limits, &mut a.heads);
    let mut queue = VecDeque::from([first]);
    let mut sent = 0;
    while let Some(action) = queue.pop_front() {
        match action {
            SyncAction::Send { tag, request } => {
                sent += 1;
                let wire = SyncRequest::decode(&request.encode()).expect("decodes");
                let resp = SyncResponse::decode(&b.respond(&wire).encode()).expect("decodes");
                queue.extend(s.on_response(tag, resp, &mut a.heads).expect("honest peer"));
            }
            SyncAction::Ingest { records } => {
                records.into_iter().for_each(|r| a.add(r));
                queue.extend(s.on_stored());
            }
            SyncAction::Fork { first, second } => {
                let h = Header::parse(&first).expect("parses");
                a.proofs.insert(h.author, (first, second));
                a.heads.mark_forked(h.author);
            }
        }
    }
    (s.end().expect("ended"), sent)
}

#[test]
fn a_round_fetches_everything_the_peer_holds_beyond_us() {
    let mut a = Side::new();
    let mut b = Side::new();
    a.write(1, 3);
    b.write(1, 3);
    b.write(1, 40); // b is 40 ahead on author 1
    b.write(2, 25); // and has author 2 that a lacks
    a.write(3, 5); // a has an author b lacks (b pulls it in its own round)
    let limits = SyncLimits { page_records: 7, page_bytes: 1 << 20, max_in_flight: 3, max_unstored_pages: 1 };
    assert_eq!(round(&mut a, &mut b, limits).0, SyncEnd::Fetched);
    assert_eq!(a.heads.get(&crate::keys::SecretKey::from_seed(&[1; 32]).node_key()).map(|h| h.seq), Some(43));
    assert_eq!(round(&mut b, &mut a, limits).0, SyncEnd::Fetched);
    // Now level: one request, answered "in sync".
    assert_eq!(round(&mut a, &mut b, limits), (SyncEnd::InSync, 1));
    assert_eq!(a.heads.root(), b.heads.root());
}

/// Writes `n` records of author `seed` continuing from `from` (or from scratch), with a salt
/// in the body so a second branch differs.
fn branch(seed: u8, from: Option<(u64, RecordId)>, n: u64, salt: u8) -> Vec<Vec<u8>> {
    let key = crate::keys::SecretKey::from_seed(&[seed; 32]);
    let mut head = from;
    let mut out = vec![];
    for _ in 0..n {
        let seq = head.map_or(1, |h| h.0 + 1);
        let header = Header {
            version: 1,
            kind: 99,
            federation: FED,
            author: key.node_key(),
            seq,
            prev: head.map(|h| h.1),
            created_at: 1,
        };
        let bytes = crate::record::Record::sign_unchecked(&key, &header, &[1, 0, 2, seq as u8, salt]);
        head = Some((seq, crate::record::record_id(&bytes)));
        out.push(bytes);
    }
    out
}

#[test]
fn a_fork_below_the_peers_head_is_found_and_proven() {
    let common = branch(4, None, 4, 0);
    let h4 = (4, crate::record::record_id(&common[3]));
    let mut a = Side::new();
    let mut b = Side::new();
    for r in common {
        a.add(r.clone());
        b.add(r);
    }
    let mine = branch(4, Some(h4), 1, 1); // a holds 5a
    let theirs = branch(4, Some(h4), 3, 2); // b holds 5b, 6b, 7b
    a.add(mine[0].clone());
    for r in theirs {
        b.add(r);
    }
    round(&mut a, &mut b, SyncLimits::default());
    let author = crate::keys::SecretKey::from_seed(&[4; 32]).node_key();
    assert!(a.heads.is_forked(&author), "a fetched b's record 5 and found two at one seq");
    // b learns of the fork from a's proof in its own round.
    round(&mut b, &mut a, SyncLimits::default());
    assert!(b.heads.is_forked(&author));
    assert_eq!(a.heads.root(), b.heads.root(), "both froze the feed and agree");
    assert_eq!(round(&mut a, &mut b, SyncLimits::default()).1, 1, "in sync again: one request");
}

#[test]
fn records_that_were_not_asked_for_are_a_violation() {
    let mut a = Side::new();
    let mut b = Side::new();
    b.write(1, 3);
    b.write(2, 3);
    let (mut s, _) = SyncSession::start(FED, SyncLimits::default(), &mut a.heads);
    let differs = b.respond(&SyncRequest::Summary { federation: FED, root: a.heads.root() });
    let actions = s.on_response(0, differs, &mut a.heads).expect("fine");
    let SyncAction::Send { tag, request } = &actions[0] else { panic!("expected a heads request") };
    let heads = b.respond(request);
    let actions = s.on_response(*tag, heads, &mut a.heads).expect("fine");
    let SyncAction::Send { tag, request: SyncRequest::Fetch { author, .. } } = &actions[0] else {
        panic!("expected a fetch")
    };
    let other = b.feeds.keys().find(|k| *k != author).copied().expect("another author");
    let wrong = SyncResponse::Records { records: b.feeds[&other].clone() };
    assert!(matches!(s.on_response(*tag, wrong, &mut a.heads), Err(SyncViolation::RecordNotAsked(_))));
}

#[test]
fn heads_outside_the_asked_buckets_are_a_violation() {
    let mut a = Side::new();
    let (mut s, _) = SyncSession::start(FED, SyncLimits::default(), &mut a.heads);
    let mut theirs = HeadsIndex::from_heads([(key(9, 9), head(1))]);
    let actions = s
        .on_response(0, SyncResponse::Differs { buckets: theirs.buckets().to_vec(), forked: vec![] }, &mut a.heads)
        .expect("fine");
    let SyncAction::Send { tag, .. } = &actions[0] else { panic!("expected heads request") };
    let sneaky = SyncResponse::Heads { heads: vec![(key(9, 9), head(1)), (key(77, 1), head(5))] };
    assert!(matches!(s.on_response(*tag, sneaky, &mut a.heads), Err(SyncViolation::HeadNotAsked { bucket: 77, .. })));
}

#[test]
fn a_huge_count_does_not_allocate() {
    let mut bytes = vec![R_RECORDS];
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(SyncResponse::decode(&bytes).is_err());
    let mut bytes = vec![R_HEADS];
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(SyncResponse::decode(&bytes).is_err());
}

/// With many rounds at once (a federation forming), a round does not fetch again what another
/// round stored since it compared heads: it asks only for what the node still lacks.
#[test]
fn what_another_round_stored_meanwhile_is_not_fetched_again() {
    let mut a = Side::new();
    let mut b = Side::new();
    for author in 1..=5 {
        b.write(author, 3);
    }
    let limits = SyncLimits { page_records: 8, page_bytes: 1 << 20, max_in_flight: 1, max_unstored_pages: 1 };
    let (mut s, first) = SyncSession::start(FED, limits, &mut a.heads);
    let mut queue = VecDeque::from([first]);
    let mut fetches = vec![];
    while let Some(action) = queue.pop_front() {
        match action {
            SyncAction::Send { tag, request } => {
                if let SyncRequest::Fetch { author, from_seq, to_seq, .. } = &request {
                    fetches.push((*author, *from_seq, *to_seq));
                    if fetches.len() == 1 {
                        // Meanwhile another round stores every feed but this one, and the
                        // first record only of one of them.
                        let others: Vec<NodeKey> = b.feeds.keys().filter(|k| *k != author).copied().collect();
                        for (i, other) in others.iter().enumerate() {
                            let n = if i == 0 { 1 } else { 3 };
                            for r in b.feeds[other][..n].to_vec() {
                                a.add(r);
                            }
                        }
                    }
                }
                let resp = b.respond(&request);
                queue.extend(s.on_response(tag, resp, &mut a.heads).expect("honest peer"));
            }
            SyncAction::Ingest { records } => {
                records.into_iter().for_each(|r| a.add(r));
                queue.extend(s.on_stored_given(&a.heads));
            }
            SyncAction::Fork { .. } => panic!("no fork here"),
        }
    }
    assert_eq!(s.end(), Some(SyncEnd::Fetched));
    assert_eq!(fetches.len(), 2, "the feed asked first, and the rest of the one held in part: {fetches:?}");
    assert_eq!((fetches[1].1, fetches[1].2), (2, 3), "from the node's head on");
    assert_eq!(a.heads.root(), b.heads.root());
}
