//! Kinds about who is who: node certificates, organisation profiles, endorsements, revocations
//! and node retirements.

use serde::{Deserialize, Serialize};

use super::{KindBody, hex64, req_enum};
use crate::encoding::{FieldWriter, Fields, Writer};
use crate::error::{DecodeError, FieldError};
use crate::ids::{FederationId, NodeKey, OrgKey};
use crate::keys::{self, DOMAIN_NODE_CERT, DOMAIN_RETIRE_NODE, SecretKey};
use crate::types::FinancialYear;
use crate::validate::{MAX_LABEL, MAX_LIST, MAX_NAME, MAX_POPULATION, MAX_TEXT, at};

/// An organisation key's statement that a node key acts for it until `expires_at`.
/// It is always record 1 of the node's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCert {
    pub node_key: NodeKey,
    pub org_key: OrgKey,
    pub ods_code: String,
    /// Unix milliseconds after which the node's records are no longer valid.
    pub expires_at: u64,
    #[serde(with = "hex64")]
    pub org_signature: [u8; 64],
}

impl NodeCert {
    /// The bytes the organisation key signs (after the domain `csx-node-cert-v1`).
    pub fn signing_bytes(node_key: &NodeKey, org_key: &OrgKey, ods_code: &str, expires_at: u64) -> Vec<u8> {
        let mut w = Writer::with_capacity(80);
        w.bytes(node_key.as_bytes());
        w.bytes(org_key.as_bytes());
        w.u8(ods_code.len() as u8);
        w.bytes(ods_code.as_bytes());
        w.u64(expires_at);
        w.into_bytes()
    }

    /// Certifies `node_key` for the organisation `org`.
    pub fn issue(org: &SecretKey, node_key: NodeKey, ods_code: &str, expires_at: u64) -> Result<NodeCert, FieldError> {
        at("node_cert", "ods_code").ods_code(ods_code)?;
        let org_key = org.org_key();
        let msg = Self::signing_bytes(&node_key, &org_key, ods_code, expires_at);
        Ok(NodeCert {
            node_key,
            org_key,
            ods_code: ods_code.to_string(),
            expires_at,
            org_signature: org.sign(DOMAIN_NODE_CERT, &msg),
        })
    }

    /// Whether the organisation signature is valid.
    pub fn signature_valid(&self) -> bool {
        let msg = Self::signing_bytes(&self.node_key, &self.org_key, &self.ods_code, self.expires_at);
        keys::verify(self.org_key.as_bytes(), DOMAIN_NODE_CERT, &msg, &self.org_signature)
    }
}

impl KindBody for NodeCert {
    const CONTEXT: &'static str = "node_cert";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.node_key.as_bytes());
        w.raw(2, self.org_key.as_bytes());
        w.str(3, &self.ods_code);
        w.u64(4, self.expires_at);
        w.raw(5, &self.org_signature);
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(NodeCert {
            node_key: NodeKey(f.array(1, "node_key")?),
            org_key: OrgKey(f.array(2, "org_key")?),
            ods_code: f.str(3, "ods_code")?,
            expires_at: f.u64(4, "expires_at")?,
            org_signature: f.array(5, "org_signature")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        at(Self::CONTEXT, "ods_code").ods_code(&self.ods_code)
    }
}

crate::types::coded_enum!(
    /// What kind of buyer organisation a member is.
    OrgKind, "organisation kind" {
        Ccg = 1 => "ccg",
        Icb = 2 => "icb",
        SubIcb = 3 => "sub_icb",
        Other = 4 => "other",
    }
);

/// An organisation's public profile; the latest one from any of its nodes counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub org_kind: OrgKind,
    /// Registered population, used to normalise prices per head.
    #[serde(default)]
    pub population: Option<u64>,
    /// The financial year the population figure is for (required with `population`).
    #[serde(default)]
    pub population_year: Option<FinancialYear>,
    #[serde(default)]
    pub region: Option<String>,
    /// ODS codes of organisations this one replaced (e.g. merged CCGs).
    #[serde(default)]
    pub predecessors: Vec<String>,
    #[serde(default)]
    pub successors: Vec<String>,
}

impl KindBody for Profile {
    const CONTEXT: &'static str = "profile";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.str(1, &self.name);
        w.u8(2, self.org_kind.code());
        w.opt(3, &self.population, |w, t, v| w.u64(t, *v));
        w.opt(4, &self.population_year, |w, t, v| w.u16(t, v.0));
        w.opt(5, &self.region, |w, t, v| w.str(t, v));
        for p in &self.predecessors {
            w.str(6, p);
        }
        for s in &self.successors {
            w.str(7, s);
        }
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(Profile {
            name: f.str(1, "name")?,
            org_kind: req_enum(f, 2, "org_kind", OrgKind::from_code)?,
            population: f.opt_u64(3, "population")?,
            population_year: f.opt_u16(4, "population_year")?.map(FinancialYear),
            region: f.opt_str(5, "region")?,
            predecessors: f.str_list(6, "predecessors")?,
            successors: f.str_list(7, "successors")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "name").line(&self.name, MAX_NAME)?;
        at(c, "population").opt_range(self.population, 1, MAX_POPULATION)?;
        match (self.population, self.population_year) {
            (Some(_), None) => {
                return Err(at(c, "population_year").err("is required when population is given"));
            }
            (None, Some(_)) => {
                return Err(at(c, "population").err("is required when population_year is given"));
            }
            (_, Some(y)) => at(c, "population_year").year(y)?,
            _ => {}
        }
        at(c, "region").opt_line(&self.region, MAX_LABEL)?;
        for (field, list) in [("predecessors", &self.predecessors), ("successors", &self.successors)] {
            at(c, field).list_len(list, MAX_LIST)?;
            for code in list {
                at(c, field).ods_code(code)?;
            }
        }
        Ok(())
    }
}

/// "This organisation key, with this ODS code and name, should be a member."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorse {
    pub org_key: OrgKey,
    pub ods_code: String,
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
}

impl KindBody for Endorse {
    const CONTEXT: &'static str = "endorse";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.org_key.as_bytes());
        w.str(2, &self.ods_code);
        w.str(3, &self.name);
        w.opt(4, &self.comment, |w, t, v| w.str(t, v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(Endorse {
            org_key: OrgKey(f.array(1, "org_key")?),
            ods_code: f.str(2, "ods_code")?,
            name: f.str(3, "name")?,
            comment: f.opt_str(4, "comment")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "ods_code").ods_code(&self.ods_code)?;
        at(c, "name").line(&self.name, MAX_NAME)?;
        at(c, "comment").opt_text(&self.comment, MAX_TEXT)
    }
}

/// One node of a revoked member and the last of its records that stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedNode {
    pub node_key: NodeKey,
    pub last_valid_seq: u64,
}

/// "This member should be removed." Records its nodes signed up to `last_valid_seq` stay valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoke {
    pub org_key: OrgKey,
    pub reason: String,
    #[serde(default)]
    pub nodes: Vec<RevokedNode>,
}

impl KindBody for Revoke {
    const CONTEXT: &'static str = "revoke";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.org_key.as_bytes());
        w.str(2, &self.reason);
        for n in &self.nodes {
            let mut v = Writer::with_capacity(40);
            v.bytes(n.node_key.as_bytes());
            v.u64(n.last_valid_seq);
            w.raw(3, v.as_bytes());
        }
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        let nodes = f
            .list(3)
            .into_iter()
            .map(|v| {
                let a: [u8; 40] = v.try_into().map_err(|_| DecodeError::FieldLength {
                    context: Self::CONTEXT,
                    field: "nodes",
                    expected: 40,
                    got: v.len(),
                })?;
                let mut key = [0u8; 32];
                key.copy_from_slice(&a[..32]);
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&a[32..]);
                Ok(RevokedNode { node_key: NodeKey(key), last_valid_seq: u64::from_be_bytes(seq) })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Revoke { org_key: OrgKey(f.array(1, "org_key")?), reason: f.str(2, "reason")?, nodes })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "reason").text(&self.reason, MAX_TEXT)?;
        at(c, "nodes").list_len(&self.nodes, 256)?;
        let mut keys: Vec<_> = self.nodes.iter().map(|n| n.node_key).collect();
        keys.sort();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(at(c, "nodes").err("names the same node twice"));
        }
        Ok(())
    }
}

/// An organisation-signed statement that one of its node keys is no longer valid after
/// `last_valid_seq` (lost, compromised or decommissioned). Any node may carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetireNode {
    pub node_key: NodeKey,
    pub last_valid_seq: u64,
    pub reason: String,
    pub org_key: OrgKey,
    #[serde(with = "hex64")]
    pub org_signature: [u8; 64],
}

impl RetireNode {
    /// The bytes the organisation key signs (after the domain `csx-retire-node-v1`).
    pub fn signing_bytes(federation: &FederationId, node_key: &NodeKey, last_valid_seq: u64) -> Vec<u8> {
        let mut w = Writer::with_capacity(72);
        w.bytes(federation.as_bytes());
        w.bytes(node_key.as_bytes());
        w.u64(last_valid_seq);
        w.into_bytes()
    }

    pub fn sign(
        org: &SecretKey,
        federation: &FederationId,
        node_key: NodeKey,
        last_valid_seq: u64,
        reason: &str,
    ) -> RetireNode {
        let msg = Self::signing_bytes(federation, &node_key, last_valid_seq);
        RetireNode {
            node_key,
            last_valid_seq,
            reason: reason.to_string(),
            org_key: org.org_key(),
            org_signature: org.sign(DOMAIN_RETIRE_NODE, &msg),
        }
    }

    pub fn signature_valid(&self, federation: &FederationId) -> bool {
        let msg = Self::signing_bytes(federation, &self.node_key, self.last_valid_seq);
        keys::verify(self.org_key.as_bytes(), DOMAIN_RETIRE_NODE, &msg, &self.org_signature)
    }
}

impl KindBody for RetireNode {
    const CONTEXT: &'static str = "retire_node";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.node_key.as_bytes());
        w.u64(2, self.last_valid_seq);
        w.str(3, &self.reason);
        w.raw(4, self.org_key.as_bytes());
        w.raw(5, &self.org_signature);
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(RetireNode {
            node_key: NodeKey(f.array(1, "node_key")?),
            last_valid_seq: f.u64(2, "last_valid_seq")?,
            reason: f.str(3, "reason")?,
            org_key: OrgKey(f.array(4, "org_key")?),
            org_signature: f.array(5, "org_signature")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        at(Self::CONTEXT, "reason").text(&self.reason, MAX_TEXT)
    }
}
