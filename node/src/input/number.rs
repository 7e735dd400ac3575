//! Whole numbers (ratings, months, counts, populations) and percentages.
//!
//! Whole numbers may group thousands by commas in threes (`2,400,000`); a decimal point, a
//! wrong grouping or a European form is refused rather than guessed. Percentages are `4`,
//! `4%`, `4.5 %` with at most two decimals; a bare fraction below one (`0.04`) could be 4% or
//! 0.04% (spreadsheets store 4% as 0.04) and is refused unless written with `%`.

use std::fmt::Display;
use std::str::FromStr;

use super::{FieldErr, FieldResult, clip};

/// A whole number from `min` to `max`.
pub fn integer<T>(field: &'static str, s: &str, min: T, max: T) -> FieldResult<T>
where
    T: FromStr + Display + PartialOrd + Copy,
{
    let range = || format!("a whole number from {min} to {max}");
    let t = s.trim();
    let bad = |why: &str| FieldErr::new(field, format!("`{}` is not {}{why}", clip(t), range()));
    let (negative, digits) = match t.strip_prefix(['-', '−']) {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t.strip_prefix('+').map(str::trim_start).unwrap_or(t)),
    };
    if digits.contains('.') && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad(" (it has a decimal point)"));
    }
    let plain = ungroup(digits).ok_or_else(|| bad(""))?;
    let text = if negative { format!("-{plain}") } else { plain };
    let v: T = text.parse().map_err(|_| bad(""))?;
    if v < min || v > max {
        return Err(FieldErr::new(field, format!("{v} is out of range: give {}", range())));
    }
    Ok(v)
}

/// `2,400,000` → `2400000`; `None` unless it is digits, optionally grouped in threes by commas.
fn ungroup(s: &str) -> Option<String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b',') {
        return None;
    }
    let groups: Vec<&str> = s.split(',').collect();
    let ok = groups.len() == 1 || ((1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3));
    (ok && !groups[0].is_empty()).then(|| groups.concat())
}

/// A rating, 1 (poor) to 5 (excellent).
pub fn rating(field: &'static str, s: &str) -> FieldResult<u8> {
    integer(field, s, 1u8, 5)
}

/// How likely to recommend, 0 to 10.
pub fn recommend(field: &'static str, s: &str) -> FieldResult<u8> {
    integer(field, s, 0u8, 10)
}

/// A number of months, 0 to 60.
pub fn months(field: &'static str, s: &str) -> FieldResult<u8> {
    integer(field, s, 0u8, 60)
}

/// A registered population (people), 1 to the protocol's limit.
pub fn population(field: &'static str, s: &str) -> FieldResult<u64> {
    integer(field, s, 1u64, csx_protocol::validate::MAX_POPULATION)
}

/// A percentage from 0 to `max_bp` basis points (`4`, `4%`, `4.5%`), as basis points.
pub fn percent_bp(field: &'static str, s: &str, max_bp: u16) -> FieldResult<u16> {
    let t = s.trim();
    let max = format_bp(max_bp);
    let bad = |why: String| FieldErr::new(field, format!("`{}` {why}", clip(t)));
    let not_a = || bad(format!("is not a percentage from 0 to {max} (e.g. 4 or 4.5%)"));
    let (number, has_sign) = match t.strip_suffix('%') {
        Some(n) => (n.trim_end(), true),
        None => (t, false),
    };
    if number.starts_with(['-', '−']) {
        return Err(bad("is negative; give a percentage from 0".to_string() + &format!(" to {max}")));
    }
    if number.contains(',') {
        return Err(bad(format!("uses a comma: write the decimal point as a dot (e.g. 4.5%), from 0 to {max}")));
    }
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || number.matches('.').count() > 1 {
        return Err(not_a());
    }
    if frac.len() > 2 {
        return Err(bad(format!("has more than 2 decimal places; give a percentage from 0 to {max}, e.g. 4.25%")));
    }
    let w: u32 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| not_a())? };
    let f: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().map_err(|_| not_a())? };
    let bp = w.saturating_mul(100).saturating_add(f);
    if !has_sign && w == 0 && f > 0 {
        return Err(bad(format!(
            "could be {}% or a fraction meaning {}%: write the % sign, e.g. {}%",
            format_bp(bp as u16),
            format_bp((bp * 100).min(u16::MAX as u32) as u16),
            format_bp((bp * 100).min(u16::MAX as u32) as u16)
        )));
    }
    if bp > max_bp as u32 {
        return Err(bad(format!("is more than {max}%")));
    }
    Ok(bp as u16)
}

/// Basis points as a percentage without trailing zeros: 450 → `4.5`, 400 → `4`, 25 → `0.25`.
pub fn format_bp(bp: u16) -> String {
    let (w, f) = (bp / 100, bp % 100);
    match f {
        0 => w.to_string(),
        f if f % 10 == 0 => format!("{w}.{}", f / 10),
        f => format!("{w}.{f:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn whole_numbers_name_their_range_in_words() {
        let e = rating("quality", "7").expect_err("out of range");
        assert_eq!(e.as_flag(), "--quality: 7 is out of range: give a whole number from 1 to 5");
        assert_eq!(population("p", "2,400,000"), Ok(2_400_000));
        assert_eq!(integer("n", "-4", -4i8, 4), Ok(-4));
        assert_eq!(integer("n", "−2", -4i8, 4), Ok(-2));
        for (s, words) in [
            ("4.5", "decimal point"),
            ("4.0", "decimal point"),
            ("2,40,000", "not a whole number"),
            ("2.400.000", "decimal point"),
            ("four", "not a whole number"),
            ("", "not a whole number"),
            ("1,", "not a whole number"),
            (",100", "not a whole number"),
        ] {
            let e = population("p", s).expect_err(s);
            assert!(e.message.contains(words), "{s}: {}", e.message);
        }
    }

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(percent_bp("e", "4", 5000), Ok(400));
        assert_eq!(percent_bp("e", "4.5%", 5000), Ok(450));
        assert_eq!(percent_bp("e", "4.5 %", 5000), Ok(450));
        assert_eq!(percent_bp("e", "0.25%", 5000), Ok(25));
        assert_eq!(percent_bp("e", "0", 5000), Ok(0));
        for (s, words) in [
            ("51", "more than 50%"),
            ("4.125", "more than 2 decimal places"),
            ("0.04", "could be 0.04% or a fraction meaning 4%"),
            ("4,5%", "comma"),
            ("-2%", "negative"),
            ("four", "not a percentage from 0 to 50"),
            ("%", "not a percentage"),
            ("1.2.3", "not a percentage"),
        ] {
            let e = percent_bp("e", s, 5000).expect_err(s);
            assert!(e.message.contains(words), "{s}: {}", e.message);
        }
    }

    proptest! {
        #[test]
        fn grouped_numbers_read_back(n in 1u64..=csx_protocol::validate::MAX_POPULATION) {
            let plain = n.to_string();
            let mut grouped = String::new();
            for (i, c) in plain.chars().enumerate() {
                if i > 0 && (plain.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            prop_assert_eq!(population("p", &plain), Ok(n));
            prop_assert_eq!(population("p", &grouped), Ok(n));
        }

        #[test]
        fn formatted_percentages_read_back(bp in 0u16..=5000) {
            let text = format_bp(bp);
            prop_assert_eq!(percent_bp("e", &format!("{text}%"), 5000), Ok(bp));
            if bp >= 100 || bp == 0 {
                prop_assert_eq!(percent_bp("e", &text, 5000), Ok(bp));
            }
        }

        /// An accepted whole number is its digits; an accepted percentage is its number.
        #[test]
        fn nothing_is_accepted_with_another_meaning(s in "[-+]?[0-9]{0,4}([,.][0-9]{0,4}){0,2}%?") {
            if let Ok(v) = integer("n", &s, i64::MIN, i64::MAX) {
                let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
                let d: i64 = digits.parse().expect("digits");
                prop_assert_eq!(v, if s.starts_with('-') { -d } else { d });
                prop_assert!(!s.contains('.') && !s.contains('%'));
            }
            if let Ok(bp) = percent_bp("e", &s, u16::MAX) {
                let n: f64 = s.trim_end_matches('%').trim_start_matches('+').parse().expect("a number");
                prop_assert!((n * 100.0 - bp as f64).abs() < 1e-6, "{} read as {} bp", s, bp);
            }
        }
    }
}
