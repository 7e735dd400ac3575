//! Fuzzing on stable Rust: every decoder and validator of bytes from the network is fed
//! arbitrary and mutated inputs and must return an error, never panic. (Coverage-guided
//! fuzzing of the same entry points: protocol/fuzz, see docs/FUZZING.md.)

mod strategies;

use csx_protocol::sync::{HeadsIndex, SyncLimits, SyncRequest, SyncResponse, SyncSession};
use csx_protocol::{Genesis, Record, VerifyContext};
use proptest::prelude::*;
use strategies::*;

fn record_entry(bytes: Vec<u8>) {
    let _ = Record::decode(bytes).map(|r| r.verify(&VerifyContext::new(FEDERATION, NOW)));
}

fn sync_entry(bytes: &[u8]) {
    let _ = SyncRequest::decode(bytes);
    if let Ok(resp) = SyncResponse::decode(bytes) {
        // Whatever a peer answers, the initiator's state machine must not panic either.
        let mut local = HeadsIndex::default();
        let (mut s, _) = SyncSession::start(FEDERATION, SyncLimits::default(), &mut local);
        let _ = s.on_response(0, resp, &mut local);
    }
}

fn valid_sync_messages() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(SyncResponse::InSync.encode()),
        Just(
            SyncResponse::Differs { buckets: vec![[3; csx_protocol::sync::BUCKET_DIGEST_LEN]; 256], forked: vec![] }
                .encode()
        ),
        any::<[u8; 32]>().prop_map(|k| SyncRequest::Fetch {
            author: csx_protocol::NodeKey(k),
            from_seq: 1,
            to_seq: 9,
            max_bytes: 1000
        }
        .encode()),
        body().prop_map(|b| {
            let r = Record::sign(
                &node_key(),
                csx_protocol::Draft {
                    federation: FEDERATION,
                    seq: 2,
                    prev: Some(csx_protocol::RecordId([1; 32])),
                    created_at: NOW,
                    body: b,
                },
            )
            .expect("signs");
            SyncResponse::Records { records: vec![r.into_bytes()] }.encode()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn record_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        record_entry(bytes);
    }

    #[test]
    fn record_decoding_of_a_valid_header_and_random_body_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..2048), kind in any::<u16>(), version in 1u16..4)
    {
        let header = csx_protocol::Header {
            version, kind, federation: FEDERATION, author: node_key().node_key(), seq: 2,
            prev: Some(csx_protocol::RecordId([1; 32])), created_at: NOW,
        };
        record_entry(Record::sign_unchecked(&node_key(), &header, &body));
    }

    #[test]
    fn sync_message_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        sync_entry(&bytes);
    }

    #[test]
    fn mutated_sync_messages_never_panic(msg in valid_sync_messages(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = msg;
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        sync_entry(&bytes);
    }

    #[test]
    fn genesis_parsing_never_panics(text in "\\\\PC{0,400}") {
        if let Ok(g) = serde_json::from_str::<Genesis>(&text) {
            let _ = g.validate();
        }
    }
}
