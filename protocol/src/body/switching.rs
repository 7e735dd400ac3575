//! Switching reports: a buyer moved a service line from one provider to another, and later
//! reported how it went.

use serde::{Deserialize, Serialize};

use super::{KindBody, date_field};
use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use crate::ids::RecordId;
use crate::types::Date;
use crate::validate::{MAX_LIST, MAX_PENCE, MAX_TEXT, at, pounds};

crate::types::coded_enum!(
    /// Why a buyer switched.
    SwitchReason, "switch reason" {
        Cost = 1 => "cost",
        Quality = 2 => "quality",
        Responsiveness = 3 => "responsiveness",
        DataQuality = 4 => "data_quality",
        Capacity = 5 => "capacity",
        Strategy = 6 => "strategy",
        ProviderExit = 7 => "provider_exit",
        ContractEnd = 8 => "contract_end",
        Other = 9 => "other",
    }
);

/// Who delivers a service line: a provider, the buyer itself, or a service shared with
/// another buyer. Text form: `0DE`, `in_house`, `shared:QWO`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    Provider(String),
    InHouse,
    /// Shared with the buyer of this ODS code (e.g. a neighbouring ICB's in-house team).
    Shared(String),
}

impl Party {
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            Party::Provider(c) => Some(c),
            _ => None,
        }
    }
    fn encode(&self) -> Vec<u8> {
        let (tag, code) = match self {
            Party::Provider(c) => (1u8, c.as_str()),
            Party::InHouse => (2, ""),
            Party::Shared(c) => (3, c.as_str()),
        };
        let mut v = vec![tag];
        v.extend_from_slice(code.as_bytes());
        v
    }
    fn decode(bytes: &[u8], field: &'static str) -> Result<Party, DecodeError> {
        let context = Switch::CONTEXT;
        let (&tag, rest) = bytes.split_first().ok_or(DecodeError::MissingField { context, field })?;
        let code = || String::from_utf8(rest.to_vec()).map_err(|_| DecodeError::BadUtf8 { context, field });
        match tag {
            1 => Ok(Party::Provider(code()?)),
            2 if rest.is_empty() => Ok(Party::InHouse),
            2 => Err(DecodeError::FieldLength { context, field, expected: 1, got: bytes.len() }),
            3 => Ok(Party::Shared(code()?)),
            _ => Err(DecodeError::UnknownCode { context, field, code: tag }),
        }
    }
    fn validate(&self, field: &'static str) -> Result<(), FieldError> {
        match self {
            Party::Provider(c) => at(Switch::CONTEXT, field).provider_code(c),
            Party::InHouse => Ok(()),
            Party::Shared(c) => at(Switch::CONTEXT, field).ods_code(c),
        }
    }
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Party::Provider(c) => f.write_str(c),
            Party::InHouse => f.write_str("in_house"),
            Party::Shared(c) => write!(f, "shared:{c}"),
        }
    }
}

/// A text form of a [`Party`] could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a provider code, `in_house`, or `shared:ODS` (e.g. shared:QWO)")]
pub struct BadParty(pub String);

impl std::str::FromStr for Party {
    type Err = BadParty;
    fn from_str(s: &str) -> Result<Party, BadParty> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase().replace('-', "_");
        if lower == "in_house" || lower == "inhouse" {
            return Ok(Party::InHouse);
        }
        if let Some(code) = lower.strip_prefix("shared:") {
            let code = code.trim();
            if code.is_empty() || code.contains(char::is_whitespace) {
                return Err(BadParty(s.chars().take(40).collect()));
            }
            return Ok(Party::Shared(code.to_ascii_uppercase()));
        }
        if t.is_empty() || t.contains(char::is_whitespace) {
            return Err(BadParty(s.chars().take(40).collect()));
        }
        Ok(Party::Provider(t.to_ascii_uppercase()))
    }
}

impl Serialize for Party {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Party {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Longest transition, in months.
pub const MAX_TRANSITION_MONTHS: u8 = 60;

/// A switching report: service line `service_line` moved from `from` to `to` on `effective`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switch {
    pub service_line: String,
    pub from: Party,
    pub to: Party,
    pub effective: Date,
    pub reasons: Vec<SwitchReason>,
    #[serde(default)]
    pub reason_text: Option<String>,
    /// Notice given to the old provider, in months.
    #[serde(default)]
    pub notice_months: Option<u8>,
    #[serde(default)]
    pub exit_costs_pence: Option<u64>,
    #[serde(default)]
    pub transition_months: Option<u8>,
}

impl KindBody for Switch {
    const CONTEXT: &'static str = "switch";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.str(1, &self.service_line);
        w.raw(2, &self.from.encode());
        w.raw(3, &self.to.encode());
        w.u32(4, self.effective.days());
        for r in &self.reasons {
            w.u8(5, r.code());
        }
        w.opt(6, &self.reason_text, |w, t, v| w.str(t, v));
        w.opt(7, &self.notice_months, |w, t, v| w.u8(t, *v));
        w.opt(8, &self.exit_costs_pence, |w, t, v| w.u64(t, *v));
        w.opt(9, &self.transition_months, |w, t, v| w.u8(t, *v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        let reasons = f
            .list(5)
            .into_iter()
            .map(|v| match v {
                [c] => SwitchReason::from_code(*c).ok_or(DecodeError::UnknownCode {
                    context: Self::CONTEXT,
                    field: "reasons",
                    code: *c,
                }),
                _ => Err(DecodeError::FieldLength {
                    context: Self::CONTEXT,
                    field: "reasons",
                    expected: 1,
                    got: v.len(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Switch {
            service_line: f.str(1, "service_line")?,
            from: Party::decode(f.req(2, "from")?, "from")?,
            to: Party::decode(f.req(3, "to")?, "to")?,
            effective: date_field(f, 4, "effective")?
                .ok_or(DecodeError::MissingField { context: Self::CONTEXT, field: "effective" })?,
            reasons,
            reason_text: f.opt_str(6, "reason_text")?,
            notice_months: f.opt_u8(7, "notice_months")?,
            exit_costs_pence: f.opt_u64(8, "exit_costs_pence")?,
            transition_months: f.opt_u8(9, "transition_months")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "service_line").service_line(&self.service_line)?;
        self.from.validate("from")?;
        self.to.validate("to")?;
        if self.from == self.to {
            return Err(at(c, "to").err(format!("must differ from `from` (both are {})", self.from)));
        }
        if self.reasons.is_empty() {
            return Err(at(c, "reasons").err(format!("give at least one of: {}", SwitchReason::allowed())));
        }
        at(c, "reasons").list_len(&self.reasons, MAX_LIST)?;
        if self.reasons.windows(2).any(|w| w[0] >= w[1]) {
            return Err(at(c, "reasons").err("must be listed once each, in code order"));
        }
        at(c, "reason_text").opt_text(&self.reason_text, MAX_TEXT)?;
        at(c, "notice_months").opt_range(self.notice_months, 0, super::price::MAX_NOTICE_MONTHS)?;
        if let Some(p) = self.exit_costs_pence {
            at(c, "exit_costs_pence").pence(p, false)?;
        }
        at(c, "transition_months").opt_range(self.transition_months, 0, MAX_TRANSITION_MONTHS)
    }
}

/// How a switch went, reported later by the same organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchOutcome {
    /// The switch report this is the outcome of.
    pub switch: RecordId,
    /// Change in annual cost after the switch, in pence (negative is a saving).
    #[serde(default)]
    pub cost_change_pence: Option<i64>,
    /// Change in satisfaction on the 1–5 rating scale, from −4 to +4.
    #[serde(default)]
    pub satisfaction_change: Option<i8>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl KindBody for SwitchOutcome {
    const CONTEXT: &'static str = "switch_outcome";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.switch.as_bytes());
        w.opt(2, &self.cost_change_pence, |w, t, v| w.i64(t, *v));
        w.opt(3, &self.satisfaction_change, |w, t, v| w.u8(t, *v as u8));
        w.opt(4, &self.comment, |w, t, v| w.str(t, v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(SwitchOutcome {
            switch: RecordId(f.array(1, "switch")?),
            cost_change_pence: f.opt_i64(2, "cost_change_pence")?,
            satisfaction_change: f.opt_u8(3, "satisfaction_change")?.map(|b| b as i8),
            comment: f.opt_str(4, "comment")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        if let Some(p) = self.cost_change_pence
            && p.unsigned_abs() > MAX_PENCE
        {
            return Err(at(c, "cost_change_pence").err(format!("{} is beyond ±£1,000,000,000", pounds(p as i128))));
        }
        at(c, "satisfaction_change").opt_range(self.satisfaction_change, -4, 4)?;
        if self.cost_change_pence.is_none() && self.satisfaction_change.is_none() {
            return Err(at(c, "cost_change_pence").err("give cost_change_pence, satisfaction_change or both"));
        }
        at(c, "comment").opt_text(&self.comment, MAX_TEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parties_parse_from_their_text_forms() {
        assert_eq!("0de".parse::<Party>(), Ok(Party::Provider("0DE".into())));
        assert_eq!("In-House".parse::<Party>(), Ok(Party::InHouse));
        assert_eq!("shared:qwo".parse::<Party>(), Ok(Party::Shared("QWO".into())));
        for bad in ["", "shared:", "shared: ", "two words"] {
            assert!(bad.parse::<Party>().is_err(), "`{bad}` parsed");
        }
        for p in [Party::Provider("0DE".into()), Party::InHouse, Party::Shared("QWO".into())] {
            assert_eq!(p.to_string().parse::<Party>(), Ok(p));
        }
    }
}
