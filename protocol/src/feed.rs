//! Where a record goes in its author's feed: the rule shared by every store and by sync.

use crate::ids::RecordId;

/// The highest contiguous record of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub seq: u64,
    pub id: RecordId,
}

/// The outcome of offering a record to a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The record extends the feed.
    Append,
    /// The feed already holds this exact record.
    Duplicate,
    /// The feed holds a different record at this seq: the author signed two. Proof of misbehaviour.
    Fork { existing: RecordId },
    /// The record is ahead of the feed; it waits until the gap is filled.
    Ahead,
    /// The record is next in line but names a different predecessor than the one held.
    WrongPrev { expected: RecordId },
}

/// Decides where a record with `seq`, `prev` and `id` goes, given the feed's `head` and the id
/// the feed holds at `seq` (if `seq` is at or below the head).
pub fn place(
    head: Option<Head>,
    held_at_seq: Option<RecordId>,
    seq: u64,
    prev: Option<RecordId>,
    id: RecordId,
) -> Placement {
    match held_at_seq {
        Some(held) if held == id => return Placement::Duplicate,
        Some(held) => return Placement::Fork { existing: held },
        None => {}
    }
    let next = head.map_or(1, |h| h.seq + 1);
    if seq > next {
        return Placement::Ahead;
    }
    match head {
        // seq == next here: a held record below the head would have been passed in.
        Some(h) if prev != Some(h.id) => Placement::WrongPrev { expected: h.id },
        None if prev.is_some() => Placement::Ahead,
        _ => Placement::Append,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> RecordId {
        RecordId([b; 32])
    }

    #[test]
    fn first_record_appends_to_an_empty_feed() {
        assert_eq!(place(None, None, 1, None, id(1)), Placement::Append);
    }

    #[test]
    fn next_record_must_name_the_head() {
        let head = Some(Head { seq: 1, id: id(1) });
        assert_eq!(place(head, None, 2, Some(id(1)), id(2)), Placement::Append);
        assert_eq!(place(head, None, 2, Some(id(9)), id(2)), Placement::WrongPrev { expected: id(1) });
    }

    #[test]
    fn records_beyond_the_gap_wait() {
        let head = Some(Head { seq: 1, id: id(1) });
        assert_eq!(place(head, None, 5, Some(id(4)), id(5)), Placement::Ahead);
        assert_eq!(place(None, None, 3, Some(id(2)), id(3)), Placement::Ahead);
    }

    #[test]
    fn same_seq_is_duplicate_or_fork() {
        let head = Some(Head { seq: 3, id: id(3) });
        assert_eq!(place(head, Some(id(2)), 2, Some(id(1)), id(2)), Placement::Duplicate);
        assert_eq!(place(head, Some(id(2)), 2, Some(id(1)), id(7)), Placement::Fork { existing: id(2) });
    }
}
