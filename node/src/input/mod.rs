//! Turning what people type (flags, CSV cells, JSON values) into typed record bodies.
//!
//! Every value arrives as text, so flags, CSV columns, JSON keys (and web forms) share one set of
//! parsers and one set of error messages, each naming the field and what is allowed. It lives in
//! the node crate so that every client of the node (the CLI, the dashboard) parses alike.

pub mod file;
pub mod kinds;

use csx_protocol::types::{Date, FinancialYear};

/// A problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErr {
    /// The field's name as in CSV/JSON (`annual_value`); flags are the same in kebab-case.
    pub field: &'static str,
    pub message: String,
}

impl FieldErr {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldErr { field, message: message.into() }
    }
    /// `--annual-value: ...` for the command line.
    pub fn as_flag(&self) -> String {
        format!("--{}: {}", self.field.replace('_', "-"), self.message)
    }
    /// `column annual_value: ...` for files.
    pub fn as_column(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

pub type FieldResult<T> = Result<T, FieldErr>;

fn trimmed(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A required value.
pub fn req<'a>(field: &'static str, v: &'a Option<String>) -> FieldResult<&'a str> {
    trimmed(v).ok_or_else(|| FieldErr::new(field, "is required"))
}

/// An optional value (empty counts as absent).
pub fn opt(v: &Option<String>) -> Option<&str> {
    trimmed(v)
}

pub fn opt_string(v: &Option<String>) -> Option<String> {
    trimmed(v).map(str::to_string)
}

/// Parses an optional value with `f`.
pub fn opt_with<T>(
    field: &'static str,
    v: &Option<String>,
    f: fn(&'static str, &str) -> FieldResult<T>,
) -> FieldResult<Option<T>> {
    trimmed(v).map(|s| f(field, s)).transpose()
}

pub fn code(_field: &'static str, s: &str) -> FieldResult<String> {
    Ok(s.trim().to_ascii_uppercase())
}

pub fn integer<T: std::str::FromStr + std::fmt::Display + PartialOrd>(
    field: &'static str,
    s: &str,
    min: T,
    max: T,
) -> FieldResult<T> {
    let clean = s.trim().replace(',', "");
    let v: T = clean
        .parse()
        .map_err(|_| FieldErr::new(field, format!("`{}` is not a whole number between {min} and {max}", clip(s))))?;
    if v < min || v > max {
        return Err(FieldErr::new(field, format!("{v} is out of range {min}..={max}")));
    }
    Ok(v)
}

pub fn rating(field: &'static str, s: &str) -> FieldResult<u8> {
    integer(field, s, 1u8, 5)
}

pub fn recommend(field: &'static str, s: &str) -> FieldResult<u8> {
    integer(field, s, 0u8, 10)
}

pub fn months(field: &'static str, s: &str) -> FieldResult<u8> {
    integer(field, s, 0u8, 60)
}

pub fn population(field: &'static str, s: &str) -> FieldResult<u64> {
    integer(field, s, 1u64, csx_protocol::validate::MAX_POPULATION)
}

pub fn boolean(field: &'static str, s: &str) -> FieldResult<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "1" => Ok(true),
        "no" | "n" | "false" | "f" | "0" => Ok(false),
        _ => Err(FieldErr::new(field, format!("`{}` is not yes or no", clip(s)))),
    }
}

pub fn year(field: &'static str, s: &str) -> FieldResult<FinancialYear> {
    s.parse().map_err(|e: csx_protocol::types::BadYear| FieldErr::new(field, e.to_string()))
}

pub fn date(field: &'static str, s: &str) -> FieldResult<Date> {
    s.parse().map_err(|e: csx_protocol::types::BadDate| FieldErr::new(field, e.to_string()))
}

pub fn choice<T: std::str::FromStr<Err = csx_protocol::types::BadChoice>>(
    field: &'static str,
    s: &str,
) -> FieldResult<T> {
    s.parse().map_err(|e: csx_protocol::types::BadChoice| FieldErr::new(field, e.to_string()))
}

/// Money in pounds, as people write it: `250000`, `£250,000.50`, `250k`, `1.2m`. Returns pence.
/// Negative amounts are refused unless `signed`.
pub fn money(field: &'static str, s: &str, signed: bool) -> FieldResult<i64> {
    let bad = || {
        FieldErr::new(
            field,
            format!("`{}` is not an amount of money in pounds (e.g. 250000, £250,000.50, 250k, 1.2m)", clip(s)),
        )
    };
    let mut t = s.trim().replace([',', ' '], "");
    let negative = t.starts_with('-');
    if negative {
        if !signed {
            return Err(FieldErr::new(field, format!("`{}` is negative; amounts must be zero or more", clip(s))));
        }
        t.remove(0);
    }
    let t = t.strip_prefix('£').unwrap_or(&t).to_ascii_lowercase();
    let (num, mult) = match t.strip_suffix('k') {
        Some(n) => (n.to_string(), 1_000i128),
        None => match t.strip_suffix('m') {
            Some(n) => (n.to_string(), 1_000_000),
            None => (t.clone(), 1),
        },
    };
    let (whole, frac) = num.split_once('.').unwrap_or((&num, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // Pence with up to 2 decimals for plain amounts; more digits allowed with k/m suffixes.
    let scale = 10i128.pow(frac.len() as u32);
    if frac.len() > 8 || (mult == 1 && frac.len() > 2) {
        return Err(FieldErr::new(field, format!("`{}` has more than 2 decimal places", clip(s))));
    }
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let frac_v: i128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
    let pence_num = (whole * scale + frac_v) * mult * 100;
    if pence_num % scale != 0 {
        return Err(FieldErr::new(field, format!("`{}` is not a whole number of pence", clip(s))));
    }
    let pence = pence_num / scale;
    if pence > csx_protocol::validate::MAX_PENCE as i128 {
        return Err(FieldErr::new(field, format!("`{}` is more than the limit of £1,000,000,000", clip(s))));
    }
    Ok(if negative { -(pence as i64) } else { pence as i64 })
}

pub fn pence(field: &'static str, s: &str) -> FieldResult<u64> {
    money(field, s, false).map(|p| p as u64)
}

pub fn signed_pence(field: &'static str, s: &str) -> FieldResult<i64> {
    money(field, s, true)
}

/// A percentage (`4`, `4%`, `4.5%`) as basis points.
pub fn percent_bp(field: &'static str, s: &str) -> FieldResult<u16> {
    let bad = || FieldErr::new(field, format!("`{}` is not a percentage between 0 and 50 (e.g. 4 or 4.5%)", clip(s)));
    let t = s.trim().trim_end_matches('%').trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let w: u32 = whole.parse().map_err(|_| bad())?;
    let f: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().map_err(|_| bad())? };
    let bp = w * 100 + f;
    if bp > 5000 {
        return Err(bad());
    }
    Ok(bp as u16)
}

/// A list separated by `,` or `;`.
pub fn list(s: &Option<String>) -> Vec<String> {
    trimmed(s)
        .map(|s| s.split([',', ';']).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default()
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_in_the_forms_people_write() {
        assert_eq!(money("v", "250000", false), Ok(25_000_000));
        assert_eq!(money("v", "£250,000.50", false), Ok(25_000_050));
        assert_eq!(money("v", "250k", false), Ok(25_000_000));
        assert_eq!(money("v", "1.2m", false), Ok(120_000_000));
        assert_eq!(money("v", "0.5", false), Ok(50));
        assert_eq!(money("v", "-£3", true), Ok(-300));
        assert!(money("v", "-3", false).expect_err("negative").message.contains("negative"));
        assert!(money("v", "3.001", false).is_err());
        assert!(money("v", "abc", false).is_err());
        assert!(money("v", "2000000000", false).is_err(), "over £1bn");
    }

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(percent_bp("e", "4"), Ok(400));
        assert_eq!(percent_bp("e", "4.5%"), Ok(450));
        assert_eq!(percent_bp("e", "0.25"), Ok(25));
        assert!(percent_bp("e", "51").is_err());
        assert!(percent_bp("e", "4.125").is_err());
    }

    #[test]
    fn integers_name_their_range() {
        let e = rating("quality", "7").expect_err("out of range");
        assert_eq!(e.as_flag(), "--quality: 7 is out of range 1..=5");
        assert_eq!(e.as_column(), "quality: 7 is out of range 1..=5");
    }
}
