//! 32-byte identifiers: record ids, federation ids and public keys.
//!
//! All display as lowercase hex; [`short`](RecordId::short) gives the first 12 hex digits, which
//! the CLI accepts back as a prefix when it is unique.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Number of hex digits shown in the short form of an identifier.
pub const SHORT_HEX: usize = 12;

/// An identifier could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a {what}: expected 64 hexadecimal digits")]
pub struct ParseIdError {
    pub what: &'static str,
    pub input: String,
}

macro_rules! id32 {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub const ZERO: $name = $name([0u8; 32]);
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// The first [`SHORT_HEX`] hex digits, for display.
            pub fn short(&self) -> String {
                let mut s = self.to_hex();
                s.truncate(SHORT_HEX);
                s
            }
            pub fn is_zero(&self) -> bool {
                self.0 == [0u8; 32]
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, ParseIdError> {
                let err = || ParseIdError { what: $what, input: s.chars().take(80).collect() };
                let mut out = [0u8; 32];
                hex::decode_to_slice(s.trim(), &mut out).map_err(|_| err())?;
                Ok($name(out))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id32!(
    /// SHA-256 of a record's signed bytes (see docs/PROTOCOL.md).
    RecordId,
    "record id"
);
id32!(
    /// SHA-256 of the canonical encoding of a genesis file's identity fields.
    FederationId,
    "federation id"
);
id32!(
    /// A node's ed25519 public key: its libp2p identity and the author of its feed.
    NodeKey,
    "node key"
);
id32!(
    /// An organisation's ed25519 public key: a member's identity; it certifies node keys.
    OrgKey,
    "organisation key"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_short_form() {
        let id = RecordId([0xab; 32]);
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(id.short(), "abababababab");
        assert_eq!(text.parse::<RecordId>().expect("valid hex"), id);
    }

    #[test]
    fn bad_hex_names_what_was_expected() {
        let err = "xyz".parse::<NodeKey>().expect_err("not hex");
        assert_eq!(err.to_string(), "`xyz` is not a node key: expected 64 hexadecimal digits");
    }

    #[test]
    fn serde_uses_hex_strings() {
        let key = OrgKey([1; 32]);
        let json = serde_json::to_string(&key).expect("serialises");
        assert_eq!(json, format!("\"{}\"", "01".repeat(32)));
        assert_eq!(serde_json::from_str::<OrgKey>(&json).expect("parses"), key);
    }
}
