//! The roster, kept in step with the store: computed from the stored membership records (node
//! certificates, endorsements, revocations, retirements) and recomputed when one arrives.
//! Enforcing it truncates the feeds of revoked and retired nodes to their last valid record and
//! tells which quarantined applicants have been admitted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use csx_protocol::roster::{MembershipRecord, Roster};
use csx_protocol::{Body, Genesis, Kind, NodeKey};

use crate::store::{Scan, Store, StoreError};

/// The kinds the roster is computed from.
pub const MEMBERSHIP_KINDS: [Kind; 4] = [Kind::NodeCert, Kind::Endorse, Kind::Revoke, Kind::RetireNode];

/// The current roster of a node.
#[derive(Debug)]
pub struct Membership {
    genesis: Genesis,
    roster: RwLock<Arc<Roster>>,
    /// Incremented whenever the roster changes, so others can notice cheaply.
    version: AtomicU64,
}

/// What enforcing a roster change did.
#[derive(Debug, Default)]
pub struct Enforcement {
    /// Records removed from feeds beyond revocation or retirement limits.
    pub truncated: u64,
    /// Authors whose quarantined records may now be accepted.
    pub releasable: Vec<NodeKey>,
}

fn membership_records(store: &dyn Store) -> Result<Vec<MembershipRecord>, StoreError> {
    let mut out = Vec::new();
    for kind in MEMBERSHIP_KINDS {
        for r in store.scan(Scan::Kind(kind), false) {
            let r = r?;
            out.push(MembershipRecord {
                id: r.id(),
                author: r.author(),
                seq: r.seq(),
                created_at: r.created_at(),
                body: r.body().clone(),
            });
        }
    }
    Ok(out)
}

impl Membership {
    /// Computes the roster from what `store` holds.
    pub fn load(genesis: Genesis, store: &dyn Store) -> Result<Membership, StoreError> {
        let roster = Roster::compute(&genesis, membership_records(store)?);
        Ok(Membership { genesis, roster: RwLock::new(Arc::new(roster)), version: AtomicU64::new(0) })
    }

    pub fn roster(&self) -> Arc<Roster> {
        self.roster.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Recomputes the roster; if it changed, enforces it on the store.
    pub fn refresh(&self, store: &dyn Store) -> Result<Option<Enforcement>, StoreError> {
        let roster = Roster::compute(&self.genesis, membership_records(store)?);
        if roster.same_as(&self.roster()) {
            return Ok(None);
        }
        let roster = Arc::new(roster);
        *self.roster.write().unwrap_or_else(|p| p.into_inner()) = roster.clone();
        self.version.fetch_add(1, Ordering::AcqRel);
        let mut done = Enforcement::default();
        for (node, limit) in roster.limits() {
            let n = store.truncate_feed(&node, limit)?;
            if n > 0 {
                tracing::warn!(node = %node.short(), limit, removed = n, "removed records beyond a revocation or retirement");
                done.truncated += n;
            }
        }
        for author in store.quarantined_authors()? {
            // Whether the author's organisation is now admitted: look at its certificate, which
            // is already stored or is among its quarantined records (record 1).
            let org = match roster.org_of(&author) {
                Some((o, _)) => Some(o),
                None => store.quarantined(&author)?.into_iter().find_map(|b| {
                    csx_protocol::Record::decode(b).ok().and_then(|r| match r.body() {
                        Body::NodeCert(c) => Some(c.org_key),
                        _ => None,
                    })
                }),
            };
            if org.is_some_and(|o| roster.is_current_member(&o)) {
                done.releasable.push(author);
            }
        }
        tracing::info!(
            members = roster.members().iter().filter(|m| m.is_current()).count(),
            applicants = roster.applicants().len(),
            "membership changed"
        );
        Ok(Some(done))
    }
}
