//! How a member node judges a peer's standing for admission: by its roster, and its
//! quarantine for applicants' nodes.

use std::sync::Arc;

use csx_protocol::Record;
use csx_protocol::roster::Roster;
use libp2p::PeerId;

use super::admission::{Judge, Standing};
use crate::store::Store;

/// Judges peers by this node's roster (and its quarantine, for applicants).
pub(super) struct NodeJudge {
    pub(super) roster: Arc<Roster>,
    pub(super) store: Arc<dyn Store>,
}

impl Judge for NodeJudge {
    fn standing(&self, peer: &PeerId, now: u64) -> Standing {
        let Some(node) = super::identity::node_key(peer) else { return Standing::Stranger };
        if self.roster.node_may_connect(&node, now) {
            return Standing::Member;
        }
        // An endorsed organisation's node: its certificate waits in quarantine.
        let applicant = self.store.quarantined(&node).ok().into_iter().flatten().any(|b| {
            Record::decode(b).ok().is_some_and(|r| match r.body() {
                csx_protocol::Body::NodeCert(c) => self.roster.is_applicant(&c.org_key),
                _ => false,
            })
        });
        if applicant { Standing::Applicant } else { Standing::Stranger }
    }
}
