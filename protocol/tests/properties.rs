//! Property tests of the record encoding: round trips, arbitrary input, tampering.

mod strategies;

use csx_protocol::body::NodeCert;
use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, Draft, Record, RecordError, RecordId, VerifyContext};
use proptest::prelude::*;
use strategies::*;

fn ctx() -> VerifyContext {
    VerifyContext::new(FEDERATION, NOW)
}

fn signed(body: Body, seq: u64) -> Record {
    let prev = (seq > 1).then_some(RecordId([9; 32]));
    let draft = Draft { federation: FEDERATION, seq, prev, created_at: NOW - 1000, body };
    Record::sign(&node_key(), draft).expect("a valid body signs")
}

fn cert_record() -> Record {
    let org = SecretKey::from_seed(&[0x41; 32]);
    let cert = NodeCert::issue(&org, node_key().node_key(), "02A", NOW + 1_000_000).expect("valid cert");
    signed(Body::NodeCert(cert), 1)
}

/// Every bit position of `record`, flipped one at a time, must make decode or verify fail.
fn assert_every_bit_flip_fails(record: &Record) {
    let bytes = record.bytes();
    for byte in 0..bytes.len() {
        for bit in 0..8 {
            let mut tampered = bytes.to_vec();
            tampered[byte] ^= 1 << bit;
            let outcome = Record::decode(tampered).and_then(|r| r.verify(&ctx()));
            assert!(outcome.is_err(), "flipping bit {bit} of byte {byte} still verified");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_kind_round_trips(body in body(), seq in 2u64..1_000_000) {
        let record = signed(body.clone(), seq);
        let decoded = Record::decode(record.bytes().to_vec()).expect("own output decodes");
        prop_assert_eq!(decoded.body(), &body);
        prop_assert_eq!(decoded.seq(), seq);
        prop_assert_eq!(decoded.id(), record.id());
        let verified = decoded.verify(&ctx());
        // Retire-node bodies carry a random organisation signature here, which must fail.
        match body {
            Body::RetireNode(_) => prop_assert!(matches!(verified, Err(RecordError::BadRetireSignature))),
            _ => prop_assert!(verified.is_ok()),
        }
        // The body also round-trips through JSON (the control API and --json use it).
        let json = serde_json::to_string(&body).expect("serialises");
        let back: Body = serde_json::from_str(&json).expect("parses back");
        prop_assert_eq!(back, body);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Record::decode(bytes).map(|r| r.verify(&ctx()));
    }

    #[test]
    fn mutated_records_never_panic(body in body(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = signed(body, 5).into_bytes();
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let _ = Record::decode(bytes).map(|r| r.verify(&ctx()));
    }

    #[test]
    fn truncated_or_extended_records_fail(body in body(), cut in any::<prop::sample::Index>(), extra in 1usize..8) {
        let bytes = signed(body, 3).into_bytes();
        let short = bytes[..cut.index(bytes.len())].to_vec();
        prop_assert!(Record::decode(short).is_err());
        let mut long = bytes.clone();
        long.extend(std::iter::repeat_n(0u8, extra));
        prop_assert!(Record::decode(long).is_err());
    }

    #[test]
    fn a_random_bit_flip_fails_verification(body in body(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = signed(body, 7).into_bytes();
        let at = pos.index(bytes.len());
        bytes[at] ^= 1 << bit;
        prop_assert!(Record::decode(bytes).and_then(|r| r.verify(&ctx())).is_err());
    }
}

#[test]
fn every_bit_of_a_certificate_and_a_review_is_covered() {
    assert_every_bit_flip_fails(&cert_record());
    let review = proptest::strategy::ValueTree::current(
        &review().new_tree(&mut proptest::test_runner::TestRunner::deterministic()).expect("a tree"),
    );
    assert_every_bit_flip_fails(&signed(review, 2));
}

#[test]
fn a_record_from_another_federation_is_refused() {
    let record = cert_record();
    let other = VerifyContext::new(csx_protocol::FederationId([1; 32]), NOW);
    let err = Record::decode(record.into_bytes()).and_then(|r| r.verify(&other)).expect_err("wrong federation");
    assert_eq!(err.reason(), "wrong_federation");
}

#[test]
fn a_record_from_the_future_is_refused() {
    let record = cert_record();
    let early = VerifyContext::new(FEDERATION, NOW - 1000 - 11 * 60 * 1000);
    let err = Record::decode(record.into_bytes()).and_then(|r| r.verify(&early)).expect_err("too far ahead");
    assert_eq!(err.reason(), "from_the_future");
}

#[test]
fn record_one_must_be_a_certificate_and_only_record_one() {
    let review = proptest::strategy::ValueTree::current(
        &review().new_tree(&mut proptest::test_runner::TestRunner::deterministic()).expect("a tree"),
    );
    let draft = Draft { federation: FEDERATION, seq: 1, prev: None, created_at: NOW, body: review };
    assert!(matches!(Record::sign(&node_key(), draft), Err(RecordError::CertPlacement { .. })));
    let cert = cert_record().body().clone();
    let draft = Draft { federation: FEDERATION, seq: 2, prev: Some(RecordId([1; 32])), created_at: NOW, body: cert };
    assert!(matches!(Record::sign(&node_key(), draft), Err(RecordError::CertPlacement { .. })));
}

#[test]
fn a_certificate_for_another_node_is_refused() {
    let org = SecretKey::from_seed(&[0x41; 32]);
    let other = SecretKey::from_seed(&[0x43; 32]);
    let cert = NodeCert::issue(&org, other.node_key(), "02A", NOW).expect("valid cert");
    let draft = Draft { federation: FEDERATION, seq: 1, prev: None, created_at: NOW, body: Body::NodeCert(cert) };
    assert!(matches!(Record::sign(&node_key(), draft), Err(RecordError::CertNotForAuthor { .. })));
}

#[test]
fn oversized_records_are_refused() {
    let mut bytes = cert_record().into_bytes();
    bytes.resize(csx_protocol::record::MAX_RECORD_BYTES + 1, 0);
    assert!(matches!(Record::decode(bytes), Err(RecordError::TooLarge { .. })));
}

#[test]
fn unknown_kinds_are_kept_as_unknown() {
    // Kind 200 from a future version: the body is opaque but the record is valid and signed.
    let body = Body::Unknown { code: 200, bytes: vec![1, 0, 3, b'n', b'e', b'w'] };
    let record = signed(body.clone(), 4);
    let decoded = Record::decode(record.bytes().to_vec()).expect("unknown kinds decode");
    assert_eq!(decoded.body(), &body);
    decoded.verify(&ctx()).expect("and verify");
}

#[test]
fn a_newer_versions_unreadable_body_is_kept_but_an_old_versions_is_refused() {
    use csx_protocol::Header;
    // A review body with rating 9: invalid for v1, perhaps meaningful to a future version.
    let mut fields = csx_protocol::encoding::FieldWriter::new();
    fields.str(1, "0DE");
    fields.str(2, "BI");
    fields.u16(3, 2024);
    fields.u8(4, 9);
    fields.bool(12, true);
    fields.str(13, "Head of BI");
    let body = fields.into_bytes();
    let header = |version| Header {
        version,
        kind: csx_protocol::Kind::Review.code() as u16,
        federation: FEDERATION,
        author: node_key().node_key(),
        seq: 2,
        prev: Some(RecordId([1; 32])),
        created_at: NOW,
    };
    let v1 = Record::sign_unchecked(&node_key(), &header(1), &body);
    let err = Record::decode(v1).expect_err("v1 body breaks a v1 rule");
    assert!(err.to_string().contains("review.quality: 9 is out of range 1..=5"), "{err}");
    let v2 = Record::sign_unchecked(&node_key(), &header(2), &body);
    let kept = Record::decode(v2).expect("a newer version's body is kept");
    assert!(matches!(kept.body(), Body::Unknown { code: 7, .. }));
    kept.verify(&ctx()).expect("and its signature verifies");
}

#[test]
fn a_node_cannot_retire_itself_below_the_record_that_says_so() {
    use csx_protocol::body::RetireNode;
    let org = SecretKey::from_seed(&[0x41; 32]);
    let me = node_key();
    let body = Body::RetireNode(RetireNode::sign(&org, &FEDERATION, me.node_key(), 4, "decommissioned"));
    let draft =
        |seq| Draft { federation: FEDERATION, seq, prev: Some(RecordId([1; 32])), created_at: NOW, body: body.clone() };
    assert!(Record::sign(&me, draft(4)).is_ok(), "the retirement is itself the last valid record");
    let err = Record::sign(&me, draft(5)).expect_err("it would invalidate itself");
    assert!(err.to_string().contains("a node retiring itself must keep this record valid: at least 5"), "{err}");
}

/// A node of the version before joint tenders (kinds 16, intent, and 17, tender_join) keeps an
/// intent and a join as unknown kinds: it decodes and verifies them, keeps their exact bytes
/// (the same ids), and what it forwards a current node reads as the intent and join written.
#[test]
fn an_intent_and_a_join_pass_through_a_node_that_predates_their_kinds_unharmed() {
    use csx_protocol::body::{Intent, TenderJoin, ValueBand};
    let before_tenders = |code: u16| code < 16;
    let intent = Body::Intent(Intent {
        service_line: "BI".into(),
        from: csx_protocol::Date::from_ymd(2027, 4, 1).expect("date"),
        value_band: ValueBand::From500kTo1m,
        population: 1_250_000,
        note: Some("Open to a joint lot with neighbours".into()),
    });
    let written = signed(intent.clone(), 5);
    let join = Body::TenderJoin(TenderJoin { intent: written.id(), comment: Some("count us in".into()) });
    let join_written = signed(join.clone(), 6);
    for (record, body, code) in [(&written, &intent, 16), (&join_written, &join, 17)] {
        let old = Record::decode_knowing(record.bytes().to_vec(), before_tenders).expect("an old node decodes it");
        assert!(matches!(old.body(), Body::Unknown { code: c, .. } if *c == code), "{:?}", old.body());
        assert_eq!(old.id(), record.id(), "the same record");
        assert_eq!(old.body().encode(), body.encode(), "its body kept byte for byte");
        let old = old.verify(&ctx()).expect("an old node verifies it");
        let forwarded = old.bytes().to_vec();
        assert_eq!(forwarded, record.bytes(), "forwarded as the exact bytes signed");
        let now = Record::decode(forwarded).expect("decodes").verify(&ctx()).expect("verifies");
        assert_eq!(now.body(), body, "a current node reads what was written");
    }
    // The current decoder is the one that knows every kind.
    let current = Record::decode_knowing(written.bytes().to_vec(), |_| true).expect("decodes");
    assert_eq!(current.body(), &intent);
}
