//! A fork proof as gossiped on a federation's forks topic (docs/PROTOCOL.md §7):
//!
//! ```text
//! fork proof := len(first) u32 ‖ first ‖ second
//! ```
//!
//! `first` and `second` are the exact bytes of two records by one author at one seq with
//! different ids. The second record runs to the end of the message; its length is the one its
//! header declares, so a message with any byte after it is refused, as is a first record whose
//! declared length is not the length the message gives it. Whether the two records really prove a
//! fork (same author and seq, different ids, both signatures valid) is checked by the receiver.

use crate::encoding::{Reader, Writer};
use crate::error::DecodeError;
use crate::record::{HEADER_LEN, MAX_RECORD_BYTES, SIGNATURE_LEN};

/// The two records of a gossiped fork proof, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkProofMessage {
    pub first: Vec<u8>,
    pub second: Vec<u8>,
}

impl ForkProofMessage {
    /// The message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(4 + self.first.len() + self.second.len());
        w.u32(self.first.len() as u32);
        w.bytes(&self.first);
        w.bytes(&self.second);
        w.into_bytes()
    }

    /// Splits a message into its two records, checking the framing (not the records' contents).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let n = r.u32("first record length")? as usize;
        if n > MAX_RECORD_BYTES {
            return Err(DecodeError::FieldLength {
                context: "fork proof",
                field: "first",
                expected: MAX_RECORD_BYTES,
                got: n,
            });
        }
        let first = r.take(n, "first record")?;
        let declared = declared_len(first, "first record")?;
        if declared != n {
            return Err(DecodeError::FieldLength { context: "fork proof", field: "first", expected: declared, got: n });
        }
        let rest = &bytes[r.position()..];
        let m = declared_len(rest, "second record")?;
        if m > MAX_RECORD_BYTES {
            return Err(DecodeError::FieldLength {
                context: "fork proof",
                field: "second",
                expected: MAX_RECORD_BYTES,
                got: m,
            });
        }
        let second = r.take(m, "second record")?;
        r.finish("fork proof")?;
        Ok(ForkProofMessage { first: first.to_vec(), second: second.to_vec() })
    }
}

/// The length a record's header declares for the whole record (header, body and signature).
fn declared_len(record: &[u8], what: &'static str) -> Result<usize, DecodeError> {
    let mut r = Reader::new(record);
    r.take(HEADER_LEN - 4, what)?;
    let body = r.u32(what)? as usize;
    Ok(HEADER_LEN + body + SIGNATURE_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{Body, Retract};
    use crate::ids::{FederationId, RecordId};
    use crate::keys::SecretKey;
    use crate::record::{Draft, Record};

    fn record(reason: &str) -> Vec<u8> {
        let key = SecretKey::from_seed(&[7; 32]);
        let body = Body::Retract(Retract { target: RecordId([1; 32]), reason: reason.into(), also: vec![] });
        let draft =
            Draft { federation: FederationId([9; 32]), seq: 2, prev: Some(RecordId([2; 32])), created_at: 1, body };
        Record::sign(&key, draft).expect("signs").into_bytes()
    }

    fn proof() -> ForkProofMessage {
        ForkProofMessage { first: record("one"), second: record("another") }
    }

    #[test]
    fn round_trips() {
        let p = proof();
        let bytes = p.encode();
        assert_eq!(&bytes[..4], &(p.first.len() as u32).to_be_bytes());
        assert_eq!(ForkProofMessage::decode(&bytes), Ok(p));
    }

    #[test]
    fn a_trailing_byte_is_refused() {
        let mut bytes = proof().encode();
        bytes.push(0);
        assert_eq!(ForkProofMessage::decode(&bytes), Err(DecodeError::TrailingBytes { what: "fork proof", count: 1 }));
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = proof().encode();
        for cut in 0..bytes.len() {
            assert!(ForkProofMessage::decode(&bytes[..cut]).is_err(), "a message cut at {cut} bytes was taken");
        }
    }

    #[test]
    fn a_first_length_that_disagrees_with_its_header_is_refused() {
        let p = proof();
        let mut bytes = p.encode();
        // Claim one byte more for the first record: the first record's header disagrees.
        bytes[..4].copy_from_slice(&(p.first.len() as u32 + 1).to_be_bytes());
        let e = ForkProofMessage::decode(&bytes).expect_err("taken");
        assert!(matches!(e, DecodeError::FieldLength { field: "first", .. }), "{e:?}");
    }

    #[test]
    fn an_oversized_length_is_refused_before_reading() {
        let mut bytes = vec![0xff, 0xff, 0xff, 0xff];
        bytes.extend_from_slice(&proof().encode()[4..]);
        let e = ForkProofMessage::decode(&bytes).expect_err("taken");
        assert!(matches!(e, DecodeError::FieldLength { field: "first", .. }), "{e:?}");
    }
}
