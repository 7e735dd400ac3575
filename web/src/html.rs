//! Small HTML pieces built in Rust: escaping, and the NHS.UK form fields (label, hint, error
//! message, input) that the record forms are made of. Everything interpolated is escaped.

use std::collections::HashMap;
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string from the pairs whose value is not empty.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v.trim())))
        .collect();
    if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) }
}

/// What a form field is.
#[derive(Debug, Clone)]
pub enum Kind {
    /// One line of text; `width` is an NHS input width class suffix (2, 3, 4, 5, 10, 20, 30).
    Text { width: Option<u8>, numeric: bool, prefix: Option<&'static str>, suffix: Option<&'static str> },
    /// Several lines.
    Area,
    /// One of the options (value, text); the first may be an empty "choose" option.
    Select(Vec<(String, String)>),
    /// One of the options as radio buttons.
    Radios { options: Vec<(String, String)>, inline: bool },
    /// Any of the options (values are joined with commas on submission).
    Checkboxes(Vec<(String, String)>),
}

/// One field of a form; `name` is the field's name in the kind's input form (as in CSV/JSON).
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub label: String,
    pub hint: Option<String>,
    pub kind: Kind,
    pub required: bool,
}

impl Field {
    pub fn text(name: &'static str, label: &str) -> Field {
        Field {
            name,
            label: label.into(),
            hint: None,
            kind: Kind::Text { width: None, numeric: false, prefix: None, suffix: None },
            required: false,
        }
    }
    pub fn number(name: &'static str, label: &str, width: u8) -> Field {
        Field {
            kind: Kind::Text { width: Some(width), numeric: true, prefix: None, suffix: None },
            ..Self::text(name, label)
        }
    }
    pub fn money(name: &'static str, label: &str) -> Field {
        Field {
            kind: Kind::Text { width: Some(10), numeric: false, prefix: Some("£"), suffix: None },
            ..Self::text(name, label)
        }
    }
    pub fn area(name: &'static str, label: &str) -> Field {
        Field { kind: Kind::Area, ..Self::text(name, label) }
    }
    pub fn select(name: &'static str, label: &str, options: Vec<(String, String)>) -> Field {
        Field { kind: Kind::Select(options), ..Self::text(name, label) }
    }
    pub fn radios(name: &'static str, label: &str, options: Vec<(String, String)>, inline: bool) -> Field {
        Field { kind: Kind::Radios { options, inline }, ..Self::text(name, label) }
    }
    pub fn checkboxes(name: &'static str, label: &str, options: Vec<(String, String)>) -> Field {
        Field { kind: Kind::Checkboxes(options), ..Self::text(name, label) }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Field {
        self.hint = Some(hint.into());
        self
    }
    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub fn suffix(mut self, s: &'static str) -> Field {
        if let Kind::Text { suffix, .. } = &mut self.kind {
            *suffix = Some(s);
        }
        self
    }

    /// The field's HTML with its current `value` and `error` (NHS.UK form group).
    pub fn render(&self, value: &str, error: Option<&str>) -> String {
        let id = self.name;
        let mut described = Vec::new();
        let mut out = String::new();
        let group = if error.is_some() { "nhsuk-form-group nhsuk-form-group--error" } else { "nhsuk-form-group" };
        let _ = write!(out, r#"<div class="{group}">"#);
        let label = if self.required { esc(&self.label) } else { format!("{} (optional)", esc(&self.label)) };
        let fieldset = matches!(self.kind, Kind::Radios { .. } | Kind::Checkboxes(_));
        let mut extra = String::new();
        if let Some(h) = &self.hint {
            let _ = write!(extra, r#"<div class="nhsuk-hint" id="{id}-hint">{}</div>"#, esc(h));
            described.push(format!("{id}-hint"));
        }
        if let Some(e) = error {
            let _ = write!(
                extra,
                r#"<span class="nhsuk-error-message" id="{id}-error"><span class="nhsuk-u-visually-hidden">Error: </span>{}</span>"#,
                esc(e)
            );
            described.push(format!("{id}-error"));
        }
        let aria = if described.is_empty() {
            String::new()
        } else {
            format!(r#" aria-describedby="{}""#, described.join(" "))
        };
        if fieldset {
            let _ = write!(
                out,
                r#"<fieldset class="nhsuk-fieldset"{aria}><legend class="nhsuk-fieldset__legend nhsuk-fieldset__legend--s">{label}</legend>{extra}"#
            );
        } else {
            let _ = write!(out, r#"<label class="nhsuk-label" for="{id}">{label}</label>{extra}"#);
        }
        let err_class = |base: &str| if error.is_some() { format!("{base} {base}--error") } else { base.to_string() };
        match &self.kind {
            Kind::Text { width, numeric, prefix, suffix } => {
                let mut class = err_class("nhsuk-input");
                if let Some(w) = width {
                    let _ = write!(class, " nhsuk-input--width-{w}");
                }
                let mode = if *numeric { r#" inputmode="numeric""# } else { "" };
                let input = format!(
                    r#"<input class="{class}" id="{id}" name="{id}" type="text" value="{}"{mode}{aria} autocomplete="off">"#,
                    esc(value)
                );
                if prefix.is_some() || suffix.is_some() {
                    out.push_str(r#"<div class="nhsuk-input-wrapper">"#);
                    if let Some(p) = prefix {
                        let _ = write!(out, r#"<div class="nhsuk-input-wrapper__prefix" aria-hidden="true">{p}</div>"#);
                    }
                    out.push_str(&input);
                    if let Some(s) = suffix {
                        let _ = write!(out, r#"<div class="nhsuk-input-wrapper__suffix" aria-hidden="true">{s}</div>"#);
                    }
                    out.push_str("</div>");
                } else {
                    out.push_str(&input);
                }
            }
            Kind::Area => {
                let _ = write!(
                    out,
                    r#"<textarea class="{}" id="{id}" name="{id}" rows="4"{aria}>{}</textarea>"#,
                    err_class("nhsuk-textarea"),
                    esc(value)
                );
            }
            Kind::Select(options) => {
                let _ = write!(out, r#"<select class="{}" id="{id}" name="{id}"{aria}>"#, err_class("nhsuk-select"));
                for (v, t) in options {
                    let sel = if v == value { " selected" } else { "" };
                    let _ = write!(out, r#"<option value="{}"{sel}>{}</option>"#, esc(v), esc(t));
                }
                out.push_str("</select>");
            }
            Kind::Radios { options, inline } => {
                let class = if *inline { "nhsuk-radios nhsuk-radios--inline" } else { "nhsuk-radios" };
                choices(&mut out, id, "radio", class, options, |v| v == value);
            }
            Kind::Checkboxes(options) => {
                let chosen: Vec<&str> = value.split(',').map(str::trim).collect();
                choices(&mut out, id, "checkbox", "nhsuk-checkboxes", options, |v| chosen.contains(&v));
            }
        }
        if fieldset {
            out.push_str("</fieldset>");
        }
        out.push_str("</div>");
        out
    }
}

/// Radio buttons or checkboxes (`kind`), one per option; the first takes the field's id so
/// that the error summary's link lands on it.
fn choices(
    out: &mut String,
    id: &str,
    kind: &str,
    class: &str,
    options: &[(String, String)],
    checked: impl Fn(&str) -> bool,
) {
    let base = if kind == "radio" { "nhsuk-radios" } else { "nhsuk-checkboxes" };
    let _ = write!(out, r#"<div class="{class}" data-module="{base}">"#);
    for (i, (v, t)) in options.iter().enumerate() {
        let item = if i == 0 { id.to_string() } else { format!("{id}-{}", i + 1) };
        let on = if checked(v) { " checked" } else { "" };
        let _ = write!(
            out,
            r#"<div class="{base}__item"><input class="{base}__input" id="{item}" name="{id}" type="{kind}" value="{}"{on}><label class="nhsuk-label {base}__label" for="{item}">{}</label></div>"#,
            esc(v),
            esc(t)
        );
    }
    out.push_str("</div>");
}

/// A submitted form: repeated names (checkboxes) are joined with commas.
pub fn collect(pairs: Vec<(String, String)>) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = HashMap::new();
    for (k, v) in pairs {
        match map.get_mut(&k) {
            Some(existing) if !v.is_empty() => {
                if !existing.is_empty() {
                    existing.push(',');
                }
                existing.push_str(&v);
            }
            Some(_) => {}
            None => {
                map.insert(k, v);
            }
        }
    }
    map
}

/// An NHS.UK error summary linking each problem to its field (`None`: no link).
pub fn error_summary(errors: &[(Option<String>, String)]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        r#"<div class="nhsuk-error-summary" data-module="nhsuk-error-summary"><div role="alert"><h2 class="nhsuk-error-summary__heading">There is a problem</h2><div class="nhsuk-error-summary__body"><ul class="nhsuk-list nhsuk-error-summary__list">"#,
    );
    for (field, message) in errors {
        match field {
            Some(f) => {
                let _ = write!(out, r##"<li><a href="#{}">{}</a></li>"##, esc(f), esc(message));
            }
            None => {
                let _ = write!(out, "<li>{}</li>", esc(message));
            }
        }
    }
    out.push_str("</ul></div></div></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_errors_are_escaped_and_linked() {
        let f = Field::text("reviewer_role", "Your role").required();
        let html = f.render("<script>", Some("is \"required\""));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains(r#"aria-describedby="reviewer_role-error""#));
        assert!(html.contains("nhsuk-input--error"));
        let s = error_summary(&[(Some("quality".into()), "7 is out of range".into())]);
        assert!(s.contains(r##"href="#quality""##));
    }

    #[test]
    fn repeated_names_are_joined() {
        let m = collect(vec![("reasons".into(), "cost".into()), ("reasons".into(), "quality".into())]);
        assert_eq!(m["reasons"], "cost,quality");
        assert_eq!(query(&[("service_line", "BI"), ("year", ""), ("q", "a b")]), "?service_line=BI&q=a%20b");
    }
}
