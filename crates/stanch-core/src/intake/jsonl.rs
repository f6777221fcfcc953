//! JSONL: one detection per line. Blank lines and `#` comment lines are skipped; every other line
//! yields either a detection or a rejection that names the line.

use std::io::BufRead;

use super::{Detection, DetectionError, parse_generic};

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
    buf: String,
}

impl<R: BufRead> JsonlReader<R> {
    pub fn new(input: R) -> Self {
        JsonlReader {
            input,
            line: 0,
            bytes_read: 0,
            buf: String::new(),
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
            let n = match self.input.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            self.line += 1;
            self.bytes_read += n as u64;
            let text = self.buf.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            return Some(Ok(JsonlItem {
                line: self.line,
                result: parse_generic(text),
                raw: text.to_string(),
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
}
