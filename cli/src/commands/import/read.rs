//! Reading a spreadsheet export or a JSON file into rows of named text values, the way Excel
//! writes them: the encoding (UTF-8 with or without a byte-order mark, UTF-16 from "Unicode
//! text", else Windows-1252, Excel's "CSV (Comma delimited)" on Windows), the delimiter (comma,
//! semicolon or tab; Excel's `sep=;` first line), headers in any case and spacing with the
//! aliases of [`super::headers`], trailing empty columns and blank rows ignored, and each row
//! numbered as Excel shows it (the header is row 1).

use std::collections::BTreeMap;

use super::headers;

/// How the file's bytes were read, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Encoding {
    #[serde(rename = "UTF-8")]
    Utf8,
    #[serde(rename = "UTF-16")]
    Utf16,
    #[serde(rename = "Windows-1252")]
    Windows1252,
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf16 => "UTF-16",
            Encoding::Windows1252 => "Windows-1252 (Excel's CSV on Windows)",
        })
    }
}

/// The encoding to read a file in, when it cannot be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EncodingChoice {
    #[value(name = "utf-8")]
    Utf8,
    #[value(name = "windows-1252")]
    Windows1252,
}

/// One data row: its number as the spreadsheet shows it, and its values by field name.
#[derive(Debug, Clone)]
pub struct Row {
    pub number: usize,
    pub values: BTreeMap<String, String>,
}

/// What a file held.
#[derive(Debug)]
pub struct Table {
    pub rows: Vec<Row>,
    pub encoding: Encoding,
    /// The delimiter (CSV only).
    pub delimiter: Option<char>,
    /// Blank rows skipped.
    pub blank: usize,
    /// Headers that were read as another name: (as written, field).
    pub renamed: Vec<(String, String)>,
    /// Rows that could not be read (a value under no header, a malformed JSON item).
    pub bad: Vec<(usize, String)>,
}

/// Decodes a file's bytes.
pub fn decode(bytes: &[u8], choice: Option<EncodingChoice>) -> (String, Encoding) {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return (String::from_utf8_lossy(rest).into_owned(), Encoding::Utf8);
    }
    if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
        let (text, _, _) = encoding_rs::UTF_16LE.decode(bytes); // the BOM picks LE or BE
        return (text.into_owned(), Encoding::Utf16);
    }
    match choice {
        Some(EncodingChoice::Windows1252) => {}
        Some(EncodingChoice::Utf8) => return (String::from_utf8_lossy(bytes).into_owned(), Encoding::Utf8),
        None => {
            if let Ok(text) = std::str::from_utf8(bytes) {
                return (text.to_string(), Encoding::Utf8);
            }
        }
    }
    let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
    (text.into_owned(), Encoding::Windows1252)
}

/// Splits one line on `delimiter` outside double quotes (enough to judge a header line).
fn split_line(line: &str, delimiter: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c == delimiter && !quoted => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

/// The delimiter: the one that splits the header into the most known columns of `fields`; a
/// tie between two that both find columns is refused (the caller asks for `--delimiter`).
fn detect_delimiter(header: &str, fields: &[String]) -> Result<char, String> {
    let mut scored: Vec<(usize, usize, char)> = [',', ';', '\t']
        .into_iter()
        .map(|d| {
            let cells = split_line(header, d);
            let known = cells.iter().filter(|c| headers::field_of(c, fields).is_some()).count();
            (known, cells.len(), d)
        })
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse((s.0, s.1)));
    let (best, second) = (scored[0], scored[1]);
    if best.0 >= 1 && best.0 == second.0 && best.1 > 1 && second.1 > 1 {
        return Err(format!(
            "the header row splits into columns with both `{}` and `{}`; pass --delimiter to say which separates columns",
            name(best.2),
            name(second.2)
        ));
    }
    Ok(best.2)
}

fn name(d: char) -> &'static str {
    match d {
        ',' => "comma",
        ';' => "semicolon",
        _ => "tab",
    }
}

/// Reads CSV text into rows of the fields of a kind.
pub fn csv(text: &str, fields: &[String], delimiter: Option<char>, encoding: Encoding) -> Result<Table, String> {
    let mut text = text;
    // Excel's hint line: `sep=;` (not shown by Excel as a row).
    let mut hinted = None;
    if let Some(first) = text.lines().next()
        && let Some(d) = first.trim().strip_prefix("sep=").and_then(|d| d.chars().next())
    {
        hinted = Some(d);
        text = text.split_once('\n').map_or("", |(_, rest)| rest);
    }
    let header_line = text.lines().find(|l| !l.trim().is_empty()).ok_or("the file is empty")?;
    let delimiter = match delimiter.or(hinted) {
        Some(d) => d,
        None => detect_delimiter(header_line, fields)?,
    };
    let byte = u8::try_from(delimiter).map_err(|_| format!("`{delimiter}` cannot separate columns"))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(byte)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = loop {
        match records.next() {
            None => return Err("the file has no header row".into()),
            Some(Err(e)) => return Err(format!("cannot read the header row: {e}")),
            Some(Ok(r)) if r.iter().all(|c| c.trim().is_empty()) => continue,
            Some(Ok(r)) => break r,
        }
    };
    // The line a record starts on, counted from its byte offset (the csv crate's own line
    // count does not advance over the blank lines it skips).
    // The position may point at blank lines skipped before the record: they are not its line.
    let line_of = |p: Option<&csv::Position>, or: usize| {
        p.and_then(|p| text.get(..p.byte() as usize)).map_or(or, |before| {
            let skipped = text[before.len()..].len() - text[before.len()..].trim_start_matches(['\r', '\n']).len();
            text[..before.len() + skipped].matches('\n').count() + 1
        })
    };
    let first_line = line_of(header.position(), 1);
    let (columns, renamed) = headers::map(&header.iter().collect::<Vec<_>>(), fields)?;
    let mut table =
        Table { rows: Vec::new(), encoding, delimiter: Some(delimiter), blank: 0, renamed, bad: Vec::new() };
    // Excel numbers records, not lines: a cell holding a line break is still one row, and a
    // blank line is an empty row.
    let (mut row_number, mut prev_line, mut prev_breaks) = (first_line, first_line, newlines(&header));
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = line_of(e.position(), 0);
                table.bad.push((row_number + 1 + line.saturating_sub(prev_line + 1 + prev_breaks), e.to_string()));
                break;
            }
        };
        let line = line_of(record.position(), prev_line + 1);
        // Blank lines the csv reader skipped are Excel's empty rows.
        let skipped = line.saturating_sub(prev_line + 1 + prev_breaks);
        table.blank += skipped;
        row_number += 1 + skipped;
        prev_line = line;
        prev_breaks = newlines(&record);
        if record.iter().all(|c| c.trim().is_empty()) {
            table.blank += 1;
            continue;
        }
        let mut values = BTreeMap::new();
        let mut stray = None;
        for (i, cell) in record.iter().enumerate() {
            match columns.get(i).and_then(|c| c.as_ref()) {
                Some(field) if !cell.trim().is_empty() => {
                    values.insert(field.clone(), cell.to_string());
                }
                Some(_) => {}
                None if !cell.trim().is_empty() => stray = Some((i, cell.to_string())),
                None => {}
            }
        }
        match stray {
            Some((i, cell)) => table.bad.push((
                row_number,
                format!("`{}` is in column {} ({}), which has no header", clip(&cell), i + 1, column_letter(i)),
            )),
            None => table.rows.push(Row { number: row_number, values }),
        }
    }
    Ok(table)
}

fn newlines(r: &csv::StringRecord) -> usize {
    r.iter().map(|c| c.matches('\n').count()).sum()
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// `A` for the first column, `AB` for the 28th, as Excel labels them.
pub fn column_letter(i: usize) -> String {
    let mut n = i + 1;
    let mut s = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        s.push((b'A' + r as u8) as char);
        n = (n - 1) / 26;
    }
    s.iter().rev().collect()
}

/// Reads a JSON array of objects (keys named like CSV headers); items are numbered from 1.
pub fn json(text: &str, fields: &[String]) -> Result<Table, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))?;
    let serde_json::Value::Array(items) = value else {
        return Err("must be a JSON array of objects, one per record".into());
    };
    let mut table = Table {
        rows: Vec::new(),
        encoding: Encoding::Utf8,
        delimiter: None,
        blank: 0,
        renamed: Vec::new(),
        bad: Vec::new(),
    };
    for (i, item) in items.into_iter().enumerate() {
        let number = i + 1;
        let serde_json::Value::Object(map) = item else {
            table.bad.push((number, "is not a JSON object".into()));
            continue;
        };
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let (columns, renamed) = match headers::map(&keys, fields) {
            Ok(m) => m,
            Err(e) => {
                table.bad.push((number, e));
                continue;
            }
        };
        for r in renamed {
            if !table.renamed.contains(&r) {
                table.renamed.push(r);
            }
        }
        let mut values = BTreeMap::new();
        for (field, (_, v)) in columns.iter().zip(map) {
            let Some(field) = field else { continue };
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => if b { "yes" } else { "no" }.to_string(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            if !text.trim().is_empty() {
                values.insert(field.clone(), text);
            }
        }
        table.rows.push(Row { number, values });
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<String> {
        ["provider", "service_line", "year", "annual_value", "vat_included", "pricing_model", "comment"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn excel_on_windows_writes_windows_1252() {
        let bytes = b"Provider;Annual Value\r\n0DE;\xa31,234\r\n";
        let (text, enc) = decode(bytes, None);
        assert_eq!(enc, Encoding::Windows1252);
        assert!(text.contains("£1,234"));
        let (text, enc) = decode("\u{feff}a,£".as_bytes(), None);
        assert_eq!((text.as_str(), enc), ("a,£", Encoding::Utf8));
        let utf16: Vec<u8> =
            [0xff, 0xfe].into_iter().chain("a\t£".encode_utf16().flat_map(|u| u.to_le_bytes())).collect();
        assert_eq!(decode(&utf16, None), ("a\t£".to_string(), Encoding::Utf16));
    }

    #[test]
    fn delimiters_headers_blank_rows_and_excel_row_numbers() {
        let text = "sep=;\nService Line;PROVIDER;Annual value (£);;\nBI;0DE;\"1,234\";;\n;;;;\n\nBI;0DE;\"a\nb\";;\nBI;0DF;5;;x\n";
        let t = csv(text, &fields(), None, Encoding::Utf8).expect("reads");
        assert_eq!(t.delimiter, Some(';'));
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].number, 2);
        assert_eq!(t.rows[0].values["annual_value"], "1,234");
        assert_eq!(t.rows[1].number, 5, "row 3 and 4 are blank");
        assert_eq!(t.blank, 2);
        assert_eq!(t.bad, vec![(6, "`x` is in column 5 (E), which has no header".to_string())]);
    }

    #[test]
    fn an_ambiguous_delimiter_is_refused() {
        let e = csv("provider,year;comment\n", &fields(), None, Encoding::Utf8).expect_err("ambiguous");
        assert!(e.contains("--delimiter"), "{e}");
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(27), "AB");
    }
}
