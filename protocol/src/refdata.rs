//! Built-in reference data: the service lines of commissioning support and the Commissioning
//! Support Units (ODS role RO213). Source: shared/data of the csx project (see docs/QUERIES.md
//! and shared/data/README.md for provenance). Providers can be added with `provider` records.

use crate::body::ProviderKind;

/// A kind of commissioning support that buyers buy line by line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLine {
    pub code: &'static str,
    pub name: &'static str,
    pub scope: &'static str,
}

/// The 13 service lines.
pub const SERVICE_LINES: &[ServiceLine] = &[
    ServiceLine {
        code: "BI",
        name: "Business intelligence",
        scope: "data management, dashboards, risk stratification, benchmarking",
    },
    ServiceLine {
        code: "CONTRACT",
        name: "Contracting",
        scope: "contract negotiation, contract monitoring, activity reporting",
    },
    ServiceLine {
        code: "PROC",
        name: "Procurement and market management",
        scope: "clinical procurement, tendering, market management",
    },
    ServiceLine {
        code: "REDESIGN",
        name: "Service redesign and transformation",
        scope: "pathway redesign, transformation programmes",
    },
    ServiceLine { code: "HNA", name: "Health needs assessment", scope: "population health analysis, needs assessment" },
    ServiceLine { code: "MEDS", name: "Medicines optimisation", scope: "medicines management, prescribing support" },
    ServiceLine {
        code: "CHC",
        name: "Continuing healthcare",
        scope: "NHS continuing healthcare assessments and case management",
    },
    ServiceLine { code: "IFR", name: "Individual funding requests", scope: "IFR panels and case handling" },
    ServiceLine {
        code: "COMMS",
        name: "Communications and engagement",
        scope: "communications, patient and public engagement",
    },
    ServiceLine {
        code: "FIN",
        name: "Finance",
        scope: "financial management, transaction processing, financial reporting",
    },
    ServiceLine {
        code: "HR",
        name: "HR and organisational development",
        scope: "HR, payroll, organisational development",
    },
    ServiceLine { code: "IT", name: "IT and GP IT", scope: "corporate IT, GP IT" },
    ServiceLine { code: "CORP", name: "Corporate governance", scope: "governance, legal, information governance" },
];

pub fn service_line(code: &str) -> Option<&'static ServiceLine> {
    SERVICE_LINES.iter().find(|s| s.code == code)
}

/// The codes of every service line, comma separated, for error messages.
pub fn service_line_codes() -> String {
    SERVICE_LINES.iter().map(|s| s.code).collect::<Vec<_>>().join(", ")
}

/// A built-in provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinProvider {
    pub code: &'static str,
    pub name: &'static str,
    pub kind: ProviderKind,
    /// What became of it (approximate).
    pub note: &'static str,
}

/// Commissioning Support Units past and present, by ODS code.
pub const PROVIDERS: &[BuiltinProvider] = &[
    csu("0AD", "NHS Central Midlands CSU", "merged with Staffs & Lancs -> Midlands and Lancashire (2014)"),
    csu("0AE", "NHS Central Southern CSU", "merged into SCW (2015)"),
    csu("0AJ", "NHS Greater Manchester CSU", "part of North West CSU; not on LPF Lot 1 (2015)"),
    csu("0AM", "NHS Kent and Medway CSU", "partnered SE; merged into South East CSU"),
    csu("0AP", "NHS Anglia CSU", "2013-era"),
    csu("0AQ", "NHS North and East London CSU", "-> NEL CSU"),
    csu("0AR", "NHS North of England CSU (NECS)", "LPF 2015 all lots; later among the last CSUs (4 remained c.2024)"),
    csu("0AT", "NHS North West London CSU", "lost ~3/4 of business 2014; merged South East"),
    csu("0AX", "NHS South London CSU", "merged into South East CSU"),
    csu("0CC", "NHS Surrey and Sussex CSU", "2013-era"),
    csu("0CE", "NHS Cheshire and Merseyside CSU", "part of North West CSU"),
    csu("0CF", "NHS West and South Yorkshire and Bassetlaw CSU", "Y&H; not on LPF Lot 1"),
    csu("0CG", "NHS Central Eastern CSU", "closed Oct 2014"),
    csu("0CH", "NHS Staffordshire and Lancashire CSU", "-> Midlands and Lancashire"),
    csu(
        "0CX",
        "NHS Midlands and Lancashire CSU (MLCSU)",
        "LPF 2015 all lots; later among the last CSUs (4 remained c.2024)",
    ),
    csu(
        "0DE",
        "NHS Arden and Greater East Midlands CSU (AGEM)",
        "LPF 2015 all lots; later among the last CSUs (4 remained c.2024)",
    ),
    csu("0DF", "NHS South, Central and West CSU (SCW)", "formed 2014/15; LPF 2015; later among the last CSUs"),
    csu("0DJ", "NHS NEL CSU", "NEL + South East merged Apr 2017; later among the last CSUs"),
    BuiltinProvider {
        code: "0DG",
        name: "Optum Health Solutions (UK) Ltd",
        kind: ProviderKind::Private,
        note: "private LPF supplier coded under CSU role RO213",
    },
];

const fn csu(code: &'static str, name: &'static str, note: &'static str) -> BuiltinProvider {
    BuiltinProvider { code, name, kind: ProviderKind::Csu, note }
}

pub fn builtin_provider(code: &str) -> Option<&'static BuiltinProvider> {
    PROVIDERS.iter().find(|p| p.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::at;

    #[test]
    fn builtin_codes_pass_the_protocol_rules() {
        for s in SERVICE_LINES {
            at("t", "service_line").service_line(s.code).expect("valid service-line code");
        }
        for p in PROVIDERS {
            at("t", "provider").provider_code(p.code).expect("valid provider code");
        }
        assert_eq!(SERVICE_LINES.len(), 13);
        assert_eq!(PROVIDERS.len(), 19);
    }
}
