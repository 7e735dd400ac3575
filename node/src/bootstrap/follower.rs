//! How a bootstrap server knows who the members are: it follows the *membership records* only
//! (node certificates, endorsements, revocations, retirements), pulled from members' nodes with
//! the `Membership` sync request, verified, and fed to the same roster computation members use
//! (csx_protocol::roster). It never asks for, and would refuse, any other record. A state
//! machine without I/O: it says which request to send and takes the answers; time is a
//! parameter.

use std::collections::BTreeMap;
use std::sync::Arc;

use csx_protocol::roster::{MembershipRecord, Roster, Standing};
use csx_protocol::sync::{SyncRequest, SyncResponse, membership_digest};
use csx_protocol::{Body, Genesis, Kind, Record, RecordError, RecordId, Verified, VerifyContext};
use libp2p::PeerId;

/// Most membership records followed, and their bytes in all (beyond, no more are taken).
pub const MAX_RECORDS: usize = 200_000;
pub const MAX_BYTES: usize = 128 * 1024 * 1024;
/// How often an unknown peer waiting for an answer may make the server pull sooner.
const EAGER_PULL_MS: u64 = 5_000;
/// A pull not answered in this time is given up.
const PULL_TIMEOUT_MS: u64 = 60_000;

fn is_membership_kind(kind: u16) -> bool {
    [Kind::NodeCert, Kind::Endorse, Kind::Revoke, Kind::RetireNode].iter().any(|k| k.code() as u16 == kind)
}

/// A pull in progress from one member's node.
#[derive(Debug, Clone, Copy)]
struct Pull {
    peer: PeerId,
    after: RecordId,
    since: u64,
}

/// What a pull brought.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    /// The next page to ask for (the pull goes on).
    pub next: Option<SyncRequest>,
    /// Records taken from this page.
    pub added: usize,
    /// Whether the roster changed (the pull is over).
    pub roster_changed: bool,
}

/// The membership records a bootstrap server holds, and the roster computed from them.
#[derive(Debug)]
pub struct Follower {
    genesis: Genesis,
    records: BTreeMap<RecordId, Vec<u8>>,
    bytes: usize,
    roster: Arc<Roster>,
    pull: Option<Pull>,
    last_pull_at: Option<u64>,
    /// Records taken since the roster was last computed.
    pending: usize,
    /// Records taken since the last save.
    unsaved: bool,
    interval_ms: u64,
}

impl Follower {
    /// A follower of `genesis`'s federation that pulls every `interval_ms` from a member.
    pub fn new(genesis: Genesis, interval_ms: u64) -> Follower {
        let roster = Arc::new(Roster::compute(&genesis, []));
        Follower {
            genesis,
            records: BTreeMap::new(),
            bytes: 0,
            roster,
            pull: None,
            last_pull_at: None,
            pending: 0,
            unsaved: false,
            interval_ms,
        }
    }

    pub fn roster(&self) -> Arc<Roster> {
        self.roster.clone()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn request(&self, after: RecordId) -> SyncRequest {
        let known = membership_digest(self.records.keys());
        SyncRequest::Membership { known, after }
    }

    /// Starts a pull from `peer` (a member's node) if none is running and one is due: never
    /// pulled, the interval has passed, or `eager` (a peer the roster does not know is
    /// waiting) and the last pull was a little while ago.
    pub fn maybe_pull(&mut self, peer: PeerId, eager: bool, now: u64) -> Option<SyncRequest> {
        if let Some(p) = self.pull {
            if now.saturating_sub(p.since) < PULL_TIMEOUT_MS {
                return None;
            }
            self.pull = None;
        }
        let due = match self.last_pull_at {
            None => true,
            Some(at) => {
                let since = now.saturating_sub(at);
                since >= self.interval_ms || (eager && since >= EAGER_PULL_MS)
            }
        };
        if !due {
            return None;
        }
        self.last_pull_at = Some(now);
        let after = RecordId([0; 32]);
        self.pull = Some(Pull { peer, after, since: now });
        Some(self.request(after))
    }

    /// `peer`'s answer to our `Membership` request. An error names how it broke the protocol
    /// (a record of another kind, not in id order, or invalid).
    pub fn on_response(&mut self, peer: PeerId, response: SyncResponse, ctx: &VerifyContext) -> Result<Pulled, String> {
        let Some(pull) = self.pull.filter(|p| p.peer == peer) else { return Ok(Pulled::default()) };
        let records = match response {
            SyncResponse::Records { records } if !records.is_empty() => records,
            // In sync, nothing more, or refused: the pull is over.
            _ => {
                self.pull = None;
                return Ok(Pulled { roster_changed: self.recompute(), ..Pulled::default() });
            }
        };
        let mut after = pull.after;
        let mut added = 0;
        for bytes in records {
            let id = csx_protocol::record::record_id(&bytes);
            if id.as_bytes() <= after.as_bytes() {
                self.pull = None;
                return Err(format!("membership record {} is not after {}", id.short(), after.short()));
            }
            after = id;
            if self.records.contains_key(&id) {
                continue;
            }
            let record = Record::decode(bytes).and_then(|r| r.verify(ctx)).map_err(|e| {
                self.pull = None;
                format!("membership record {}: {e}", id.short())
            })?;
            if !is_membership_kind(record.header().kind) {
                self.pull = None;
                return Err(format!("record {} is not a membership record", id.short()));
            }
            if self.insert(record) {
                added += 1;
            }
        }
        self.pull = Some(Pull { after, ..pull });
        Ok(Pulled { next: Some(self.request(after)), added, roster_changed: false })
    }

    /// The pull from `peer` failed (it went away, or did not answer).
    pub fn on_failure(&mut self, peer: &PeerId) -> bool {
        if self.pull.is_some_and(|p| p.peer == *peer) {
            self.pull = None;
            return self.recompute();
        }
        false
    }

    /// A node's certificate, verified, that it showed when it connected: taken if it makes the
    /// node a current member's (so a member's new node is known at once); returns whether the
    /// roster changed.
    pub fn add_certificate(&mut self, record: Verified<Record>) -> bool {
        let Body::NodeCert(cert) = record.body() else { return false };
        if record.seq() != 1 || self.roster.standing_of_cert(cert, record.created_at()) != Standing::Valid {
            return false;
        }
        self.insert(record) && self.recompute()
    }

    fn insert(&mut self, record: Verified<Record>) -> bool {
        let bytes = record.bytes().to_vec();
        if self.records.len() >= MAX_RECORDS || self.bytes + bytes.len() > MAX_BYTES {
            tracing::error!(
                records = self.records.len(),
                "the membership records are over the bootstrap server's bound; not taking more"
            );
            return false;
        }
        self.bytes += bytes.len();
        self.records.insert(record.id(), bytes);
        self.pending += 1;
        self.unsaved = true;
        true
    }

    /// Recomputes the roster if records were taken; returns whether it changed.
    fn recompute(&mut self) -> bool {
        if self.pending == 0 {
            return false;
        }
        self.pending = 0;
        let records = self.records.values().filter_map(|b| Record::decode(b.clone()).ok()).map(|r| MembershipRecord {
            id: r.id(),
            author: r.author(),
            seq: r.seq(),
            created_at: r.created_at(),
            body: r.body().clone(),
        });
        let roster = Roster::compute(&self.genesis, records);
        if roster.same_as(&self.roster) {
            return false;
        }
        self.roster = Arc::new(roster);
        true
    }

    /// The records to keep on disk (`len u32 ‖ record`, each), if any were taken since the
    /// last call.
    pub fn take_unsaved(&mut self) -> Option<Vec<u8>> {
        if !std::mem::take(&mut self.unsaved) {
            return None;
        }
        let mut out = Vec::with_capacity(self.bytes + 4 * self.records.len());
        for r in self.records.values() {
            out.extend_from_slice(&(r.len() as u32).to_be_bytes());
            out.extend_from_slice(r);
        }
        Some(out)
    }

    /// Takes records kept on disk; each is verified again (a damaged or foreign one is skipped).
    /// Returns how many were taken.
    pub fn load(&mut self, mut bytes: &[u8], ctx: &VerifyContext) -> usize {
        let mut taken = 0;
        while bytes.len() >= 4 {
            let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
            let Some(record) = bytes.get(4..4 + n) else { break };
            bytes = &bytes[4 + n..];
            let checked: Result<Verified<Record>, RecordError> =
                Record::decode(record.to_vec()).and_then(|r| r.verify(ctx));
            if let Ok(r) = checked
                && is_membership_kind(r.header().kind)
                && self.insert(r)
            {
                taken += 1;
            }
        }
        self.recompute();
        self.unsaved = false;
        taken
    }
}

#[cfg(test)]
mod tests;
