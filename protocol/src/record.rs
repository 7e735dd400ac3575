//! The signed record envelope.
//!
//! ```text
//! signed bytes := magic "CSXR" ‖ version u16 ‖ kind u16 ‖ federation [32] ‖ author [32]
//!                 ‖ seq u64 ‖ prev [32] ‖ created_at u64 ‖ body_len u32 ‖ body
//! record       := signed bytes ‖ signature [64]
//! signature    := ed25519(author, "csx-record-v1" ‖ 0x00 ‖ signed bytes)
//! id           := SHA-256(signed bytes)
//! ```
//! All integers big-endian; `prev` is 32 zero bytes for seq 1. A record is stored and forwarded
//! as the exact bytes received and verified as those bytes: nothing is ever re-encoded.

use serde::{Serialize, Serializer, ser::SerializeStruct};
use sha2::{Digest, Sha256};
use std::ops::Deref;

use crate::body::{Body, Kind, RecordBodyError};
use crate::encoding::{Reader, Writer};
use crate::error::RecordError;
use crate::ids::{FederationId, NodeKey, RecordId};
use crate::keys::{DOMAIN_RECORD, PublicKey, SecretKey};

/// First four bytes of every record.
pub const MAGIC: [u8; 4] = *b"CSXR";
/// The protocol version this code writes. Records of a higher version are accepted; their
/// bodies are read where possible and otherwise kept as [`Body::Unknown`].
pub const PROTOCOL_VERSION: u16 = 1;
/// Size of the fixed header before the body.
pub const HEADER_LEN: usize = 4 + 2 + 2 + 32 + 32 + 8 + 32 + 8 + 4;
/// Size of the trailing signature.
pub const SIGNATURE_LEN: usize = 64;
/// Largest record, header and signature included: 64 KiB.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// How far ahead of the receiver's clock a record's `created_at` may be (10 minutes).
pub const DEFAULT_MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// The fixed fields of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub kind: u16,
    pub federation: FederationId,
    pub author: NodeKey,
    pub seq: u64,
    /// The id of the author's previous record; `None` for seq 1.
    pub prev: Option<RecordId>,
    /// The author's clock, Unix milliseconds.
    pub created_at: u64,
}

impl Header {
    /// Parses and checks the header of a record, without touching the body or signature.
    /// Cheap: used to route records (author, seq) before full decoding.
    pub fn parse(bytes: &[u8]) -> Result<Header, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge { size: bytes.len(), max: MAX_RECORD_BYTES });
        }
        let mut r = Reader::new(bytes);
        if r.array::<4>("magic")? != MAGIC {
            return Err(crate::error::DecodeError::BadMagic.into());
        }
        let version = r.u16("version")?;
        if version == 0 {
            return Err(RecordError::BadVersion);
        }
        let kind = r.u16("kind")?;
        let federation = FederationId(r.array("federation")?);
        let author = NodeKey(r.array("author")?);
        let seq = r.u64("seq")?;
        let prev = RecordId(r.array("prev")?);
        let created_at = r.u64("created_at")?;
        let body_len = r.u32("body_len")?;
        let actual = r.remaining().saturating_sub(SIGNATURE_LEN);
        if r.remaining() < SIGNATURE_LEN || body_len as usize != actual {
            return Err(crate::error::DecodeError::BodyLength { declared: body_len, actual }.into());
        }
        let prev = match (seq, prev.is_zero()) {
            (0, _) => return Err(RecordError::SeqZero),
            (1, true) => None,
            (1, false) => {
                return Err(RecordError::BadPrev { seq, rule: "have an all-zero prev (it is the first)" });
            }
            (_, true) => {
                return Err(RecordError::BadPrev { seq, rule: "name its predecessor in prev" });
            }
            (_, false) => Some(prev),
        };
        Ok(Header { version, kind, federation, author, seq, prev, created_at })
    }

    fn write(&self, w: &mut Writer, body_len: u32) {
        w.bytes(&MAGIC);
        w.u16(self.version);
        w.u16(self.kind);
        w.bytes(self.federation.as_bytes());
        w.bytes(self.author.as_bytes());
        w.u64(self.seq);
        w.bytes(self.prev.unwrap_or(RecordId::ZERO).as_bytes());
        w.u64(self.created_at);
        w.u32(body_len);
    }
}

/// What is needed to sign a new record, apart from the key.
#[derive(Debug, Clone)]
pub struct Draft {
    pub federation: FederationId,
    pub seq: u64,
    pub prev: Option<RecordId>,
    pub created_at: u64,
    pub body: Body,
}

/// A decoded record: its exact bytes, header, body and id. Not necessarily verified: see
/// [`Record::verify`] and [`Verified`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    bytes: Vec<u8>,
    header: Header,
    body: Body,
    id: RecordId,
}

/// The id of a record given its full bytes (SHA-256 of everything but the signature).
pub fn record_id(bytes: &[u8]) -> RecordId {
    let signed = &bytes[..bytes.len().saturating_sub(SIGNATURE_LEN)];
    RecordId(Sha256::digest(signed).into())
}

impl Record {
    /// Validates `draft.body`, encodes the record and signs it with `key`.
    pub fn sign(key: &SecretKey, draft: Draft) -> Result<Record, RecordError> {
        draft.body.validate()?;
        let body = draft.body.encode();
        let header = Header {
            version: PROTOCOL_VERSION,
            kind: draft.body.kind_code(),
            federation: draft.federation,
            author: key.node_key(),
            seq: draft.seq,
            prev: draft.prev,
            created_at: draft.created_at,
        };
        // Decoding our own output checks every envelope rule (size, seq/prev, placement).
        Record::decode(Self::sign_unchecked(key, &header, &body))
    }

    /// Encodes `header` and `body` as given and signs them, checking nothing. For test vectors,
    /// tools and tests that must produce records other nodes should refuse.
    #[doc(hidden)]
    pub fn sign_unchecked(key: &SecretKey, header: &Header, body: &[u8]) -> Vec<u8> {
        let mut w = Writer::with_capacity(HEADER_LEN + body.len() + SIGNATURE_LEN);
        header.write(&mut w, body.len() as u32);
        w.bytes(body);
        let signature = key.sign(DOMAIN_RECORD, w.as_bytes());
        w.bytes(&signature);
        w.into_bytes()
    }

    /// Decodes `bytes` and checks every rule that needs nothing but the bytes: layout, size,
    /// seq/prev, field rules of the body, and that a node certificate is exactly record 1 and
    /// certifies its author. Signatures are checked by [`Record::verify`].
    pub fn decode(bytes: Vec<u8>) -> Result<Record, RecordError> {
        Record::decode_knowing(bytes, |_| true)
    }

    /// Decodes `bytes` as a node of an earlier version would, one that knows only the kinds for
    /// which `known` is true: the others' bodies are kept as [`Body::Unknown`]. For tests and
    /// tools that check what an old node does with a newer kind.
    #[doc(hidden)]
    pub fn decode_knowing(bytes: Vec<u8>, known: impl Fn(u16) -> bool) -> Result<Record, RecordError> {
        let header = Header::parse(&bytes)?;
        let body_bytes = &bytes[HEADER_LEN..bytes.len() - SIGNATURE_LEN];
        let decoded = if known(header.kind) {
            Body::decode(header.kind, body_bytes)
        } else {
            Ok(Body::Unknown { code: header.kind, bytes: body_bytes.to_vec() })
        };
        let body = match decoded {
            Ok(body) => body,
            // A newer author may write fields or values this version cannot read: keep the
            // record (it is signed and chained) but treat its body as unknown.
            Err(_) if header.version > PROTOCOL_VERSION => {
                Body::Unknown { code: header.kind, bytes: body_bytes.to_vec() }
            }
            Err(RecordBodyError::Decode(e)) => return Err(e.into()),
            Err(RecordBodyError::Field(e)) => return Err(e.into()),
        };
        let is_cert = header.kind == Kind::NodeCert.code() as u16;
        if is_cert != (header.seq == 1) {
            return Err(RecordError::CertPlacement { kind: header.kind, seq: header.seq });
        }
        if let Body::NodeCert(cert) = &body {
            if cert.node_key != header.author {
                return Err(RecordError::CertNotForAuthor {
                    cert_node: cert.node_key.short(),
                    author: header.author.short(),
                });
            }
        } else if is_cert {
            // Record 1 must carry a certificate this version can read.
            return Err(RecordError::CertPlacement { kind: header.kind, seq: header.seq });
        }
        if let Body::RetireNode(r) = &body
            && r.node_key == header.author
            && r.last_valid_seq < header.seq
        {
            // Otherwise the retirement would invalidate the very record that carries it.
            return Err(crate::error::FieldError::new(
                "retire_node",
                "last_valid_seq",
                format!("a node retiring itself must keep this record valid: at least {}", header.seq),
            )
            .into());
        }
        let id = record_id(&bytes);
        Ok(Record { bytes, header, body, id })
    }

    /// Checks that the record's signature (and any organisation signature it carries) verifies,
    /// then that it belongs to this federation and is not from the future. The signature comes
    /// first so that a time-dependent refusal (from the future) is only ever given to a record its
    /// author really signed.
    pub fn verify(self, ctx: &VerifyContext) -> Result<Verified<Record>, RecordError> {
        let author = PublicKey::from_bytes(self.header.author.as_bytes()).map_err(|_| RecordError::BadAuthorKey)?;
        self.verify_with_key(ctx, &author)
    }

    /// As [`Record::verify`], with the author's key already decoded (callers cache keys).
    pub fn verify_with_key(self, ctx: &VerifyContext, author: &PublicKey) -> Result<Verified<Record>, RecordError> {
        let mut msg = Vec::with_capacity(DOMAIN_RECORD.len() + 1 + self.bytes.len());
        msg.extend_from_slice(DOMAIN_RECORD);
        msg.push(0);
        msg.extend_from_slice(self.signed_bytes());
        if !author.verify_prefixed(&msg, &self.signature()) {
            return Err(RecordError::BadSignature { id: self.id.short() });
        }
        self.check_org_signatures()?;
        self.check_context(ctx)?;
        Ok(Verified(self))
    }

    /// The checks of [`Record::verify`] other than the record signature itself.
    pub fn check_context(&self, ctx: &VerifyContext) -> Result<(), RecordError> {
        if self.header.federation != ctx.federation {
            return Err(RecordError::WrongFederation {
                expected: ctx.federation.short(),
                got: self.header.federation.short(),
            });
        }
        let ahead = self.header.created_at.saturating_sub(ctx.now_ms);
        if ahead > ctx.max_clock_skew_ms {
            return Err(RecordError::FromTheFuture {
                author: self.header.author.short(),
                created_at: self.header.created_at,
                ahead_ms: ahead,
                limit_ms: ctx.max_clock_skew_ms,
            });
        }
        Ok(())
    }

    fn check_org_signatures(&self) -> Result<(), RecordError> {
        match &self.body {
            Body::NodeCert(cert) if !cert.signature_valid() => Err(RecordError::BadCertSignature),
            Body::RetireNode(r) if !r.signature_valid(&self.header.federation) => Err(RecordError::BadRetireSignature),
            Body::ProviderReply(r) if !r.signature_valid() => {
                Err(RecordError::BadProviderSignature { review: r.review.short() })
            }
            _ => Ok(()),
        }
    }

    pub fn id(&self) -> RecordId {
        self.id
    }
    pub fn header(&self) -> &Header {
        &self.header
    }
    pub fn author(&self) -> NodeKey {
        self.header.author
    }
    pub fn seq(&self) -> u64 {
        self.header.seq
    }
    pub fn prev(&self) -> Option<RecordId> {
        self.header.prev
    }
    pub fn created_at(&self) -> u64 {
        self.header.created_at
    }
    pub fn body(&self) -> &Body {
        &self.body
    }
    /// The exact bytes of the record, signature included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    /// The bytes covered by the signature and hashed into the id.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - SIGNATURE_LEN]
    }
    pub fn signature(&self) -> [u8; 64] {
        let mut s = [0u8; 64];
        s.copy_from_slice(&self.bytes[self.bytes.len() - SIGNATURE_LEN..]);
        s
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = &self.header;
        let mut st = s.serialize_struct("Record", 9)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("author", &h.author)?;
        st.serialize_field("seq", &h.seq)?;
        st.serialize_field("prev", &h.prev)?;
        st.serialize_field("created_at", &h.created_at)?;
        st.serialize_field("version", &h.version)?;
        st.serialize_field("federation", &h.federation)?;
        st.serialize_field("size", &self.bytes.len())?;
        st.serialize_field("body", &self.body)?;
        st.end()
    }
}

/// What a receiver checks a record against.
#[derive(Debug, Clone, Copy)]
pub struct VerifyContext {
    pub federation: FederationId,
    /// The receiver's clock, Unix milliseconds.
    pub now_ms: u64,
    pub max_clock_skew_ms: u64,
}

impl VerifyContext {
    pub fn new(federation: FederationId, now_ms: u64) -> Self {
        VerifyContext { federation, now_ms, max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS }
    }
}

/// A value whose signatures have been checked. Only this crate can make one, so a function that
/// takes `Verified<Record>` cannot be handed an unchecked record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> AsRef<T> for Verified<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}
