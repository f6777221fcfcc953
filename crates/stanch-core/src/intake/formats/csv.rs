//! A small RFC 4180 reader for Sentinel table exports (`OfficeActivity`, `CommonSecurityLog`):
//! quoted fields may hold commas, doubled quotes and newlines (the `Parameters` column is
//! pretty-printed JSON). Each row becomes a JSON object keyed by the header, empty cells left out,
//! so the rows go through the same adapters as the API payloads.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("csv line {line}: unterminated quoted field")]
    Unterminated { line: usize },
    #[error("csv line {line}: {found} fields, the header has {expected}")]
    Width {
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("csv: no header row")]
    NoHeader,
}

/// Reads a CSV export into one JSON object per row.
pub fn read_csv(text: &str) -> Result<Vec<Value>, CsvError> {
    let mut rows = records(text.strip_prefix('\u{feff}').unwrap_or(text))?.into_iter();
    let (_, header) = rows.next().ok_or(CsvError::NoHeader)?;
    rows.map(|(line, row)| {
        if row.len() != header.len() {
            return Err(CsvError::Width {
                line,
                expected: header.len(),
                found: row.len(),
            });
        }
        let obj: Map<String, Value> = header
            .iter()
            .zip(row)
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(k, cell)| (k.clone(), Value::String(cell)))
            .collect();
        Ok(Value::Object(obj))
    })
    .collect()
}

/// Splits the text into records of fields, each with the line it starts on.
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, CsvError> {
    let mut out = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let (mut line, mut row_line) = (1, 1);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                out.push((row_line, std::mem::take(&mut row)));
                line += 1;
                row_line = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(CsvError::Unterminated { line: row_line });
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        out.push((row_line, row));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_with_commas_quotes_and_newlines() {
        let rows = read_csv("a,b,c\r\n1,\"x, \"\"y\"\"\nz\",\n2,,3\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["a"], "1");
        assert_eq!(rows[0]["b"], "x, \"y\"\nz");
        assert!(rows[0].get("c").is_none());
        assert_eq!(rows[1]["c"], "3");
    }

    #[test]
    fn reports_bad_rows_with_their_line() {
        assert_eq!(
            read_csv("a,b\n1,2\n3\n").unwrap_err(),
            CsvError::Width {
                line: 3,
                expected: 2,
                found: 1
            }
        );
        assert_eq!(
            read_csv("a\n\"open\n").unwrap_err(),
            CsvError::Unterminated { line: 2 }
        );
        assert_eq!(read_csv("").unwrap_err(), CsvError::NoHeader);
    }
}
