//! Yes/no answers, choices from a list, codes, service lines, providers and lists.

use csx_protocol::refdata;

use super::{FieldErr, FieldResult, clip};

/// Yes or no: `yes`, `no`, `y`, `n`, `true`, `false`, `1`, `0` (any case).
pub fn boolean(field: &'static str, s: &str) -> FieldResult<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" => Ok(false),
        _ => Err(FieldErr::new(field, format!("`{}` is not yes or no", clip(s.trim())))),
    }
}

/// One of an enumeration's names: any case, with spaces or `-` for `_`
/// (`Time and materials` is `time_and_materials`).
pub fn choice<T: std::str::FromStr<Err = csx_protocol::types::BadChoice>>(
    field: &'static str,
    s: &str,
) -> FieldResult<T> {
    s.parse().map_err(|e: csx_protocol::types::BadChoice| {
        FieldErr::new(field, format!("`{}` is not one of: {}", e.input, e.allowed.replace('_', " ")))
    })
}

/// A code (provider, ODS): trimmed and upper-cased; the protocol checks its form.
pub fn code(_field: &'static str, s: &str) -> FieldResult<String> {
    Ok(s.trim().to_ascii_uppercase())
}

/// A service line by code (`BI`) or name (`Business intelligence`), any case.
pub fn service_line(field: &'static str, s: &str) -> FieldResult<String> {
    let t = s.trim();
    refdata::SERVICE_LINES
        .iter()
        .find(|l| l.code.eq_ignore_ascii_case(t) || l.name.eq_ignore_ascii_case(t))
        .map(|l| l.code.to_string())
        .ok_or_else(|| {
            let known: Vec<String> =
                refdata::SERVICE_LINES.iter().map(|l| format!("{} ({})", l.code, l.name)).collect();
            FieldErr::new(field, format!("`{}` is not a service line; use one of {}", clip(t), known.join(", ")))
        })
}

/// Known providers' codes and names, to read a provider given by name.
#[derive(Debug, Clone, Default)]
pub struct ProviderNames {
    /// (code, names: the full name, the short name in brackets, aliases), lower-cased.
    entries: Vec<(String, Vec<String>)>,
}

impl ProviderNames {
    /// The built-in providers only.
    pub fn builtin() -> Self {
        let mut p = ProviderNames::default();
        for b in refdata::PROVIDERS {
            p.add(b.code, b.name, &[]);
        }
        p
    }

    /// Adds (or replaces) a provider with its name and aliases.
    pub fn add(&mut self, code: &str, name: &str, aliases: &[String]) {
        self.entries.retain(|(c, _)| c != code);
        let mut names = vec![name.to_lowercase()];
        if let Some(short) = bracketed(name) {
            names.push(short.to_lowercase());
        }
        names.extend(aliases.iter().map(|a| a.trim().to_lowercase()));
        self.entries.push((code.to_string(), names));
    }

    /// The code a provider is known by: its code (any case), or a name, short name or alias
    /// that belongs to exactly one provider.
    pub fn resolve(&self, field: &'static str, s: &str) -> FieldResult<String> {
        let t = s.trim();
        if let Some((code, _)) = self.entries.iter().find(|(c, _)| c.eq_ignore_ascii_case(t)) {
            return Ok(code.clone());
        }
        let lower = t.to_lowercase();
        let named: Vec<&String> =
            self.entries.iter().filter(|(_, names)| names.contains(&lower)).map(|(c, _)| c).collect();
        match named.as_slice() {
            [one] => Ok((*one).clone()),
            [] => code(field, t),
            many => Err(FieldErr::new(
                field,
                format!(
                    "`{}` is the name of several providers ({}); give the code",
                    clip(t),
                    many.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}

/// `AGEM` from `NHS Arden and Greater East Midlands CSU (AGEM)`.
pub fn bracketed(name: &str) -> Option<&str> {
    let inner = name.trim_end().strip_suffix(')')?.rsplit_once('(')?.1;
    (inner.len() >= 2 && inner.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())).then_some(inner)
}

/// A list separated by `,` or `;` (empty items dropped).
pub fn list(s: &Option<String>) -> Vec<String> {
    super::opt(s)
        .map(|s| s.split([',', ';']).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_and_no() {
        for s in ["yes", "Y", "TRUE", "1"] {
            assert_eq!(boolean("b", s), Ok(true), "{s}");
        }
        for s in ["no", "N", "False", "0"] {
            assert_eq!(boolean("b", s), Ok(false), "{s}");
        }
        assert!(boolean("b", "maybe").expect_err("refused").message.contains("is not yes or no"));
    }

    #[test]
    fn service_lines_by_code_or_name() {
        assert_eq!(service_line("l", "bi").as_deref(), Ok("BI"));
        assert_eq!(service_line("l", " Business Intelligence ").as_deref(), Ok("BI"));
        let e = service_line("l", "XYZ").expect_err("unknown");
        assert!(
            e.message.contains("`XYZ` is not a service line; use one of BI (Business intelligence)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn providers_by_code_name_or_short_name() {
        let mut p = ProviderNames::builtin();
        assert_eq!(p.resolve("p", "0de").as_deref(), Ok("0DE"));
        assert_eq!(p.resolve("p", "AGEM").as_deref(), Ok("0DE"));
        assert_eq!(p.resolve("p", "nhs arden and greater east midlands csu (agem)").as_deref(), Ok("0DE"));
        assert_eq!(p.resolve("p", "ACME-BI").as_deref(), Ok("ACME-BI"), "unknown codes pass to the registry check");
        p.add("ACME", "Acme Analytics", &["Acme".into(), "AA".into()]);
        p.add("AAX", "Another Analytics", &["AA".into()]);
        assert_eq!(p.resolve("p", "acme").as_deref(), Ok("ACME"));
        assert!(p.resolve("p", "AA").expect_err("ambiguous").message.contains("several providers (ACME, AAX)"));
    }
}
