//! Field rules shared by record kinds: text lengths, code formats and numeric ranges.
//!
//! Limits are counted in Unicode scalar values (characters), not bytes.

use crate::error::FieldError;
use crate::types::FinancialYear;

/// Longest organisation, provider or motion title.
pub const MAX_NAME: usize = 200;
/// Longest short label (a role, a region, a unit name, an alias).
pub const MAX_LABEL: usize = 100;
/// Longest free text (comment, scope, reason, motion text).
pub const MAX_TEXT: usize = 4000;
/// Largest annual contract value: £1bn, in pence.
pub const MAX_PENCE: u64 = 100_000_000_000;
/// Largest population an organisation can cover (England is ~57m; the largest ICB ~3m).
pub const MAX_POPULATION: u64 = 60_000_000;
/// Longest list (aliases, predecessor codes, reason codes).
pub const MAX_LIST: usize = 32;

/// Context for a field rule check: which structure and which field.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub context: &'static str,
    pub field: &'static str,
}

pub fn at(context: &'static str, field: &'static str) -> Check {
    Check { context, field }
}

impl Check {
    pub fn err(self, rule: impl Into<String>) -> FieldError {
        FieldError::new(self.context, self.field, rule)
    }

    /// One line of text: 1..=max characters, not blank, no control characters.
    pub fn line(self, s: &str, max: usize) -> Result<(), FieldError> {
        self.text_common(s, max)?;
        if s.chars().any(char::is_control) {
            return Err(self.err("must be a single line without control characters"));
        }
        Ok(())
    }

    /// Free text: 1..=max characters, not blank; newlines and tabs allowed, other control
    /// characters (which could rewrite a reader's terminal) are not.
    pub fn text(self, s: &str, max: usize) -> Result<(), FieldError> {
        self.text_common(s, max)?;
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(self.err("must not contain control characters other than newline and tab"));
        }
        Ok(())
    }

    fn text_common(self, s: &str, max: usize) -> Result<(), FieldError> {
        if s.trim().is_empty() {
            return Err(self.err("must not be empty"));
        }
        let n = s.chars().count();
        if n > max {
            return Err(self.err(format!("must be at most {max} characters (found {n})")));
        }
        Ok(())
    }

    pub fn opt_line(self, s: &Option<String>, max: usize) -> Result<(), FieldError> {
        s.as_deref().map_or(Ok(()), |s| self.line(s, max))
    }

    pub fn opt_text(self, s: &Option<String>, max: usize) -> Result<(), FieldError> {
        s.as_deref().map_or(Ok(()), |s| self.text(s, max))
    }

    /// An NHS ODS organisation code: 2–10 upper-case letters and digits (e.g. `02A`, `QWO`, `X2C4Y`).
    pub fn ods_code(self, s: &str) -> Result<(), FieldError> {
        let ok = (2..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(self.err(format!(
                "`{}` is not an ODS code: 2 to 10 upper-case letters and digits, e.g. 02A or QWO",
                clip(s)
            )));
        }
        Ok(())
    }

    /// A provider code: an ODS code where it has one, or 2–16 of upper-case letters, digits and `-`.
    pub fn provider_code(self, s: &str) -> Result<(), FieldError> {
        let ok = (2..=16).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if !ok {
            return Err(self.err(format!(
                "`{}` is not a provider code: 2 to 16 upper-case letters, digits and inner hyphens, e.g. 0DE or ACME-BI",
                clip(s)
            )));
        }
        Ok(())
    }

    /// A service-line code: 2–16 upper-case letters, digits and `_`, starting with a letter.
    pub fn service_line(self, s: &str) -> Result<(), FieldError> {
        let ok = (2..=16).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(self.err(format!(
                "`{}` is not a service-line code: 2 to 16 upper-case letters, digits and _, e.g. BI",
                clip(s)
            )));
        }
        Ok(())
    }

    pub fn range<T: PartialOrd + std::fmt::Display>(self, v: T, min: T, max: T) -> Result<(), FieldError> {
        if v < min || v > max {
            return Err(self.err(format!("{v} is out of range {min}..={max}")));
        }
        Ok(())
    }

    pub fn opt_range<T: PartialOrd + std::fmt::Display + Copy>(
        self,
        v: Option<T>,
        min: T,
        max: T,
    ) -> Result<(), FieldError> {
        v.map_or(Ok(()), |v| self.range(v, min, max))
    }

    pub fn year(self, y: FinancialYear) -> Result<(), FieldError> {
        if !y.is_valid() {
            return Err(self.err(format!(
                "{} is not a financial year between {} and {}",
                y.0,
                crate::types::MIN_YEAR,
                crate::types::MAX_YEAR
            )));
        }
        Ok(())
    }

    /// Money in pence: 0..=MAX_PENCE (or 1.. when `positive`).
    pub fn pence(self, v: u64, positive: bool) -> Result<(), FieldError> {
        if positive && v == 0 {
            return Err(self.err("must be more than £0"));
        }
        if v > MAX_PENCE {
            return Err(self.err(format!("{} is more than the limit of £1,000,000,000", pounds(v as i128))));
        }
        Ok(())
    }

    pub fn list_len<T>(self, v: &[T], max: usize) -> Result<(), FieldError> {
        if v.len() > max {
            return Err(self.err(format!("at most {max} entries (found {})", v.len())));
        }
        Ok(())
    }
}

/// Formats pence as pounds with thousands separators: `£1,234.56`, `-£3.00`.
pub fn pounds(pence: i128) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    let p = pence.unsigned_abs();
    let whole = (p / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}£{grouped}.{:02}", p % 100)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pounds_are_grouped() {
        assert_eq!(pounds(0), "£0.00");
        assert_eq!(pounds(123_456_789), "£1,234,567.89");
        assert_eq!(pounds(-300), "-£3.00");
        assert_eq!(pounds(100_000), "£1,000.00");
    }

    #[test]
    fn text_rules_name_the_field() {
        let c = at("review", "comment");
        assert!(c.text("fine\nmultiline", 100).is_ok());
        let e = c.line("two\nlines", 100).expect_err("newline in a line");
        assert_eq!(e.to_string(), "review.comment: must be a single line without control characters");
        assert!(c.text("  ", 100).is_err());
        assert!(c.text("\u{1b}[2J", 100).is_err(), "terminal escapes are refused");
        assert!(c.text(&"x".repeat(101), 100).is_err());
    }

    #[test]
    fn code_formats() {
        let c = at("t", "code");
        assert!(c.ods_code("02A").is_ok());
        assert!(c.ods_code("X2C4Y").is_ok());
        assert!(c.ods_code("02a").is_err());
        assert!(c.provider_code("ACME-BI").is_ok());
        assert!(c.provider_code("-ACME").is_err());
        assert!(c.service_line("BI").is_ok());
        assert!(c.service_line("1BI").is_err());
    }
}
