//! An author's withdrawal of one or more of its own earlier records.

use serde::{Deserialize, Serialize};

use super::KindBody;
use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use crate::ids::RecordId;
use crate::validate::{MAX_TEXT, at};

/// Most records one retraction may name besides its `target` (a record of 64 KiB holds about
/// 1,800 names of 35 bytes; this keeps well inside it, with room for the reason).
pub const MAX_ALSO: usize = 1_000;

/// Withdraws `target` and every record in `also` (one signed step for a whole import batch).
/// Each must be a record of the same organisation (checked where records are interpreted,
/// since it needs the targets). Queries ignore retracted records everywhere.
///
/// `also` (tag 3, repeated) came after version 1's first release: a node that predates it
/// skips the unknown tag and honours `target` alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retract {
    pub target: RecordId,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<RecordId>,
}

impl Retract {
    /// One record.
    pub fn one(target: RecordId, reason: impl Into<String>) -> Retract {
        Retract { target, reason: reason.into(), also: Vec::new() }
    }

    /// Every record it withdraws: `target`, then `also`.
    pub fn targets(&self) -> impl Iterator<Item = RecordId> + '_ {
        std::iter::once(self.target).chain(self.also.iter().copied())
    }
}

impl KindBody for Retract {
    const CONTEXT: &'static str = "retract";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.raw(1, self.target.as_bytes());
        w.str(2, &self.reason);
        for id in &self.also {
            w.raw(3, id.as_bytes());
        }
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        let also = f
            .list(3)
            .into_iter()
            .map(|v| {
                <[u8; 32]>::try_from(v).map(RecordId).map_err(|_| DecodeError::FieldLength {
                    context: Self::CONTEXT,
                    field: "also",
                    expected: 32,
                    got: v.len(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Retract { target: RecordId(f.array(1, "target")?), reason: f.str(2, "reason")?, also })
    }
    fn validate(&self) -> Result<(), FieldError> {
        at(Self::CONTEXT, "reason").text(&self.reason, MAX_TEXT)?;
        if self.also.len() > MAX_ALSO {
            return Err(at(Self::CONTEXT, "also").err(format!(
                "names {} records; at most {MAX_ALSO} fit one retraction (write several)",
                self.also.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.also.len() + 1);
        for id in self.targets() {
            if !seen.insert(id) {
                return Err(at(Self::CONTEXT, "also").err(format!("names record {} twice", id.short())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_predates_also_reads_the_first_target() {
        let many = Retract { target: RecordId([1; 32]), reason: "twice".into(), also: vec![RecordId([2; 32])] };
        let mut w = FieldWriter::new();
        many.encode_fields(&mut w);
        let bytes = w.into_bytes();
        let mut old = FieldWriter::new();
        Retract::one(RecordId([1; 32]), "twice").encode_fields(&mut old);
        let old = old.into_bytes();
        assert!(bytes.starts_with(&old), "tags 1 and 2 come first, unchanged");
        // What an old decoder reads: tags 1 and 2, skipping the unknown tag 3.
        let f = Fields::parse("retract", &bytes).expect("well formed");
        assert_eq!(f.array::<32>(1, "target").expect("target"), [1; 32]);
        assert_eq!(Retract::decode_fields(&f).expect("decodes"), many);
    }

    #[test]
    fn names_are_bounded_and_distinct() {
        let mut r = Retract::one(RecordId([1; 32]), "x");
        r.also = vec![RecordId([1; 32])];
        assert!(r.validate().expect_err("twice").to_string().contains("names record"));
        r.also = (0..=MAX_ALSO)
            .map(|i| {
                RecordId([
                    (i % 250) as u8 + 2,
                    (i / 250) as u8,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ])
            })
            .collect();
        assert!(r.validate().expect_err("too many").to_string().contains("at most 1000"));
    }
}
