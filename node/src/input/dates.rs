//! Dates and NHS financial years as people write them.
//!
//! Dates: ISO `2024-04-01`; the UK's day-first `01/04/2024`, `1/4/2024`, `01-04-2024`,
//! `01.04.2024`; written months `1 April 2024`, `1 Apr 2024`, `01-Apr-2024` (Excel's form); a
//! time of exactly midnight after any of these (spreadsheets add one); and, relative to today,
//! `today` and `in N days|weeks|months`. Refused with a reason: a month-first (US) date, a
//! two-digit year, an Excel serial number, a time other than midnight.
//!
//! Financial years (April to March), named by the year they start in: `2024`, `2024/25`,
//! `2024-25`, `2024/2025`, `24/25`, `FY24/25`, `FY 2024/25`. Refused with a reason: years that
//! do not follow each other, and `FY24`/`FY2024` (is that the year starting or ending then?).

use csx_protocol::types::{Date, FinancialYear, MAX_YEAR, MIN_YEAR};

use super::{FieldErr, FieldResult, clip};

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The forms a date may take, for messages.
const DATE_FORMS: &str = "2024-04-01, 01/04/2024 (day first) or 1 April 2024";

/// A date in any of the forms above; `today` anchors `today` and `in N days`.
pub fn date(field: &'static str, s: &str, today: Date) -> FieldResult<Date> {
    let t = s.trim();
    parse_date(t, today).map_err(|why| FieldErr::new(field, format!("`{}` {why}", clip(t))))
}

fn not_a_date() -> String {
    format!("is not a date: write {DATE_FORMS}")
}

fn parse_date(t: &str, today: Date) -> Result<Date, String> {
    let lower = t.to_ascii_lowercase();
    if lower == "today" {
        return Ok(today);
    }
    if let Some(rest) = lower.strip_prefix("in ") {
        return relative(rest.trim(), today);
    }
    // A time of day after the date: only midnight, which spreadsheets add to plain dates.
    let day_part = match t.split_once(['T', ' ']).filter(|(d, _)| d.contains(['-', '/', '.'])) {
        Some((d, time)) if t.contains(':') => {
            let time = time.trim().trim_end_matches('Z');
            if !matches!(time, "00:00" | "00:00:00" | "0:00" | "00:00:00.000") {
                return Err(format!("has a time of day ({time}); give the date alone, e.g. {DATE_FORMS}"));
            }
            d
        }
        _ => t,
    };
    if day_part.len() == 5 && day_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "looks like a spreadsheet's date serial number: format the column as a date (e.g. 01/04/2024) before saving"
                .into(),
        );
    }
    if let Some(d) = iso(day_part)? {
        return Ok(d);
    }
    if let Some(d) = day_first(day_part)? {
        return Ok(d);
    }
    if let Some(d) = written(day_part)? {
        return Ok(d);
    }
    Err(not_a_date())
}

fn calendar(y: i32, m: u32, d: u32) -> Result<Date, String> {
    if !(MIN_YEAR as i32..=MAX_YEAR as i32).contains(&y) {
        return Err(format!("is not between {MIN_YEAR} and {MAX_YEAR}"));
    }
    let (Ok(m8), Ok(d8)) = (u8::try_from(m), u8::try_from(d)) else { return Err(not_a_date()) };
    Date::from_ymd(y, m8, d8).ok_or_else(|| {
        if (1..=12).contains(&m) {
            format!("is not a date: {} has no day {d}", capitalise(MONTHS[m as usize - 1]))
        } else {
            not_a_date()
        }
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

fn num(s: &str, min_len: usize, max_len: usize) -> Option<u32> {
    ((min_len..=max_len).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// `YYYY-MM-DD`.
fn iso(t: &str) -> Result<Option<Date>, String> {
    let parts: Vec<&str> = t.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return Ok(None) };
    if y.len() != 4 {
        return Ok(None);
    }
    match (num(y, 4, 4), num(m, 2, 2), num(d, 2, 2)) {
        (Some(y), Some(m), Some(d)) => calendar(y as i32, m, d).map(Some),
        _ => Err(format!("is not a date: write ISO dates as YYYY-MM-DD, e.g. 2024-04-01, or {DATE_FORMS}")),
    }
}

/// `DD/MM/YYYY` (or with `-` or `.`), day first as in the UK.
fn day_first(t: &str) -> Result<Option<Date>, String> {
    let Some(sep) = ['/', '-', '.'].into_iter().find(|c| t.contains(*c)) else { return Ok(None) };
    let parts: Vec<&str> = t.split(sep).collect();
    let [d, m, y] = parts.as_slice() else {
        return Ok(None);
    };
    let (Some(d), Some(m)) = (num(d, 1, 2), num(m, 1, 2)) else { return Ok(None) };
    if y.len() == 2 && num(y, 2, 2).is_some() {
        return Err(format!("has a two-digit year: write the year in full, e.g. {d:02}/{m:02}/20{y}"));
    }
    let Some(y) = num(y, 4, 4) else { return Ok(None) };
    if m > 12 && (1..=12).contains(&d) {
        return Err(format!(
            "looks like a US date (month first); csx reads dates day first, as in the UK: write {m:02}/{d:02}/{y} or {y}-{d:02}-{m:02}"
        ));
    }
    calendar(y as i32, m, d).map(Some)
}

/// `1 April 2024`, `1 Apr 2024`, `01-Apr-2024`.
fn written(t: &str) -> Result<Option<Date>, String> {
    let parts: Vec<&str> = t.split([' ', '-']).filter(|p| !p.is_empty()).collect();
    let [d, m, y] = parts.as_slice() else { return Ok(None) };
    let Some(d) = num(d.trim_end_matches(|c: char| c.is_ascii_alphabetic()), 1, 2) else { return Ok(None) };
    let m = m.trim_end_matches('.').to_ascii_lowercase();
    let Some(month) = MONTHS
        .iter()
        .position(|full| m.len() >= 3 && full.starts_with(&m) && (m.len() == 3 || m == *full || m == "sept"))
    else {
        return Ok(None);
    };
    if y.len() == 2 && num(y, 2, 2).is_some() {
        return Err(format!(
            "has a two-digit year: write the year in full, e.g. {d} {} 20{y}",
            capitalise(MONTHS[month])
        ));
    }
    let Some(y) = num(y, 4, 4) else { return Ok(None) };
    calendar(y as i32, month as u32 + 1, d).map(Some)
}

/// `N days`, `N weeks`, `N months` from today (a month later keeps the day, or takes the
/// month's last day if it has fewer).
fn relative(rest: &str, today: Date) -> Result<Date, String> {
    let bad = || "is not a date: write `in 90 days`, `in 6 weeks` or `in 3 months`".to_string();
    let (n, unit) = rest.split_once(' ').ok_or_else(bad)?;
    let n: u32 = num(n, 1, 4).ok_or_else(bad)?;
    let days = match unit.trim().trim_end_matches('s') {
        "day" => n,
        "week" => n * 7,
        "month" => {
            let months = today.year() * 12 + today.month() as i32 - 1 + n as i32;
            let (y, m) = (months / 12, (months % 12) as u32 + 1);
            let day = today.to_string()[8..].parse::<u32>().map_err(|_| bad())?;
            let last = (28..=31).rev().find(|d| calendar(y, m, *d).is_ok()).ok_or_else(bad)?;
            return calendar(y, m, day.min(last));
        }
        _ => return Err(bad()),
    };
    Date::from_days(today.days() + days).ok_or_else(|| format!("is after {MAX_YEAR}"))
}

/// A financial year in any of the forms above.
pub fn year(field: &'static str, s: &str) -> FieldResult<FinancialYear> {
    let t = s.trim();
    parse_year(t).map_err(|why| FieldErr::new(field, format!("`{}` {why}", clip(t))))
}

fn parse_year(t: &str) -> Result<FinancialYear, String> {
    let forms = "write 2024/25 (or 2024, 24/25, FY24/25) for April 2024 to March 2025";
    let not_a_year = || format!("is not a financial year: {forms}");
    let upper = t.to_ascii_uppercase();
    let (fy, body) = match upper.strip_prefix("FY") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, upper.as_str()),
    };
    let Some(sep) = body.find(['/', '-']) else {
        return match (fy, body.len()) {
            (false, 4) => num(body, 4, 4).ok_or_else(not_a_year).and_then(|y| in_range(y, forms)),
            (true, 2 | 4) if num(body, 2, 4).is_some() => Err(format!(
                "could be the year starting or the year ending then: write both years, e.g. {}/{:02} or {}/{:02}",
                full(body) - 1,
                full(body) % 100,
                full(body),
                (full(body) + 1) % 100
            )),
            (false, 2) if num(body, 2, 2).is_some() => Err(format!("is a two-digit year: {forms}")),
            _ => Err(not_a_year()),
        };
    };
    let (a, b) = (&body[..sep], &body[sep + 1..]);
    if body[sep + 1..].contains(['/', '-']) {
        return Err(not_a_year());
    }
    let (Some(start), Some(end)) = (num(a, 2, 4), num(b, 2, 4)) else { return Err(not_a_year()) };
    if a.len() == 3 || b.len() == 3 {
        return Err(not_a_year());
    }
    let start = if a.len() == 2 { 2000 + start } else { start };
    let follows = match b.len() {
        2 => end == (start + 1) % 100,
        _ => end == start + 1,
    };
    if !follows {
        return Err(format!("is not one financial year: the second year must follow the first ({forms})"));
    }
    in_range(start, forms)
}

fn full(two_or_four: &str) -> u32 {
    let n: u32 = two_or_four.parse().unwrap_or(0);
    if two_or_four.len() == 2 { 2000 + n } else { n }
}

fn in_range(y: u32, forms: &str) -> Result<FinancialYear, String> {
    let fy = FinancialYear(u16::try_from(y).unwrap_or(0));
    if fy.is_valid() {
        Ok(fy)
    } else {
        Err(format!("is not a financial year between {MIN_YEAR} and {MAX_YEAR}: {forms}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> Date {
        Date::from_ymd(2025, 1, 31).expect("valid")
    }

    fn d(s: &str) -> Result<String, String> {
        date("d", s, today()).map(|d| d.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn the_forms_of_a_date() {
        for (s, iso) in [
            ("2024-04-01", "2024-04-01"),
            ("01/04/2024", "2024-04-01"),
            ("1/4/2024", "2024-04-01"),
            ("01-04-2024", "2024-04-01"),
            ("01.04.2024", "2024-04-01"),
            ("1 April 2024", "2024-04-01"),
            ("1 apr 2024", "2024-04-01"),
            ("1st April 2024", "2024-04-01"),
            ("01-Apr-2024", "2024-04-01"),
            ("30 Sept 2024", "2024-09-30"),
            ("01/04/2024 00:00", "2024-04-01"),
            ("2024-04-01T00:00:00Z", "2024-04-01"),
            ("  13/12/2024 ", "2024-12-13"),
            ("today", "2025-01-31"),
            ("in 10 days", "2025-02-10"),
            ("in 2 weeks", "2025-02-14"),
            ("in 1 month", "2025-02-28"),
            ("in 13 months", "2026-02-28"),
            ("in 2 months", "2025-03-31"),
        ] {
            assert_eq!(d(s).as_deref(), Ok(iso), "{s}");
        }
    }

    #[test]
    fn dates_that_are_refused_and_why() {
        for (s, words) in [
            ("04/15/2024", "looks like a US date"),
            ("01/04/24", "two-digit year"),
            ("1 Apr 24", "two-digit year"),
            ("45383", "serial number"),
            ("2024-02-30", "February has no day 30"),
            ("31/04/2024", "April has no day 31"),
            ("2024-4-1", "YYYY-MM-DD"),
            ("1999-12-31", "between 2000 and 2100"),
            ("01/04/2024 09:30", "time of day"),
            ("2024/04/01", "is not a date"),
            ("tomorrow", "is not a date"),
            ("in a while", "in 90 days"),
            ("13/13/2024", "is not a date"),
            ("", "is not a date"),
        ] {
            let m = d(s).expect_err(s);
            assert!(m.contains(words), "{s}: expected `{words}` in {m}");
        }
    }

    #[test]
    fn the_forms_of_a_financial_year() {
        for s in ["2024", "2024/25", "2024-25", "2024/2025", "24/25", "FY24/25", "fy 2024/25", "FY2024-25", " 24-25 "] {
            assert_eq!(year("y", s), Ok(FinancialYear(2024)), "{s}");
        }
        assert_eq!(year("y", "99/00"), Ok(FinancialYear(2099)));
        for (s, words) in [
            ("2024/26", "second year must follow"),
            ("25/24", "second year must follow"),
            ("FY24", "starting or the year ending"),
            ("FY2025", "2024/25 or 2025/26"),
            ("24", "two-digit year"),
            ("1999", "between 2000 and 2100"),
            ("2024/25/26", "not a financial year"),
            ("01/04/2024", "not a financial year"),
            ("twenty", "not a financial year"),
        ] {
            let m = year("y", s).expect_err(s).message;
            assert!(m.contains(words), "{s}: expected `{words}` in {m}");
        }
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (Date::from_ymd(2000, 1, 1).expect("valid").days()..=Date::from_ymd(2100, 12, 31).expect("valid").days())
            .prop_map(|n| Date::from_days(n).expect("in range"))
    }

    proptest! {
        #[test]
        fn every_formatted_date_reads_back(day in any_date()) {
            let iso = day.to_string();
            let (y, m, dd) = (&iso[..4], &iso[5..7], &iso[8..]);
            prop_assert_eq!(date("d", &iso, today()), Ok(day));
            prop_assert_eq!(date("d", &format!("{dd}/{m}/{y}"), today()), Ok(day));
            let month = capitalise(MONTHS[m.parse::<usize>().expect("month") - 1]);
            prop_assert_eq!(date("d", &format!("{dd} {month} {y}"), today()), Ok(day));
            prop_assert_eq!(date("d", &format!("{dd}-{}-{y}", &month[..3]), today()), Ok(day));
        }

        /// A US (month-first) date is refused, or read as the same day (when day and month
        /// are both 12 or less it is indistinguishable from a UK date, which is the documented
        /// reading).
        #[test]
        fn us_dates_are_refused_when_they_cannot_be_uk(day in any_date()) {
            let iso = day.to_string();
            let (y, m, dd) = (&iso[..4], &iso[5..7], &iso[8..]);
            let us = format!("{m}/{dd}/{y}");
            let read = date("d", &us, today());
            if dd.parse::<u32>().expect("day") > 12 {
                prop_assert!(read.is_err(), "{} accepted", us);
            } else {
                let uk = Date::from_ymd(y.parse().expect("y"), dd.parse().expect("d"), m.parse().expect("m"));
                prop_assert_eq!(read.ok(), uk);
            }
        }

        #[test]
        fn every_formatted_year_reads_back(y in MIN_YEAR..MAX_YEAR) {
            let fy = FinancialYear(y);
            let short = format!("{:02}/{:02}", y % 100, (y + 1) % 100);
            prop_assert_eq!(year("y", &fy.to_string()), Ok(fy));
            prop_assert_eq!(year("y", &y.to_string()), Ok(fy));
            prop_assert_eq!(year("y", &format!("FY{short}")), Ok(fy));
            let skipping = format!("{y}/{:02}", (y + 2) % 100);
            prop_assert!(year("y", &skipping).is_err());
        }
    }
}
