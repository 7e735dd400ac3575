//! A price disclosure: what a buyer pays a provider for one service line in one year.

use serde::{Deserialize, Serialize};

use super::{KindBody, date_field, enum_field, req_enum};
use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use crate::types::{Date, FinancialYear};
use crate::validate::{MAX_LABEL, MAX_POPULATION, MAX_TEXT, at};

crate::types::coded_enum!(
    /// How the contract is priced.
    PricingModel, "pricing model" {
        Fixed = 1 => "fixed",
        PerHead = 2 => "per_head",
        PerUnit = 3 => "per_unit",
        TimeAndMaterials = 4 => "time_and_materials",
    }
);

crate::types::coded_enum!(
    /// What the contract's KPIs measure.
    KpiBasis, "KPI basis" {
        Outcome = 1 => "outcome",
        Process = 2 => "process",
        Mixed = 3 => "mixed",
        NoKpis = 4 => "none",
    }
);

crate::types::coded_enum!(
    /// How the contract was bought.
    BuyingRoute, "buying route" {
        DirectAward = 1 => "direct_award",
        Framework = 2 => "framework",
        Tender = 3 => "tender",
    }
);

/// Largest unit count of a per-unit price (e.g. payslips or invoices a year).
pub const MAX_UNITS: u64 = 1_000_000_000;
/// Longest contract, in months.
pub const MAX_CONTRACT_MONTHS: u16 = 120;
/// Longest notice period, in months.
pub const MAX_NOTICE_MONTHS: u8 = 36;
/// Largest efficiency requirement: 50% (in basis points).
pub const MAX_EFFICIENCY_BP: u16 = 5000;

/// One buyer's disclosure of what it pays. Money is integer pence; the annual value is for the
/// financial year `year`. `population_covered` is what the price is normalised by (£ per head).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub provider: String,
    pub service_line: String,
    pub year: FinancialYear,
    pub annual_value_pence: u64,
    pub vat_included: bool,
    pub pricing_model: PricingModel,
    pub population_covered: u64,
    /// What one unit is ("payslip", "invoice"); required when priced per unit.
    #[serde(default)]
    pub unit_name: Option<String>,
    /// Units a year; required when priced per unit.
    #[serde(default)]
    pub unit_count: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub contract_start: Option<Date>,
    #[serde(default)]
    pub contract_months: Option<u16>,
    #[serde(default)]
    pub notice_months: Option<u8>,
    /// Year-on-year efficiency the contract requires, in basis points (400 = 4%).
    #[serde(default)]
    pub efficiency_bp: Option<u16>,
    #[serde(default)]
    pub kpi_basis: Option<KpiBasis>,
    #[serde(default)]
    pub buying_route: Option<BuyingRoute>,
    /// Whether the contract requires an annual client-satisfaction survey.
    #[serde(default)]
    pub satisfaction_survey: Option<bool>,
    /// The buyer's reference for this contract or lot ("Lot 2", "C-2024-017"): it tells apart
    /// two contracts with one provider for one service line and year, which would otherwise
    /// supersede each other (see [`Price::contract_key`]).
    #[serde(default)]
    pub contract_ref: Option<String>,
}

impl Price {
    /// The contract reference as supersession compares it: trimmed, with ASCII letters in lower
    /// case, so `Lot 2` and `LOT 2` name one contract. `None` when the disclosure gives none.
    pub fn contract_key(&self) -> Option<String> {
        self.contract_ref.as_deref().map(|r| r.trim().to_ascii_lowercase())
    }
}

impl KindBody for Price {
    const CONTEXT: &'static str = "price";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.str(1, &self.provider);
        w.str(2, &self.service_line);
        w.u16(3, self.year.0);
        w.u64(4, self.annual_value_pence);
        w.bool(5, self.vat_included);
        w.u8(6, self.pricing_model.code());
        w.u64(7, self.population_covered);
        w.opt(8, &self.unit_name, |w, t, v| w.str(t, v));
        w.opt(9, &self.unit_count, |w, t, v| w.u64(t, *v));
        w.opt(10, &self.scope, |w, t, v| w.str(t, v));
        w.opt(11, &self.contract_start, |w, t, v| w.u32(t, v.days()));
        w.opt(12, &self.contract_months, |w, t, v| w.u16(t, *v));
        w.opt(13, &self.notice_months, |w, t, v| w.u8(t, *v));
        w.opt(14, &self.efficiency_bp, |w, t, v| w.u16(t, *v));
        w.opt(15, &self.kpi_basis, |w, t, v| w.u8(t, v.code()));
        w.opt(16, &self.buying_route, |w, t, v| w.u8(t, v.code()));
        w.opt(17, &self.satisfaction_survey, |w, t, v| w.bool(t, *v));
        w.opt(18, &self.contract_ref, |w, t, v| w.str(t, v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(Price {
            provider: f.str(1, "provider")?,
            service_line: f.str(2, "service_line")?,
            year: FinancialYear(f.u16(3, "year")?),
            annual_value_pence: f.u64(4, "annual_value_pence")?,
            vat_included: f.bool(5, "vat_included")?,
            pricing_model: req_enum(f, 6, "pricing_model", PricingModel::from_code)?,
            population_covered: f.u64(7, "population_covered")?,
            unit_name: f.opt_str(8, "unit_name")?,
            unit_count: f.opt_u64(9, "unit_count")?,
            scope: f.opt_str(10, "scope")?,
            contract_start: date_field(f, 11, "contract_start")?,
            contract_months: f.opt_u16(12, "contract_months")?,
            notice_months: f.opt_u8(13, "notice_months")?,
            efficiency_bp: f.opt_u16(14, "efficiency_bp")?,
            kpi_basis: enum_field(f, 15, "kpi_basis", KpiBasis::from_code)?,
            buying_route: enum_field(f, 16, "buying_route", BuyingRoute::from_code)?,
            satisfaction_survey: f.opt_bool(17, "satisfaction_survey")?,
            contract_ref: f.opt_str(18, "contract_ref")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "provider").provider_code(&self.provider)?;
        at(c, "service_line").service_line(&self.service_line)?;
        at(c, "year").year(self.year)?;
        at(c, "annual_value_pence").pence(self.annual_value_pence, true)?;
        at(c, "population_covered").range(self.population_covered, 1, MAX_POPULATION)?;
        let per_unit = self.pricing_model == PricingModel::PerUnit;
        match (per_unit, &self.unit_name, self.unit_count) {
            (true, None, _) => {
                return Err(at(c, "unit_name").err("is required when pricing_model is per_unit"));
            }
            (true, _, None) => {
                return Err(at(c, "unit_count").err("is required when pricing_model is per_unit"));
            }
            (false, Some(_), _) | (false, _, Some(_)) => {
                return Err(at(c, "unit_name").err("unit_name and unit_count are only for pricing_model per_unit"));
            }
            _ => {}
        }
        at(c, "unit_name").opt_line(&self.unit_name, MAX_LABEL)?;
        at(c, "unit_count").opt_range(self.unit_count, 1, MAX_UNITS)?;
        at(c, "scope").opt_text(&self.scope, MAX_TEXT)?;
        at(c, "contract_months").opt_range(self.contract_months, 1, MAX_CONTRACT_MONTHS)?;
        at(c, "notice_months").opt_range(self.notice_months, 0, MAX_NOTICE_MONTHS)?;
        at(c, "efficiency_bp").opt_range(self.efficiency_bp, 0, MAX_EFFICIENCY_BP)?;
        at(c, "contract_ref").opt_line(&self.contract_ref, MAX_LABEL)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;

    fn price(contract_ref: Option<&str>) -> Price {
        Price {
            provider: "0DE".into(),
            service_line: "BI".into(),
            year: FinancialYear(2024),
            annual_value_pence: 100,
            vat_included: false,
            pricing_model: PricingModel::Fixed,
            population_covered: 1,
            unit_name: None,
            unit_count: None,
            scope: None,
            contract_start: None,
            contract_months: None,
            notice_months: None,
            efficiency_bp: None,
            kpi_basis: None,
            buying_route: None,
            satisfaction_survey: None,
            contract_ref: contract_ref.map(String::from),
        }
    }

    #[test]
    fn contract_references_tell_contracts_apart_whatever_their_case() {
        let thing = |r| Body::Price(price(r)).supersedes().map(|t| t.contract);
        assert_eq!(thing(Some("Lot 2")), Some(Some("lot 2".into())));
        assert_eq!(thing(Some("Lot 2")), thing(Some("LOT 2")));
        assert_ne!(thing(Some("Lot 2")), thing(Some("Lot 1")));
        assert_ne!(thing(Some("Lot 2")), thing(None), "no reference is a contract of its own");
        assert!(price(Some("Lot\n2")).validate().is_err(), "one line");
        assert!(price(Some(&"x".repeat(101))).validate().is_err(), "at most 100 characters");
        assert!(price(Some("C-2024-017")).validate().is_ok());
    }
}
