//! Small value types shared by record kinds: dates, financial years, coded enumerations.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Days between 0000-03-01-based Julian day numbering and the Unix epoch (1970-01-01).
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// Earliest and latest accepted calendar dates and financial years.
pub const MIN_YEAR: u16 = 2000;
pub const MAX_YEAR: u16 = 2100;

/// A calendar date, encoded on the wire as a u32 count of days since 1970-01-01.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

/// A date could not be parsed or is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date between {MIN_YEAR}-01-01 and {MAX_YEAR}-12-31 in the form YYYY-MM-DD")]
pub struct BadDate(pub String);

impl Date {
    pub fn from_days(days: u32) -> Option<Date> {
        let jd = i32::try_from(days).ok()?.checked_add(UNIX_EPOCH_JULIAN_DAY)?;
        let d = time::Date::from_julian_day(jd).ok()?;
        Self::in_range(d).then_some(Date(d))
    }
    pub fn days(&self) -> u32 {
        // In range by construction (year >= 2000), so the difference is positive.
        (self.0.to_julian_day() - UNIX_EPOCH_JULIAN_DAY) as u32
    }
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Option<Date> {
        let month = time::Month::try_from(month).ok()?;
        let d = time::Date::from_calendar_date(year, month, day).ok()?;
        Self::in_range(d).then_some(Date(d))
    }
    /// The date of a Unix timestamp in milliseconds (UTC).
    pub fn from_unix_ms(ms: u64) -> Option<Date> {
        Self::from_days(u32::try_from(ms / 86_400_000).ok()?)
    }
    fn in_range(d: time::Date) -> bool {
        (MIN_YEAR as i32..=MAX_YEAR as i32).contains(&d.year())
    }
    pub fn year(&self) -> i32 {
        self.0.year()
    }
    pub fn month(&self) -> u8 {
        self.0.month() as u8
    }
    /// The financial year (April to March) this date falls in.
    pub fn financial_year(&self) -> FinancialYear {
        let y = self.0.year() as u16;
        FinancialYear(if self.month() >= 4 { y } else { y - 1 })
    }
}

impl std::str::FromStr for Date {
    type Err = BadDate;
    fn from_str(s: &str) -> Result<Date, BadDate> {
        let bad = || BadDate(s.chars().take(40).collect());
        let parts: Vec<&str> = s.trim().split('-').collect();
        let [y, m, d] = parts.as_slice() else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let y: i32 = y.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        let d: u8 = d.parse().map_err(|_| bad())?;
        Date::from_ymd(y, m, d).ok_or_else(bad)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.month(), self.0.day())
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An NHS financial year, named by the calendar year it starts in: 2024 means 2024/25
/// (1 April 2024 to 31 March 2025). Serialised as the integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FinancialYear(pub u16);

/// A financial year could not be parsed or is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a financial year between {MIN_YEAR} and {MAX_YEAR}: write 2024 or 2024/25 for April 2024 to March 2025"
)]
pub struct BadYear(pub String);

impl FinancialYear {
    pub fn is_valid(&self) -> bool {
        (MIN_YEAR..=MAX_YEAR).contains(&self.0)
    }
}

impl std::str::FromStr for FinancialYear {
    type Err = BadYear;
    fn from_str(s: &str) -> Result<Self, BadYear> {
        let bad = || BadYear(s.chars().take(40).collect());
        let s = s.trim();
        let (start, end) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        if start.len() != 4 {
            return Err(bad());
        }
        let y: u16 = start.parse().map_err(|_| bad())?;
        if let Some(end) = end {
            let next = (y + 1) % 100;
            let ok = match end.len() {
                2 => end.parse::<u16>().ok() == Some(next),
                4 => end.parse::<u16>().ok() == Some(y + 1),
                _ => false,
            };
            if !ok {
                return Err(bad());
            }
        }
        let fy = FinancialYear(y);
        if fy.is_valid() { Ok(fy) } else { Err(bad()) }
    }
}

impl fmt::Display for FinancialYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:02}", self.0, (self.0 + 1) % 100)
    }
}

impl fmt::Debug for FinancialYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A name was not one of an enumeration's allowed values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {what}; allowed values: {allowed}")]
pub struct BadChoice {
    pub what: &'static str,
    pub input: String,
    pub allowed: String,
}

/// Defines an enumeration with a stable one-byte wire code and a stable snake_case name.
macro_rules! coded_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $code:literal => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const WHAT: &'static str = $what;
            pub fn code(self) -> u8 {
                match self { $($name::$variant => $code),+ }
            }
            pub fn from_code(code: u8) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The allowed names, comma separated, for error messages and help.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::types::BadChoice;
            /// Accepts the snake_case name, case-insensitively, with `-` or space for `_`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
                Self::ALL.iter().copied().find(|v| v.name() == norm).ok_or_else(|| $crate::types::BadChoice {
                    what: $what,
                    input: s.chars().take(40).collect(),
                    allowed: Self::allowed(),
                })
            }
        }
    };
}
pub(crate) use coded_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_days() {
        let d: Date = "2024-04-01".parse().expect("valid date");
        assert_eq!(Date::from_days(d.days()), Some(d));
        assert_eq!(d.to_string(), "2024-04-01");
        assert_eq!(d.financial_year(), FinancialYear(2024));
        let march: Date = "2025-03-31".parse().expect("valid date");
        assert_eq!(march.financial_year(), FinancialYear(2024));
    }

    #[test]
    fn bad_dates_are_refused() {
        for s in ["2024-02-30", "1999-12-31", "2024-4-1", "24-04-01", "2101-01-01", "tomorrow"] {
            assert!(s.parse::<Date>().is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn financial_years_parse_in_both_forms() {
        assert_eq!("2024".parse::<FinancialYear>().expect("ok"), FinancialYear(2024));
        assert_eq!("2024/25".parse::<FinancialYear>().expect("ok"), FinancialYear(2024));
        assert_eq!("2099/2100".parse::<FinancialYear>().expect("ok"), FinancialYear(2099));
        assert_eq!(FinancialYear(2099).to_string(), "2099/00");
        for s in ["2024/26", "1999", "24", "2024/2026"] {
            assert!(s.parse::<FinancialYear>().is_err(), "{s} should be refused");
        }
    }
}
