//! The test vectors published in docs/PROTOCOL.md, computed from fixed keys and fields.
//! `cargo run -p csx-protocol --example vectors` prints them; `tests/vectors.rs` checks that
//! the document and this code agree, and that the published records verify.

use crate::body::{
    Body, BuyingRoute, Intent, KpiBasis, NodeCert, Price, PricingModel, ProviderKey, ProviderReply, Retract, Review,
    TenderJoin, ValueBand,
};
use crate::genesis::{Founder, Genesis};
use crate::keys::SecretKey;
use crate::record::{Draft, Record};
use crate::types::FinancialYear;

/// Seed of the vector organisation key (32 bytes of 0x01).
pub const ORG_SEED: [u8; 32] = [0x01; 32];
/// Seed of the vector node key (32 bytes of 0x02).
pub const NODE_SEED: [u8; 32] = [0x02; 32];
/// Seed of the vector provider key (32 bytes of 0x04).
pub const PROVIDER_SEED: [u8; 32] = [0x04; 32];

/// `(name, lowercase hex or decimal value)` pairs, in document order.
pub fn vectors() -> Vec<(&'static str, String)> {
    let org = SecretKey::from_seed(&ORG_SEED);
    let node = SecretKey::from_seed(&NODE_SEED);
    let genesis = Genesis::new(
        "csx test vector federation",
        1_700_000_000_000,
        vec![Founder { org_key: org.org_key(), ods_code: "02A".into(), name: "NHS Test Vector CCG".into() }],
    );
    let federation = genesis.id();
    let cert = NodeCert::issue(&org, node.node_key(), "02A", 1_900_000_000_000).expect("valid vector cert");
    let r1 = Record::sign(
        &node,
        Draft { federation, seq: 1, prev: None, created_at: 1_700_000_000_000, body: Body::NodeCert(cert.clone()) },
    )
    .expect("vector record 1 signs");
    let review = Review {
        provider: "0DE".into(),
        service_line: "BI".into(),
        year: FinancialYear(2024),
        quality: Some(4),
        timeliness: Some(3),
        responsiveness: None,
        data_accuracy: None,
        flexibility: None,
        value_for_money: None,
        kpi_delivery: None,
        would_recommend: Some(8),
        still_customer: true,
        reviewer_role: "Head of BI".into(),
        comment: Some("Dashboards on time; data quality improving.".into()),
    };
    let r2 = Record::sign(
        &node,
        Draft { federation, seq: 2, prev: Some(r1.id()), created_at: 1_700_000_060_000, body: Body::Review(review) },
    )
    .expect("vector record 2 signs");
    let price = Price {
        provider: "0DE".into(),
        service_line: "BI".into(),
        year: FinancialYear(2024),
        annual_value_pence: 31_250_000,
        vat_included: false,
        pricing_model: PricingModel::Fixed,
        population_covered: 312_500,
        unit_name: None,
        unit_count: None,
        scope: None,
        contract_start: None,
        contract_months: Some(36),
        notice_months: Some(6),
        efficiency_bp: Some(400),
        kpi_basis: Some(KpiBasis::Outcome),
        buying_route: Some(BuyingRoute::Framework),
        satisfaction_survey: Some(true),
        contract_ref: Some("Lot 2".into()),
    };
    let r3 = Record::sign(
        &node,
        Draft { federation, seq: 3, prev: Some(r2.id()), created_at: 1_700_000_120_000, body: Body::Price(price) },
    )
    .expect("vector record 3 signs");
    // A second record at seq 3: the same disclosure a second later, which forks the feed.
    let r3_fork = Record::sign(
        &node,
        Draft { federation, seq: 3, prev: Some(r2.id()), created_at: 1_700_000_121_000, body: r3.body().clone() },
    )
    .expect("vector fork of record 3 signs");
    let fork_proof =
        crate::forkproof::ForkProofMessage { first: r3.bytes().to_vec(), second: r3_fork.bytes().to_vec() };
    let mut heads = crate::sync::HeadsIndex::from_heads([(node.node_key(), crate::feed::Head { seq: 2, id: r2.id() })]);
    let summary = crate::sync::SyncRequest::Summary { federation, root: heads.root() };
    let retract = Retract { target: r2.id(), reason: "imported twice".into(), also: vec![crate::RecordId([0x03; 32])] };
    let provider = SecretKey::from_seed(&PROVIDER_SEED);
    let reply =
        ProviderReply::sign(&provider, r2.id(), "Thank you: the data feed was fixed in May.", 1_700_000_170_000)
            .expect("valid vector reply");
    let reply_signing_bytes = ProviderReply::signing_bytes(&reply.review, reply.signed_at, &reply.text);
    let reply_signature = reply.provider_signature;
    let r4 = Record::sign(
        &node,
        Draft {
            federation,
            seq: 4,
            prev: Some(r3.id()),
            created_at: 1_700_000_180_000,
            body: Body::ProviderReply(reply),
        },
    )
    .expect("vector record 4 signs");
    let provider_key =
        ProviderKey { provider: "0DE".into(), key: provider.public_bytes(), contact: Some("Head of Contracts".into()) };
    let intent = Intent {
        service_line: "BI".into(),
        from: crate::Date::from_ymd(2026, 4, 1).expect("valid date"),
        value_band: ValueBand::From250kTo500k,
        population: 312_500,
        note: Some("Open to a joint lot".into()),
    };
    let join = TenderJoin { intent: crate::RecordId([0x05; 32]), comment: None };
    vec![
        ("org_seed", hex::encode(ORG_SEED)),
        ("org_key", org.org_key().to_hex()),
        ("node_seed", hex::encode(NODE_SEED)),
        ("node_key", node.node_key().to_hex()),
        ("genesis_canonical", hex::encode(genesis.canonical_bytes())),
        ("federation_id", federation.to_hex()),
        (
            "cert_signing_bytes",
            hex::encode(NodeCert::signing_bytes(&cert.node_key, &cert.org_key, "02A", cert.expires_at)),
        ),
        ("cert_org_signature", hex::encode(cert.org_signature)),
        ("record1", hex::encode(r1.bytes())),
        ("record1_id", r1.id().to_hex()),
        ("record1_signature", hex::encode(r1.signature())),
        ("record2", hex::encode(r2.bytes())),
        ("record2_id", r2.id().to_hex()),
        ("record2_signature", hex::encode(r2.signature())),
        ("record3", hex::encode(r3.bytes())),
        ("record3_id", r3.id().to_hex()),
        ("record3_signature", hex::encode(r3.signature())),
        ("heads_bucket_index", format!("{:02x}", crate::sync::bucket_of(&node.node_key()))),
        ("heads_bucket_digest", hex::encode(heads.buckets()[crate::sync::bucket_of(&node.node_key()) as usize])),
        ("heads_root", hex::encode(heads.root())),
        ("sync_summary_request", hex::encode(summary.encode())),
        ("retract_body", hex::encode(Body::Retract(retract).encode())),
        ("provider_seed", hex::encode(PROVIDER_SEED)),
        ("provider_public_key", hex::encode(provider.public_bytes())),
        ("provider_key_body", hex::encode(Body::ProviderKey(provider_key).encode())),
        ("reply_signing_bytes", hex::encode(reply_signing_bytes)),
        ("reply_provider_signature", hex::encode(reply_signature)),
        ("record4", hex::encode(r4.bytes())),
        ("record4_id", r4.id().to_hex()),
        ("intent_body", hex::encode(Body::Intent(intent).encode())),
        ("tender_join_body", hex::encode(Body::TenderJoin(join).encode())),
        ("fork_proof_message", hex::encode(fork_proof.encode())),
    ]
}
