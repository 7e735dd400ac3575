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
    for n in ["record1", "record2"] {
        let bytes = hex::decode(&doc[n]).expect("hex record");
        let record = Record::decode(bytes).expect("published record decodes").verify(&ctx).expect("and verifies");
        assert_eq!(record.id().to_hex(), doc[&format!("{n}_id")]);
        assert_eq!(hex::encode(record.signature()), doc[&format!("{n}_signature")]);
    }
    let r2 = Record::decode(hex::decode(&doc["record2"]).expect("hex")).expect("decodes");
    assert!(matches!(r2.body(), Body::Review(r) if r.quality == Some(4) && r.provider == "0DE"));
    assert_eq!(r2.prev().map(|p| p.to_hex()), Some(doc["record1_id"].clone()));
}
