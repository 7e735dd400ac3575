//! Who is a member: a deterministic function of the genesis and the membership records.
//!
//! - Founders are members.
//! - An organisation is **admitted** once at least `endorsement_threshold` distinct other
//!   admitted organisations have each a *valid* `endorse` record for it.
//! - An admitted organisation is **revoked** once at least `revocation_threshold` distinct other
//!   admitted organisations have each a *valid* `revoke` record for it. Each revocation names,
//!   for each of the member's nodes, the last seq that stays valid; the largest value named by a
//!   counted revocation applies (0 for a node none names). Revocation is permanent for that key.
//! - A node is **retired** by a `retire_node` record signed by its certifying organisation's key;
//!   the smallest `last_valid_seq` of such records applies.
//! - A record is **valid** when its author has a certificate (record 1 of its feed) from an
//!   admitted organisation, was created no later than the certificate's expiry, and its seq is
//!   within any retirement or revocation limit of its node.
//!
//! Validity and membership depend on each other, so the roster is computed by iterating to a
//! fixpoint over the records sorted by id: the result depends on the set of records only, never
//! on the order they arrived in.

use std::collections::{BTreeMap, BTreeSet};

use crate::body::{Body, NodeCert};
use crate::genesis::Genesis;
use crate::ids::{NodeKey, OrgKey, RecordId};

/// Most iterations before the computation stops (a cycle of mutual revocations could otherwise
/// oscillate; the result after the cap is still a deterministic function of the records).
const MAX_ROUNDS: usize = 64;

/// A membership record as the roster needs it.
#[derive(Debug, Clone)]
pub struct MembershipRecord {
    pub id: RecordId,
    pub author: NodeKey,
    pub seq: u64,
    pub created_at: u64,
    pub body: Body,
}

/// A member organisation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub org_key: OrgKey,
    pub ods_code: String,
    pub name: String,
    pub founder: bool,
    /// Organisations whose endorsements admitted it (empty for founders).
    pub endorsed_by: Vec<OrgKey>,
    /// Set when revoked: who revoked it.
    pub revoked_by: Vec<OrgKey>,
    pub nodes: Vec<NodeInfo>,
}

impl Member {
    pub fn is_current(&self) -> bool {
        self.revoked_by.is_empty()
    }
}

/// A node of a member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeInfo {
    pub node_key: NodeKey,
    pub expires_at: u64,
    /// The last valid seq, when retired or its organisation revoked.
    pub limit: Option<u64>,
    pub retired: bool,
}

/// An organisation endorsed by at least one member but not (yet) admitted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applicant {
    pub org_key: OrgKey,
    pub ods_code: String,
    pub name: String,
    pub endorsed_by: Vec<OrgKey>,
    pub needed: u16,
}

/// Where a record's author stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Valid,
    /// No certificate is known for the author.
    UnknownNode,
    /// The certifying organisation is not a member and nobody endorsed it.
    NotAMember,
    /// The certifying organisation has been endorsed but not admitted yet.
    Applicant,
    /// Created after the certificate expired.
    Expired,
    /// Beyond the retirement limit of the node.
    Retired,
    /// Beyond the revocation limit of the organisation's node.
    Revoked,
}

impl Standing {
    /// The stable name of the reason a record is refused.
    pub fn reason(self) -> &'static str {
        match self {
            Standing::Valid => "valid",
            Standing::UnknownNode => "unknown_author",
            Standing::NotAMember => "not_a_member",
            Standing::Applicant => "applicant",
            Standing::Expired => "expired_author",
            Standing::Retired => "retired_node",
            Standing::Revoked => "revoked_author",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cert {
    org: OrgKey,
    ods: String,
    expires_at: u64,
}

/// The computed roster.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    endorsement_threshold: u16,
    founders: BTreeSet<OrgKey>,
    certs: BTreeMap<NodeKey, Cert>,
    /// Admitted organisations (current or revoked) with who admitted them.
    admitted: BTreeMap<OrgKey, Vec<OrgKey>>,
    /// Revoked organisations: who revoked them, and each node's last valid seq.
    revoked: BTreeMap<OrgKey, (Vec<OrgKey>, BTreeMap<NodeKey, u64>)>,
    retired: BTreeMap<NodeKey, u64>,
    /// (ods, name) of each organisation, from the genesis or endorsements.
    names: BTreeMap<OrgKey, (String, String)>,
    /// Valid endorsements of organisations not admitted.
    pending: BTreeMap<OrgKey, Vec<OrgKey>>,
    /// Rounds the last computation took.
    pub rounds: usize,
}

impl Roster {
    /// Computes the roster of `genesis` from `records` (any order; non-membership kinds ignored).
    pub fn compute(genesis: &Genesis, records: impl IntoIterator<Item = MembershipRecord>) -> Roster {
        let mut records: Vec<MembershipRecord> = records.into_iter().collect();
        records.sort_by_key(|r| r.id);
        let mut roster = Roster {
            endorsement_threshold: genesis.endorsement_threshold,
            founders: genesis.founders.iter().map(|f| f.org_key).collect(),
            ..Roster::default()
        };
        for f in &genesis.founders {
            roster.names.insert(f.org_key, (f.ods_code.clone(), f.name.clone()));
        }
        for r in &records {
            if let Body::NodeCert(NodeCert { node_key, org_key, ods_code, expires_at, .. }) = &r.body
                && r.seq == 1
                && *node_key == r.author
            {
                roster.certs.insert(*node_key, Cert { org: *org_key, ods: ods_code.clone(), expires_at: *expires_at });
            }
        }
        // A retirement counts when signed by the key that certified the node (its signature was
        // checked when the record was verified); it needs the certificates, so it comes after.
        for r in &records {
            if let Body::RetireNode(ret) = &r.body
                && roster.certs.get(&ret.node_key).is_some_and(|c| c.org == ret.org_key)
            {
                let e = roster.retired.entry(ret.node_key).or_insert(ret.last_valid_seq);
                *e = (*e).min(ret.last_valid_seq);
            }
        }
        let endorsements: Vec<&MembershipRecord> =
            records.iter().filter(|r| matches!(r.body, Body::Endorse(_))).collect();
        let revocations: Vec<&MembershipRecord> =
            records.iter().filter(|r| matches!(r.body, Body::Revoke(_))).collect();

        for round in 1..=MAX_ROUNDS {
            roster.rounds = round;
            let before = (roster.admitted.clone(), roster.revoked.clone());
            // Admission closure, given the current revocations.
            roster.admitted = roster.founders.iter().map(|f| (*f, vec![])).collect();
            loop {
                let mut votes: BTreeMap<OrgKey, BTreeSet<OrgKey>> = BTreeMap::new();
                for r in &endorsements {
                    let Body::Endorse(e) = &r.body else { continue };
                    if let Some(by) = roster.valid_org(r)
                        && by != e.org_key
                    {
                        votes.entry(e.org_key).or_default().insert(by);
                    }
                }
                let mut grew = false;
                for (org, by) in &votes {
                    if !roster.admitted.contains_key(org) && by.len() >= genesis.endorsement_threshold as usize {
                        roster.admitted.insert(*org, by.iter().copied().collect());
                        grew = true;
                    }
                }
                roster.pending = votes
                    .into_iter()
                    .filter(|(org, _)| !roster.admitted.contains_key(org))
                    .map(|(org, by)| (org, by.into_iter().collect()))
                    .collect();
                if !grew {
                    break;
                }
            }
            // Revocations by admitted organisations.
            let mut votes: BTreeMap<OrgKey, BTreeMap<OrgKey, &MembershipRecord>> = BTreeMap::new();
            for r in &revocations {
                let Body::Revoke(rv) = &r.body else { continue };
                if let Some(by) = roster.valid_org(r)
                    && by != rv.org_key
                    && roster.admitted.contains_key(&rv.org_key)
                {
                    // One vote per organisation: its revocation with the smallest id.
                    votes.entry(rv.org_key).or_default().entry(by).or_insert(r);
                }
            }
            let mut revoked = BTreeMap::new();
            for (org, by) in votes {
                if by.len() >= genesis.revocation_threshold as usize {
                    let mut limits: BTreeMap<NodeKey, u64> = BTreeMap::new();
                    for r in by.values() {
                        if let Body::Revoke(rv) = &r.body {
                            for n in &rv.nodes {
                                let e = limits.entry(n.node_key).or_insert(n.last_valid_seq);
                                *e = (*e).max(n.last_valid_seq);
                            }
                        }
                    }
                    revoked.insert(org, (by.keys().copied().collect(), limits));
                }
            }
            roster.revoked = revoked;
            if (roster.admitted.clone(), roster.revoked.clone()) == before {
                break;
            }
        }
        // Names of admitted organisations and applicants from their endorsements.
        for r in &endorsements {
            if let Body::Endorse(e) = &r.body
                && roster.valid_org(r).is_some()
            {
                roster.names.entry(e.org_key).or_insert((e.ods_code.clone(), e.name.clone()));
            }
        }
        roster
    }

    /// The organisation of a valid membership record's author.
    fn valid_org(&self, r: &MembershipRecord) -> Option<OrgKey> {
        (self.standing(&r.author, r.seq, r.created_at) == Standing::Valid).then(|| self.certs[&r.author].org)
    }

    /// The last valid seq of `node`, if limited by retirement or revocation.
    pub fn limit(&self, node: &NodeKey) -> Option<u64> {
        let retired = self.retired.get(node).copied();
        let revoked = self
            .certs
            .get(node)
            .and_then(|c| self.revoked.get(&c.org))
            .map(|(_, limits)| limits.get(node).copied().unwrap_or(0));
        match (retired, revoked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Where a record by `author` at `seq`, created at `created_at`, stands.
    pub fn standing(&self, author: &NodeKey, seq: u64, created_at: u64) -> Standing {
        let Some(cert) = self.certs.get(author) else { return Standing::UnknownNode };
        self.standing_with(author, cert.org, cert.expires_at, seq, created_at)
    }

    /// As [`Roster::standing`], for a certificate not yet in the roster (record 1 arriving).
    pub fn standing_of_cert(&self, cert: &NodeCert, created_at: u64) -> Standing {
        self.standing_with(&cert.node_key, cert.org_key, cert.expires_at, 1, created_at)
    }

    /// As [`Roster::standing`], for a node whose certificate is known elsewhere (e.g. earlier in
    /// the batch being stored, or held in quarantine).
    pub fn standing_under(&self, cert: &NodeCert, seq: u64, created_at: u64) -> Standing {
        self.standing_with(&cert.node_key, cert.org_key, cert.expires_at, seq, created_at)
    }

    fn standing_with(&self, node: &NodeKey, org: OrgKey, expires_at: u64, seq: u64, created_at: u64) -> Standing {
        if !self.admitted.contains_key(&org) {
            return if self.pending.contains_key(&org) { Standing::Applicant } else { Standing::NotAMember };
        }
        if created_at > expires_at {
            return Standing::Expired;
        }
        if let Some(limit) = self.retired.get(node)
            && seq > *limit
        {
            return Standing::Retired;
        }
        if let Some((_, limits)) = self.revoked.get(&org)
            && seq > limits.get(node).copied().unwrap_or(0)
        {
            return Standing::Revoked;
        }
        Standing::Valid
    }

    /// Whether `node` may connect now: certified by a current member, not retired, not expired.
    pub fn node_may_connect(&self, node: &NodeKey, now_ms: u64) -> bool {
        let Some(cert) = self.certs.get(node) else { return false };
        self.is_current_member(&cert.org) && !self.retired.contains_key(node) && now_ms <= cert.expires_at
    }

    /// Members needed to admit an organisation (the genesis's endorsement threshold); also the
    /// members needed to confirm a provider's reply key.
    pub fn endorsement_threshold(&self) -> u16 {
        self.endorsement_threshold
    }

    pub fn is_current_member(&self, org: &OrgKey) -> bool {
        self.admitted.contains_key(org) && !self.revoked.contains_key(org)
    }

    /// Whether `org` has at least one valid endorsement but is not admitted.
    pub fn is_applicant(&self, org: &OrgKey) -> bool {
        self.pending.contains_key(org)
    }

    /// The organisation that certified `node`, with its ODS code.
    pub fn org_of(&self, node: &NodeKey) -> Option<(OrgKey, &str)> {
        self.certs.get(node).map(|c| (c.org, c.ods.as_str()))
    }

    /// Every admitted organisation (current and revoked), founders first, then by ODS code.
    pub fn members(&self) -> Vec<Member> {
        let mut out: Vec<Member> = self
            .admitted
            .iter()
            .map(|(org, by)| {
                let (ods, name) = self.names.get(org).cloned().unwrap_or_default();
                let nodes = self
                    .certs
                    .iter()
                    .filter(|(_, c)| c.org == *org)
                    .map(|(k, c)| NodeInfo {
                        node_key: *k,
                        expires_at: c.expires_at,
                        limit: self.limit(k),
                        retired: self.retired.contains_key(k),
                    })
                    .collect();
                Member {
                    org_key: *org,
                    ods_code: ods,
                    name,
                    founder: self.founders.contains(org),
                    endorsed_by: by.clone(),
                    revoked_by: self.revoked.get(org).map(|(by, _)| by.clone()).unwrap_or_default(),
                    nodes,
                }
            })
            .collect();
        out.sort_by(|a, b| (!a.founder, &a.ods_code).cmp(&(!b.founder, &b.ods_code)));
        out
    }

    /// Organisations endorsed but not yet admitted.
    pub fn applicants(&self) -> Vec<Applicant> {
        self.pending
            .iter()
            .map(|(org, by)| {
                let (ods, name) = self.names.get(org).cloned().unwrap_or_default();
                Applicant {
                    org_key: *org,
                    ods_code: ods,
                    name,
                    endorsed_by: by.clone(),
                    needed: self.endorsement_threshold,
                }
            })
            .collect()
    }

    /// Nodes whose limit is below `seq`, for truncating stored feeds.
    pub fn limits(&self) -> impl Iterator<Item = (NodeKey, u64)> + '_ {
        self.certs.keys().filter_map(|k| self.limit(k).map(|l| (*k, l)))
    }

    /// Whether two rosters say the same (ignoring how many rounds computing them took).
    pub fn same_as(&self, other: &Roster) -> bool {
        self.certs == other.certs
            && self.admitted == other.admitted
            && self.revoked == other.revoked
            && self.retired == other.retired
            && self.pending == other.pending
            && self.names == other.names
    }
}
