//! Plain words for what people read: enumeration values without underscores, providers by a
//! short name beside their code, amounts of money and rating dimensions.

use csx_protocol::body::{Party, SwitchReason};
use csx_protocol::validate::pounds;

/// `time_and_materials` → `time and materials`, `nhs_body` → `NHS body`, `in_house` → `in house`.
pub fn words(name: &str) -> String {
    let spaced = name.replace('_', " ");
    match spaced.as_str() {
        "nhs body" => "NHS body".into(),
        "kpi basis" => "KPI basis".into(),
        "kpi delivery" => "KPI delivery".into(),
        "csu" => "CSU".into(),
        "icb" => "ICB".into(),
        "ccg" => "CCG".into(),
        "it" => "IT".into(),
        _ => spaced,
    }
}

/// A switch reason in words (`contract_end` → `contract ended`).
pub fn reason(r: &SwitchReason) -> String {
    match r.name() {
        "contract_end" => "contract ended".into(),
        "provider_exit" => "provider left the market".into(),
        other => words(other),
    }
}

/// A provider's short name: the abbreviation in brackets (`AGEM` from "NHS Arden and Greater
/// East Midlands CSU (AGEM)"), else the name without "NHS " and " Ltd".
pub fn short_name(name: &str) -> String {
    if let Some(abbr) = csx_node::input::words::bracketed(name) {
        return abbr.to_string();
    }
    let n = name.trim();
    let n = n.strip_prefix("NHS ").unwrap_or(n);
    let n = n.strip_suffix(" Limited").or_else(|| n.strip_suffix(" Ltd")).unwrap_or(n);
    let n = n.strip_suffix(" (UK)").unwrap_or(n);
    n.to_string()
}

/// `0DE AGEM`: a provider's code and short name (the code alone when the name is the code).
pub fn provider(code: &str, name: &str) -> String {
    let short = short_name(name);
    if short.is_empty() || short == code { code.to_string() } else { format!("{code} {short}") }
}

/// A party to a switch: a provider's code and short name, `in house`, or `shared with ODS`.
pub fn party(p: &Party, name: &str) -> String {
    match p {
        Party::Provider(code) => provider(code, name),
        _ => name.to_string(),
    }
}

/// £ to the penny, with thousands separators: `£1,234.50`, `£0.62`.
pub fn gbp(x: f64) -> String {
    pounds((x * 100.0).round() as i128)
}

/// 83 → `83rd`.
pub fn ordinal(p: f64) -> String {
    let n = p.round() as i64;
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A count with thousands separators: 50000 → `50,000`.
pub fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A value band in words: `250k_to_500k` → `£250k–£500k a year`.
pub fn value_band(b: csx_protocol::body::ValueBand) -> String {
    let short = |pence: u64| csx_node::query::prices::short_pounds(pence as i64);
    match b.bounds_pence() {
        (0, Some(high)) => format!("under {} a year", short(high)),
        (low, Some(high)) => format!("{}–{} a year", short(low), short(high)),
        (low, None) => format!("{} a year or more", short(low)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words() {
        assert_eq!(words("time_and_materials"), "time and materials");
        assert_eq!(words("nhs_body"), "NHS body");
        assert_eq!(reason(&SwitchReason::ContractEnd), "contract ended");
        assert_eq!(provider("0DE", "NHS Arden and Greater East Midlands CSU (AGEM)"), "0DE AGEM");
        assert_eq!(provider("0DJ", "NHS NEL CSU"), "0DJ NEL CSU");
        assert_eq!(provider("0DG", "Optum Health Solutions (UK) Ltd"), "0DG Optum Health Solutions");
        assert_eq!(provider("ACME", "ACME"), "ACME");
        assert_eq!(gbp(1234.5), "£1,234.50");
        assert_eq!(gbp(0.62), "£0.62");
        assert_eq!(count(50_000), "50,000");
        assert_eq!(ordinal(83.0), "83rd");
    }
}
