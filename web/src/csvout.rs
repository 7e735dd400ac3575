//! CSV downloads made from an answer's JSON: each element of the answer's main list becomes a
//! row, nested objects become dotted columns (`stats.median`), lists of named things become one
//! column each (`dimensions.quality.mean`), so fields added to an answer appear as columns
//! without code here. A withheld statistic is absent from the JSON, so its cells are empty.
//! The file starts with a byte-order mark so that Excel reads `£` as UTF-8.

use std::collections::BTreeMap;

use serde_json::Value;

/// The rows of `items` as CSV text.
pub fn rows(items: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    let mut flat: Vec<BTreeMap<String, String>> = Vec::new();
    for item in items {
        let mut row = BTreeMap::new();
        flatten("", item, &mut row, &mut columns);
        flat.push(row);
    }
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(&columns);
    for row in &flat {
        let _ = w.write_record(columns.iter().map(|c| row.get(c).map(String::as_str).unwrap_or("")));
    }
    let body = w.into_inner().unwrap_or_default();
    format!("\u{feff}{}", String::from_utf8_lossy(&body))
}

fn key(prefix: &str, k: &str) -> String {
    if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") }
}

fn flatten(prefix: &str, v: &Value, row: &mut BTreeMap<String, String>, columns: &mut Vec<String>) {
    let mut put = |k: String, s: String| {
        if !columns.contains(&k) {
            columns.push(k.clone());
        }
        row.insert(k, s);
    };
    match v {
        Value::Null => {}
        Value::Bool(b) => put(prefix.to_string(), b.to_string()),
        Value::Number(n) => put(prefix.to_string(), n.to_string()),
        Value::String(s) => put(prefix.to_string(), s.clone()),
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&key(prefix, k), x, row, columns);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let parts: Vec<String> = a
                .iter()
                .filter(|x| !x.is_null())
                .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                .collect();
            put(prefix.to_string(), parts.join("; "));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                // Name a list's elements by what identifies them, where they say.
                let name = ["name", "year", "code", "ods"]
                    .iter()
                    .find_map(|k| x.get(*k).map(|n| n.as_str().map(str::to_string).unwrap_or_else(|| n.to_string())))
                    .unwrap_or_else(|| i.to_string());
                let mut x = x.clone();
                if let Value::Object(m) = &mut x {
                    for k in ["name", "year", "code", "ods"] {
                        if m.get(k).map(|n| n.as_str().map(str::to_string).unwrap_or_else(|| n.to_string()))
                            == Some(name.clone())
                        {
                            m.remove(k);
                        }
                    }
                }
                flatten(&key(prefix, &name), &x, row, columns);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_named_lists_become_columns_and_absent_values_empty_cells() {
        let items = vec![
            serde_json::json!({"line": "BI", "stats": {"median": 1.5}, "dimensions": [{"name": "quality", "mean": 4.0}], "reasons": ["cost", "quality"]}),
            serde_json::json!({"line": "HR", "stats": null, "dimensions": [{"name": "quality", "mean": null}], "reasons": []}),
        ];
        let text = rows(&items);
        let mut lines = text.trim_start_matches('\u{feff}').lines();
        // Columns in the order the JSON's keys come (alphabetical).
        assert_eq!(lines.next(), Some("dimensions.quality.mean,line,reasons,stats.median"));
        assert_eq!(lines.next(), Some("4.0,BI,cost; quality,1.5"));
        assert_eq!(lines.next(), Some(",HR,,"));
    }
}
