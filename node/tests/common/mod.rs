//! Fixtures the store tests share: a federation, a clock, authors with certificates, and
//! verification of the records they sign.
#![allow(dead_code)] // each test file uses its own part of these

use csx_node::author::Author;
use csx_protocol::body::NodeCert;
use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, FederationId, Record, Verified, VerifyContext};

pub const FED: FederationId = FederationId([3; 32]);
pub const NOW: u64 = 1_750_000_000_000;

/// The author whose node key comes from `seed`.
pub fn author(seed: u8) -> Author {
    Author::new(SecretKey::from_seed(&[seed; 32]), FED, None)
}

/// A node certificate for `a`, issued by one organisation key for every author.
pub fn cert(a: &Author) -> Body {
    let org = SecretKey::from_seed(&[0xee; 32]);
    Body::NodeCert(NodeCert::issue(&org, a.key().node_key(), "02A", NOW * 2).expect("valid cert"))
}

/// `records`, decoded again and verified at [`NOW`].
pub fn verified(records: &[Record]) -> Vec<Verified<Record>> {
    records
        .iter()
        .map(|r| {
            Record::decode(r.bytes().to_vec()).and_then(|r| r.verify(&VerifyContext::new(FED, NOW))).expect("valid")
        })
        .collect()
}
