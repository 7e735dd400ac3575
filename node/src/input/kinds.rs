//! The input form of each writable record kind: the same struct is the `add` command's flags,
//! a CSV row (columns named like the fields) and a JSON object for `csx import`.

use clap::Args;
use csx_protocol::body::*;
use csx_protocol::{Body, Date, RecordId};
use serde::{Deserialize, Serialize};

use super::*;

/// What converting an input needs from the node.
#[allow(missing_debug_implementations)] // holds a closure
pub struct InputCtx<'a> {
    /// This member's registered population (from its profile), the default population covered.
    pub own_population: Option<u64>,
    /// Resolves a record id or unique prefix.
    pub resolve: &'a dyn Fn(&str) -> Result<RecordId, String>,
    /// Today, for dates written as `today` or `in 90 days`.
    pub today: Date,
    /// Known providers, to read a provider given by name.
    pub providers: &'a ProviderNames,
}

/// A kind's input form.
pub trait KindInput: Serialize + serde::de::DeserializeOwned + Default {
    /// The kind's name, as `csx import --kind` takes it.
    const KIND: &'static str;
    /// Fields that must be given (prompted for on a terminal when missing).
    const REQUIRED: &'static [&'static str];
    /// The record body, from the fields alone (not yet checked against the protocol's rules).
    fn to_body(&self, ctx: &InputCtx<'_>) -> FieldResult<Body>;

    /// The record body, checked against every rule of its kind; a broken rule is reported
    /// against the input field (`--annual-value`, column `annual_value`), not the protocol's.
    fn to_valid_body(&self, ctx: &InputCtx<'_>) -> FieldResult<Body> {
        let body = self.to_body(ctx)?;
        body.validate().map_err(|e| FieldErr::new(input_field(e.field), e.rule))?;
        Ok(body)
    }
}

/// Every input field of every kind (the names flags, CSV columns and JSON keys use).
pub const FIELDS: &[&str] = &[
    "code",
    "name",
    "kind",
    "aliases",
    "provider",
    "service_line",
    "year",
    "quality",
    "timeliness",
    "responsiveness",
    "data_accuracy",
    "flexibility",
    "value_for_money",
    "kpi_delivery",
    "would_recommend",
    "still_customer",
    "reviewer_role",
    "comment",
    "annual_value",
    "vat_included",
    "pricing_model",
    "population_covered",
    "unit_name",
    "unit_count",
    "scope",
    "contract_start",
    "contract_months",
    "notice_months",
    "contract_ref",
    "efficiency",
    "kpi_basis",
    "buying_route",
    "satisfaction_survey",
    "from",
    "to",
    "effective",
    "reasons",
    "reason_text",
    "exit_costs",
    "transition_months",
    "switch",
    "cost_change",
    "satisfaction_change",
    "title",
    "text",
    "term",
    "support_needed",
    "closes_on",
];

/// A provider by code or name.
fn provider(ctx: &InputCtx<'_>, field: &'static str, v: &Option<String>) -> FieldResult<String> {
    ctx.providers.resolve(field, req(field, v)?)
}

/// The help heading of the fields that must be given.
const REQUIRED: &str = "Required";

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderInput {
    /// Provider code: its ODS code where it has one (e.g. 0DE), else 2-16 of A-Z 0-9 -
    #[arg(long, help_heading = REQUIRED, value_name = "CODE")]
    pub code: Option<String>,
    /// Provider's name
    #[arg(long, help_heading = REQUIRED, value_name = "NAME")]
    pub name: Option<String>,
    /// What it is: csu, private, nhs_body, local_authority or other
    #[arg(long, help_heading = REQUIRED, value_name = "KIND")]
    pub kind: Option<String>,
    /// Other names it goes by, separated by commas
    #[arg(long, value_name = "NAMES")]
    pub aliases: Option<String>,
}

impl KindInput for ProviderInput {
    const KIND: &'static str = "provider";
    const REQUIRED: &'static [&'static str] = &["code", "name", "kind"];
    fn to_body(&self, _: &InputCtx<'_>) -> FieldResult<Body> {
        Ok(Body::Provider(Provider {
            code: code("code", req("code", &self.code)?)?,
            name: req("name", &self.name)?.to_string(),
            provider_kind: choice("kind", req("kind", &self.kind)?)?,
            aliases: list(&self.aliases),
        }))
    }
}

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewInput {
    /// Provider: its code (e.g. 0DE) or name; `csx provider list` shows them
    #[arg(long, help_heading = REQUIRED, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Service line: its code (e.g. BI, CONTRACT, MEDS) or name
    #[arg(long, help_heading = REQUIRED, value_name = "LINE")]
    pub service_line: Option<String>,
    /// Financial year reviewed: 2024/25 (or 2024, 24/25, FY24/25)
    #[arg(long, help_heading = REQUIRED, value_name = "YEAR")]
    pub year: Option<String>,
    /// Are you still their customer? yes or no
    #[arg(long, help_heading = REQUIRED, value_name = "YES|NO")]
    pub still_customer: Option<String>,
    /// Your role, e.g. "Head of Contracting"
    #[arg(long, help_heading = REQUIRED, value_name = "ROLE")]
    pub reviewer_role: Option<String>,
    /// Quality of the service, 1 (poor) to 5 (excellent)
    #[arg(long, allow_hyphen_values = true, value_name = "1-5")]
    pub quality: Option<String>,
    /// Timeliness, 1 to 5
    #[arg(long, allow_hyphen_values = true, value_name = "1-5")]
    pub timeliness: Option<String>,
    /// Responsiveness, 1 to 5
    #[arg(long, allow_hyphen_values = true, value_name = "1-5")]
    pub responsiveness: Option<String>,
    /// Accuracy of data and reports, 1 to 5
    #[arg(long, allow_hyphen_values = true, value_name = "1-5")]
    pub data_accuracy: Option<String>,
    /// Flexibility, 1 to 5
    #[arg(long, allow_hyphen_values = true, value_name = "1-5")]
    pub flexibility: Option<String>,
    /// Value for money, 1 to 5
    #[arg(long, allow_hyphen_values = true, value_name = "1-5")]
    pub value_for_money: Option<String>,
    /// Delivery against KPIs, 1 to 5
    #[arg(long, allow_hyphen_values = true, value_name = "1-5")]
    pub kpi_delivery: Option<String>,
    /// How likely you are to recommend them, 0 (not at all) to 10 (certainly)
    #[arg(long, allow_hyphen_values = true, value_name = "0-10")]
    pub would_recommend: Option<String>,
    /// What you would tell another buyer
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
}

impl KindInput for ReviewInput {
    const KIND: &'static str = "review";
    const REQUIRED: &'static [&'static str] = &["provider", "service_line", "year", "still_customer", "reviewer_role"];
    fn to_body(&self, ctx: &InputCtx<'_>) -> FieldResult<Body> {
        Ok(Body::Review(Review {
            provider: provider(ctx, "provider", &self.provider)?,
            service_line: service_line("service_line", req("service_line", &self.service_line)?)?,
            year: year("year", req("year", &self.year)?)?,
            quality: opt_with("quality", &self.quality, rating)?,
            timeliness: opt_with("timeliness", &self.timeliness, rating)?,
            responsiveness: opt_with("responsiveness", &self.responsiveness, rating)?,
            data_accuracy: opt_with("data_accuracy", &self.data_accuracy, rating)?,
            flexibility: opt_with("flexibility", &self.flexibility, rating)?,
            value_for_money: opt_with("value_for_money", &self.value_for_money, rating)?,
            kpi_delivery: opt_with("kpi_delivery", &self.kpi_delivery, rating)?,
            would_recommend: opt_with("would_recommend", &self.would_recommend, recommend)?,
            still_customer: boolean("still_customer", req("still_customer", &self.still_customer)?)?,
            reviewer_role: req("reviewer_role", &self.reviewer_role)?.to_string(),
            comment: opt_string(&self.comment),
        }))
    }
}

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceInput {
    /// Provider: its code (e.g. 0DE) or name
    #[arg(long, help_heading = REQUIRED, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Service line: its code (e.g. BI) or name
    #[arg(long, help_heading = REQUIRED, value_name = "LINE")]
    pub service_line: Option<String>,
    /// Financial year: 2024/25 (or 2024, 24/25, FY24/25)
    #[arg(long, help_heading = REQUIRED, value_name = "YEAR")]
    pub year: Option<String>,
    /// Annual contract value in pounds: 250000, £250,000.50, 250k, 1.2m
    #[arg(long, allow_hyphen_values = true, help_heading = REQUIRED, value_name = "POUNDS")]
    pub annual_value: Option<String>,
    /// Does the value include VAT? yes or no
    #[arg(long, help_heading = REQUIRED, value_name = "YES|NO")]
    pub vat_included: Option<String>,
    /// How it is priced: fixed, per_head, per_unit or time_and_materials
    #[arg(long, help_heading = REQUIRED, value_name = "MODEL")]
    pub pricing_model: Option<String>,
    /// Population the contract covers (default: your profile's registered population)
    #[arg(long, allow_hyphen_values = true, value_name = "PEOPLE")]
    pub population_covered: Option<String>,
    /// What one unit is, e.g. payslip (needed when priced per unit)
    #[arg(long, value_name = "UNIT")]
    pub unit_name: Option<String>,
    /// Units a year (needed when priced per unit)
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub unit_count: Option<String>,
    /// What the contract covers
    #[arg(long, value_name = "TEXT")]
    pub scope: Option<String>,
    /// Contract start date: 2024-04-01 or 01/04/2024
    #[arg(long, value_name = "DATE")]
    pub contract_start: Option<String>,
    /// Contract length in months (1 to 120)
    #[arg(long, allow_hyphen_values = true, value_name = "MONTHS")]
    pub contract_months: Option<String>,
    /// Notice period in months (0 to 36)
    #[arg(long, allow_hyphen_values = true, value_name = "MONTHS")]
    pub notice_months: Option<String>,
    /// Efficiency required each year, as a percentage: 4 or 4.5%
    #[arg(long, allow_hyphen_values = true, value_name = "PERCENT")]
    pub efficiency: Option<String>,
    /// What the KPIs measure: outcome, process, mixed or none
    #[arg(long, value_name = "BASIS")]
    pub kpi_basis: Option<String>,
    /// How it was bought: direct_award, framework or tender
    #[arg(long, value_name = "ROUTE")]
    pub buying_route: Option<String>,
    /// Does the contract require an annual client-satisfaction survey? yes or no
    #[arg(long, value_name = "YES|NO")]
    pub satisfaction_survey: Option<String>,
    /// Your reference for this contract or lot, e.g. "Lot 2": give one to each of two contracts with one provider for one line and year, or the later replaces the earlier
    #[arg(long)]
    pub contract_ref: Option<String>,
}

impl KindInput for PriceInput {
    const KIND: &'static str = "price";
    const REQUIRED: &'static [&'static str] =
        &["provider", "service_line", "year", "annual_value", "vat_included", "pricing_model"];
    fn to_body(&self, ctx: &InputCtx<'_>) -> FieldResult<Body> {
        let population_covered = match opt_with("population_covered", &self.population_covered, population)? {
            Some(p) => p,
            None => ctx.own_population.ok_or_else(|| {
                FieldErr::new(
                    "population_covered",
                    "is required (your profile has no registered population to default to; set it with `csx profile set --population N --population-year FY`)",
                )
            })?,
        };
        let unit_count = |f, s: &str| integer(f, s, 1u64, 1_000_000_000);
        Ok(Body::Price(Price {
            provider: provider(ctx, "provider", &self.provider)?,
            service_line: service_line("service_line", req("service_line", &self.service_line)?)?,
            year: year("year", req("year", &self.year)?)?,
            annual_value_pence: pence("annual_value", req("annual_value", &self.annual_value)?)?,
            vat_included: boolean("vat_included", req("vat_included", &self.vat_included)?)?,
            pricing_model: choice("pricing_model", req("pricing_model", &self.pricing_model)?)?,
            population_covered,
            unit_name: opt_string(&self.unit_name),
            unit_count: opt_with("unit_count", &self.unit_count, unit_count)?,
            scope: opt_string(&self.scope),
            contract_start: opt_with("contract_start", &self.contract_start, |f, s| date(f, s, ctx.today))?,
            contract_months: opt_with("contract_months", &self.contract_months, |f, s| integer(f, s, 1u16, 120))?,
            notice_months: opt_with("notice_months", &self.notice_months, |f, s| integer(f, s, 0u8, 36))?,
            efficiency_bp: opt_with("efficiency", &self.efficiency, |f, s| percent_bp(f, s, 5000))?,
            kpi_basis: opt_with("kpi_basis", &self.kpi_basis, choice)?,
            buying_route: opt_with("buying_route", &self.buying_route, choice)?,
            satisfaction_survey: opt_with("satisfaction_survey", &self.satisfaction_survey, boolean)?,
            contract_ref: opt_string(&self.contract_ref),
        }))
    }
}

/// Who delivers a service: a provider (by code or name), `in house`, or `shared:ODS`.
fn party(ctx: &InputCtx<'_>, field: &'static str, v: &Option<String>) -> FieldResult<Party> {
    let s = req(field, v)?;
    let normal = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    if normal == "in_house" || normal.starts_with("shared:") {
        return s.trim().parse().map_err(|e: BadParty| FieldErr::new(field, e.to_string()));
    }
    let code = ctx.providers.resolve(field, s)?;
    code.parse().map_err(|e: BadParty| FieldErr::new(field, e.to_string()))
}

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwitchInput {
    /// Service line: its code (e.g. CHC) or name
    #[arg(long, help_heading = REQUIRED, value_name = "LINE")]
    pub service_line: Option<String>,
    /// Who delivered it before: a provider (code or name), in_house, or shared:ODS
    #[arg(long, help_heading = REQUIRED, value_name = "WHO")]
    pub from: Option<String>,
    /// Who delivers it now: a provider (code or name), in_house, or shared:ODS
    #[arg(long, help_heading = REQUIRED, value_name = "WHO")]
    pub to: Option<String>,
    /// When the switch took effect: 2024-10-01 or 01/10/2024
    #[arg(long, help_heading = REQUIRED, value_name = "DATE")]
    pub effective: Option<String>,
    /// Why, separated by commas: cost, quality, responsiveness, data_quality, capacity, strategy, provider_exit, contract_end, other
    #[arg(long, help_heading = REQUIRED, value_name = "REASONS")]
    pub reasons: Option<String>,
    /// The reasons in your words
    #[arg(long, value_name = "TEXT")]
    pub reason_text: Option<String>,
    /// Notice given to the old provider, in months (0 to 36)
    #[arg(long, allow_hyphen_values = true, value_name = "MONTHS")]
    pub notice_months: Option<String>,
    /// Exit costs paid, in pounds
    #[arg(long, allow_hyphen_values = true, value_name = "POUNDS")]
    pub exit_costs: Option<String>,
    /// How many months the transition took (0 to 60)
    #[arg(long, allow_hyphen_values = true, value_name = "MONTHS")]
    pub transition_months: Option<String>,
}

impl KindInput for SwitchInput {
    const KIND: &'static str = "switch";
    const REQUIRED: &'static [&'static str] = &["service_line", "from", "to", "effective", "reasons"];
    fn to_body(&self, ctx: &InputCtx<'_>) -> FieldResult<Body> {
        let mut reasons = list(&self.reasons)
            .iter()
            .map(|r| choice::<SwitchReason>("reasons", r))
            .collect::<FieldResult<Vec<_>>>()?;
        if reasons.is_empty() {
            return Err(FieldErr::new(
                "reasons",
                format!("is required: one or more of {}", SwitchReason::allowed().replace('_', " ")),
            ));
        }
        reasons.sort();
        reasons.dedup();
        Ok(Body::Switch(Switch {
            service_line: service_line("service_line", req("service_line", &self.service_line)?)?,
            from: party(ctx, "from", &self.from)?,
            to: party(ctx, "to", &self.to)?,
            effective: date("effective", req("effective", &self.effective)?, ctx.today)?,
            reasons,
            reason_text: opt_string(&self.reason_text),
            notice_months: opt_with("notice_months", &self.notice_months, |f, s| integer(f, s, 0u8, 36))?,
            exit_costs_pence: opt_with("exit_costs", &self.exit_costs, pence)?,
            transition_months: opt_with("transition_months", &self.transition_months, months)?,
        }))
    }
}

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomeInput {
    /// The switch report this is the outcome of: its id or a unique prefix
    #[arg(long, help_heading = REQUIRED, value_name = "ID")]
    pub switch: Option<String>,
    /// Change in annual cost in pounds; negative is a saving, e.g. -40k
    #[arg(long, allow_hyphen_values = true, value_name = "POUNDS")]
    pub cost_change: Option<String>,
    /// Change in satisfaction on the 1-5 scale, from -4 to 4
    #[arg(long, allow_hyphen_values = true, value_name = "-4..4")]
    pub satisfaction_change: Option<String>,
    /// What you would tell another buyer
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
}

impl KindInput for OutcomeInput {
    const KIND: &'static str = "switch_outcome";
    const REQUIRED: &'static [&'static str] = &["switch"];
    fn to_body(&self, ctx: &InputCtx<'_>) -> FieldResult<Body> {
        let switch = (ctx.resolve)(req("switch", &self.switch)?).map_err(|e| FieldErr::new("switch", e))?;
        Ok(Body::SwitchOutcome(SwitchOutcome {
            switch,
            cost_change_pence: opt_with("cost_change", &self.cost_change, signed_pence)?,
            satisfaction_change: opt_with("satisfaction_change", &self.satisfaction_change, |f, s| {
                integer(f, s, -4i8, 4)
            })?,
            comment: opt_string(&self.comment),
        }))
    }
}

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MotionInput {
    /// A short title, e.g. "Notice periods of at most 6 months"
    #[arg(long, help_heading = REQUIRED, value_name = "TITLE")]
    pub title: Option<String>,
    /// The proposal in full
    #[arg(long, help_heading = REQUIRED, value_name = "TEXT")]
    pub text: Option<String>,
    /// How many members' support carries it
    #[arg(long, allow_hyphen_values = true, help_heading = REQUIRED, value_name = "N")]
    pub support_needed: Option<String>,
    /// Closing date: 2026-03-31, 31/03/2026, or `in 90 days`, `in 3 months`
    #[arg(long, help_heading = REQUIRED, value_name = "DATE")]
    pub closes_on: Option<String>,
    /// The contract term asked for: max_notice_months=N, kpi_basis=outcome, min_efficiency_bp=N or satisfaction_survey
    #[arg(long, value_name = "TERM")]
    pub term: Option<String>,
    /// Limit the motion to one service line (code or name)
    #[arg(long, value_name = "LINE")]
    pub service_line: Option<String>,
    /// Address the motion to one provider (code or name)
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
}

impl KindInput for MotionInput {
    const KIND: &'static str = "motion";
    const REQUIRED: &'static [&'static str] = &["title", "text", "support_needed", "closes_on"];
    fn to_body(&self, ctx: &InputCtx<'_>) -> FieldResult<Body> {
        let term = |f, s: &str| s.parse::<ContractTerm>().map_err(|e| FieldErr::new(f, e.to_string()));
        Ok(Body::Motion(Motion {
            title: req("title", &self.title)?.to_string(),
            text: req("text", &self.text)?.to_string(),
            term: opt_with("term", &self.term, term)?,
            service_line: opt_with("service_line", &self.service_line, service_line)?,
            provider: opt(&self.provider).map(|p| ctx.providers.resolve("provider", p)).transpose()?,
            support_needed: integer("support_needed", req("support_needed", &self.support_needed)?, 1u16, 10_000)?,
            closes_on: date("closes_on", req("closes_on", &self.closes_on)?, ctx.today)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of<T: KindInput>() -> Vec<String> {
        match serde_json::to_value(T::default()).expect("serialises") {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => vec![],
        }
    }

    #[test]
    fn every_input_field_is_listed() {
        let all = [
            fields_of::<ProviderInput>(),
            fields_of::<ReviewInput>(),
            fields_of::<PriceInput>(),
            fields_of::<SwitchInput>(),
            fields_of::<OutcomeInput>(),
            fields_of::<MotionInput>(),
        ]
        .concat();
        for f in &all {
            assert!(FIELDS.contains(&f.as_str()), "{f} is missing from FIELDS");
        }
        for f in FIELDS {
            assert!(all.iter().any(|a| a == f), "{f} in FIELDS is no input's field");
        }
    }

    #[test]
    fn protocol_rules_are_reported_against_the_input_field() {
        let providers = ProviderNames::builtin();
        let ctx = InputCtx {
            own_population: Some(100_000),
            resolve: &|_| Err("none".into()),
            today: Date::from_ymd(2025, 1, 1).expect("valid"),
            providers: &providers,
        };
        let price = PriceInput {
            provider: Some("AGEM".into()),
            service_line: Some("Business intelligence".into()),
            year: Some("24/25".into()),
            annual_value: Some("0".into()),
            vat_included: Some("no".into()),
            pricing_model: Some("Time and materials".into()),
            ..Default::default()
        };
        let e = price.to_valid_body(&ctx).expect_err("zero is refused");
        assert_eq!(e.field, "annual_value");
        assert!(e.as_flag().starts_with("--annual-value: "), "{}", e.as_flag());
        let past = MotionInput {
            title: Some("t".into()),
            text: Some("x".into()),
            support_needed: Some("3".into()),
            closes_on: Some("in 3 months".into()),
            ..Default::default()
        };
        let Ok(Body::Motion(m)) = past.to_valid_body(&ctx) else { panic!("a valid motion") };
        assert_eq!(m.closes_on.to_string(), "2025-04-01");
        assert_eq!(
            field_of_message("motion.closes_on: 2024-01-01 is in the past"),
            Some(("closes_on", "2024-01-01 is in the past"))
        );
        assert_eq!(
            field_of_message("price.annual_value_pence: must be more than £0"),
            Some(("annual_value", "must be more than £0"))
        );
        assert_eq!(field_of_message("no record id starts with `ab`"), None);
    }
}
