//! Turning what people type (flags, CSV cells, JSON values) into typed record bodies.
//!
//! Every value arrives as text, so flags, CSV columns, JSON keys (and web forms) share one set of
//! parsers and one set of error messages, each naming the field and what is allowed. It lives in
//! the node crate so that every client of the node (the CLI, the dashboard) parses alike.

pub mod dates;
pub mod file;
pub mod kinds;
pub mod money;
pub mod number;
pub mod words;

pub use dates::{date, year};
pub use money::{Sign, money, pence, signed_pence};
pub use number::{format_bp, integer, months, percent_bp, population, rating, recommend};
pub use words::{ProviderNames, boolean, choice, code, list, service_line};

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
    f: impl FnOnce(&'static str, &str) -> FieldResult<T>,
) -> FieldResult<Option<T>> {
    trimmed(v).map(|s| f(field, s)).transpose()
}

/// The input field (flag, CSV column, JSON key) that a protocol field of a record body is given
/// as: `annual_value` for `annual_value_pence`, `efficiency` for `efficiency_bp`, `kind` for a
/// provider's `provider_kind`; the same name otherwise.
pub fn input_field(protocol_field: &'static str) -> &'static str {
    match protocol_field {
        "annual_value_pence" => "annual_value",
        "exit_costs_pence" => "exit_costs",
        "cost_change_pence" => "cost_change",
        "efficiency_bp" => "efficiency",
        "provider_kind" => "kind",
        other => other,
    }
}

/// Reads a node error of the form `review.provider: rest` (a protocol or reference check on one
/// field of a record) as the input field it is about and the rest of the message.
pub fn field_of_message(message: &str) -> Option<(&'static str, &str)> {
    let (head, rest) = message.split_once(": ")?;
    let (kind, field) = head.split_once('.')?;
    csx_protocol::Kind::ALL.iter().find(|k| k.name() == kind)?;
    let field = kinds::FIELDS.iter().copied().find(|f| *f == field || input_field_of(f) == Some(field))?;
    Some((field, rest))
}

/// The protocol field an input field stands for, where the names differ.
fn input_field_of(input: &str) -> Option<&'static str> {
    match input {
        "annual_value" => Some("annual_value_pence"),
        "exit_costs" => Some("exit_costs_pence"),
        "cost_change" => Some("cost_change_pence"),
        "efficiency" => Some("efficiency_bp"),
        "kind" => Some("provider_kind"),
        _ => None,
    }
}

/// At most 40 characters of what was given, for messages.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}
