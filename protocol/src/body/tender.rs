//! Joint tenders: a member's intent to re-procure a service line from a date, open to a joint
//! procurement, and another member's signed wish to join it. Both are withdrawn by retracting
//! them (`retract`), like any record.

use serde::{Deserialize, Serialize};

use super::{KindBody, date_field, req_enum};
use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use crate::ids::RecordId;
use crate::types::Date;
use crate::validate::{MAX_POPULATION, MAX_TEXT, at};

crate::types::coded_enum!(
    /// The annual value of the contract to be procured, in bands (a member states a band, not
    /// the figure, when it announces an intent).
    ValueBand, "value band" {
        Under100k = 1 => "under_100k",
        From100kTo250k = 2 => "100k_to_250k",
        From250kTo500k = 3 => "250k_to_500k",
        From500kTo1m = 4 => "500k_to_1m",
        From1mTo5m = 5 => "1m_to_5m",
        Over5m = 6 => "over_5m",
    }
);

impl ValueBand {
    /// The band's bounds in pence a year: at least the first, below the second (`None`: no
    /// upper bound).
    pub fn bounds_pence(self) -> (u64, Option<u64>) {
        const K: u64 = 100_000; // £1,000 in pence
        match self {
            ValueBand::Under100k => (0, Some(100 * K)),
            ValueBand::From100kTo250k => (100 * K, Some(250 * K)),
            ValueBand::From250kTo500k => (250 * K, Some(500 * K)),
            ValueBand::From500kTo1m => (500 * K, Some(1_000 * K)),
            ValueBand::From1mTo5m => (1_000 * K, Some(5_000 * K)),
            ValueBand::Over5m => (5_000 * K, None),
        }
    }
}

/// "We intend to re-procure service line `service_line` from `from`, open to a joint
/// procurement."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub service_line: String,
    /// When the new contract should start.
    pub from: Date,
    pub value_band: ValueBand,
    /// The population the procurement would cover.
    pub population: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl KindBody for Intent {
    const CONTEXT: &'static str = "intent";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.str(1, &self.service_line);
        w.u32(2, self.from.days());
        w.u8(3, self.value_band.code());
        w.u64(4, self.population);
        w.opt(5, &self.note, |w, t, v| w.str(t, v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(Intent {
            service_line: f.str(1, "service_line")?,
            from: date_field(f, 2, "from")?.ok_or(DecodeError::MissingField { context: f.context, field: "from" })?,
            value_band: req_enum(f, 3, "value_band", ValueBand::from_code)?,
            population: f.u64(4, "population")?,
            note: f.opt_str(5, "note")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "service_line").service_line(&self.service_line)?;
        at(c, "population").range(self.population, 1, MAX_POPULATION)?;
        at(c, "note").opt_text(&self.note, MAX_TEXT)
    }
}

/// A member's signed wish to join the joint procurement `intent` announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenderJoin {
    pub intent: RecordId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl KindBody for TenderJoin {
    const CONTEXT: &'static str = "tender_join";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.intent.as_bytes());
        w.opt(2, &self.comment, |w, t, v| w.str(t, v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(TenderJoin { intent: RecordId(f.array(1, "intent")?), comment: f.opt_str(2, "comment")? })
    }
    fn validate(&self) -> Result<(), FieldError> {
        at(Self::CONTEXT, "comment").opt_text(&self.comment, MAX_TEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intent_round_trips_and_names_bad_fields() {
        let i = Intent {
            service_line: "BI".into(),
            from: Date::from_ymd(2026, 4, 1).expect("date"),
            value_band: ValueBand::From250kTo500k,
            population: 312_500,
            note: Some("Open to a joint lot with neighbours".into()),
        };
        let mut w = FieldWriter::new();
        i.encode_fields(&mut w);
        let bytes = w.into_bytes();
        let back = Intent::decode_fields(&Fields::parse("intent", &bytes).expect("parses")).expect("decodes");
        assert_eq!(back, i);
        let mut bad = i.clone();
        bad.population = 0;
        assert!(bad.validate().expect_err("zero").to_string().contains("intent.population"));
        let mut bad = i;
        bad.service_line = "bi line".into();
        assert!(bad.validate().expect_err("format").to_string().contains("intent.service_line"));
    }

    #[test]
    fn an_unknown_value_band_is_named() {
        let mut w = FieldWriter::new();
        w.str(1, "BI");
        w.u32(2, Date::from_ymd(2026, 4, 1).expect("date").days());
        w.u8(3, 9);
        w.u64(4, 10);
        let bytes = w.into_bytes();
        let e = Intent::decode_fields(&Fields::parse("intent", &bytes).expect("parses")).expect_err("band 9");
        assert!(e.to_string().contains("value_band"), "{e}");
    }
}
