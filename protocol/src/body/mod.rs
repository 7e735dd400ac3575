//! Record bodies: one struct per kind, each with its field tags, encoding, decoding and rules.
//!
//! Kind codes and field tags are frozen once released; new kinds take new codes and new fields
//! take new tags (old decoders skip them). Field tables are in docs/PROTOCOL.md.

mod membership;
mod motion;
mod price;
mod provider;
mod reply;
mod retract;
mod review;
mod switching;
mod tender;

pub use membership::{Endorse, NodeCert, OrgKind, Profile, RetireNode, Revoke, RevokedNode};
pub use motion::{BadTerm, ContractTerm, Motion, Stance, Support};
pub use price::{BuyingRoute, KpiBasis, Price, PricingModel};
pub use provider::{Provider, ProviderKind};
pub use reply::{ProviderKey, ProviderReply};
pub use retract::{MAX_ALSO as MAX_RETRACT_ALSO, Retract};
pub use review::{RATING_DIMENSIONS, Review};
pub use switching::{BadParty, Party, Switch, SwitchOutcome, SwitchReason};
pub use tender::{Intent, TenderJoin, ValueBand};

use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use serde::{Deserialize, Serialize};

/// What every record kind implements.
pub(crate) trait KindBody: Sized {
    /// The kind's name, used as the context of errors ("price.annual_value_pence: ...").
    const CONTEXT: &'static str;
    fn encode_fields(&self, w: &mut FieldWriter);
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError>;
    fn validate(&self) -> Result<(), FieldError>;
}

crate::types::coded_enum!(
    /// The record kinds of protocol v1 (the wire carries the code as a u16).
    Kind, "record kind" {
        NodeCert = 1 => "node_cert",
        Profile = 2 => "profile",
        Endorse = 3 => "endorse",
        Revoke = 4 => "revoke",
        RetireNode = 5 => "retire_node",
        Provider = 6 => "provider",
        Review = 7 => "review",
        Price = 8 => "price",
        Switch = 9 => "switch",
        SwitchOutcome = 10 => "switch_outcome",
        Motion = 11 => "motion",
        Support = 12 => "support",
        Retract = 13 => "retract",
        ProviderKey = 14 => "provider_key",
        ProviderReply = 15 => "provider_reply",
        Intent = 16 => "intent",
        TenderJoin = 17 => "tender_join",
    }
);

impl Kind {
    pub fn from_u16(code: u16) -> Option<Kind> {
        u8::try_from(code).ok().and_then(Kind::from_code)
    }
}

/// The content of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    NodeCert(NodeCert),
    Profile(Profile),
    Endorse(Endorse),
    Revoke(Revoke),
    RetireNode(RetireNode),
    Provider(Provider),
    Review(Review),
    Price(Price),
    Switch(Switch),
    SwitchOutcome(SwitchOutcome),
    Motion(Motion),
    Support(Support),
    Retract(Retract),
    ProviderKey(ProviderKey),
    ProviderReply(ProviderReply),
    Intent(Intent),
    TenderJoin(TenderJoin),
    /// A kind this version does not know (or a newer version's body it cannot read). It is
    /// stored and forwarded as received, and ignored by queries.
    Unknown {
        code: u16,
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
}

macro_rules! each_kind {
    ($self:expr, $b:ident => $e:expr, unknown => $u:expr) => {
        match $self {
            Body::NodeCert($b) => $e,
            Body::Profile($b) => $e,
            Body::Endorse($b) => $e,
            Body::Revoke($b) => $e,
            Body::RetireNode($b) => $e,
            Body::Provider($b) => $e,
            Body::Review($b) => $e,
            Body::Price($b) => $e,
            Body::Switch($b) => $e,
            Body::SwitchOutcome($b) => $e,
            Body::Motion($b) => $e,
            Body::Support($b) => $e,
            Body::Retract($b) => $e,
            Body::ProviderKey($b) => $e,
            Body::ProviderReply($b) => $e,
            Body::Intent($b) => $e,
            Body::TenderJoin($b) => $e,
            Body::Unknown { .. } => $u,
        }
    };
}

fn decode_as<T: KindBody>(bytes: &[u8], wrap: fn(T) -> Body) -> Result<Body, RecordBodyError> {
    let fields = Fields::parse(T::CONTEXT, bytes)?;
    let body = T::decode_fields(&fields)?;
    body.validate()?;
    Ok(wrap(body))
}

/// A body could not be decoded, or decoded but broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordBodyError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Field(#[from] FieldError),
}

impl Body {
    /// The wire code of this body's kind.
    pub fn kind_code(&self) -> u16 {
        match self {
            Body::Unknown { code, .. } => *code,
            other => other.kind().map_or(0, |k| k.code() as u16),
        }
    }

    /// The kind, or `None` for a kind this version does not know.
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Body::NodeCert(_) => Kind::NodeCert,
            Body::Profile(_) => Kind::Profile,
            Body::Endorse(_) => Kind::Endorse,
            Body::Revoke(_) => Kind::Revoke,
            Body::RetireNode(_) => Kind::RetireNode,
            Body::Provider(_) => Kind::Provider,
            Body::Review(_) => Kind::Review,
            Body::Price(_) => Kind::Price,
            Body::Switch(_) => Kind::Switch,
            Body::SwitchOutcome(_) => Kind::SwitchOutcome,
            Body::Motion(_) => Kind::Motion,
            Body::Support(_) => Kind::Support,
            Body::Retract(_) => Kind::Retract,
            Body::ProviderKey(_) => Kind::ProviderKey,
            Body::ProviderReply(_) => Kind::ProviderReply,
            Body::Intent(_) => Kind::Intent,
            Body::TenderJoin(_) => Kind::TenderJoin,
            Body::Unknown { .. } => return None,
        })
    }

    pub fn kind_name(&self) -> String {
        match self.kind() {
            Some(k) => k.name().to_string(),
            None => format!("unknown({})", self.kind_code()),
        }
    }

    /// Checks every field rule of this kind.
    pub fn validate(&self) -> Result<(), FieldError> {
        each_kind!(self, b => b.validate(), unknown => Ok(()))
    }

    /// The body's field bytes (without kind or length, which the envelope carries).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = FieldWriter::new();
        each_kind!(self, b => b.encode_fields(&mut w), unknown => ());
        match self {
            Body::Unknown { bytes, .. } => bytes.clone(),
            _ => w.into_bytes(),
        }
    }

    /// Decodes and validates a body of kind `code`. Unknown codes give [`Body::Unknown`].
    pub fn decode(code: u16, bytes: &[u8]) -> Result<Body, RecordBodyError> {
        let Some(kind) = Kind::from_u16(code) else {
            return Ok(Body::Unknown { code, bytes: bytes.to_vec() });
        };
        match kind {
            Kind::NodeCert => decode_as(bytes, Body::NodeCert),
            Kind::Profile => decode_as(bytes, Body::Profile),
            Kind::Endorse => decode_as(bytes, Body::Endorse),
            Kind::Revoke => decode_as(bytes, Body::Revoke),
            Kind::RetireNode => decode_as(bytes, Body::RetireNode),
            Kind::Provider => decode_as(bytes, Body::Provider),
            Kind::Review => decode_as(bytes, Body::Review),
            Kind::Price => decode_as(bytes, Body::Price),
            Kind::Switch => decode_as(bytes, Body::Switch),
            Kind::SwitchOutcome => decode_as(bytes, Body::SwitchOutcome),
            Kind::Motion => decode_as(bytes, Body::Motion),
            Kind::Support => decode_as(bytes, Body::Support),
            Kind::Retract => decode_as(bytes, Body::Retract),
            Kind::ProviderKey => decode_as(bytes, Body::ProviderKey),
            Kind::ProviderReply => decode_as(bytes, Body::ProviderReply),
            Kind::Intent => decode_as(bytes, Body::Intent),
            Kind::TenderJoin => decode_as(bytes, Body::TenderJoin),
        }
    }

    /// The service line this record is about, if any (for indexes).
    pub fn service_line(&self) -> Option<&str> {
        match self {
            Body::Review(b) => Some(&b.service_line),
            Body::Price(b) => Some(&b.service_line),
            Body::Switch(b) => Some(&b.service_line),
            Body::Motion(b) => b.service_line.as_deref(),
            Body::Intent(b) => Some(&b.service_line),
            _ => None,
        }
    }

    /// The providers this record is about (for indexes): a switch names up to two.
    pub fn providers(&self) -> Vec<&str> {
        match self {
            Body::Provider(b) => vec![b.code.as_str()],
            Body::Review(b) => vec![b.provider.as_str()],
            Body::Price(b) => vec![b.provider.as_str()],
            Body::Switch(b) => [&b.from, &b.to].into_iter().filter_map(|p| p.provider_code()).collect(),
            Body::Motion(b) => b.provider.as_deref().into_iter().collect(),
            Body::ProviderKey(b) => vec![b.provider.as_str()],
            _ => vec![],
        }
    }

    /// What this record is its author's latest word on, for kinds whose records supersede each
    /// other: a member's later price disclosure of the same provider, service line, financial
    /// year and contract reference, or its later review of the same provider, service line and
    /// financial year, replaces its earlier one (docs/QUERIES.md, "Supersession").
    pub fn supersedes(&self) -> Option<Thing<'_>> {
        match self {
            Body::Price(b) => Some(Thing {
                provider: &b.provider,
                service_line: &b.service_line,
                year: b.year,
                contract: b.contract_key(),
            }),
            Body::Review(b) => {
                Some(Thing { provider: &b.provider, service_line: &b.service_line, year: b.year, contract: None })
            }
            _ => None,
        }
    }

    /// The records this one refers to (a retraction's targets, the supported motion, the switch
    /// an outcome is of); empty for other kinds.
    pub fn refers_to(&self) -> Vec<crate::RecordId> {
        match self {
            Body::Retract(b) => b.targets().collect(),
            Body::Support(b) => vec![b.motion],
            Body::SwitchOutcome(b) => vec![b.switch],
            Body::ProviderReply(b) => vec![b.review],
            Body::TenderJoin(b) => vec![b.intent],
            _ => vec![],
        }
    }
}

/// What a superseding record is about (see [`Body::supersedes`]): records of one kind by one
/// author about the same thing replace each other.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Thing<'a> {
    pub provider: &'a str,
    pub service_line: &'a str,
    pub year: crate::FinancialYear,
    /// A price disclosure's contract reference as [`Price::contract_key`] gives it.
    pub contract: Option<String>,
}

/// Reads a one-byte enumeration code, naming the field when the code is unknown.
pub(crate) fn enum_field<T>(
    f: &Fields<'_>,
    tag: u8,
    field: &'static str,
    from_code: fn(u8) -> Option<T>,
) -> Result<Option<T>, DecodeError> {
    f.opt_u8(tag, field)?
        .map(|c| from_code(c).ok_or(DecodeError::UnknownCode { context: f.context, field, code: c }))
        .transpose()
}

pub(crate) fn req_enum<T>(
    f: &Fields<'_>,
    tag: u8,
    field: &'static str,
    from_code: fn(u8) -> Option<T>,
) -> Result<T, DecodeError> {
    enum_field(f, tag, field, from_code)?.ok_or(DecodeError::MissingField { context: f.context, field })
}

/// Reads a date field (u32 days since 1970-01-01).
pub(crate) fn date_field(
    f: &Fields<'_>,
    tag: u8,
    field: &'static str,
) -> Result<Option<crate::types::Date>, DecodeError> {
    f.opt_u32(tag, field)?
        .map(|d| crate::types::Date::from_days(d).ok_or(DecodeError::BadDate { context: f.context, field }))
        .transpose()
}

pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(s.as_ref()).map_err(serde::de::Error::custom)
    }
}

pub(crate) mod hex64 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(s.as_ref(), &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}
