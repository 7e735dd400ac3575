//! A plausible, seeded market of commissioning support, for demos and tests.
//!
//! Members are real CCGs with their 2019 registered populations (shared reference data). Each
//! buys the 13 service lines from the CSUs that served its region (or does a line in house), at
//! prices that add up to about £5–£15 per head (the spread reported for CCGs), with contract
//! terms, reviews drawn from each provider's quality profile, a few switches with outcomes, and
//! motions for collective action. The same seed always gives the same records.

use csx_protocol::body::*;
use csx_protocol::{Body, Date, FinancialYear, RecordId};

/// A buyer organisation for the sample market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleOrg {
    pub ods: String,
    pub name: String,
    pub population: u64,
    pub region: Option<String>,
}

const POPULATION_CSV: &str = include_str!("../data/ccg_population_2019.csv");
const MAPPING_CSV: &str = include_str!("../data/ccg_mapping_2021.csv");

/// Every CCG with a 2019 population, with its NHS England region.
pub fn ccgs() -> Vec<SampleOrg> {
    let mut regions = std::collections::HashMap::new();
    let mut rdr = csv::Reader::from_reader(MAPPING_CSV.as_bytes());
    for row in rdr.records().flatten() {
        if let (Some(code), Some(region)) = (row.get(0), row.get(9)) {
            regions.insert(code.to_string(), region.to_string());
        }
    }
    let mut rdr = csv::Reader::from_reader(POPULATION_CSV.as_bytes());
    rdr.records()
        .flatten()
        .filter_map(|row| {
            let ods = row.get(3)?.trim().to_string();
            let population = row.get(4)?.trim().parse().ok()?;
            Some(SampleOrg {
                name: row.get(2)?.trim().to_string(),
                region: regions.get(&ods).cloned(),
                ods,
                population,
            })
        })
        .collect()
}

/// `n` distinct CCGs chosen by `seed`.
pub fn pick_members(seed: u64, n: usize) -> Vec<SampleOrg> {
    let mut all = ccgs();
    let mut rng = fastrand::Rng::with_seed(seed);
    rng.shuffle(&mut all);
    all.truncate(n);
    all
}

/// Typical price of each service line in £ per head (2024/25); they add up to £10.
const LINE_PRICE: &[(&str, f64)] = &[
    ("BI", 1.00),
    ("CONTRACT", 1.10),
    ("PROC", 0.45),
    ("REDESIGN", 0.60),
    ("HNA", 0.30),
    ("MEDS", 0.80),
    ("CHC", 1.70),
    ("IFR", 0.20),
    ("COMMS", 0.40),
    ("FIN", 0.90),
    ("HR", 0.60),
    ("IT", 1.50),
    ("CORP", 0.45),
];

/// A provider's price level and quality (mean rating 1–5 on each review dimension).
struct ProviderProfile {
    code: &'static str,
    price: f64,
    quality: [f64; 7],
}

/// The CSUs that remained, and one private supplier.
const PROVIDERS: &[ProviderProfile] = &[
    ProviderProfile { code: "0AR", price: 0.92, quality: [4.1, 3.9, 4.2, 3.8, 3.9, 4.0, 3.8] },
    ProviderProfile { code: "0CX", price: 0.97, quality: [3.6, 3.3, 3.5, 3.4, 3.2, 3.4, 3.1] },
    ProviderProfile { code: "0DE", price: 1.00, quality: [3.8, 3.5, 3.7, 3.2, 3.6, 3.5, 3.4] },
    ProviderProfile { code: "0DF", price: 1.04, quality: [3.4, 3.0, 3.2, 3.3, 3.0, 3.1, 3.0] },
    ProviderProfile { code: "0DJ", price: 1.08, quality: [3.2, 2.9, 3.0, 3.1, 2.9, 2.8, 2.7] },
    ProviderProfile { code: "0DG", price: 1.20, quality: [4.0, 4.1, 3.6, 4.2, 3.3, 3.2, 3.9] },
];

fn profile(code: &str) -> &'static ProviderProfile {
    PROVIDERS.iter().find(|p| p.code == code).unwrap_or(&PROVIDERS[2])
}

/// The CSU that served a region.
fn regional_csu(region: Option<&str>) -> &'static str {
    match region.unwrap_or("") {
        "North East and Yorkshire" => "0AR",
        "North West" => "0CX",
        "Midlands" => "0DE",
        "London" | "East of England" => "0DJ",
        _ => "0DF",
    }
}

const ROLES: &[(&str, &str)] = &[
    ("BI", "Head of Business Intelligence"),
    ("CONTRACT", "Director of Contracting"),
    ("PROC", "Head of Procurement"),
    ("REDESIGN", "Transformation Lead"),
    ("HNA", "Public Health Consultant"),
    ("MEDS", "Head of Medicines Optimisation"),
    ("CHC", "Head of Continuing Healthcare"),
    ("IFR", "IFR Panel Chair"),
    ("COMMS", "Head of Communications"),
    ("FIN", "Deputy Chief Finance Officer"),
    ("HR", "Head of People"),
    ("IT", "Chief Information Officer"),
    ("CORP", "Board Secretary"),
];

const GOOD: &[&str] = &[
    "Reliable service; the account team knows our system well.",
    "Reports arrive on time and the analysts answer questions quickly.",
    "Good value compared with what we were quoted elsewhere.",
];
const MIXED: &[&str] = &[
    "Core service is fine but ad hoc requests queue for weeks.",
    "Data quality has improved but monthly reports are often late.",
    "Staff turnover means we keep re-explaining our requirements.",
];
const POOR: &[&str] = &[
    "KPIs are process measures that tell us nothing about outcomes.",
    "Twelve-month notice period makes it hard to hold them to account.",
    "Invoices do not match the service schedule; disputes every quarter.",
];

/// The seeded market.
#[derive(Debug, Clone, Copy)]
pub struct Market {
    seed: u64,
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

impl Market {
    pub fn new(seed: u64) -> Market {
        Market { seed }
    }

    fn rng(&self, org: &SampleOrg, salt: &str) -> fastrand::Rng {
        fastrand::Rng::with_seed(self.seed ^ hash(&org.ods) ^ hash(salt).rotate_left(17))
    }

    /// How much this organisation pays relative to the typical price: about 0.55× to 1.5×,
    /// so whole commissioning support runs from about £5.5 to £15 per head.
    fn scale(&self, org: &SampleOrg) -> f64 {
        let mut rng = self.rng(org, "scale");
        0.55 + 0.95 * (rng.f64() * 0.6 + rng.f64() * 0.4)
    }

    /// Who delivered `line` before any switch: a provider code, or `None` for in house.
    fn original_supplier(&self, org: &SampleOrg, line: &str) -> Option<&'static str> {
        let mut rng = self.rng(org, line);
        let roll = rng.f64();
        if roll < 0.08 {
            None
        } else if line == "BI" && roll < 0.25 {
            Some("0DG")
        } else if roll < 0.35 {
            Some(PROVIDERS[rng.usize(..5)].code)
        } else {
            Some(regional_csu(org.region.as_deref()))
        }
    }

    /// Who delivers `line` in `year`: some buyers switched in 2024/25.
    fn supplier(&self, org: &SampleOrg, line: &str, year: u16) -> Option<&'static str> {
        match self.switch_of(org, line) {
            Some((_, to, _)) if year >= 2024 => to,
            _ => self.original_supplier(org, line),
        }
    }

    /// The switch this organisation made on `line`, if any: (from, to, reasons).
    fn switch_of(
        &self,
        org: &SampleOrg,
        line: &str,
    ) -> Option<(Option<&'static str>, Option<&'static str>, Vec<SwitchReason>)> {
        let mut rng = self.rng(org, &format!("switch-{line}"));
        if rng.f64() > 0.10 {
            return None;
        }
        let from = self.original_supplier(org, line);
        let to = match rng.u8(..3) {
            0 => None,
            1 => Some("0DG"),
            _ => Some(PROVIDERS[rng.usize(..5)].code),
        };
        if to == from {
            return None;
        }
        let mut reasons =
            vec![[SwitchReason::Cost, SwitchReason::Quality, SwitchReason::Responsiveness][rng.usize(..3)]];
        if rng.bool() {
            reasons
                .push([SwitchReason::DataQuality, SwitchReason::Strategy, SwitchReason::ContractEnd][rng.usize(..3)]);
        }
        reasons.sort();
        reasons.dedup();
        Some((from, to, reasons))
    }

    /// Every record `org` writes in the sample market (prices, reviews, switches and outcomes,
    /// and any motion it proposes). `index` is its place among the members; `members` how many.
    pub fn records_for(&self, org: &SampleOrg, index: usize, members: usize, today: Date) -> Vec<Body> {
        let mut out = Vec::new();
        let scale = self.scale(org);
        let mut rng = self.rng(org, "terms");
        let notice = [3u8, 6, 6, 12, 12][rng.usize(..5)];
        let efficiency = [0u16, 100, 200, 300, 400][rng.usize(..5)];
        let kpi = [KpiBasis::Process, KpiBasis::Process, KpiBasis::Mixed, KpiBasis::Outcome][rng.usize(..4)];
        let survey = rng.f64() < 0.4;
        for &(line, price) in LINE_PRICE {
            for year in [2023u16, 2024] {
                let Some(provider) = self.supplier(org, line, year) else { continue };
                let p = profile(provider);
                let noise = 0.8 + 0.4 * rng.f64();
                let inflation = if year == 2023 { 0.97 } else { 1.0 };
                let pence =
                    (price * scale * p.price * noise * inflation * org.population as f64 * 100.0).round() as u64;
                let (pricing_model, unit_name, unit_count) = match line {
                    "FIN" => (PricingModel::PerUnit, Some("invoice".to_string()), Some((org.population / 10).max(1))),
                    "MEDS" => (PricingModel::PerHead, None, None),
                    _ => (PricingModel::Fixed, None, None),
                };
                out.push(Body::Price(Price {
                    provider: provider.into(),
                    service_line: line.into(),
                    year: FinancialYear(year),
                    annual_value_pence: pence.max(100),
                    vat_included: false,
                    pricing_model,
                    population_covered: org.population,
                    unit_name,
                    unit_count,
                    scope: None,
                    contract_start: Date::from_ymd(year as i32 - 1 + rng.i32(0..2), 4, 1),
                    contract_months: Some([12u16, 18, 24, 36, 60][rng.usize(..5)]),
                    notice_months: Some(notice),
                    efficiency_bp: Some(efficiency),
                    kpi_basis: Some(kpi),
                    buying_route: Some(
                        [BuyingRoute::Framework, BuyingRoute::DirectAward, BuyingRoute::Tender][rng.usize(..3)],
                    ),
                    satisfaction_survey: Some(survey),
                    contract_ref: None,
                }));
                if rng.f64() < 0.7 {
                    out.push(self.review(line, provider, year, &mut rng));
                }
            }
        }
        self.lots_and_slips(&mut out, index);
        for &(line, _) in LINE_PRICE {
            if let Some((from, to, reasons)) = self.switch_of(org, line) {
                let party = |p: Option<&str>| p.map_or(Party::InHouse, |c| Party::Provider(c.into()));
                out.push(Body::Switch(Switch {
                    service_line: line.into(),
                    from: party(from),
                    to: party(to),
                    reason_text: Some(reason_text(reasons[0], &mut rng).into()),
                    effective: Date::from_ymd(2024, [4u8, 7, 10][rng.usize(..3)], 1).expect("a valid date"),
                    reasons,
                    notice_months: Some(notice),
                    exit_costs_pence: Some(rng.u64(0..60_000) * 100),
                    transition_months: Some(rng.u8(2..9)),
                }));
            }
        }
        if let Some(m) = self.motion(index, members, today) {
            out.push(m);
        }
        out
    }

    /// What real registers hold besides: the second member buys its first line in two lots
    /// from one provider (a second contract for ad hoc work, told apart by its reference), and
    /// the fourth typed its 2023/24 finance contract as `£1,2,3`, saved as £123 — a figure the
    /// answers flag ("check this figure") and still count.
    fn lots_and_slips(&self, out: &mut Vec<Body>, index: usize) {
        let first_2024 = out.iter().position(|b| matches!(b, Body::Price(p) if p.year.0 == 2024));
        for (i, body) in out.iter_mut().enumerate() {
            let Body::Price(p) = body else { continue };
            if index == 1 && Some(i) == first_2024 {
                p.contract_ref = Some("Lot 1: core service".into());
            }
            if index == 3 && p.service_line == "FIN" && p.year.0 == 2023 {
                p.annual_value_pence = 12_300;
            }
        }
        if let (1, Some(i)) = (index, first_2024)
            && let Body::Price(lot1) = &out[i]
        {
            let mut lot2 = lot1.clone();
            lot2.contract_ref = Some("Lot 2: ad hoc analysis".into());
            lot2.annual_value_pence = lot1.annual_value_pence / 4;
            lot2.scope = Some("Ad hoc analysis on request, up to 40 days a year".into());
            out.push(Body::Price(lot2));
        }
    }

    fn review(&self, line: &str, provider: &str, year: u16, rng: &mut fastrand::Rng) -> Body {
        let p = profile(provider);
        let mut rating = |i: usize| -> Option<u8> {
            if rng.f64() < 0.15 {
                return None;
            }
            Some((p.quality[i] + (rng.f64() - 0.5) * 1.6).round().clamp(1.0, 5.0) as u8)
        };
        let r: Vec<Option<u8>> = (0..7).map(&mut rating).collect();
        let mean = r.iter().flatten().map(|&v| v as f64).sum::<f64>() / r.iter().flatten().count().max(1) as f64;
        let recommend = ((mean - 1.0) * 2.5 + 1.0 + (rng.f64() - 0.5) * 3.0).round().clamp(0.0, 10.0) as u8;
        let comments = if mean >= 3.8 {
            GOOD
        } else if mean >= 3.0 {
            MIXED
        } else {
            POOR
        };
        let role = ROLES.iter().find(|(l, _)| *l == line).map_or("Head of Contracting", |(_, r)| r);
        Body::Review(Review {
            provider: provider.into(),
            service_line: line.into(),
            year: FinancialYear(year),
            quality: r[0].or(Some(3)),
            timeliness: r[1],
            responsiveness: r[2],
            data_accuracy: r[3],
            flexibility: r[4],
            value_for_money: r[5],
            kpi_delivery: r[6],
            would_recommend: Some(recommend),
            still_customer: true,
            reviewer_role: role.into(),
            comment: Some(comments[rng.usize(..comments.len())].into()),
        })
    }

    /// The motion member `index` proposes, if any: the first four members propose one each.
    fn motion(&self, index: usize, members: usize, today: Date) -> Option<Body> {
        let closes_on = Date::from_days(today.days() + 90)?;
        let needed = (members as u16 * 3).div_ceil(4).max(2);
        let (title, text, term) = match index {
            0 => (
                "Notice periods of at most 6 months",
                "Members will not sign or renew commissioning support contracts whose notice period exceeds 6 months.",
                ContractTerm::MaxNoticeMonths(6),
            ),
            1 => (
                "Outcome-based KPIs",
                "Members will ask providers to report against outcome KPIs agreed across the federation, not process counts.",
                ContractTerm::KpiBasis(KpiBasis::Outcome),
            ),
            2 => (
                "At least 4% efficiency a year",
                "Members will require the national planning efficiency of 4% a year in every renewal.",
                ContractTerm::MinEfficiencyBp(400),
            ),
            3 => (
                "Annual client-satisfaction survey",
                "Every contract should include an independent annual client-satisfaction survey, shared with members.",
                ContractTerm::SatisfactionSurvey,
            ),
            _ => return None,
        };
        Some(Body::Motion(Motion {
            title: title.into(),
            text: text.into(),
            term: Some(term),
            service_line: None,
            provider: None,
            support_needed: needed,
            closes_on,
        }))
    }

    /// `org`'s support for the motions it would back: those whose term its contracts do not meet.
    pub fn supports_for(&self, org: &SampleOrg, motions: &[(RecordId, Motion)]) -> Vec<Body> {
        let own = self.records_for(org, usize::MAX, 0, Date::from_ymd(2025, 1, 1).expect("valid"));
        let prices: Vec<&Price> =
            own.iter().filter_map(|b| if let Body::Price(p) = b { Some(p) } else { None }).collect();
        let meets = |term: &ContractTerm| {
            prices.iter().all(|p| match term {
                ContractTerm::MaxNoticeMonths(n) => p.notice_months.is_some_and(|m| m <= *n),
                ContractTerm::KpiBasis(k) => p.kpi_basis == Some(*k),
                ContractTerm::MinEfficiencyBp(b) => p.efficiency_bp.is_some_and(|e| e >= *b),
                ContractTerm::SatisfactionSurvey => p.satisfaction_survey == Some(true),
            })
        };
        let mut rng = self.rng(org, "support");
        motions
            .iter()
            .filter(|(_, m)| m.term.is_some_and(|t| !meets(&t)) || rng.f64() < 0.3)
            .map(|(id, _)| Body::Support(Support { motion: *id, stance: Stance::Support, comment: None }))
            .collect()
    }
}

/// Why a buyer switched, in its words.
fn reason_text(reason: SwitchReason, rng: &mut fastrand::Rng) -> &'static str {
    let options: &[&str] = match reason {
        SwitchReason::Cost => &[
            "The renewal quote rose 18% with no change in scope.",
            "We could deliver the same service in house for less.",
        ],
        SwitchReason::Quality => &[
            "Reports were often wrong and had to be redone by our own staff.",
            "Service quality fell after the provider restructured its teams.",
        ],
        SwitchReason::Responsiveness => {
            &["Ad hoc requests queued for weeks.", "Escalations went unanswered for a month at a time."]
        }
        _ => POOR,
    };
    options[rng.usize(..options.len())]
}

impl Market {
    /// What `org` reports, some months on, about its own switches (`own`): most report how
    /// cost and satisfaction changed.
    pub fn outcomes_for(&self, org: &SampleOrg, own: &[(RecordId, Switch)]) -> Vec<Body> {
        let mut rng = self.rng(org, "outcomes");
        own.iter()
            .filter_map(|(id, s)| {
                if rng.f64() >= 0.75 {
                    return None;
                }
                let quality = |p: &Party| match p {
                    Party::Provider(c) => profile(c).quality.iter().sum::<f64>() / 7.0,
                    _ => 3.6,
                };
                let better = quality(&s.to) - quality(&s.from);
                let satisfaction = (better + (rng.f64() - 0.3) * 2.0).round().clamp(-4.0, 4.0) as i8;
                let in_house = matches!(s.to, Party::InHouse);
                let saving = if in_house { 0.75 } else { 0.45 };
                let cost = ((rng.f64() - saving) * 80_000.0).round() as i64 * 100;
                let comment = match satisfaction {
                    s if s > 0 => "Better service since the move; worth the disruption.",
                    0 => "Much the same service; the transition took longer than planned.",
                    _ => "The new arrangement has struggled; we are reviewing it.",
                };
                Some(Body::SwitchOutcome(SwitchOutcome {
                    switch: *id,
                    cost_change_pence: Some(cost),
                    satisfaction_change: Some(satisfaction),
                    comment: Some(comment.into()),
                }))
            })
            .collect()
    }
}

/// Members of a sample sandbox, at least and at most.
pub const SANDBOX_MEMBERS: std::ops::RangeInclusive<usize> = 3..=134;

/// What [`sandbox`] built.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The member whose home it is (the first of the sample members).
    pub identity: crate::home::PublicIdentity,
    pub members: Vec<SampleOrg>,
    pub federation: csx_protocol::FederationId,
    /// Records in its store.
    pub records: usize,
}

/// A key derived from the seed: sandbox keys are reproducible, and so worthless as secrets.
fn sample_key(seed: u64, ods: &str, role: &str) -> csx_protocol::keys::SecretKey {
    let mut rng = fastrand::Rng::with_seed(seed ^ hash(ods) ^ hash(role).rotate_left(29));
    let mut bytes = [0u8; 32];
    bytes.iter_mut().for_each(|b| *b = rng.u8(..));
    csx_protocol::keys::SecretKey::from_seed(&bytes)
}

/// Builds, in the empty directory `dir`, the home of the first of `members` sample members of a
/// federation they all founded, with every member's records of the sample market in its store:
/// a market to query offline, with no network. Keys are derived from `seed` and records are
/// stamped `now_ms`, so the same arguments give the same records, byte for byte.
pub fn sandbox(
    dir: &std::path::Path,
    seed: u64,
    members: usize,
    now_ms: u64,
) -> Result<Sandbox, crate::error_kind::ApiError> {
    use crate::error_kind::ApiError;
    use crate::store::{SledStore, Store, StoreConfig};
    use csx_protocol::genesis::{Founder, Genesis};
    use csx_protocol::{Record, VerifyContext};

    if !SANDBOX_MEMBERS.contains(&members) {
        return Err(ApiError::invalid(format!(
            "members: between {} and {} (the sample CCGs)",
            SANDBOX_MEMBERS.start(),
            SANDBOX_MEMBERS.end()
        )));
    }
    if dir.exists()
        && std::fs::read_dir(dir).map_err(|e| ApiError::invalid(format!("{}: {e}", dir.display())))?.next().is_some()
    {
        return Err(ApiError::invalid(format!("{} is not empty; give a new or empty directory", dir.display())));
    }
    let today = Date::from_unix_ms(now_ms).ok_or_else(|| ApiError::internal("the clock is out of range"))?;
    let orgs = pick_members(seed, members);
    let keys: Vec<_> =
        orgs.iter().map(|o| (sample_key(seed, &o.ods, "organisation"), sample_key(seed, &o.ods, "node"))).collect();
    let founders = orgs
        .iter()
        .zip(&keys)
        .map(|(o, (org, _))| Founder { org_key: org.org_key(), ods_code: o.ods.clone(), name: o.name.clone() })
        .collect();
    let genesis = Genesis::new("Sample Commissioning Support Exchange", now_ms, founders);
    let federation = genesis.id();
    let profile = |o: &SampleOrg| Profile {
        name: o.name.clone(),
        org_kind: OrgKind::Ccg,
        population: Some(o.population),
        population_year: Some(FinancialYear(2019)),
        region: o.region.clone(),
        predecessors: vec![],
        successors: vec![],
    };
    let expires = now_ms + 2 * 365 * 86_400_000;
    let home = crate::home::Home::new(dir);
    let params =
        crate::home::InitParams { ods_code: orgs[0].ods.clone(), profile: profile(&orgs[0]), cert_expires_at: expires };
    let identity = home.init_with_keys(&params, &keys[0].0, &keys[0].1, None)?;
    home.set_genesis(&genesis)?;

    let store = SledStore::open(&home.store_dir(), StoreConfig::default())?;
    let ctx = VerifyContext::new(federation, now_ms);
    let mut authors = Vec::with_capacity(orgs.len());
    let mut motions = Vec::new();
    let put = |author: &mut crate::author::Author, bodies: Vec<Body>| -> Result<Vec<Record>, ApiError> {
        let records = author.sign(bodies, now_ms)?;
        let verified = records
            .iter()
            .map(|r| Record::decode(r.bytes().to_vec()).and_then(|r| r.verify(&ctx)))
            .collect::<Result<Vec<_>, _>>()?;
        store.insert(verified)?;
        author.advance(&records);
        Ok(records)
    };
    for (i, (o, (org, node))) in orgs.iter().zip(&keys).enumerate() {
        let cert =
            NodeCert::issue(org, node.node_key(), &o.ods, expires).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut bodies = vec![Body::NodeCert(cert), Body::Profile(profile(o))];
        bodies.extend(Market::new(seed).records_for(o, i, members, today));
        let mut author =
            crate::author::Author::new(csx_protocol::keys::SecretKey::from_seed(&node.seed()), federation, None);
        let mut switches = Vec::new();
        for r in put(&mut author, bodies)? {
            match r.body() {
                Body::Motion(m) => motions.push((r.id(), m.clone())),
                Body::Switch(s) => switches.push((r.id(), s.clone())),
                _ => {}
            }
        }
        authors.push((author, switches));
    }
    for (o, (author, switches)) in orgs.iter().zip(&mut authors) {
        let mut later = Market::new(seed).supports_for(o, &motions);
        later.extend(Market::new(seed).outcomes_for(o, switches));
        if !later.is_empty() {
            put(author, later)?;
        }
    }
    store.flush()?;
    let records = store.stats()?.records as usize;
    Ok(Sandbox { identity, members: orgs, federation, records })
}

/// Signs `bodies` as the next records of sample member `ods`'s node (keys derived from `seed`,
/// as [`sandbox`] derives them) and stores them in `store`: for demos and tests in which another
/// member writes after the sandbox was built. Returns the records' ids.
pub fn write_as(
    store: &dyn crate::store::Store,
    seed: u64,
    ods: &str,
    federation: csx_protocol::FederationId,
    bodies: Vec<Body>,
    now_ms: u64,
) -> Result<Vec<RecordId>, crate::error_kind::ApiError> {
    use csx_protocol::{Record, VerifyContext};
    let key = sample_key(seed, ods, "node");
    let head = store.head(&key.node_key())?;
    let author = crate::author::Author::new(key, federation, head);
    let records = author.sign(bodies, now_ms)?;
    let ctx = VerifyContext::new(federation, now_ms);
    let verified = records
        .iter()
        .map(|r| Record::decode(r.bytes().to_vec()).and_then(|r| r.verify(&ctx)))
        .collect::<Result<Vec<_>, _>>()?;
    store.insert(verified)?;
    Ok(records.iter().map(|r| r.id()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::from_ymd(2025, 6, 1).expect("valid")
    }

    #[test]
    fn the_reference_data_loads() {
        let all = ccgs();
        assert_eq!(all.len(), 134);
        let brent = all.iter().find(|c| c.ods == "07P").expect("Brent");
        assert_eq!((brent.population, brent.region.as_deref()), (329_771, Some("London")));
    }

    #[test]
    fn the_same_seed_gives_the_same_market_and_every_record_is_valid() {
        let members = pick_members(42, 6);
        assert_eq!(members, pick_members(42, 6));
        let market = Market::new(42);
        for (i, m) in members.iter().enumerate() {
            let a = market.records_for(m, i, members.len(), today());
            assert_eq!(a, market.records_for(m, i, members.len(), today()));
            assert!(a.len() > 20, "{} writes {} records", m.ods, a.len());
            for b in &a {
                b.validate().unwrap_or_else(|e| panic!("{}: {e}", m.ods));
            }
        }
    }

    #[test]
    fn total_spend_per_head_is_in_the_reported_range() {
        let market = Market::new(7);
        let mut totals = vec![];
        for m in pick_members(7, 40) {
            let bodies = market.records_for(&m, 99, 40, today());
            let pence: u64 = bodies
                .iter()
                .filter_map(|b| match b {
                    Body::Price(p) if p.year == FinancialYear(2024) => Some(p.annual_value_pence),
                    _ => None,
                })
                .sum();
            totals.push(pence as f64 / 100.0 / m.population as f64);
        }
        let min = totals.iter().cloned().fold(f64::MAX, f64::min);
        let max = totals.iter().cloned().fold(0.0, f64::max);
        assert!(min > 3.5 && max < 18.0, "£{min:.2}–£{max:.2} per head");
        assert!(max / min > 2.0, "a wide spread between buyers: £{min:.2}–£{max:.2}");
    }
}
