//! The roster: admission, revocation with last-valid seqs, expiry, retirement, and independence
//! from arrival order.

use csx_protocol::body::*;
use csx_protocol::keys::SecretKey;
use csx_protocol::roster::{MembershipRecord, Roster, Standing};
use csx_protocol::{Body, FederationId, Founder, Genesis, NodeKey, OrgKey, RecordId};
use proptest::prelude::*;

const FED: FederationId = FederationId([1; 32]);
const FAR: u64 = 4_000_000_000_000;

struct Org {
    key: SecretKey,
    node: SecretKey,
    ods: String,
}

impl Org {
    fn new(i: u8) -> Org {
        Org { key: SecretKey::from_seed(&[i; 32]), node: SecretKey::from_seed(&[100 + i; 32]), ods: format!("Q{i:02}") }
    }
    fn org(&self) -> OrgKey {
        self.key.org_key()
    }
    fn node_key(&self) -> NodeKey {
        self.node.node_key()
    }
    fn founder(&self) -> Founder {
        Founder { org_key: self.org(), ods_code: self.ods.clone(), name: format!("NHS {} ICB", self.ods) }
    }
}

/// Builds membership records with distinct ids.
#[derive(Default)]
struct Log {
    records: Vec<MembershipRecord>,
}

impl Log {
    fn push(&mut self, author: NodeKey, seq: u64, created_at: u64, body: Body) -> RecordId {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(self.records.len() as u64 + 1).to_be_bytes());
        id[8..16].copy_from_slice(&seq.to_be_bytes());
        id[16] = author.0[0];
        let id = RecordId(id);
        self.records.push(MembershipRecord { id, author, seq, created_at, body });
        id
    }
    fn cert(&mut self, o: &Org, expires_at: u64) {
        let c = NodeCert::issue(&o.key, o.node_key(), &o.ods, expires_at).expect("cert");
        self.push(o.node_key(), 1, 1_000, Body::NodeCert(c));
    }
    fn endorse(&mut self, by: &Org, seq: u64, who: &Org) {
        let body = Body::Endorse(Endorse {
            org_key: who.org(),
            ods_code: who.ods.clone(),
            name: format!("NHS {} ICB", who.ods),
            comment: None,
        });
        self.push(by.node_key(), seq, 2_000, body);
    }
    fn revoke(&mut self, by: &Org, seq: u64, who: &Org, last_valid: u64) {
        let body = Body::Revoke(Revoke {
            org_key: who.org(),
            reason: "left the NHS".into(),
            nodes: vec![RevokedNode { node_key: who.node_key(), last_valid_seq: last_valid }],
        });
        self.push(by.node_key(), seq, 3_000, body);
    }
    fn retire(&mut self, carrier: &Org, seq: u64, who: &Org, last_valid: u64) {
        let body = Body::RetireNode(RetireNode::sign(&who.key, &FED, who.node_key(), last_valid, "laptop lost"));
        self.push(carrier.node_key(), seq, 3_000, body);
    }
}

fn genesis(founders: &[&Org], threshold: u16) -> Genesis {
    let mut g = Genesis::new("Roster test", 1, founders.iter().map(|o| o.founder()).collect());
    g.endorsement_threshold = threshold;
    g.revocation_threshold = threshold;
    g
}

fn orgs(n: u8) -> Vec<Org> {
    (1..=n).map(Org::new).collect()
}

#[test]
fn founders_are_members_and_others_are_not() {
    let o = orgs(4);
    let g = genesis(&[&o[0], &o[1], &o[2]], 2);
    let mut log = Log::default();
    for org in &o {
        log.cert(org, FAR);
    }
    let r = Roster::compute(&g, log.records);
    assert!(r.is_current_member(&o[0].org()) && r.is_current_member(&o[2].org()));
    assert!(!r.is_current_member(&o[3].org()));
    assert_eq!(r.standing(&o[0].node_key(), 5, 10), Standing::Valid);
    assert_eq!(r.standing(&o[3].node_key(), 1, 10), Standing::NotAMember);
    assert_eq!(r.standing(&NodeKey([9; 32]), 1, 10), Standing::UnknownNode);
    assert_eq!(r.members().len(), 3);
}

#[test]
fn admission_needs_exactly_the_threshold_of_distinct_members() {
    let o = orgs(5);
    let g = genesis(&[&o[0], &o[1], &o[2]], 2);
    let mut log = Log::default();
    for org in &o {
        log.cert(org, FAR);
    }
    log.endorse(&o[0], 2, &o[3]);
    log.endorse(&o[0], 3, &o[3]); // the same organisation twice counts once
    log.endorse(&o[4], 2, &o[3]); // a non-member's endorsement does not count
    let r = Roster::compute(&g, log.records.clone());
    assert!(!r.is_current_member(&o[3].org()), "one distinct member is below the threshold of 2");
    assert!(r.is_applicant(&o[3].org()));
    assert_eq!(r.standing(&o[3].node_key(), 1, 10), Standing::Applicant);
    assert_eq!(r.applicants()[0].endorsed_by, vec![o[0].org()]);
    log.endorse(&o[1], 2, &o[3]);
    let r = Roster::compute(&g, log.records.clone());
    assert!(r.is_current_member(&o[3].org()), "two distinct members reach the threshold");
    assert_eq!(r.members().iter().find(|m| m.org_key == o[3].org()).map(|m| m.endorsed_by.len()), Some(2));
    // The newly admitted member's endorsement now counts for a fifth.
    log.endorse(&o[3], 2, &o[4]);
    log.endorse(&o[2], 2, &o[4]);
    let r = Roster::compute(&g, log.records);
    assert!(r.is_current_member(&o[4].org()));
}

#[test]
fn self_endorsement_does_not_count() {
    let o = orgs(3);
    let g = genesis(&[&o[0]], 1);
    let mut log = Log::default();
    log.cert(&o[0], FAR);
    log.cert(&o[1], FAR);
    log.endorse(&o[1], 2, &o[1]);
    assert!(!Roster::compute(&g, log.records).is_current_member(&o[1].org()));
}

#[test]
fn revocation_keeps_what_was_signed_before_the_named_seq() {
    let o = orgs(4);
    let g = genesis(&[&o[0], &o[1], &o[2], &o[3]], 2);
    let mut log = Log::default();
    for org in &o {
        log.cert(org, FAR);
    }
    log.revoke(&o[0], 2, &o[3], 10);
    let r = Roster::compute(&g, log.records.clone());
    assert!(r.is_current_member(&o[3].org()), "one revocation is below the threshold");
    log.revoke(&o[1], 2, &o[3], 12);
    let r = Roster::compute(&g, log.records.clone());
    assert!(!r.is_current_member(&o[3].org()));
    // The largest seq named by a counted revocation stays valid; nothing after.
    assert_eq!(r.limit(&o[3].node_key()), Some(12));
    assert_eq!(r.standing(&o[3].node_key(), 12, 10), Standing::Valid);
    assert_eq!(r.standing(&o[3].node_key(), 13, 10), Standing::Revoked);
    assert!(!r.node_may_connect(&o[3].node_key(), 10));
    // A revoked member's own revocations after its limit do not count.
    log.revoke(&o[3], 20, &o[2], 5);
    log.revoke(&o[1], 3, &o[2], 5);
    let r = Roster::compute(&g, log.records);
    assert!(r.is_current_member(&o[2].org()), "only one valid revocation of o2");
}

#[test]
fn expired_certificates_and_retired_nodes() {
    let o = orgs(3);
    let g = genesis(&[&o[0], &o[1]], 1);
    let mut log = Log::default();
    log.cert(&o[0], 5_000);
    log.cert(&o[1], FAR);
    log.retire(&o[1], 2, &o[1], 7);
    let r = Roster::compute(&g, log.records);
    assert_eq!(r.standing(&o[0].node_key(), 3, 4_999), Standing::Valid);
    assert_eq!(r.standing(&o[0].node_key(), 3, 5_001), Standing::Expired);
    assert!(r.node_may_connect(&o[0].node_key(), 5_000) && !r.node_may_connect(&o[0].node_key(), 5_001));
    assert_eq!(r.standing(&o[1].node_key(), 7, 10), Standing::Valid);
    assert_eq!(r.standing(&o[1].node_key(), 8, 10), Standing::Retired);
    assert!(!r.node_may_connect(&o[1].node_key(), 10), "a retired node may not connect");
}

#[test]
fn a_retirement_signed_by_another_organisation_does_not_count() {
    let o = orgs(2);
    let g = genesis(&[&o[0], &o[1]], 1);
    let mut log = Log::default();
    log.cert(&o[0], FAR);
    log.cert(&o[1], FAR);
    // o0 signs a retirement of o1's node with its own key: not o1's certifying key.
    let body = Body::RetireNode(RetireNode::sign(&o[0].key, &FED, o[1].node_key(), 1, "hostile"));
    log.push(o[0].node_key(), 2, 10, body);
    assert_eq!(Roster::compute(&g, log.records).standing(&o[1].node_key(), 9, 10), Standing::Valid);
}

/// A history with admissions, a chain of endorsements, a revocation and a retirement.
fn history() -> (Genesis, Vec<MembershipRecord>, Vec<Org>) {
    let o = orgs(7);
    let g = genesis(&[&o[0], &o[1], &o[2]], 2);
    let mut log = Log::default();
    for (i, org) in o.iter().enumerate() {
        log.cert(org, if i == 6 { 2_500 } else { FAR });
    }
    log.endorse(&o[0], 2, &o[3]);
    log.endorse(&o[1], 2, &o[3]);
    log.endorse(&o[3], 2, &o[4]); // o4 admitted only through o3
    log.endorse(&o[2], 2, &o[4]);
    log.endorse(&o[4], 2, &o[5]); // o5 pending: one endorsement
    log.endorse(&o[6], 2, &o[5]); // expired node's endorsement (created 2000 < 2500: valid, but o6 no member)
    log.revoke(&o[0], 3, &o[2], 4);
    log.revoke(&o[3], 3, &o[2], 6);
    log.retire(&o[1], 3, &o[1], 2);
    (g, log.records, o)
}

proptest! {
    #[test]
    fn the_roster_does_not_depend_on_arrival_order(seed in any::<u64>()) {
        let (g, records, o) = history();
        let reference = Roster::compute(&g, records.clone());
        let mut shuffled = records;
        let mut rng = seed;
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let r = Roster::compute(&g, shuffled);
        prop_assert!(r.same_as(&reference));
        prop_assert!(r.is_current_member(&o[4].org()));
        prop_assert!(!r.is_current_member(&o[2].org()));
        prop_assert_eq!(r.limit(&o[2].node_key()), Some(6));
        prop_assert!(r.is_applicant(&o[5].org()));
    }
}
