//! Checks the test vectors published in docs/PROTOCOL.md: they must equal what this code
//! computes, and the published records must decode and verify as they stand.

use csx_protocol::{Body, FederationId, Record, VerifyContext};
use std::collections::BTreeMap;

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

/// Reads `name: value` lines (continued on indented lines) from the ```vectors block.
fn published() -> BTreeMap<String, String> {
    let block = DOC
        .split("```vectors\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/PROTOCOL.md has a ```vectors block");
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in block.lines() {
        if let Some(cont) = line.strip_prefix("  ") {
            let key = current.clone().expect("a continuation follows a name");
            out.entry(key).and_modify(|v: &mut String| v.push_str(cont.trim()));
        } else if let Some((k, v)) = line.split_once(": ") {
            out.insert(k.trim().to_string(), v.trim().to_string());
            current = Some(k.trim().to_string());
        }
    }
    out
}

#[test]
fn published_vectors_match_the_code() {
    let doc = published();
    let code = csx_protocol::vectors::vectors();
    assert_eq!(doc.len(), code.len(), "the document lists {} vectors, the code {}", doc.len(), code.len());
    for (name, value) in code {
        assert_eq!(doc.get(name), Some(&value), "vector `{name}` differs between docs/PROTOCOL.md and the code");
    }
}

#[test]
fn published_records_verify_as_published() {
    let doc = published();
    let federation: FederationId = doc["federation_id"].parse().expect("hex federation id");
    let ctx = VerifyContext::new(federation, 1_800_000_000_000);
    for n in ["record1", "record2", "record3", "record4"] {
        let bytes = hex::decode(&doc[n]).expect("hex record");
        let record = Record::decode(bytes).expect("published record decodes").verify(&ctx).expect("and verifies");
        assert_eq!(record.id().to_hex(), doc[&format!("{n}_id")]);
        if let Some(sig) = doc.get(&format!("{n}_signature")) {
            assert_eq!(&hex::encode(record.signature()), sig);
        }
    }
    let r2 = Record::decode(hex::decode(&doc["record2"]).expect("hex")).expect("decodes");
    assert!(matches!(r2.body(), Body::Review(r) if r.quality == Some(4) && r.provider == "0DE"));
    assert_eq!(r2.prev().map(|p| p.to_hex()), Some(doc["record1_id"].clone()));
    let r3 = Record::decode(hex::decode(&doc["record3"]).expect("hex")).expect("decodes");
    assert!(matches!(r3.body(), Body::Price(p) if p.contract_ref.as_deref() == Some("Lot 2")));
}

/// A price disclosure signed before contract references existed (tag 18), byte for byte.
const PRICE_BEFORE_CONTRACT_REF: &str = "435358520001000807070707070707070707070707070707070707070707070707070707070707078139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394000000000000000509090909090909090909090909090909090909090909090909090909090909090000018bcfe73cc000000069010003304445020002424903000207e80400080000000001dcd6500500010006000101070008000000000004c4b40a001e44617368626f6172647320616e6420616420686f6320616e616c797369730c000200240d0001060e000201900f000101100001021100010162734225f9b77f6cfc132c751f9c0b752082d6fdc8dea10722700a40893191f503157a462ea20c2207c397bfe2a0e7d5a9ee6ec3f8459e3d9854e0d0353ee00c";
const PRICE_BEFORE_CONTRACT_REF_ID: &str = "16aa18fcdb007fedd646b28e4759520b1e864d0f4145a019c1aa8eed33d6bef5";

#[test]
fn a_price_written_before_contract_references_decodes_as_before_and_keeps_its_id() {
    let bytes = hex::decode(PRICE_BEFORE_CONTRACT_REF).expect("hex");
    let record = Record::decode(bytes.clone()).expect("decodes");
    assert_eq!(record.id().to_hex(), PRICE_BEFORE_CONTRACT_REF_ID);
    let Body::Price(p) = record.body() else { panic!("a price") };
    assert_eq!((p.provider.as_str(), p.annual_value_pence, p.contract_ref.as_ref()), ("0DE", 31_250_000, None));
    assert_eq!(p.scope.as_deref(), Some("Dashboards and ad hoc analysis"));
    // Encoding it again gives the same body bytes: no tag 18 is written for an absent reference.
    let body = record.body().encode();
    assert!(bytes.windows(body.len()).any(|w| w == body.as_slice()), "the body encodes as it was signed");
    // The same disclosure with a reference is another record about another contract.
    let mut with_ref = p.clone();
    with_ref.contract_ref = Some("Lot 1".into());
    assert_ne!(Body::Price(with_ref.clone()).encode(), body);
    assert_ne!(Body::Price(with_ref).supersedes(), record.body().supersedes());
}

#[test]
fn the_published_reply_carries_the_providers_signature_and_a_forged_one_is_refused_by_name() {
    let doc = published();
    let federation: FederationId = doc["federation_id"].parse().expect("hex federation id");
    let ctx = VerifyContext::new(federation, 1_800_000_000_000);
    let r4 = Record::decode(hex::decode(&doc["record4"]).expect("hex")).expect("decodes");
    let Body::ProviderReply(reply) = r4.body() else { panic!("record4 is a provider reply") };
    assert_eq!(reply.review.to_hex(), doc["record2_id"], "it replies to record 2");
    assert_eq!(hex::encode(reply.provider_key), doc["provider_public_key"]);
    assert_eq!(hex::encode(reply.provider_signature), doc["reply_provider_signature"]);
    // The member re-signs a reply whose text it changed: its own signature is good, the
    // provider's is not, and every node refuses it by name.
    let mut forged = reply.clone();
    forged.text = "Thank you: the data feed was fixed in April.".into();
    let node = csx_protocol::keys::SecretKey::from_seed(&csx_protocol::vectors::NODE_SEED);
    let record = Record::sign(
        &node,
        csx_protocol::Draft {
            federation,
            seq: 4,
            prev: r4.prev(),
            created_at: r4.created_at(),
            body: Body::ProviderReply(forged),
        },
    )
    .expect("the envelope signs");
    let err = record.verify(&ctx).expect_err("the provider did not sign this text");
    assert_eq!(err.reason(), "bad_provider_signature");
    assert!(err.to_string().contains("the provider's signature does not verify"), "{err}");
}
