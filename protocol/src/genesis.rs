//! The genesis file: what defines a federation, and the federation id derived from it.
//!
//! The id is SHA-256 over `"csx-genesis-v1" ‖ 0x00 ‖ canonical encoding` of the identity fields
//! (name, creation time, founders sorted by key, thresholds). Bootstrap addresses are not part
//! of the id: they are operational and can change without creating a new federation.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::FieldWriter;
use crate::error::FieldError;
use crate::ids::{FederationId, OrgKey};
use crate::keys::PublicKey;
use crate::validate::{MAX_NAME, at};

/// Domain prefix of the genesis hash.
pub const DOMAIN_GENESIS: &[u8] = b"csx-genesis-v1";
/// Value of the `format` field of a genesis file.
pub const GENESIS_FORMAT: &str = "csx-genesis-v1";
/// Default number of distinct members that must contribute before a statistic is shown.
pub const DEFAULT_DISCLOSURE_THRESHOLD: u16 = 3;
/// Default largest share of a statistic's data points one member may supply (50%).
pub const DEFAULT_MAX_MEMBER_SHARE_BP: u16 = 5000;

/// A founding member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Founder {
    pub org_key: OrgKey,
    pub ods_code: String,
    pub name: String,
}

/// The parameters that define a federation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Always [`GENESIS_FORMAT`].
    pub format: String,
    /// The id derived from the other fields; checked on load so an edited file is caught.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation_id: Option<FederationId>,
    pub name: String,
    /// Unix milliseconds; distinguishes two federations with the same name and founders.
    pub created_at: u64,
    pub founders: Vec<Founder>,
    /// Distinct current members whose endorsements admit a new member.
    pub endorsement_threshold: u16,
    /// Distinct current members (other than the one revoked) whose revocations remove a member.
    pub revocation_threshold: u16,
    /// Distinct members that must contribute before a statistic is shown (k).
    pub disclosure_threshold: u16,
    /// Largest share of a statistic's data points one member may supply, in basis points.
    pub max_member_share_bp: u16,
    /// Multiaddresses of bootstrap servers (not part of the id).
    #[serde(default)]
    pub bootstrap: Vec<String>,
}

/// A genesis file is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis: {0}")]
    Field(#[from] FieldError),
    #[error("genesis: format is `{0}`, expected `{GENESIS_FORMAT}`")]
    Format(String),
    #[error(
        "genesis: federation_id {stated} does not match the file's content (which hashes to {actual}); the file has been altered"
    )]
    IdMismatch { stated: String, actual: String },
}

impl Genesis {
    /// A new genesis with the default thresholds for these founders.
    pub fn new(name: &str, created_at: u64, founders: Vec<Founder>) -> Genesis {
        let n = founders.len().clamp(1, 2) as u16;
        let mut g = Genesis {
            format: GENESIS_FORMAT.to_string(),
            federation_id: None,
            name: name.to_string(),
            created_at,
            founders,
            endorsement_threshold: n,
            revocation_threshold: n,
            disclosure_threshold: DEFAULT_DISCLOSURE_THRESHOLD,
            max_member_share_bp: DEFAULT_MAX_MEMBER_SHARE_BP,
            bootstrap: vec![],
        };
        g.federation_id = Some(g.compute_id());
        g
    }

    /// The canonical encoding hashed into the federation id.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut founders: Vec<&Founder> = self.founders.iter().collect();
        founders.sort_by_key(|a| a.org_key);
        let mut w = FieldWriter::new();
        w.str(1, &self.name);
        w.u64(2, self.created_at);
        for f in founders {
            let mut fw = FieldWriter::new();
            fw.raw(1, f.org_key.as_bytes());
            fw.str(2, &f.ods_code);
            fw.str(3, &f.name);
            w.raw(3, &fw.into_bytes());
        }
        w.u16(4, self.endorsement_threshold);
        w.u16(5, self.revocation_threshold);
        w.u16(6, self.disclosure_threshold);
        w.u16(7, self.max_member_share_bp);
        w.into_bytes()
    }

    pub fn compute_id(&self) -> FederationId {
        let mut h = Sha256::new();
        h.update(DOMAIN_GENESIS);
        h.update([0u8]);
        h.update(self.canonical_bytes());
        FederationId(h.finalize().into())
    }

    /// The federation id (computed; use after [`Genesis::validate`]).
    pub fn id(&self) -> FederationId {
        self.compute_id()
    }

    /// Checks every rule, and that a stated `federation_id` matches the content.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let c = "genesis";
        if self.format != GENESIS_FORMAT {
            return Err(GenesisError::Format(self.format.clone()));
        }
        at(c, "name").line(&self.name, MAX_NAME)?;
        if self.founders.is_empty() {
            return Err(at(c, "founders").err("needs at least one founder").into());
        }
        at(c, "founders").list_len(&self.founders, 1000)?;
        for f in &self.founders {
            at(c, "founders.ods_code").ods_code(&f.ods_code)?;
            at(c, "founders.name").line(&f.name, MAX_NAME)?;
            if PublicKey::from_bytes(f.org_key.as_bytes()).is_err() {
                return Err(at(c, "founders.org_key")
                    .err(format!("{} is not a valid ed25519 key", f.org_key.short()))
                    .into());
            }
        }
        for (i, a) in self.founders.iter().enumerate() {
            for b in &self.founders[i + 1..] {
                if a.org_key == b.org_key {
                    return Err(at(c, "founders")
                        .err(format!("organisation key {} is listed twice", a.org_key.short()))
                        .into());
                }
                if a.ods_code == b.ods_code {
                    return Err(at(c, "founders").err(format!("ODS code {} is listed twice", a.ods_code)).into());
                }
            }
        }
        at(c, "endorsement_threshold").range(self.endorsement_threshold, 1, 1000)?;
        at(c, "revocation_threshold").range(self.revocation_threshold, 1, 1000)?;
        at(c, "disclosure_threshold").range(self.disclosure_threshold, 1, 1000)?;
        at(c, "max_member_share_bp").range(self.max_member_share_bp, 1, 10_000)?;
        for a in &self.bootstrap {
            at(c, "bootstrap").line(a, 500)?;
        }
        let actual = self.compute_id();
        if let Some(stated) = self.federation_id
            && stated != actual
        {
            return Err(GenesisError::IdMismatch { stated: stated.to_hex(), actual: actual.to_hex() });
        }
        Ok(())
    }

    pub fn founder(&self, org: &OrgKey) -> Option<&Founder> {
        self.founders.iter().find(|f| &f.org_key == org)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn founders() -> Vec<Founder> {
        (1u8..=3)
            .map(|i| Founder {
                org_key: crate::keys::SecretKey::from_seed(&[i; 32]).org_key(),
                ods_code: format!("0{i}A"),
                name: format!("NHS Test {i} CCG"),
            })
            .collect()
    }

    #[test]
    fn id_ignores_founder_order_and_bootstrap() {
        let g = Genesis::new("Test", 1_700_000_000_000, founders());
        let mut h = g.clone();
        h.founders.reverse();
        h.bootstrap.push("/ip4/127.0.0.1/tcp/4001".into());
        assert_eq!(g.compute_id(), h.compute_id());
        h.validate().expect("still valid: the stated id matches");
    }

    #[test]
    fn edited_file_is_caught() {
        let mut g = Genesis::new("Test", 1_700_000_000_000, founders());
        g.disclosure_threshold = 1;
        let err = g.validate().expect_err("content changed under the stated id");
        assert!(matches!(err, GenesisError::IdMismatch { .. }), "{err}");
    }

    #[test]
    fn duplicate_founders_are_refused() {
        let mut f = founders();
        f.push(f[0].clone());
        let g = Genesis::new("Test", 1, f);
        assert!(g.validate().expect_err("duplicate").to_string().contains("listed twice"));
    }
}
