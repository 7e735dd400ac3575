//! Exact linear algebra for the disclosure audit: vectors and row spaces over the integers
//! modulo the prime 2⁶¹ − 1. The audit's coefficients are rationals (counts, and age weights
//! 0.7ᵃ = 7ᵃ/10ᵃ); modulo a 61-bit prime they are exact, so "this figure can be worked out from
//! those" never depends on a floating-point tolerance (0.7²⁵ is 1.3 × 10⁻⁴, and a rank decided
//! with a tolerance would take such a column for zero). A rank over the rationals could in
//! principle exceed the rank modulo p only if p divided every minor of that size; the audit's
//! integers are far too structured and small for that to happen.

/// The modulus, 2⁶¹ − 1 (a Mersenne prime).
pub const P: u64 = (1 << 61) - 1;

pub fn add(a: u64, b: u64) -> u64 {
    let s = a + b;
    if s >= P { s - P } else { s }
}

pub fn sub(a: u64, b: u64) -> u64 {
    if a >= b { a - b } else { a + P - b }
}

pub fn mul(a: u64, b: u64) -> u64 {
    ((a as u128 * b as u128) % P as u128) as u64
}

pub fn pow(mut a: u64, mut e: u64) -> u64 {
    let mut r = 1;
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, a);
        }
        a = mul(a, a);
        e >>= 1;
    }
    r
}

/// The inverse of a non-zero `a` (Fermat).
pub fn inv(a: u64) -> u64 {
    debug_assert!(!a.is_multiple_of(P));
    pow(a, P - 2)
}

/// 0.7 to the power `a`, as 7ᵃ · 10⁻ᵃ.
pub fn seven_tenths(a: u64) -> u64 {
    mul(pow(7, a), pow(inv(10), a))
}

/// A row space kept in reduced row-echelon form: rows with their pivot column.
#[derive(Debug, Clone, Default)]
pub struct Span {
    rows: Vec<(usize, Vec<u64>)>,
}

impl Span {
    /// The span of `rows` (all of one length).
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a Vec<u64>>) -> Span {
        let mut s = Span::default();
        for r in rows {
            s.insert(r.clone());
        }
        s
    }

    pub fn rank(&self) -> usize {
        self.rows.len()
    }

    /// `v` less its components along the rows (zero iff `v` is in the span).
    pub fn reduce(&self, mut v: Vec<u64>) -> Vec<u64> {
        for (pivot, row) in &self.rows {
            let c = v[*pivot];
            if c != 0 {
                for (x, r) in v.iter_mut().zip(row) {
                    *x = sub(*x, mul(c, *r));
                }
            }
        }
        v
    }

    pub fn contains(&self, v: &[u64]) -> bool {
        self.reduce(v.to_vec()).iter().all(|x| *x == 0)
    }

    /// Adds `v`; returns whether the rank grew.
    pub fn insert(&mut self, v: Vec<u64>) -> bool {
        let mut v = self.reduce(v);
        let Some(pivot) = v.iter().position(|x| *x != 0) else { return false };
        let scale = inv(v[pivot]);
        for x in &mut v {
            *x = mul(*x, scale);
        }
        // Keep the form reduced: clear the new pivot column from the other rows.
        for (_, row) in &mut self.rows {
            let c = row[pivot];
            if c != 0 {
                for (x, r) in row.iter_mut().zip(&v) {
                    *x = sub(*x, mul(c, *r));
                }
            }
        }
        self.rows.push((pivot, v));
        true
    }

    /// The vectors of the span that are zero on every column `outside` marks, as a basis.
    /// (Reduce with those columns first: rows whose pivot lies among the others are zero there.)
    pub fn zero_on(&self, outside: &[bool]) -> Vec<Vec<u64>> {
        let n = outside.len();
        let order: Vec<usize> = (0..n).filter(|c| outside[*c]).chain((0..n).filter(|c| !outside[*c])).collect();
        let permuted = Span::of(
            &self.rows.iter().map(|(_, r)| order.iter().map(|c| r[*c]).collect::<Vec<u64>>()).collect::<Vec<_>>(),
        );
        let first_inside = order.iter().filter(|c| outside[**c]).count();
        permuted
            .rows
            .iter()
            .filter(|(pivot, _)| *pivot >= first_inside)
            .map(|(_, r)| {
                let mut back = vec![0; n];
                for (i, c) in order.iter().enumerate() {
                    back[*c] = r[i];
                }
                back
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(mul(inv(10), 10), 1);
        // 0.7 × 0.7 = 0.49 = 49/100.
        assert_eq!(seven_tenths(2), mul(49, inv(100)));
        assert_eq!(sub(3, 5), P - 2);
        assert_eq!(add(P - 1, 2), 1);
    }

    #[test]
    fn spans_rank_contain_and_restrict() {
        let a = vec![1, 1, 0];
        let b = vec![0, 1, 1];
        let s = Span::of([&a, &b]);
        assert_eq!(s.rank(), 2);
        // a − b = (1, 0, P − 1) is in the span; (1, 0, 0) is not.
        assert!(s.contains(&[1, 0, P - 1]));
        assert!(!s.contains(&[1, 0, 0]));
        // Zero on column 1: a − b, i.e. (1, 0, −1), up to scale.
        let z = s.zero_on(&[false, true, false]);
        assert_eq!(z.len(), 1);
        assert_eq!(z[0][1], 0);
        assert_eq!(add(z[0][0], z[0][2]), 0);
        assert!(s.zero_on(&[true, false, false]).iter().all(|v| v[0] == 0));
    }
}
