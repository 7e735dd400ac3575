//! The input form of each writable record kind: the same struct is the `add` command's flags,
//! a CSV row (columns named like the fields) and a JSON object for `csx import`.

use clap::Args;
use csx_protocol::body::*;
use csx_protocol::{Body, RecordId};
use serde::{Deserialize, Serialize};

use super::*;

/// What converting an input needs from the node.
#[allow(missing_debug_implementations)] // holds a closure
pub struct InputCtx<'a> {
    /// This member's registered population (from its profile), the default population covered.
    pub own_population: Option<u64>,
    /// Resolves a record id or unique prefix.
    pub resolve: &'a dyn Fn(&str) -> Result<RecordId, String>,
}

/// A kind's input form.
pub trait KindInput: Serialize + serde::de::DeserializeOwned + Default {
    /// The kind's name, as `csx import --kind` takes it.
    const KIND: &'static str;
    /// Fields that must be given (prompted for on a terminal when missing).
    const REQUIRED: &'static [&'static str];
    fn to_body(&self, ctx: &InputCtx<'_>) -> FieldResult<Body>;
}

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderInput {
    /// Provider code: its ODS code where it has one (e.g. 0DE), else 2-16 of A-Z 0-9 - (required)
    #[arg(long)]
    pub code: Option<String>,
    /// Provider's name (required)
    #[arg(long)]
    pub name: Option<String>,
    /// csu | private | nhs_body | local_authority | other (required)
    #[arg(long)]
    pub kind: Option<String>,
    /// Other names it goes by, separated by commas
    #[arg(long)]
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
    /// Provider code, e.g. 0DE (required; see `csx provider list`)
    #[arg(long)]
    pub provider: Option<String>,
    /// Service line code, e.g. BI, CONTRACT, MEDS (required)
    #[arg(long)]
    pub service_line: Option<String>,
    /// Financial year reviewed: 2024 or 2024/25 (required)
    #[arg(long)]
    pub year: Option<String>,
    /// Quality of the service, 1 (poor) to 5 (excellent)
    #[arg(long, allow_hyphen_values = true)]
    pub quality: Option<String>,
    /// Timeliness, 1-5
    #[arg(long, allow_hyphen_values = true)]
    pub timeliness: Option<String>,
    /// Responsiveness, 1-5
    #[arg(long, allow_hyphen_values = true)]
    pub responsiveness: Option<String>,
    /// Accuracy of data and reports, 1-5
    #[arg(long, allow_hyphen_values = true)]
    pub data_accuracy: Option<String>,
    /// Flexibility, 1-5
    #[arg(long, allow_hyphen_values = true)]
    pub flexibility: Option<String>,
    /// Value for money, 1-5
    #[arg(long, allow_hyphen_values = true)]
    pub value_for_money: Option<String>,
    /// Delivery against KPIs, 1-5
    #[arg(long, allow_hyphen_values = true)]
    pub kpi_delivery: Option<String>,
    /// How likely you are to recommend them, 0-10
    #[arg(long, allow_hyphen_values = true)]
    pub would_recommend: Option<String>,
    /// Are you still their customer? yes | no (required)
    #[arg(long)]
    pub still_customer: Option<String>,
    /// Your role, e.g. "Head of Contracting" (required)
    #[arg(long)]
    pub reviewer_role: Option<String>,
    /// Free-text comment
    #[arg(long)]
    pub comment: Option<String>,
}

impl KindInput for ReviewInput {
    const KIND: &'static str = "review";
    const REQUIRED: &'static [&'static str] = &["provider", "service_line", "year", "still_customer", "reviewer_role"];
    fn to_body(&self, _: &InputCtx<'_>) -> FieldResult<Body> {
        Ok(Body::Review(Review {
            provider: code("provider", req("provider", &self.provider)?)?,
            service_line: code("service_line", req("service_line", &self.service_line)?)?,
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
    /// Provider code, e.g. 0DE (required)
    #[arg(long)]
    pub provider: Option<String>,
    /// Service line code, e.g. BI (required)
    #[arg(long)]
    pub service_line: Option<String>,
    /// Financial year: 2024 or 2024/25 (required)
    #[arg(long)]
    pub year: Option<String>,
    /// Annual contract value in pounds: 250000, £250,000.50, 250k (required)
    #[arg(long, allow_hyphen_values = true)]
    pub annual_value: Option<String>,
    /// Does the value include VAT? yes | no (required)
    #[arg(long)]
    pub vat_included: Option<String>,
    /// fixed | per_head | per_unit | time_and_materials (required)
    #[arg(long)]
    pub pricing_model: Option<String>,
    /// Population the contract covers (default: your profile's registered population)
    #[arg(long, allow_hyphen_values = true)]
    pub population_covered: Option<String>,
    /// What one unit is, e.g. payslip (required when priced per unit)
    #[arg(long)]
    pub unit_name: Option<String>,
    /// Units a year (required when priced per unit)
    #[arg(long, allow_hyphen_values = true)]
    pub unit_count: Option<String>,
    /// What the contract covers
    #[arg(long)]
    pub scope: Option<String>,
    /// Contract start date, YYYY-MM-DD
    #[arg(long)]
    pub contract_start: Option<String>,
    /// Contract length in months (1-120)
    #[arg(long, allow_hyphen_values = true)]
    pub contract_months: Option<String>,
    /// Notice period in months (0-36)
    #[arg(long, allow_hyphen_values = true)]
    pub notice_months: Option<String>,
    /// Efficiency requirement a year, as a percentage: 4 or 4.5%
    #[arg(long, allow_hyphen_values = true)]
    pub efficiency: Option<String>,
    /// What the KPIs measure: outcome | process | mixed | none
    #[arg(long)]
    pub kpi_basis: Option<String>,
    /// direct_award | framework | tender
    #[arg(long)]
    pub buying_route: Option<String>,
    /// Does the contract require an annual client-satisfaction survey? yes | no
    #[arg(long)]
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
            provider: code("provider", req("provider", &self.provider)?)?,
            service_line: code("service_line", req("service_line", &self.service_line)?)?,
            year: year("year", req("year", &self.year)?)?,
            annual_value_pence: pence("annual_value", req("annual_value", &self.annual_value)?)?,
            vat_included: boolean("vat_included", req("vat_included", &self.vat_included)?)?,
            pricing_model: choice("pricing_model", req("pricing_model", &self.pricing_model)?)?,
            population_covered,
            unit_name: opt_string(&self.unit_name),
            unit_count: opt_with("unit_count", &self.unit_count, unit_count)?,
            scope: opt_string(&self.scope),
            contract_start: opt_with("contract_start", &self.contract_start, date)?,
            contract_months: opt_with("contract_months", &self.contract_months, |f, s| integer(f, s, 1u16, 120))?,
            notice_months: opt_with("notice_months", &self.notice_months, |f, s| integer(f, s, 0u8, 36))?,
            efficiency_bp: opt_with("efficiency", &self.efficiency, percent_bp)?,
            kpi_basis: opt_with("kpi_basis", &self.kpi_basis, choice)?,
            buying_route: opt_with("buying_route", &self.buying_route, choice)?,
            satisfaction_survey: opt_with("satisfaction_survey", &self.satisfaction_survey, boolean)?,
            contract_ref: opt_string(&self.contract_ref),
        }))
    }
}

fn party(field: &'static str, s: &str) -> FieldResult<Party> {
    s.parse().map_err(|e: BadParty| FieldErr::new(field, e.to_string()))
}

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwitchInput {
    /// Service line code, e.g. CHC (required)
    #[arg(long)]
    pub service_line: Option<String>,
    /// Who delivered it before: a provider code, in_house, or shared:ODS (required)
    #[arg(long)]
    pub from: Option<String>,
    /// Who delivers it now: a provider code, in_house, or shared:ODS (required)
    #[arg(long)]
    pub to: Option<String>,
    /// When the switch took effect, YYYY-MM-DD (required)
    #[arg(long)]
    pub effective: Option<String>,
    /// Reasons, comma separated: cost, quality, responsiveness, data_quality, capacity, strategy, provider_exit, contract_end, other (required)
    #[arg(long)]
    pub reasons: Option<String>,
    /// The reasons in your words
    #[arg(long)]
    pub reason_text: Option<String>,
    /// Notice given to the old provider, in months
    #[arg(long, allow_hyphen_values = true)]
    pub notice_months: Option<String>,
    /// Exit costs paid, in pounds
    #[arg(long, allow_hyphen_values = true)]
    pub exit_costs: Option<String>,
    /// How many months the transition took
    #[arg(long, allow_hyphen_values = true)]
    pub transition_months: Option<String>,
}

impl KindInput for SwitchInput {
    const KIND: &'static str = "switch";
    const REQUIRED: &'static [&'static str] = &["service_line", "from", "to", "effective", "reasons"];
    fn to_body(&self, _: &InputCtx<'_>) -> FieldResult<Body> {
        let mut reasons = list(&self.reasons)
            .iter()
            .map(|r| choice::<SwitchReason>("reasons", r))
            .collect::<FieldResult<Vec<_>>>()?;
        if reasons.is_empty() {
            return Err(FieldErr::new("reasons", format!("is required: one or more of {}", SwitchReason::allowed())));
        }
        reasons.sort();
        reasons.dedup();
        Ok(Body::Switch(Switch {
            service_line: code("service_line", req("service_line", &self.service_line)?)?,
            from: party("from", req("from", &self.from)?)?,
            to: party("to", req("to", &self.to)?)?,
            effective: date("effective", req("effective", &self.effective)?)?,
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
    /// The switch report (its id or a unique prefix) this is the outcome of (required)
    #[arg(long)]
    pub switch: Option<String>,
    /// Change in annual cost in pounds; negative is a saving, e.g. -40k
    #[arg(long, allow_hyphen_values = true)]
    pub cost_change: Option<String>,
    /// Change in satisfaction on the 1-5 scale, from -4 to 4
    #[arg(long, allow_hyphen_values = true)]
    pub satisfaction_change: Option<String>,
    /// Free-text comment
    #[arg(long)]
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
    /// A short title, e.g. "Notice periods of at most 6 months" (required)
    #[arg(long)]
    pub title: Option<String>,
    /// The proposal in full (required)
    #[arg(long)]
    pub text: Option<String>,
    /// The contract term asked for: max_notice_months=N, kpi_basis=outcome, min_efficiency_bp=N, satisfaction_survey
    #[arg(long)]
    pub term: Option<String>,
    /// Limit the motion to one service line
    #[arg(long)]
    pub service_line: Option<String>,
    /// Address the motion to one provider
    #[arg(long)]
    pub provider: Option<String>,
    /// Members whose support carries the motion (required)
    #[arg(long, allow_hyphen_values = true)]
    pub support_needed: Option<String>,
    /// Closing date, YYYY-MM-DD (required)
    #[arg(long)]
    pub closes_on: Option<String>,
}

impl KindInput for MotionInput {
    const KIND: &'static str = "motion";
    const REQUIRED: &'static [&'static str] = &["title", "text", "support_needed", "closes_on"];
    fn to_body(&self, _: &InputCtx<'_>) -> FieldResult<Body> {
        let term = |f, s: &str| s.parse::<ContractTerm>().map_err(|e| FieldErr::new(f, e.to_string()));
        Ok(Body::Motion(Motion {
            title: req("title", &self.title)?.to_string(),
            text: req("text", &self.text)?.to_string(),
            term: opt_with("term", &self.term, term)?,
            service_line: opt_with("service_line", &self.service_line, code)?,
            provider: opt_with("provider", &self.provider, code)?,
            support_needed: integer("support_needed", req("support_needed", &self.support_needed)?, 1u16, 10_000)?,
            closes_on: date("closes_on", req("closes_on", &self.closes_on)?)?,
        }))
    }
}
