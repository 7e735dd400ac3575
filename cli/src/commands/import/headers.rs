//! Column headers as spreadsheets write them: any case, spaces, hyphens or underscores, a unit
//! in brackets (`Annual value (£)`), and the aliases below (docs/IMPORT.md lists them).

/// Other names for a field, as people title spreadsheet columns. An alias counts only for a
/// kind that has the field.
const ALIASES: &[(&str, &[&str])] = &[
    ("provider", &["supplier", "provider_code", "provider_name", "csu"]),
    ("service_line", &["line", "service", "service_line_code"]),
    ("year", &["financial_year", "fy", "contract_year"]),
    (
        "annual_value",
        &["value", "annual_contract_value", "contract_value", "annual_cost", "annual_price", "amount", "price"],
    ),
    ("vat_included", &["vat", "includes_vat", "inc_vat", "including_vat", "vat_inclusive"]),
    ("pricing_model", &["model", "pricing", "pricing_basis", "charging_model"]),
    ("population_covered", &["population", "registered_population", "population_served"]),
    ("unit_name", &["unit"]),
    ("unit_count", &["units", "number_of_units", "units_per_year"]),
    ("contract_start", &["start", "start_date", "contract_start_date"]),
    ("contract_months", &["contract_length", "length_months", "term_months", "duration_months"]),
    ("notice_months", &["notice", "notice_period", "notice_period_months"]),
    ("efficiency", &["efficiency_requirement", "annual_efficiency", "efficiency_percent", "efficiency_pct"]),
    ("kpi_basis", &["kpis", "kpi_type"]),
    ("buying_route", &["route", "procurement_route"]),
    ("satisfaction_survey", &["survey", "client_satisfaction_survey"]),
    ("would_recommend", &["recommend", "likely_to_recommend"]),
    ("still_customer", &["current_customer", "customer"]),
    ("reviewer_role", &["role", "job_title", "reviewer"]),
    ("comment", &["comments", "notes"]),
    ("effective", &["effective_date", "switch_date"]),
    ("from", &["from_provider", "old_provider", "previous_provider"]),
    ("to", &["to_provider", "new_provider"]),
    ("reasons", &["reason"]),
    ("reason_text", &["reason_details", "details"]),
    ("exit_costs", &["exit_cost"]),
    ("transition_months", &["transition"]),
    ("switch", &["switch_id"]),
    ("cost_change", &["saving", "cost_difference"]),
    ("satisfaction_change", &["satisfaction_difference"]),
    ("closes_on", &["closes", "closing_date", "close_date"]),
    ("support_needed", &["support", "threshold"]),
];

/// `Annual Value (£)` → `annual_value`; `Service-Line` → `service_line`.
pub fn normalise(header: &str) -> String {
    let mut h = header.trim().trim_matches('"').trim().to_lowercase();
    // A unit or note in brackets at the end: `(£)`, `(%)`, `(yes/no)`.
    while let Some(open) = h.rfind(['(', '[']) {
        if h.ends_with([')', ']']) {
            h.truncate(open);
            h = h.trim_end().to_string();
        } else {
            break;
        }
    }
    let mut out = String::new();
    for c in h.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// The field a header names, if it names one of `fields`.
pub fn field_of(header: &str, fields: &[String]) -> Option<String> {
    let h = normalise(header);
    if fields.contains(&h) {
        return Some(h);
    }
    ALIASES
        .iter()
        .find(|(field, aliases)| fields.iter().any(|f| f == field) && aliases.contains(&h.as_str()))
        .map(|(field, _)| field.to_string())
}

/// The field of each column (`None` for trailing empty headers), and the headers read as another
/// name. Refused: a header naming no field, an empty header before others, two headers for one
/// field.
pub type Mapped = (Vec<Option<String>>, Vec<(String, String)>);

pub fn map(headers: &[&str], fields: &[String]) -> Result<Mapped, String> {
    let used = headers.iter().rposition(|h| !h.trim().is_empty()).map_or(0, |i| i + 1);
    let mut columns = Vec::with_capacity(headers.len());
    let mut renamed = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if i >= used {
            columns.push(None);
            continue;
        }
        if h.trim().is_empty() {
            return Err(format!(
                "column {} ({}) has no header; name it, or delete the column",
                i + 1,
                super::read::column_letter(i)
            ));
        }
        let Some(field) = field_of(h, fields) else {
            return Err(format!(
                "`{}` is not a column of this kind; columns are: {} (docs/IMPORT.md lists other names they may have)",
                h.trim(),
                fields.join(", ")
            ));
        };
        if let Some(j) = columns.iter().position(|c: &Option<String>| c.as_deref() == Some(field.as_str())) {
            return Err(format!("columns `{}` and `{}` both mean {field}; keep one", headers[j].trim(), h.trim()));
        }
        if normalise(h) != field || h.trim() != field {
            renamed.push((h.trim().to_string(), field.clone()));
        }
        columns.push(Some(field));
    }
    Ok((columns, renamed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price_fields() -> Vec<String> {
        ["provider", "service_line", "year", "annual_value", "vat_included", "pricing_model"].map(String::from).to_vec()
    }

    #[test]
    fn headers_as_spreadsheets_title_them() {
        let f = price_fields();
        for (h, field) in [
            ("Service Line", "service_line"),
            ("SERVICE-LINE", "service_line"),
            (" service_line ", "service_line"),
            ("Provider", "provider"),
            ("Supplier", "provider"),
            ("Annual Value (£)", "annual_value"),
            ("Financial Year", "year"),
            ("FY", "year"),
            ("VAT included?", "vat_included"),
        ] {
            assert_eq!(field_of(h, &f).as_deref(), Some(field), "{h}");
        }
        assert_eq!(field_of("Comments", &f), None, "not a price column");
    }

    #[test]
    fn trailing_empty_columns_are_ignored_and_mistakes_refused() {
        let f = price_fields();
        let (cols, renamed) = map(&["Provider", "year", "", ""], &f).expect("maps");
        assert_eq!(cols, vec![Some("provider".into()), Some("year".into()), None, None]);
        assert_eq!(renamed, vec![("Provider".to_string(), "provider".to_string())]);
        assert!(map(&["provider", "", "year"], &f).expect_err("gap").contains("column 2 (B) has no header"));
        assert!(map(&["provider", "colour"], &f).expect_err("unknown").contains("`colour` is not a column"));
        assert!(map(&["Value", "Annual value"], &f).expect_err("twice").contains("both mean annual_value"));
    }
}
