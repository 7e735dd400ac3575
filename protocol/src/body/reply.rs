//! The provider's right of reply: a provider key registered (and confirmed) by members, and a
//! member's record carrying a reply the provider signed offline with that key.
//!
//! Providers are not members: a provider key signs nothing but replies, and only a reply to one
//! review it names. Whether a key is confirmed for a provider (enough members registered it) and
//! whether the review is about that provider depend on other records, so they are judged where
//! records are interpreted (the node's queries and its checks before writing), not here; the
//! provider's signature needs nothing but the record and is checked by every node on receipt
//! ([`crate::Record::verify`]).

use serde::{Deserialize, Serialize};

use super::{KindBody, hex64};
use crate::encoding::{FieldWriter, Fields, Writer};
use crate::error::{DecodeError, FieldError};
use crate::ids::RecordId;
use crate::keys::{self, DOMAIN_PROVIDER_REPLY, PublicKey, SecretKey};
use crate::validate::{MAX_NAME, MAX_TEXT, at};

/// A member's statement that `key` is the reply key of provider `provider`. A key is confirmed
/// once as many distinct current members as admission needs (the genesis's endorsement
/// threshold) hold an unretracted `provider_key` record for the same provider and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderKey {
    pub provider: String,
    /// The provider's Ed25519 public key.
    #[serde(with = "hex32")]
    pub key: [u8; 32],
    /// Who at the provider holds the key, as the member was told (e.g. "Head of Contracts").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

impl KindBody for ProviderKey {
    const CONTEXT: &'static str = "provider_key";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.str(1, &self.provider);
        w.raw(2, &self.key);
        w.opt(3, &self.contact, |w, t, v| w.str(t, v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(ProviderKey { provider: f.str(1, "provider")?, key: f.array(2, "key")?, contact: f.opt_str(3, "contact")? })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "provider").provider_code(&self.provider)?;
        PublicKey::from_bytes(&self.key)
            .map_err(|_| at(c, "key").err("is not a valid Ed25519 public key (or is a weak, small-order one)"))?;
        at(c, "contact").opt_line(&self.contact, MAX_NAME)
    }
}

/// A provider's reply to one review, signed by the provider's key, as a member publishes it.
/// The record's author is the publishing member's node; the statement inside is the provider's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderReply {
    /// The review replied to.
    pub review: RecordId,
    pub text: String,
    /// When the provider signed it (the provider's clock, Unix milliseconds).
    pub signed_at: u64,
    #[serde(with = "hex32")]
    pub provider_key: [u8; 32],
    #[serde(with = "hex64")]
    pub provider_signature: [u8; 64],
}

impl ProviderReply {
    /// The bytes the provider key signs (after the domain `csx-provider-reply-v1`):
    /// `review [32] ‖ signed_at u64 ‖ len(text) u16 ‖ text`.
    pub fn signing_bytes(review: &RecordId, signed_at: u64, text: &str) -> Vec<u8> {
        let mut w = Writer::with_capacity(42 + text.len());
        w.bytes(review.as_bytes());
        w.u64(signed_at);
        w.u16(text.len() as u16);
        w.bytes(text.as_bytes());
        w.into_bytes()
    }

    /// The provider signs a reply to `review`: needs nothing but its key, the review's id and
    /// the text. Refuses text that breaks the kind's rules.
    pub fn sign(key: &SecretKey, review: RecordId, text: &str, signed_at: u64) -> Result<ProviderReply, FieldError> {
        at(Self::CONTEXT, "text").text(text, MAX_TEXT)?;
        let msg = Self::signing_bytes(&review, signed_at, text);
        Ok(ProviderReply {
            review,
            text: text.to_string(),
            signed_at,
            provider_key: key.public_bytes(),
            provider_signature: key.sign(DOMAIN_PROVIDER_REPLY, &msg),
        })
    }

    /// Whether the provider's signature is valid for the review, time and text it carries.
    pub fn signature_valid(&self) -> bool {
        let msg = Self::signing_bytes(&self.review, self.signed_at, &self.text);
        keys::verify(&self.provider_key, DOMAIN_PROVIDER_REPLY, &msg, &self.provider_signature)
    }
}

impl KindBody for ProviderReply {
    const CONTEXT: &'static str = "provider_reply";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.review.as_bytes());
        w.str(2, &self.text);
        w.u64(3, self.signed_at);
        w.raw(4, &self.provider_key);
        w.raw(5, &self.provider_signature);
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(ProviderReply {
            review: RecordId(f.array(1, "review")?),
            text: f.str(2, "text")?,
            signed_at: f.u64(3, "signed_at")?,
            provider_key: f.array(4, "provider_key")?,
            provider_signature: f.array(5, "provider_signature")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "text").text(&self.text, MAX_TEXT)?;
        PublicKey::from_bytes(&self.provider_key).map_err(|_| {
            at(c, "provider_key").err("is not a valid Ed25519 public key (or is a weak, small-order one)")
        })?;
        Ok(())
    }
}

pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.as_ref(), &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_verifies_only_as_signed() {
        let key = SecretKey::from_seed(&[4; 32]);
        let reply = ProviderReply::sign(&key, RecordId([9; 32]), "We have since fixed the feed.", 5).expect("signs");
        assert!(reply.signature_valid());
        let mut other_text = reply.clone();
        other_text.text.push('!');
        assert!(!other_text.signature_valid(), "the text is signed");
        let mut other_review = reply.clone();
        other_review.review = RecordId([8; 32]);
        assert!(!other_review.signature_valid(), "the review is signed");
        let mut other_key = reply;
        other_key.provider_key = SecretKey::from_seed(&[5; 32]).public_bytes();
        assert!(!other_key.signature_valid(), "only the provider's key verifies");
    }

    #[test]
    fn a_reply_is_refused_blank_or_too_long() {
        let key = SecretKey::from_seed(&[4; 32]);
        let e = ProviderReply::sign(&key, RecordId([9; 32]), "  ", 5).expect_err("blank");
        assert!(e.to_string().contains("provider_reply.text"), "{e}");
        let long = "x".repeat(MAX_TEXT + 1);
        assert!(ProviderReply::sign(&key, RecordId([9; 32]), &long, 5).is_err());
    }

    #[test]
    fn a_weak_key_is_refused_by_name() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let k = ProviderKey { provider: "0DE".into(), key: identity, contact: None };
        assert!(k.validate().expect_err("weak").to_string().contains("provider_key.key"));
    }
}
