//! Errors of the protocol crate. Each names the culprit: the structure, the field and the rule.

use thiserror::Error;

/// The bytes are not a well-formed encoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("truncated input: ran out of bytes reading {what} at offset {at}")]
    Truncated { what: &'static str, at: usize },
    #[error("{count} unexpected trailing bytes after {what}")]
    TrailingBytes { what: &'static str, count: usize },
    #[error("not a csx record: bad magic bytes")]
    BadMagic,
    #[error("{context}: field tag 0 is reserved")]
    ZeroTag { context: &'static str },
    #[error("{context}: field tag {tag} appears after tag {after}; fields must be in ascending tag order")]
    FieldOrder { context: &'static str, tag: u8, after: u8 },
    #[error("{context}: field `{field}` appears more than once")]
    RepeatedField { context: &'static str, field: &'static str },
    #[error("{context}: required field `{field}` is missing")]
    MissingField { context: &'static str, field: &'static str },
    #[error("{context}: field `{field}` must be {expected} bytes, found {got}")]
    FieldLength { context: &'static str, field: &'static str, expected: usize, got: usize },
    #[error("{context}: field `{field}` is a boolean and must be 0 or 1, found {value}")]
    BadBool { context: &'static str, field: &'static str, value: u8 },
    #[error("{context}: field `{field}` is not valid UTF-8")]
    BadUtf8 { context: &'static str, field: &'static str },
    #[error("{context}: field `{field}` has unknown code {code}")]
    UnknownCode { context: &'static str, field: &'static str, code: u8 },
    #[error("{context}: field `{field}` is not a date between 2000-01-01 and 2100-12-31")]
    BadDate { context: &'static str, field: &'static str },
    #[error("record declares a body of {declared} bytes but {actual} remain")]
    BodyLength { declared: u32, actual: usize },
}

/// A field's value breaks a validation rule. `field` is the name used in JSON, CSV and docs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{context}.{field}: {rule}")]
pub struct FieldError {
    pub context: &'static str,
    pub field: &'static str,
    pub rule: String,
}

impl FieldError {
    pub fn new(context: &'static str, field: &'static str, rule: impl Into<String>) -> Self {
        FieldError { context, field, rule: rule.into() }
    }
}

/// Why a record was refused. [`RecordError::reason`] gives a stable short code for counters/logs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("malformed record: {0}")]
    Decode(#[from] DecodeError),
    #[error("invalid record: {0}")]
    Field(#[from] FieldError),
    #[error("record protocol version 0 is not valid")]
    BadVersion,
    #[error("record seq must start at 1, found 0")]
    SeqZero,
    #[error("record at seq {seq} must {rule}")]
    BadPrev { seq: u64, rule: &'static str },
    #[error(
        "a node certificate must be record 1 of its feed and record 1 must be a node certificate (kind {kind} at seq {seq})"
    )]
    CertPlacement { kind: u16, seq: u64 },
    #[error("node certificate is for node {cert_node} but the record is signed by {author}")]
    CertNotForAuthor { cert_node: String, author: String },
    #[error("node certificate: the organisation signature does not verify")]
    BadCertSignature,
    #[error("retire-node record: the organisation signature does not verify")]
    BadRetireSignature,
    #[error("provider reply to review {review}: the provider's signature does not verify")]
    BadProviderSignature { review: String },
    #[error("record belongs to federation {got}, not this federation {expected}")]
    WrongFederation { expected: String, got: String },
    #[error(
        "record by node {author} has created_at {created_at}, {ahead_ms} ms ahead of this node's clock (limit {limit_ms} ms): one of the two clocks is wrong"
    )]
    FromTheFuture { author: String, created_at: u64, ahead_ms: u64, limit_ms: u64 },
    #[error("record {id}: signature does not verify")]
    BadSignature { id: String },
    #[error("record author key is not a valid ed25519 public key")]
    BadAuthorKey,
}

impl RecordError {
    /// A stable, short name for the class of problem, used in counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::TooLarge { .. } => "oversized",
            RecordError::Decode(_) => "malformed",
            RecordError::Field(_) => "invalid_field",
            RecordError::BadVersion => "malformed",
            RecordError::SeqZero | RecordError::BadPrev { .. } => "bad_chain",
            RecordError::CertPlacement { .. } | RecordError::CertNotForAuthor { .. } => "bad_certificate",
            RecordError::BadCertSignature | RecordError::BadRetireSignature => "bad_org_signature",
            RecordError::BadProviderSignature { .. } => "bad_provider_signature",
            RecordError::WrongFederation { .. } => "wrong_federation",
            RecordError::FromTheFuture { .. } => "from_the_future",
            RecordError::BadSignature { .. } | RecordError::BadAuthorKey => "bad_signature",
        }
    }
}
