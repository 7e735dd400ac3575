//! proptest strategies producing valid bodies of every kind (shared by the property tests).

#![allow(dead_code)]

use csx_protocol::body::*;
use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, Date, FederationId, FinancialYear, NodeKey, OrgKey, RecordId};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

pub fn line() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9 ,.'&()£é-]{0,60}"
}
pub fn text() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9 ,.'\n\t£é€-]{0,300}"
}
pub fn ods() -> impl Strategy<Value = String> {
    "[0-9A-Z]{3,5}"
}
pub fn provider_code() -> impl Strategy<Value = String> {
    "[0-9A-Z]{2,8}"
}
pub fn service_line() -> impl Strategy<Value = String> {
    "[A-Z][A-Z_]{1,10}"
}
pub fn fy() -> impl Strategy<Value = FinancialYear> {
    (2000u16..=2100).prop_map(FinancialYear)
}
pub fn date() -> impl Strategy<Value = Date> {
    (2000i32..=2100, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::from_ymd(y, m, d).expect("valid date"))
}
pub fn key32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}
pub fn sig64() -> impl Strategy<Value = [u8; 64]> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        s
    })
}
fn rating() -> impl Strategy<Value = Option<u8>> {
    option::of(1u8..=5)
}
fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

pub fn profile() -> impl Strategy<Value = Body> {
    (
        line(),
        pick(OrgKind::ALL),
        option::of((1u64..=3_000_000, fy())),
        option::of(line()),
        vec(ods(), 0..3),
        vec(ods(), 0..2),
    )
        .prop_map(|(name, org_kind, pop, region, predecessors, successors)| {
            Body::Profile(Profile {
                name,
                org_kind,
                population: pop.map(|p| p.0),
                population_year: pop.map(|p| p.1),
                region,
                predecessors,
                successors,
            })
        })
}

pub fn endorse() -> impl Strategy<Value = Body> {
    (key32(), ods(), line(), option::of(text()))
        .prop_map(|(k, ods_code, name, comment)| Body::Endorse(Endorse { org_key: OrgKey(k), ods_code, name, comment }))
}

pub fn revoke() -> impl Strategy<Value = Body> {
    (key32(), text(), proptest::collection::btree_map(key32(), any::<u64>(), 0..4)).prop_map(|(k, reason, nodes)| {
        Body::Revoke(Revoke {
            org_key: OrgKey(k),
            reason,
            nodes: nodes.into_iter().map(|(k, s)| RevokedNode { node_key: NodeKey(k), last_valid_seq: s }).collect(),
        })
    })
}

pub fn retire() -> impl Strategy<Value = Body> {
    (key32(), any::<u64>(), text(), key32(), sig64()).prop_map(|(n, s, reason, o, sig)| {
        Body::RetireNode(RetireNode {
            node_key: NodeKey(n),
            last_valid_seq: s,
            reason,
            org_key: OrgKey(o),
            org_signature: sig,
        })
    })
}

pub fn provider() -> impl Strategy<Value = Body> {
    (provider_code(), line(), pick(ProviderKind::ALL), vec(line(), 0..3)).prop_map(
        |(code, name, provider_kind, aliases)| Body::Provider(Provider { code, name, provider_kind, aliases }),
    )
}

pub fn review() -> impl Strategy<Value = Body> {
    (
        (provider_code(), service_line(), fy()),
        (rating(), rating(), rating(), rating(), rating(), rating(), rating()),
        (option::of(0u8..=10), any::<bool>(), line(), option::of(text())),
    )
        .prop_map(
            |((provider, service_line, year), r, (would_recommend, still_customer, reviewer_role, comment))| {
                let mut review = Review {
                    provider,
                    service_line,
                    year,
                    quality: r.0,
                    timeliness: r.1,
                    responsiveness: r.2,
                    data_accuracy: r.3,
                    flexibility: r.4,
                    value_for_money: r.5,
                    kpi_delivery: r.6,
                    would_recommend,
                    still_customer,
                    reviewer_role,
                    comment,
                };
                if review.ratings().iter().all(Option::is_none) && review.would_recommend.is_none() {
                    review.quality = Some(3);
                }
                Body::Review(review)
            },
        )
}

pub fn price() -> impl Strategy<Value = Body> {
    (
        (provider_code(), service_line(), fy(), 1u64..=100_000_000_000, any::<bool>(), pick(PricingModel::ALL)),
        (1u64..=3_000_000, line(), 1u64..=1_000_000, option::of(text()), option::of(date())),
        (option::of(1u16..=120), option::of(0u8..=36), option::of(0u16..=5000)),
        (
            option::of(pick(KpiBasis::ALL)),
            option::of(pick(BuyingRoute::ALL)),
            option::of(any::<bool>()),
            option::of(line()),
        ),
    )
        .prop_map(|(a, b, c, d)| {
            let per_unit = a.5 == PricingModel::PerUnit;
            Body::Price(Price {
                provider: a.0,
                service_line: a.1,
                year: a.2,
                annual_value_pence: a.3,
                vat_included: a.4,
                pricing_model: a.5,
                population_covered: b.0,
                unit_name: per_unit.then_some(b.1),
                unit_count: per_unit.then_some(b.2),
                scope: b.3,
                contract_start: b.4,
                contract_months: c.0,
                notice_months: c.1,
                efficiency_bp: c.2,
                kpi_basis: d.0,
                buying_route: d.1,
                satisfaction_survey: d.2,
                contract_ref: d.3,
            })
        })
}

pub fn party() -> impl Strategy<Value = Party> {
    prop_oneof![provider_code().prop_map(Party::Provider), Just(Party::InHouse), ods().prop_map(Party::Shared)]
}

pub fn switch() -> impl Strategy<Value = Body> {
    (
        service_line(),
        party(),
        party(),
        date(),
        proptest::collection::btree_set(pick(SwitchReason::ALL), 1..4),
        option::of(text()),
        (option::of(0u8..=36), option::of(0u64..=100_000_000_000), option::of(0u8..=60)),
    )
        .prop_filter("from and to differ", |(_, f, t, ..)| f != t)
        .prop_map(|(service_line, from, to, effective, reasons, reason_text, n)| {
            Body::Switch(Switch {
                service_line,
                from,
                to,
                effective,
                reasons: reasons.into_iter().collect(),
                reason_text,
                notice_months: n.0,
                exit_costs_pence: n.1,
                transition_months: n.2,
            })
        })
}

pub fn outcome() -> impl Strategy<Value = Body> {
    (key32(), option::of(-100_000_000_000i64..=100_000_000_000), option::of(-4i8..=4), option::of(text())).prop_map(
        |(s, cost, sat, comment)| {
            let satisfaction_change = if cost.is_none() && sat.is_none() { Some(1) } else { sat };
            Body::SwitchOutcome(SwitchOutcome {
                switch: RecordId(s),
                cost_change_pence: cost,
                satisfaction_change,
                comment,
            })
        },
    )
}

pub fn term() -> impl Strategy<Value = ContractTerm> {
    prop_oneof![
        (0u8..=36).prop_map(ContractTerm::MaxNoticeMonths),
        pick(KpiBasis::ALL).prop_map(ContractTerm::KpiBasis),
        (0u16..=5000).prop_map(ContractTerm::MinEfficiencyBp),
        Just(ContractTerm::SatisfactionSurvey),
    ]
}

pub fn motion() -> impl Strategy<Value = Body> {
    (line(), text(), option::of(term()), option::of(service_line()), option::of(provider_code()), 1u16..=500, date())
        .prop_map(|(title, text, term, service_line, provider, support_needed, closes_on)| {
            Body::Motion(Motion { title, text, term, service_line, provider, support_needed, closes_on })
        })
}

pub fn support() -> impl Strategy<Value = Body> {
    (key32(), pick(Stance::ALL), option::of(text()))
        .prop_map(|(m, stance, comment)| Body::Support(Support { motion: RecordId(m), stance, comment }))
}

pub fn retract() -> impl Strategy<Value = Body> {
    (key32(), text(), proptest::collection::btree_set(key32(), 0..4)).prop_map(|(t, reason, also)| {
        let also = also.into_iter().filter(|a| *a != t).map(RecordId).collect();
        Body::Retract(Retract { target: RecordId(t), reason, also })
    })
}

/// Any valid body that may appear after seq 1.
pub fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        profile(),
        endorse(),
        revoke(),
        retire(),
        provider(),
        review(),
        price(),
        switch(),
        outcome(),
        motion(),
        support(),
        retract(),
    ]
}

pub const FEDERATION: FederationId = FederationId([0x5e; 32]);
pub const NOW: u64 = 1_750_000_000_000;

pub fn node_key() -> SecretKey {
    SecretKey::from_seed(&[0x42; 32])
}
