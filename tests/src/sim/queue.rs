//! The virtual clock: a discrete-event queue ordered by (time, insertion order).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Virtual time in microseconds since the start of a run.
pub type Micros = u64;

struct Entry<E> {
    at: Micros,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap pops the earliest event; ties go in insertion order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events waiting for their time. Popping moves the clock; nothing ever runs in real time.
pub struct Queue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: Micros,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue { heap: BinaryHeap::new(), seq: 0, now: 0 }
    }
}

impl<E> Queue<E> {
    pub fn now(&self) -> Micros {
        self.now
    }

    /// Schedules `event` at `at` (never before now).
    pub fn push(&mut self, at: Micros, event: E) {
        let at = at.max(self.now);
        self.heap.push(Entry { at, seq: self.seq, event });
        self.seq += 1;
    }

    /// The next event, if it is due at or before `until`; the clock moves to its time.
    pub fn pop_until(&mut self, until: Micros) -> Option<E> {
        if self.heap.peek().is_none_or(|e| e.at > until) {
            self.now = self.now.max(until.min(self.heap.peek().map_or(until, |e| e.at)));
            return None;
        }
        let e = self.heap.pop()?;
        self.now = e.at;
        Some(e.event)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_time_then_insertion_order() {
        let mut q = Queue::default();
        q.push(30, "c");
        q.push(10, "a");
        q.push(10, "b");
        q.push(50, "late");
        assert_eq!(q.pop_until(40), Some("a"));
        assert_eq!(q.pop_until(40), Some("b"));
        assert_eq!(q.pop_until(40), Some("c"));
        assert_eq!(q.now(), 30);
        assert_eq!(q.pop_until(40), None);
        assert_eq!(q.now(), 40);
        assert_eq!(q.pop_until(100), Some("late"));
    }
}
