//! Sums of money in pounds, as people write them in forms and spreadsheets, to pence.
//!
//! No crate parses the British way of writing money strictly (digit groups of exactly three,
//! `£`, `k`/`m`), and the point of this parser is what it refuses, so it is a small hand parser
//! whose every rule is property-tested (tests at the foot of this file):
//!
//! - an optional `£` (with or without spaces), digits, optionally grouped in threes by commas
//!   or by spaces (`1,234,567`, `1 234 567`, never a mix), then up to two decimals (pence);
//! - an optional `k` (thousands) or `m` (millions) suffix, after which more decimals may be
//!   given as long as the amount comes to whole pence (`1.25m`, `2.5k`);
//! - a minus sign (`-`, `−`) or accounting brackets `(£40,000)` only where a negative amount
//!   means something (a saving); elsewhere a negative is refused;
//! - refused, with a message saying what it looks like: European forms (`1.234,56`, `12,50`),
//!   groups that are not three digits (`1,2,3`, `12,34`), three decimals (`1.234`: a price or a
//!   European thousand?), other currencies, and anything else.

use super::{FieldErr, FieldResult, clip};

/// Whether an amount may be negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// Zero or more (prices, costs).
    NonNegative,
    /// Either sign (a change in cost: negative is a saving).
    Any,
}

/// Largest amount accepted, in pence (the protocol's limit: £1bn).
const MAX_PENCE: u64 = csx_protocol::validate::MAX_PENCE;

/// Money in pounds as people write it (`250000`, `£250,000.50`, `250k`, `1.2m`), in pence.
pub fn money(field: &'static str, s: &str, sign: Sign) -> FieldResult<i64> {
    parse(s, sign).map_err(|e| FieldErr::new(field, e.message(s)))
}

/// A non-negative amount of money, in pence.
pub fn pence(field: &'static str, s: &str) -> FieldResult<u64> {
    money(field, s, Sign::NonNegative).map(|p| p.unsigned_abs())
}

/// An amount of money that may be negative (a saving), in pence.
pub fn signed_pence(field: &'static str, s: &str) -> FieldResult<i64> {
    money(field, s, Sign::Any)
}

/// Why a text is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bad {
    NotMoney,
    Negative,
    OtherCurrency(char),
    /// Looks like the European form; carries the UK reading of it if there is one.
    European(Option<String>),
    /// Digit groups between separators are not all three digits.
    Groups,
    MixedSeparators,
    /// Three decimals and no suffix: a price to a tenth of a penny, or European thousands?
    ThreeDecimals,
    TooManyDecimals,
    NotWholePence,
    TooLarge,
}

impl Bad {
    fn message(&self, s: &str) -> String {
        let t = clip(s.trim());
        match self {
            Bad::NotMoney => {
                format!("`{t}` is not an amount of money in pounds (e.g. 250000, £250,000.50, 250k, 1.2m)")
            }
            Bad::Negative => format!("`{t}` is negative; amounts must be zero or more"),
            Bad::OtherCurrency(c) => {
                format!("`{t}` is not in pounds (`{c}`); give amounts in pounds sterling, e.g. £250,000")
            }
            Bad::European(Some(uk)) => format!(
                "`{t}` looks like the European way of writing {uk} (a dot between thousands, a comma before the pence); write {} or {}",
                uk.trim_start_matches('£'),
                uk.trim_start_matches('£').replace(',', "")
            ),
            Bad::European(None) => {
                format!(
                    "`{t}` uses a comma before the pence (the European way); write pounds and pence with a dot, e.g. 1,234.56"
                )
            }
            Bad::Groups => format!(
                "`{t}` has digits grouped wrongly: separators must split the pounds into groups of three (1,234,567); if you mean {}, write {}",
                ungrouped(t.as_str()).map(|d| format!("£{d}")).unwrap_or_else(|| "something else".into()),
                ungrouped(t.as_str()).unwrap_or_else(|| "the amount without separators".into()),
            ),
            Bad::MixedSeparators => {
                format!("`{t}` mixes commas and spaces between digit groups; use one, e.g. 1,234,567")
            }
            Bad::ThreeDecimals => format!(
                "`{t}` has three decimal places: amounts are in pounds and pence (two places); if the dot separates thousands, write {}",
                t.replace('.', ",")
            ),
            Bad::TooManyDecimals => format!("`{t}` has more than 2 decimal places; amounts are in pounds and pence"),
            Bad::NotWholePence => format!("`{t}` is not a whole number of pence"),
            Bad::TooLarge => format!("`{t}` is more than the limit of £1,000,000,000"),
        }
    }
}

/// The digits of `t` with separators removed, when that is all that is wrong with it.
fn ungrouped(t: &str) -> Option<String> {
    let d: String = t.chars().filter(|c| !matches!(c, ',' | ' ' | '£')).collect();
    (!d.is_empty() && d.bytes().all(|b| b.is_ascii_digit() || b == b'.')).then_some(d)
}

fn parse(s: &str, sign: Sign) -> Result<i64, Bad> {
    let mut t = s.trim();
    if t.is_empty() {
        return Err(Bad::NotMoney);
    }
    // Accounting brackets: `(£40,000)` is minus £40,000.
    let mut negative = false;
    if let Some(inner) = t.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        negative = true;
        t = inner.trim();
    }
    // A sign before or after the pound sign.
    let mut take_sign = |t: &mut &str| {
        for m in ['-', '−'] {
            if let Some(rest) = t.strip_prefix(m) {
                if negative {
                    return Err(Bad::NotMoney);
                }
                negative = true;
                *t = rest.trim_start();
            }
        }
        if let Some(rest) = t.strip_prefix('+') {
            *t = rest.trim_start();
        }
        Ok(())
    };
    take_sign(&mut t)?;
    if let Some(rest) = t.strip_prefix('£') {
        t = rest.trim_start();
        take_sign(&mut t)?;
    }
    if let Some(c) = t.chars().find(|c| matches!(c, '$' | '€' | '¥' | '₹')) {
        return Err(Bad::OtherCurrency(c));
    }
    if let Some(rest) =
        t.len().checked_sub(3).and_then(|i| t.get(i..).filter(|x| x.eq_ignore_ascii_case("gbp")).map(|_| &t[..i]))
    {
        t = rest.trim_end();
    }
    // Suffix: k or m.
    let (number, multiplier) = match t.chars().last() {
        Some('k' | 'K') => (t[..t.len() - 1].trim_end(), 1_000u128),
        Some('m' | 'M') => (t[..t.len() - 1].trim_end(), 1_000_000u128),
        _ => (t, 1u128),
    };
    let (whole, frac) = split_number(number)?;
    let max_frac = if multiplier == 1 { 2 } else { 8 };
    if frac.len() > max_frac {
        return Err(if multiplier == 1 && frac.len() == 3 && whole.len() <= 3 {
            Bad::ThreeDecimals
        } else {
            Bad::TooManyDecimals
        });
    }
    let scale = 10u128.pow(frac.len() as u32);
    let whole_v: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| Bad::TooLarge)? };
    let frac_v: u128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| Bad::NotMoney)? };
    let scaled = whole_v
        .checked_mul(scale)
        .and_then(|w| w.checked_add(frac_v))
        .and_then(|v| v.checked_mul(multiplier * 100))
        .ok_or(Bad::TooLarge)?;
    if scaled % scale != 0 {
        return Err(Bad::NotWholePence);
    }
    let pence = scaled / scale;
    if pence > MAX_PENCE as u128 {
        return Err(Bad::TooLarge);
    }
    let pence = pence as i64;
    if negative && pence != 0 {
        if sign == Sign::NonNegative {
            return Err(Bad::Negative);
        }
        return Ok(-pence);
    }
    Ok(pence)
}

/// Splits `1,234.56` into its pounds digits (`1234`) and decimal digits (`56`), checking the
/// grouping and refusing European forms.
fn split_number(n: &str) -> Result<(String, String), Bad> {
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | ' ' | '\u{a0}' | '\u{202f}')) {
        return Err(Bad::NotMoney);
    }
    if !n.starts_with(|c: char| c.is_ascii_digit() || c == '.') || !n.ends_with(|c: char| c.is_ascii_digit()) {
        return Err(if n.ends_with(',') || n.ends_with('.') { Bad::NotMoney } else { european_or(n, Bad::NotMoney) });
    }
    let dots = n.matches('.').count();
    // A comma after the last dot, several dots, or a final comma group of one or two digits:
    // the European form.
    let last_dot = n.rfind('.');
    let last_comma = n.rfind(',');
    if dots > 1 || matches!((last_dot, last_comma), (Some(d), Some(c)) if c > d) {
        return Err(european_or(n, Bad::NotMoney));
    }
    if let Some(c) = last_comma {
        let tail = &n[c + 1..];
        if dots == 0 && (1..=2).contains(&tail.len()) && tail.bytes().all(|b| b.is_ascii_digit()) {
            return Err(european_or(n, Bad::Groups));
        }
    }
    let (int, frac) = match n.split_once('.') {
        Some((i, f)) => (i, f),
        None => (n, ""),
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Bad::NotMoney);
    }
    let separators: Vec<char> = int.chars().filter(|c| !c.is_ascii_digit()).collect();
    let whole: String = if separators.is_empty() {
        int.to_string()
    } else {
        let first = separators[0];
        let kind = |c: char| if c == ',' { 0 } else { 1 };
        if separators.iter().any(|c| kind(*c) != kind(first)) {
            return Err(Bad::MixedSeparators);
        }
        let groups: Vec<&str> = int.split(|c: char| !c.is_ascii_digit()).collect();
        let ok = groups.first().is_some_and(|g| (1..=3).contains(&g.len())) && groups[1..].iter().all(|g| g.len() == 3);
        if !ok {
            return Err(Bad::Groups);
        }
        groups.concat()
    };
    Ok((whole, frac.to_string()))
}

/// The European reading of `n` (dots between thousands, a comma before decimals), written the
/// UK way, as a reason to refuse it; `otherwise` when it does not read that way either.
fn european_or(n: &str, otherwise: Bad) -> Bad {
    let (int, frac) = match n.rsplit_once(',') {
        Some((i, f)) => (i, f),
        None => (n, ""),
    };
    let groups: Vec<&str> = int.split('.').collect();
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    // `1234,50` (no groups) or `1.234,50` (groups of three after the first).
    let grouped_ok = groups.iter().all(|g| digits(g))
        && (groups.len() == 1 || (groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3)));
    let frac_ok = frac.len() <= 2 && frac.bytes().all(|b| b.is_ascii_digit());
    if !grouped_ok || !frac_ok || (frac.is_empty() && groups.len() < 2) {
        return if n.contains(',') && n.contains('.') { Bad::European(None) } else { otherwise };
    }
    let whole: String = groups.concat();
    let Ok(pounds) = whole.parse::<u128>() else { return Bad::European(None) };
    let pence = pounds * 100 + if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse::<u128>().unwrap_or(0) };
    Bad::European(Some(csx_protocol::validate::pounds(pence.min(i128::MAX as u128) as i128)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use csx_protocol::validate::pounds;
    use proptest::prelude::*;

    fn ok(s: &str) -> i64 {
        money("v", s, Sign::Any).unwrap_or_else(|e| panic!("{s}: {}", e.message))
    }
    fn err(s: &str) -> String {
        money("v", s, Sign::NonNegative).expect_err(s).message
    }

    #[test]
    fn the_forms_people_write() {
        for (s, p) in [
            ("250000", 25_000_000),
            ("£250,000.50", 25_000_050),
            ("£ 250,000", 25_000_000),
            ("250 000", 25_000_000),
            ("1\u{a0}234", 123_400),
            ("250k", 25_000_000),
            ("250 K", 25_000_000),
            ("1.2m", 120_000_000),
            ("£1.25M", 125_000_000),
            ("0.5", 50),
            (".5", 50),
            ("1,234", 123_400),
            ("1,234,567.89", 123_456_789),
            ("12.3", 1230),
            ("  £7  ", 700),
            ("250000 GBP", 25_000_000),
            ("-£3", -300),
            ("£-3", -300),
            ("−40k", -4_000_000),
            ("(£40,000)", -4_000_000),
            ("+5", 500),
        ] {
            assert_eq!(ok(s), p, "{s}");
        }
    }

    #[test]
    fn what_is_refused_and_why() {
        for (s, words) in [
            ("£1,2,3", "grouped wrongly"),
            ("1,2,3", "if you mean £123, write 123"),
            ("12,34,567", "groups of three"),
            ("1,2345", "grouped wrongly"),
            ("1.234,56", "European way of writing £1,234.56"),
            ("1.234.567", "European way of writing £1,234,567.00"),
            ("12,50", "European way of writing £12.50"),
            ("1234,5", "European way of writing £1,234.50"),
            ("1.234", "three decimal places"),
            ("3.001", "three decimal places"),
            ("3.0001", "more than 2 decimal places"),
            ("-5", "is negative"),
            ("(5)", "is negative"),
            ("$500", "not in pounds"),
            ("500€", "not in pounds"),
            ("1,234 567", "mixes commas and spaces"),
            ("lots", "not an amount of money"),
            ("£", "not an amount of money"),
            ("1..2", "not an amount"),
            ("--5", "not an amount"),
            ("1e6", "not an amount"),
            ("2000000000", "more than the limit"),
            ("1.2345678k", "not a whole number of pence"),
            ("1,", "not an amount"),
            ("50p", "not an amount"),
        ] {
            let m = err(s);
            assert!(m.contains(words), "{s}: expected `{words}` in: {m}");
        }
    }

    /// Formats pence the European way: dots between thousands, a comma before the pence.
    fn european(p: u64) -> String {
        let uk = pounds(p as i128);
        uk.trim_start_matches('£').replace(',', "#").replace('.', ",").replace('#', ".")
    }

    proptest! {
        #[test]
        fn every_formatted_amount_reads_back(p in 0u64..=MAX_PENCE) {
            let text = pounds(p as i128);
            prop_assert_eq!(money("v", &text, Sign::NonNegative), Ok(p as i64));
            prop_assert_eq!(money("v", text.trim_start_matches('£'), Sign::NonNegative), Ok(p as i64));
            prop_assert_eq!(money("v", &text.replace(',', ""), Sign::NonNegative), Ok(p as i64));
            prop_assert_eq!(money("v", &text.replace(',', " "), Sign::NonNegative), Ok(p as i64));
            prop_assert_eq!(money("v", &format!("-{text}"), Sign::Any), Ok(-(p as i64)));
            prop_assert_eq!(money("v", &format!("({text})"), Sign::Any), Ok(-(p as i64)));
            if p > 0 {
                let negative = format!("-{text}");
                prop_assert!(money("v", &negative, Sign::NonNegative).is_err());
            }
        }

        #[test]
        fn thousands_and_millions(whole in 0u64..1000, frac in 0u64..1000) {
            let k = format!("{whole}.{frac:03}k");
            prop_assert_eq!(money("v", &k, Sign::NonNegative), Ok(((whole * 1000 + frac) * 100) as i64));
            let m = format!("{whole}.{frac:03}m");
            prop_assert_eq!(money("v", &m, Sign::NonNegative), Ok(((whole * 1000 + frac) * 100_000) as i64));
        }

        /// A European-written amount is refused, or read as the same amount (when it has no
        /// separators at all, e.g. `123`).
        #[test]
        fn european_forms_are_never_misread(p in 0u64..=MAX_PENCE) {
            let text = european(p);
            if let Ok(v) = money("v", &text, Sign::NonNegative) {
                prop_assert_eq!(v, p as i64, "{} accepted as {}", text, v);
            }
            let whole = european(p - p % 100);
            let whole = whole.trim_end_matches(",00");
            if let Ok(v) = money("v", whole, Sign::NonNegative) {
                prop_assert_eq!(v, (p - p % 100) as i64, "{} accepted as {}", whole, v);
            }
        }

        /// Whatever is accepted means what its digits say: separators only ever split groups
        /// of three, and removing them (and `£`, spaces, the suffix) gives the same amount.
        #[test]
        fn nothing_is_accepted_with_another_meaning(s in "[£(]?-?[0-9]{0,4}([, .][0-9]{0,4}){0,3}[kKm)]?") {
            if let Ok(v) = money("v", &s, Sign::Any) {
                let s = s.trim();
                let negative = s.contains('-') || s.starts_with('(');
                let mult = if s.contains(['k', 'K']) { 1000.0 } else if s.contains('m') { 1_000_000.0 } else { 1.0 };
                let digits: String = s.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
                let n: f64 = digits.parse().expect("digits and one dot");
                let expect = (n * mult * 100.0).round() * if negative { -1.0 } else { 1.0 };
                prop_assert!((v as f64 - expect).abs() < 0.5, "{} read as {} (expected {})", s, v, expect);
                // Every comma or space splits off exactly three digits before the dot.
                let from = s.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
                // (A space before the suffix, as in `£5 m`, splits off no digits.)
                let int = s[from..].split('.').next().unwrap_or("");
                let int = int.trim_end_matches(['k', 'K', 'm', ')']).trim_end();
                for (i, c) in int.char_indices() {
                    if c == ',' || c == ' ' {
                        let next: String = int[i + 1..].chars().take_while(|c| c.is_ascii_digit()).collect();
                        prop_assert_eq!(next.len(), 3, "{}", s);
                    }
                }
            }
        }
    }
}
