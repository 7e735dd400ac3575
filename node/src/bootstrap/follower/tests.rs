//! Following the roster from membership records, with signed records made here.

use super::*;
use crate::author::Author;
use csx_protocol::body::{Endorse, NodeCert};
use csx_protocol::keys::SecretKey;
use csx_protocol::sync::respond_membership;
use csx_protocol::{FederationId, Founder};

const NOW: u64 = 1_800_000_000_000;

struct Org {
    org: SecretKey,
    node: SecretKey,
    ods: &'static str,
}

impl Org {
    fn new(i: u8, ods: &'static str) -> Org {
        Org { org: SecretKey::from_seed(&[i; 32]), node: SecretKey::from_seed(&[i + 100; 32]), ods }
    }
    fn founder(&self) -> Founder {
        Founder { org_key: self.org.org_key(), ods_code: self.ods.into(), name: format!("NHS {} ICB", self.ods) }
    }
    fn peer(&self) -> PeerId {
        crate::net::identity::peer_id(&self.node.node_key())
    }
    /// Its node's feed: certificate, then `more`.
    fn feed(&self, federation: FederationId, more: Vec<Body>) -> Vec<Record> {
        let cert = NodeCert::issue(&self.org, self.node.node_key(), self.ods, u64::MAX / 2).expect("cert");
        let mut bodies = vec![Body::NodeCert(cert)];
        bodies.extend(more);
        Author::new(SecretKey::from_seed(&self.node.seed()), federation, None).sign(bodies, NOW - 1_000).expect("signs")
    }
    fn endorse(&self, other: &Org) -> Body {
        Body::Endorse(Endorse {
            org_key: other.org.org_key(),
            ods_code: other.ods.into(),
            name: format!("NHS {} ICB", other.ods),
            comment: None,
        })
    }
}

/// Two founders (a, b; threshold 1) and an organisation (c) that a endorses; `held`: what a
/// member's node holds, sorted by id as the responder serves it; `other`: a feed of a's with a
/// record that is not a membership record.
struct World {
    genesis: Genesis,
    a: Org,
    b: Org,
    c: Org,
    held: Vec<(RecordId, Vec<u8>)>,
    other: Vec<Record>,
}

fn world() -> World {
    let (a, b, c) = (Org::new(1, "QE1"), Org::new(2, "QF7"), Org::new(3, "QGH"));
    let mut genesis = Genesis::new("Test", 1_700_000_000_000, vec![a.founder(), b.founder()]);
    genesis.endorsement_threshold = 1;
    let fed = genesis.id();
    let a_feed = a.feed(fed, vec![a.endorse(&c)]);
    let c_feed = c.feed(fed, vec![]);
    let review = a.feed(
        fed,
        vec![
            a.endorse(&c),
            Body::Retract(csx_protocol::body::Retract {
                target: RecordId([1; 32]),
                also: vec![],
                reason: "test".into(),
            }),
        ],
    );
    let mut held: Vec<(RecordId, Vec<u8>)> =
        a_feed.iter().chain(&c_feed).map(|r| (r.id(), r.bytes().to_vec())).collect();
    held.sort_unstable_by(|x, y| x.0.as_bytes().cmp(y.0.as_bytes()));
    World { genesis, a, b, c, held, other: review }
}

fn ctx(g: &Genesis) -> VerifyContext {
    VerifyContext::new(g.id(), NOW)
}

/// Pulls everything `held` from `peer` with pages of `page` bytes; returns the requests sent.
fn pull_all(f: &mut Follower, peer: PeerId, held: &[(RecordId, Vec<u8>)], page: usize, c: &VerifyContext) -> usize {
    let mut request = f.maybe_pull(peer, false, NOW);
    let mut sent = 0;
    while let Some(SyncRequest::Membership { known, after }) = request {
        sent += 1;
        let pulled = f.on_response(peer, respond_membership(&known, &after, held, page), c).expect("valid");
        request = pulled.next;
    }
    sent
}

#[test]
fn the_roster_is_followed_from_membership_records_page_by_page() {
    let World { genesis, a, b, c, held, .. } = world();
    let mut f = Follower::new(genesis.clone(), 60_000);
    let roster = f.roster();
    assert!(!roster.node_may_connect(&a.node.node_key(), NOW), "no certificate known yet");
    let sent = pull_all(&mut f, a.peer(), &held, 200, &ctx(&genesis));
    assert!(sent >= 3, "small pages: {sent} requests");
    assert_eq!(f.len(), 3);
    let roster = f.roster();
    assert!(roster.node_may_connect(&a.node.node_key(), NOW), "a founder's node");
    assert!(roster.node_may_connect(&c.node.node_key(), NOW), "admitted by one endorsement");
    assert!(!roster.node_may_connect(&b.node.node_key(), NOW), "a founder whose node is unknown");
    // In step: the next pull is one request answered InSync.
    let request = f.maybe_pull(a.peer(), false, NOW + 60_000).expect("due");
    let SyncRequest::Membership { known, after } = request else { panic!("membership") };
    assert_eq!(respond_membership(&known, &after, &held, 1 << 20), SyncResponse::InSync);
}

#[test]
fn a_record_that_is_not_a_membership_record_or_out_of_order_ends_the_pull() {
    let World { genesis, a, held, other: review, .. } = world();
    let c = ctx(&genesis);
    let mut f = Follower::new(genesis.clone(), 60_000);
    f.maybe_pull(a.peer(), false, NOW).expect("first pull");
    let retract = review.last().expect("retract").bytes().to_vec();
    let err = f.on_response(a.peer(), SyncResponse::Records { records: vec![retract] }, &c).expect_err("refused");
    assert!(err.contains("not a membership record"), "{err}");
    assert!(f.is_empty());
    f.maybe_pull(a.peer(), true, NOW + 5_000).expect("eager pull");
    let mut backwards: Vec<Vec<u8>> = held.iter().map(|(_, r)| r.clone()).collect();
    backwards.reverse();
    let err = f.on_response(a.peer(), SyncResponse::Records { records: backwards }, &c).expect_err("order");
    assert!(err.contains("is not after"), "{err}");
}

#[test]
fn a_pull_is_one_at_a_time_at_its_interval_or_sooner_when_someone_waits() {
    let World { genesis, a, b, .. } = world();
    let mut f = Follower::new(genesis, 60_000);
    assert!(f.maybe_pull(a.peer(), false, NOW).is_some());
    assert!(f.maybe_pull(b.peer(), true, NOW + 10_000).is_none(), "one pull at a time");
    assert!(!f.on_failure(&b.peer()));
    f.on_failure(&a.peer());
    assert!(f.maybe_pull(b.peer(), false, NOW + 10_000).is_none(), "not yet due");
    assert!(f.maybe_pull(b.peer(), true, NOW + 10_000).is_some(), "an unknown peer is waiting");
    f.on_failure(&b.peer());
    assert!(f.maybe_pull(a.peer(), true, NOW + 12_000).is_none(), "eager pulls are spaced too");
    assert!(f.maybe_pull(a.peer(), false, NOW + 70_000).is_some());
}

#[test]
fn a_certificate_is_taken_only_if_it_makes_its_node_a_members() {
    let World { genesis, b, .. } = world();
    let c = ctx(&genesis);
    let mut f = Follower::new(genesis.clone(), 60_000);
    let stranger = Org::new(9, "QHG");
    let theirs = stranger.feed(genesis.id(), vec![]).remove(0).verify(&c).expect("valid");
    assert!(!f.add_certificate(theirs), "a stranger's certificate is not kept");
    assert!(f.is_empty());
    let founders = b.feed(genesis.id(), vec![]).remove(0).verify(&c).expect("valid");
    assert!(f.add_certificate(founders));
    assert!(f.roster().node_may_connect(&b.node.node_key(), NOW));
}

#[test]
fn membership_records_survive_a_restart_and_damage_is_skipped() {
    let World { genesis, a, c, held, .. } = world();
    let ctx = ctx(&genesis);
    let mut f = Follower::new(genesis.clone(), 60_000);
    pull_all(&mut f, a.peer(), &held, 1 << 20, &ctx);
    let mut saved = f.take_unsaved().expect("taken since the start");
    assert!(f.take_unsaved().is_none(), "nothing new since");
    // A record of another federation appended, and a cut-off tail.
    let foreign = Org::new(7, "QHL").feed(FederationId([9; 32]), vec![]).remove(0);
    saved.extend_from_slice(&(foreign.bytes().len() as u32).to_be_bytes());
    saved.extend_from_slice(foreign.bytes());
    saved.extend_from_slice(&[0, 0, 1]);
    let mut again = Follower::new(genesis, 60_000);
    assert_eq!(again.load(&saved, &ctx), 3);
    assert!(again.roster().node_may_connect(&c.node.node_key(), NOW));
}
