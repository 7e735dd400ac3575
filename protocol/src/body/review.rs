//! A buyer's review of a provider's service line.

use serde::{Deserialize, Serialize};

use super::KindBody;
use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use crate::types::FinancialYear;
use crate::validate::{MAX_LABEL, MAX_TEXT, at};

/// The rating dimensions of a review, in field order, with their JSON/CSV names.
pub const RATING_DIMENSIONS: [&str; 7] =
    ["quality", "timeliness", "responsiveness", "data_accuracy", "flexibility", "value_for_money", "kpi_delivery"];

/// How a provider served one service line in one financial year. Ratings are 1 (poor) to 5
/// (excellent), each optional; at least one rating or `would_recommend` must be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub provider: String,
    pub service_line: String,
    /// The financial year the review is about.
    pub year: FinancialYear,
    #[serde(default)]
    pub quality: Option<u8>,
    #[serde(default)]
    pub timeliness: Option<u8>,
    #[serde(default)]
    pub responsiveness: Option<u8>,
    #[serde(default)]
    pub data_accuracy: Option<u8>,
    #[serde(default)]
    pub flexibility: Option<u8>,
    #[serde(default)]
    pub value_for_money: Option<u8>,
    #[serde(default)]
    pub kpi_delivery: Option<u8>,
    /// 0 (not at all likely) to 10 (extremely likely).
    #[serde(default)]
    pub would_recommend: Option<u8>,
    pub still_customer: bool,
    pub reviewer_role: String,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Review {
    /// The ratings in [`RATING_DIMENSIONS`] order.
    pub fn ratings(&self) -> [Option<u8>; 7] {
        [
            self.quality,
            self.timeliness,
            self.responsiveness,
            self.data_accuracy,
            self.flexibility,
            self.value_for_money,
            self.kpi_delivery,
        ]
    }
}

impl KindBody for Review {
    const CONTEXT: &'static str = "review";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.str(1, &self.provider);
        w.str(2, &self.service_line);
        w.u16(3, self.year.0);
        for (i, r) in self.ratings().iter().enumerate() {
            w.opt(4 + i as u8, r, |w, t, v| w.u8(t, *v));
        }
        w.opt(11, &self.would_recommend, |w, t, v| w.u8(t, *v));
        w.bool(12, self.still_customer);
        w.str(13, &self.reviewer_role);
        w.opt(14, &self.comment, |w, t, v| w.str(t, v));
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        let r = |i: u8| f.opt_u8(4 + i, RATING_DIMENSIONS[i as usize]);
        Ok(Review {
            provider: f.str(1, "provider")?,
            service_line: f.str(2, "service_line")?,
            year: FinancialYear(f.u16(3, "year")?),
            quality: r(0)?,
            timeliness: r(1)?,
            responsiveness: r(2)?,
            data_accuracy: r(3)?,
            flexibility: r(4)?,
            value_for_money: r(5)?,
            kpi_delivery: r(6)?,
            would_recommend: f.opt_u8(11, "would_recommend")?,
            still_customer: f.bool(12, "still_customer")?,
            reviewer_role: f.str(13, "reviewer_role")?,
            comment: f.opt_str(14, "comment")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "provider").provider_code(&self.provider)?;
        at(c, "service_line").service_line(&self.service_line)?;
        at(c, "year").year(self.year)?;
        for (name, r) in RATING_DIMENSIONS.iter().zip(self.ratings()) {
            at(c, name).opt_range(r, 1, 5)?;
        }
        at(c, "would_recommend").opt_range(self.would_recommend, 0, 10)?;
        if self.ratings().iter().all(Option::is_none) && self.would_recommend.is_none() {
            return Err(at(c, "ratings")
                .err(format!("give at least one rating ({}) or would_recommend", RATING_DIMENSIONS.join(", "))));
        }
        at(c, "reviewer_role").line(&self.reviewer_role, MAX_LABEL)?;
        at(c, "comment").opt_text(&self.comment, MAX_TEXT)
    }
}
