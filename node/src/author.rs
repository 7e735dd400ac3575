//! Writing one's own feed: assigns seq and prev and signs.

use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, Draft, FederationId, Head, Record, RecordError};

/// Signs the next records of one node's feed. It does not store them: after the store has
/// taken them, call [`Author::advance`] (a failed write leaves the head where it was).
#[derive(Debug)]
pub struct Author {
    key: SecretKey,
    federation: FederationId,
    head: Option<Head>,
}

impl Author {
    pub fn new(key: SecretKey, federation: FederationId, head: Option<Head>) -> Self {
        Author { key, federation, head }
    }

    pub fn head(&self) -> Option<Head> {
        self.head
    }

    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    pub fn federation(&self) -> FederationId {
        self.federation
    }

    /// Signs `bodies` as the records following the current head, in order.
    pub fn sign(&self, bodies: Vec<Body>, created_at: u64) -> Result<Vec<Record>, RecordError> {
        let mut head = self.head;
        let mut out = Vec::with_capacity(bodies.len());
        for body in bodies {
            let draft = Draft {
                federation: self.federation,
                seq: head.map_or(1, |h| h.seq + 1),
                prev: head.map(|h| h.id),
                created_at,
                body,
            };
            let record = Record::sign(&self.key, draft)?;
            head = Some(Head { seq: record.seq(), id: record.id() });
            out.push(record);
        }
        Ok(out)
    }

    /// Sets the head to what the store holds.
    pub fn set_head(&mut self, head: Option<Head>) {
        self.head = head;
    }

    /// Moves the head to the last of `records` once they are stored.
    pub fn advance(&mut self, records: &[Record]) {
        if let Some(last) = records.last() {
            self.head = Some(Head { seq: last.seq(), id: last.id() });
        }
    }
}
