//! JSONL: one detection per line. Blank lines and `#` comment lines are skipped; every other line
//! yields either a detection or a rejection that names the line, a line that is not UTF-8
//! included: the lines after it are still read.

use std::io::BufRead;

use super::validate::kept_raw;
use super::{Detection, DetectionError, parse_generic};

/// One line of input as bytes, decoded.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// Blank, or a `#` comment.
    Skip,
    /// The line's text, trimmed.
    Text(&'a str),
    /// Not UTF-8: the rejection, and the line as it will be kept (invalid bytes as U+FFFD).
    NotUtf8 { error: DetectionError, raw: String },
}

/// Decodes one line (its line break may still be on it).
pub fn decode_line(bytes: &[u8]) -> Line<'_> {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                Line::Skip
            } else {
                Line::Text(text)
            }
        }
        Err(e) => Line::NotUtf8 {
            error: DetectionError::NotUtf8 {
                byte: e.valid_up_to() + 1,
            },
            raw: kept_raw(String::from_utf8_lossy(bytes).trim()).into_owned(),
        },
    }
}

/// One non-blank line of a JSONL stream and what it parsed into.
#[derive(Debug)]
pub struct JsonlItem {
    /// 1-based line number in the input.
    pub line: usize,
    pub result: Result<Detection, DetectionError>,
    /// The raw line, kept so a rejected detection can be audited exactly as received.
    pub raw: String,
}

/// Iterates over a JSONL stream, tracking how many bytes have been consumed (for progress).
pub struct JsonlReader<R> {
    input: R,
    line: usize,
    bytes_read: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonlReader<R> {
    pub fn new(input: R) -> Self {
        JsonlReader {
            input,
            line: 0,
            bytes_read: 0,
            buf: Vec::new(),
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = std::io::Result<JsonlItem>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            let n = match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            self.line += 1;
            self.bytes_read += n as u64;
            let (result, raw) = match decode_line(&self.buf) {
                Line::Skip => continue,
                Line::Text(text) => (parse_generic(text), kept_raw(text).into_owned()),
                Line::NotUtf8 { error, raw } => (Err(error), raw),
            };
            return Some(Ok(JsonlItem {
                line: self.line,
                result,
                raw,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_reported_by_number_and_the_rest_still_parse() {
        let input = "\n{\"id\":\"1\",\"name\":\"a\",\"observed_at\":\"2021-06-01T00:00:00Z\"}\n# comment\nnot json\n{\"id\":\"2\",\"name\":\"b\",\"observed_at\":\"2021-06-01T00:00:00Z\"}\n";
        let items: Vec<JsonlItem> = JsonlReader::new(input.as_bytes())
            .map(Result::unwrap)
            .collect();
        let summary: Vec<(usize, bool)> =
            items.iter().map(|i| (i.line, i.result.is_ok())).collect();
        assert_eq!(summary, vec![(2, true), (4, false), (5, true)]);
        assert_eq!(items[1].raw, "not json");
    }

    #[test]
    fn a_line_that_is_not_utf8_is_rejected_by_number_and_the_rest_still_parse() {
        let good = |id: &str| {
            format!("{{\"id\":\"{id}\",\"name\":\"a\",\"observed_at\":\"2021-06-01T00:00:00Z\"}}\n")
        };
        let mut input = good("1").into_bytes();
        input.extend_from_slice(b"{\"id\":\"2\",\"name\":\"caf\xe9\"}\r\n");
        input.extend_from_slice(good("3").as_bytes());
        let items: Vec<JsonlItem> = JsonlReader::new(&input[..])
            .map(|item| item.expect("no line stops the reader"))
            .collect();
        let summary: Vec<(usize, bool)> =
            items.iter().map(|i| (i.line, i.result.is_ok())).collect();
        assert_eq!(summary, vec![(1, true), (2, false), (3, true)]);
        assert_eq!(
            items[1].result.as_ref().unwrap_err().to_string(),
            "not valid UTF-8: byte 22 of the line does not belong to a UTF-8 character"
        );
        assert_eq!(items[1].raw, "{\"id\":\"2\",\"name\":\"caf\u{FFFD}\"}");
    }
}
