//! Collective action: motions that buyers stand together on, and members' support for them.

use serde::{Deserialize, Serialize};

use super::{KindBody, date_field, req_enum};
use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use crate::ids::RecordId;
use crate::types::Date;
use crate::validate::{MAX_NAME, MAX_TEXT, at};

use super::price::{KpiBasis, MAX_EFFICIENCY_BP, MAX_NOTICE_MONTHS};

/// A contract term a motion can ask for, in a form that can be checked against members'
/// disclosed contracts. Text form: `max_notice_months=6`, `kpi_basis=outcome`,
/// `min_efficiency_bp=400`, `satisfaction_survey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractTerm {
    /// Notice periods of at most this many months.
    MaxNoticeMonths(u8),
    /// KPIs on this basis.
    KpiBasis(KpiBasis),
    /// An efficiency requirement of at least this many basis points a year.
    MinEfficiencyBp(u16),
    /// An annual client-satisfaction survey.
    SatisfactionSurvey,
}

/// A contract term's text form could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a contract term: use max_notice_months=N (0-36), kpi_basis=outcome|process|mixed|none, min_efficiency_bp=N (0-5000), or satisfaction_survey"
)]
pub struct BadTerm(pub String);

impl std::str::FromStr for ContractTerm {
    type Err = BadTerm;
    fn from_str(s: &str) -> Result<Self, BadTerm> {
        let bad = || BadTerm(s.chars().take(60).collect());
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        let (name, value) = match norm.split_once('=') {
            Some((n, v)) => (n.trim().to_string(), Some(v.trim().to_string())),
            None => (norm.clone(), None),
        };
        match (name.as_str(), value) {
            ("max_notice_months", Some(v)) => {
                let n: u8 = v.parse().map_err(|_| bad())?;
                if n > MAX_NOTICE_MONTHS {
                    return Err(bad());
                }
                Ok(ContractTerm::MaxNoticeMonths(n))
            }
            ("kpi_basis", Some(v)) => Ok(ContractTerm::KpiBasis(v.parse().map_err(|_| bad())?)),
            ("min_efficiency_bp", Some(v)) => {
                let n: u16 = v.parse().map_err(|_| bad())?;
                if n > MAX_EFFICIENCY_BP {
                    return Err(bad());
                }
                Ok(ContractTerm::MinEfficiencyBp(n))
            }
            ("satisfaction_survey", None) => Ok(ContractTerm::SatisfactionSurvey),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for ContractTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContractTerm::MaxNoticeMonths(n) => write!(f, "max_notice_months={n}"),
            ContractTerm::KpiBasis(k) => write!(f, "kpi_basis={k}"),
            ContractTerm::MinEfficiencyBp(n) => write!(f, "min_efficiency_bp={n}"),
            ContractTerm::SatisfactionSurvey => f.write_str("satisfaction_survey"),
        }
    }
}

impl ContractTerm {
    fn encode(&self) -> Vec<u8> {
        match self {
            ContractTerm::MaxNoticeMonths(n) => vec![1, *n],
            ContractTerm::KpiBasis(k) => vec![2, k.code()],
            ContractTerm::MinEfficiencyBp(n) => {
                let [a, b] = n.to_be_bytes();
                vec![3, a, b]
            }
            ContractTerm::SatisfactionSurvey => vec![4],
        }
    }
    fn decode(v: &[u8]) -> Result<Self, DecodeError> {
        let context = Motion::CONTEXT;
        let field = "term";
        let len_err = |expected| DecodeError::FieldLength { context, field, expected, got: v.len() };
        match v {
            [1, n] => Ok(ContractTerm::MaxNoticeMonths(*n)),
            [2, k] => KpiBasis::from_code(*k).map(ContractTerm::KpiBasis).ok_or(DecodeError::UnknownCode {
                context,
                field,
                code: *k,
            }),
            [3, a, b] => Ok(ContractTerm::MinEfficiencyBp(u16::from_be_bytes([*a, *b]))),
            [4] => Ok(ContractTerm::SatisfactionSurvey),
            [1, ..] | [2, ..] => Err(len_err(2)),
            [3, ..] => Err(len_err(3)),
            [4, ..] => Err(len_err(1)),
            [t, ..] => Err(DecodeError::UnknownCode { context, field, code: *t }),
            [] => Err(len_err(1)),
        }
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = at(Motion::CONTEXT, "term");
        match self {
            ContractTerm::MaxNoticeMonths(n) => c.range(*n, 0, MAX_NOTICE_MONTHS),
            ContractTerm::MinEfficiencyBp(n) => c.range(*n, 0, MAX_EFFICIENCY_BP),
            _ => Ok(()),
        }
    }
}

/// Most members a motion can require.
pub const MAX_SUPPORT_NEEDED: u16 = 10_000;

/// A proposal for collective action. It carries once `support_needed` distinct members support
/// it before `closes_on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Motion {
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub term: Option<ContractTerm>,
    #[serde(default)]
    pub service_line: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    pub support_needed: u16,
    pub closes_on: Date,
}

impl KindBody for Motion {
    const CONTEXT: &'static str = "motion";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.str(1, &self.title);
        w.str(2, &self.text);
        w.opt(3, &self.term, |w, t, v| w.raw(t, &v.encode()));
        w.opt(4, &self.service_line, |w, t, v| w.str(t, v));
        w.opt(5, &self.provider, |w, t, v| w.str(t, v));
        w.u16(6, self.support_needed);
        w.u32(7, self.closes_on.days());
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(Motion {
            title: f.str(1, "title")?,
            text: f.str(2, "text")?,
            term: f.get(3, "term")?.map(ContractTerm::decode).transpose()?,
            service_line: f.opt_str(4, "service_line")?,
            provider: f.opt_str(5, "provider")?,
            support_needed: f.u16(6, "support_needed")?,
            closes_on: date_field(f, 7, "closes_on")?
                .ok_or(DecodeError::MissingField { context: Self::CONTEXT, field: "closes_on" })?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "title").line(&self.title, MAX_NAME)?;
        at(c, "text").text(&self.text, MAX_TEXT)?;
        if let Some(t) = &self.term {
            t.validate()?;
        }
        if let Some(s) = &self.service_line {
            at(c, "service_line").service_line(s)?;
        }
        if let Some(p) = &self.provider {
            at(c, "provider").provider_code(p)?;
        }
        at(c, "support_needed").range(self.support_needed, 1, MAX_SUPPORT_NEEDED)
    }
}

crate::types::coded_enum!(
    /// Whether a support record adds or withdraws the member's support.
    Stance, "stance" {
        Support = 1 => "support",
        Withdraw = 2 => "withdraw",
    }
);

/// A member's support for (or withdrawal of support from) a motion; its latest one counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Support {
    pub motion: RecordId,
    pub stance: Stance,
    #[serde(default)]
    pub comment: Option<String>,
}

impl KindBody for Support {
    const CONTEXT: &'static str = "support";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.motion.as_bytes());
        w.u8(2, self.stance.code());
        w.opt(3, &self.comment, |w, t, v| w.str(t, v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(Support {
            motion: RecordId(f.array(1, "motion")?),
            stance: req_enum(f, 2, "stance", Stance::from_code)?,
            comment: f.opt_str(3, "comment")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        at(Self::CONTEXT, "comment").opt_text(&self.comment, MAX_TEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_terms_parse_and_print() {
        for s in ["max_notice_months=6", "kpi_basis=outcome", "min_efficiency_bp=400", "satisfaction_survey"] {
            let t: ContractTerm = s.parse().expect("valid term");
            assert_eq!(t.to_string(), s);
            assert_eq!(ContractTerm::decode(&t.encode()).expect("round trip"), t);
        }
        assert!("max_notice_months=99".parse::<ContractTerm>().is_err());
        assert!("notice=6".parse::<ContractTerm>().is_err());
    }
}
