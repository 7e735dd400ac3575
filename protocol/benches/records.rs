//! Micro-benchmarks of the record path: sign, decode, verify, and the bare ed25519 verification
//! that bounds it (docs/PERFORMANCE.md). `cargo bench -p csx-protocol --bench records`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use csx_protocol::body::Review;
use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, Draft, FederationId, FinancialYear, Record, VerifyContext};

const FED: FederationId = FederationId([7; 32]);
const NOW: u64 = 1_760_000_000_000;

/// A realistic review of about 1 KiB, as staff write them.
fn review() -> Body {
    Body::Review(Review {
        provider: "0DE".into(),
        service_line: "BI".into(),
        year: FinancialYear(2024),
        quality: Some(4),
        timeliness: Some(3),
        responsiveness: Some(4),
        data_accuracy: Some(3),
        flexibility: Some(2),
        value_for_money: Some(3),
        kpi_delivery: Some(4),
        would_recommend: Some(7),
        still_customer: true,
        reviewer_role: "Head of Business Intelligence".into(),
        comment: Some("Monthly dashboards arrive on time; ad hoc requests take two to three weeks. ".repeat(12)),
    })
}

fn draft(seq: u64) -> Draft {
    Draft { federation: FED, seq, prev: Some(csx_protocol::RecordId([1; 32])), created_at: NOW, body: review() }
}

fn benches(c: &mut Criterion) {
    let key = SecretKey::from_seed(&[9; 32]);
    let record = Record::sign(&key, draft(2)).expect("signs");
    let bytes = record.bytes().to_vec();
    let ctx = VerifyContext::new(FED, NOW);
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("sign (validate, encode, sign, decode)", |b| {
        b.iter(|| Record::sign(&key, black_box(draft(2))).expect("signs"))
    });
    g.bench_function("decode (parse, validate, id)", |b| {
        b.iter(|| Record::decode(black_box(bytes.clone())).expect("decodes"))
    });
    g.bench_function("verify (decoded record)", |b| {
        b.iter_batched(|| record.clone(), |r| r.verify(&ctx).expect("verifies"), criterion::BatchSize::SmallInput)
    });
    g.bench_function("decode + verify", |b| {
        b.iter(|| Record::decode(black_box(bytes.clone())).and_then(|r| r.verify(&ctx)).expect("valid"))
    });
    g.finish();

    // The ceiling: ed25519 strict verification of a message of the same size, nothing else.
    use ed25519_dalek::{Signer, SigningKey};
    let sk = SigningKey::from_bytes(&[9; 32]);
    let vk = sk.verifying_key();
    let sig = sk.sign(&bytes);
    let mut g = c.benchmark_group("ceiling");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("ed25519 verify_strict", |b| b.iter(|| vk.verify_strict(black_box(&bytes), &sig).expect("ok")));
    g.finish();
}

criterion_group!(records, benches);
criterion_main!(records);
