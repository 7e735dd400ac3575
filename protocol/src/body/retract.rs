//! An author's withdrawal of one of its own earlier records.

use serde::{Deserialize, Serialize};

use super::KindBody;
use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use crate::ids::RecordId;
use crate::validate::{MAX_TEXT, at};

/// Withdraws `target`, which must be a record of the same organisation (checked where records
/// are interpreted, since it needs the target). Queries ignore retracted records everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retract {
    pub target: RecordId,
    pub reason: String,
}

impl KindBody for Retract {
    const CONTEXT: &'static str = "retract";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.target.as_bytes());
        w.str(2, &self.reason);
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(Retract { target: RecordId(f.array(1, "target")?), reason: f.str(2, "reason")? })
    }
    fn validate(&self) -> Result<(), FieldError> {
        at(Self::CONTEXT, "reason").text(&self.reason, MAX_TEXT)
    }
}
