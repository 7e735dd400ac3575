//! Rows of a file of one record kind (CSV with a header row, or a JSON array of objects),
//! converted with the kind's input form: what `csx import` reads from disk and the dashboard's
//! upload reads from a form, alike.

use csx_protocol::Body;

use super::kinds::{InputCtx, KindInput};

/// The rows of CSV `bytes` as `T`s (one result per data row, with the row's problem), or why
/// the file as a whole cannot be read (its header names a column `T` does not have).
pub fn csv_rows<T: KindInput>(bytes: &[u8]) -> Result<Vec<Result<T, String>>, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let headers = reader.headers().map_err(|e| format!("cannot read the header row: {e}"))?.clone();
    let allowed: Vec<String> = match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => vec![],
    };
    for h in headers.iter() {
        if !allowed.iter().any(|a| a == h) {
            return Err(format!("`{h}` is not a {} column; columns are: {}", T::KIND, allowed.join(", ")));
        }
    }
    Ok(reader.deserialize::<T>().map(|r| r.map_err(|e| csv_error(&e))).collect())
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("has {len} cells but the header has {expected_len}")
        }
        _ => e.to_string(),
    }
}

/// The objects of a JSON array as `T`s; numbers and booleans are taken as their text.
pub fn json_rows<T: KindInput>(text: &str) -> Result<Vec<Result<T, String>>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))?;
    let serde_json::Value::Array(items) = value else {
        return Err(format!("is not a JSON array of {} objects", T::KIND));
    };
    Ok(items
        .into_iter()
        .map(|item| {
            let serde_json::Value::Object(map) = item else {
                return Err("is not a JSON object".to_string());
            };
            let mut strings = serde_json::Map::new();
            for (k, v) in map {
                let s = match v {
                    serde_json::Value::Null => continue,
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                strings.insert(k, serde_json::Value::String(s));
            }
            serde_json::from_value::<T>(serde_json::Value::Object(strings)).map_err(|e| e.to_string())
        })
        .collect())
}

/// Converts and checks every row: all the bodies, or every bad row's number (from 1) and
/// problem. Nothing is half-converted: callers write the bodies only when no row is bad.
pub fn convert_rows<T: KindInput>(rows: Vec<Result<T, String>>, ctx: &InputCtx<'_>) -> Result<Vec<Body>, RowErrors> {
    let mut bodies = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let converted = row.and_then(|input| {
            let body = input.to_body(ctx).map_err(|e| e.as_column())?;
            body.validate().map_err(|e| e.to_string())?;
            Ok(body)
        });
        match converted {
            Ok(b) => bodies.push(b),
            Err(e) => errors.push((i + 1, e)),
        }
    }
    if errors.is_empty() { Ok(bodies) } else { Err(RowErrors { rows: bodies.len() + errors.len(), errors }) }
}

/// The bad rows of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowErrors {
    /// Rows in the file.
    pub rows: usize,
    /// (row number from 1, problem).
    pub errors: Vec<(usize, String)>,
}

#[cfg(test)]
mod tests {
    use super::super::kinds::ReviewInput;
    use super::*;

    #[test]
    fn one_bad_row_fails_the_file_and_is_named() {
        let csv = "provider,service_line,year,quality,still_customer,reviewer_role\n\
                   0DE,BI,2024,4,yes,Head of BI\n\
                   0DE,BI,2024,9,yes,Head of BI\n";
        let rows = csv_rows::<ReviewInput>(csv.as_bytes()).expect("header is fine");
        let resolve = |_: &str| Err("no".to_string());
        let providers = super::super::ProviderNames::builtin();
        let today = csx_protocol::Date::from_ymd(2025, 6, 1).expect("a date");
        let ctx = InputCtx { own_population: None, resolve: &resolve, today, providers: &providers };
        let e = convert_rows(rows, &ctx).expect_err("row 2 is bad");
        assert_eq!(e.rows, 2);
        assert_eq!(e.errors, vec![(2, "quality: 9 is out of range: give a whole number from 1 to 5".to_string())]);
        assert!(csv_rows::<ReviewInput>(b"provider,colour\n").expect_err("unknown column").contains("`colour`"));
    }
}
