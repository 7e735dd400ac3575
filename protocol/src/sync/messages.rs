//! Sync requests and responses, and their bytes.

use crate::encoding::{Reader, Writer};
use crate::error::DecodeError;
use crate::feed::Head;
use crate::ids::{FederationId, NodeKey, RecordId};
use crate::record::MAX_RECORD_BYTES;

use super::*;

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// "My heads hash to `root`."
    Summary { federation: FederationId, root: [u8; 32] },
    /// "Send me your heads in these buckets."
    Heads { buckets: Vec<u8> },
    /// "Send me `author`'s records from `from_seq` to `to_seq` (inclusive), about `max_bytes`."
    Fetch { author: NodeKey, from_seq: u64, to_seq: u64, max_bytes: u32 },
    /// "Send me the proof that `author` forked."
    Proof { author: NodeKey },
    /// "Send me your membership records (certificates, endorsements, revocations,
    /// retirements) with ids after `after`, unless those you hold hash to `known`." Answered
    /// only to bootstrap servers and members' nodes: a bootstrap server follows the roster
    /// with it, and never sees any other record.
    Membership { known: [u8; 32], after: RecordId },
}

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResponse {
    InSync,
    Differs {
        buckets: Vec<BucketDigest>,
        forked: Vec<NodeKey>,
    },
    Heads {
        heads: Vec<(NodeKey, Head)>,
    },
    /// Contiguous records of the requested feed, from the requested seq.
    Records {
        records: Vec<Vec<u8>>,
    },
    /// The request was refused.
    Refused {
        code: RefusalCode,
        message: String,
    },
    /// Two records by one author at one seq.
    Proof {
        first: Vec<u8>,
        second: Vec<u8>,
    },
}

crate::types::coded_enum!(
    /// Why a sync request was refused.
    RefusalCode, "sync refusal" {
        WrongFederation = 1 => "wrong_federation",
        NotAMember = 2 => "not_a_member",
        TooBusy = 3 => "too_busy",
        BadRequest = 4 => "bad_request",
    }
);

pub(super) const T_SUMMARY: u8 = 1;
pub(super) const T_HEADS: u8 = 2;
pub(super) const T_FETCH: u8 = 3;
pub(super) const T_PROOF: u8 = 4;
pub(super) const T_MEMBERSHIP: u8 = 5;
pub(super) const R_IN_SYNC: u8 = 1;
pub(super) const R_DIFFERS: u8 = 2;
pub(super) const R_HEADS: u8 = 3;
pub(super) const R_RECORDS: u8 = 4;
pub(super) const R_REFUSED: u8 = 5;
pub(super) const R_PROOF: u8 = 6;
/// Most forked authors listed in one `Differs` response.
pub const MAX_FORKED: usize = 10_000;

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(80);
        match self {
            SyncRequest::Summary { federation, root } => {
                w.u8(T_SUMMARY);
                w.bytes(federation.as_bytes());
                w.bytes(root);
            }
            SyncRequest::Heads { buckets } => {
                w.u8(T_HEADS);
                w.u16(buckets.len() as u16);
                w.bytes(buckets);
            }
            SyncRequest::Fetch { author, from_seq, to_seq, max_bytes } => {
                w.u8(T_FETCH);
                w.bytes(author.as_bytes());
                w.u64(*from_seq);
                w.u64(*to_seq);
                w.u32(*max_bytes);
            }
            SyncRequest::Proof { author } => {
                w.u8(T_PROOF);
                w.bytes(author.as_bytes());
            }
            SyncRequest::Membership { known, after } => {
                w.u8(T_MEMBERSHIP);
                w.bytes(known);
                w.bytes(after.as_bytes());
            }
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<SyncRequest, DecodeError> {
        let mut r = Reader::new(bytes);
        let req = match r.u8("sync request type")? {
            T_SUMMARY => {
                SyncRequest::Summary { federation: FederationId(r.array("federation")?), root: r.array("root")? }
            }
            T_HEADS => {
                let n = r.u16("bucket count")? as usize;
                if n > BUCKETS {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "buckets",
                        expected: BUCKETS,
                        got: n,
                    });
                }
                SyncRequest::Heads { buckets: r.take(n, "buckets")?.to_vec() }
            }
            T_FETCH => SyncRequest::Fetch {
                author: NodeKey(r.array("author")?),
                from_seq: r.u64("from_seq")?,
                to_seq: r.u64("to_seq")?,
                max_bytes: r.u32("max_bytes")?,
            },
            T_PROOF => SyncRequest::Proof { author: NodeKey(r.array("author")?) },
            T_MEMBERSHIP => SyncRequest::Membership { known: r.array("known")?, after: RecordId(r.array("after")?) },
            code => return Err(DecodeError::UnknownCode { context: "sync", field: "request type", code }),
        };
        r.finish("sync request")?;
        Ok(req)
    }
}

impl SyncResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            SyncResponse::InSync => w.u8(R_IN_SYNC),
            SyncResponse::Differs { buckets, forked } => {
                w.u8(R_DIFFERS);
                w.u16(buckets.len() as u16);
                for b in buckets {
                    w.bytes(b);
                }
                w.u32(forked.len() as u32);
                for k in forked {
                    w.bytes(k.as_bytes());
                }
            }
            SyncResponse::Heads { heads } => {
                w.u8(R_HEADS);
                w.u32(heads.len() as u32);
                for (a, h) in heads {
                    w.bytes(a.as_bytes());
                    w.u64(h.seq);
                    w.bytes(h.id.as_bytes());
                }
            }
            SyncResponse::Records { records } => {
                w.u8(R_RECORDS);
                w.u32(records.len() as u32);
                for rec in records {
                    w.u32(rec.len() as u32);
                    w.bytes(rec);
                }
            }
            SyncResponse::Refused { code, message } => {
                w.u8(R_REFUSED);
                w.u8(code.code());
                let m = &message.as_bytes()[..message.len().min(1024)];
                w.u16(m.len() as u16);
                w.bytes(m);
            }
            SyncResponse::Proof { first, second } => {
                w.u8(R_PROOF);
                w.u32(first.len() as u32);
                w.bytes(first);
                w.u32(second.len() as u32);
                w.bytes(second);
            }
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<SyncResponse, DecodeError> {
        let mut r = Reader::new(bytes);
        let resp = match r.u8("sync response type")? {
            R_IN_SYNC => SyncResponse::InSync,
            R_DIFFERS => {
                let n = r.u16("bucket count")? as usize;
                if n != BUCKETS {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "buckets",
                        expected: BUCKETS,
                        got: n,
                    });
                }
                let buckets = (0..n).map(|_| r.array("bucket digest")).collect::<Result<_, _>>()?;
                let f = r.u32("forked count")? as usize;
                if f > MAX_FORKED || f * 32 > r.remaining() {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "forked",
                        expected: r.remaining() / 32,
                        got: f,
                    });
                }
                let forked = (0..f).map(|_| r.array("forked author").map(NodeKey)).collect::<Result<_, _>>()?;
                SyncResponse::Differs { buckets, forked }
            }
            R_HEADS => {
                let n = r.u32("head count")? as usize;
                if n > MAX_HEADS || n * 72 > r.remaining() {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "heads",
                        expected: r.remaining() / 72,
                        got: n,
                    });
                }
                let heads = (0..n)
                    .map(|_| {
                        Ok((NodeKey(r.array("author")?), Head { seq: r.u64("seq")?, id: RecordId(r.array("id")?) }))
                    })
                    .collect::<Result<_, DecodeError>>()?;
                SyncResponse::Heads { heads }
            }
            R_RECORDS => {
                let n = r.u32("record count")? as usize;
                if n * 4 > r.remaining() {
                    return Err(DecodeError::FieldLength {
                        context: "sync",
                        field: "records",
                        expected: r.remaining() / 4,
                        got: n,
                    });
                }
                let mut records = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = r.u32("record length")? as usize;
                    if len > MAX_RECORD_BYTES {
                        return Err(DecodeError::FieldLength {
                            context: "sync",
                            field: "record",
                            expected: MAX_RECORD_BYTES,
                            got: len,
                        });
                    }
                    records.push(r.take(len, "record")?.to_vec());
                }
                SyncResponse::Records { records }
            }
            R_REFUSED => {
                let c = r.u8("refusal code")?;
                let code = RefusalCode::from_code(c).ok_or(DecodeError::UnknownCode {
                    context: "sync",
                    field: "refusal",
                    code: c,
                })?;
                let n = r.u16("message length")? as usize;
                let message = String::from_utf8_lossy(r.take(n, "message")?).into_owned();
                SyncResponse::Refused { code, message }
            }
            R_PROOF => {
                let mut record = |what| -> Result<Vec<u8>, DecodeError> {
                    let len = r.u32(what)? as usize;
                    if len > MAX_RECORD_BYTES {
                        return Err(DecodeError::FieldLength {
                            context: "sync",
                            field: "proof",
                            expected: MAX_RECORD_BYTES,
                            got: len,
                        });
                    }
                    Ok(r.take(len, what)?.to_vec())
                };
                let first = record("first record")?;
                let second = record("second record")?;
                SyncResponse::Proof { first, second }
            }
            code => return Err(DecodeError::UnknownCode { context: "sync", field: "response type", code }),
        };
        r.finish("sync response")?;
        Ok(resp)
    }
}
