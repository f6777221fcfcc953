//! Intake: the JSONL readers (`stanch run`'s, and HTTP intake's body reader) and every
//! detection format adapter.

use crate::intake::body::split;
use crate::intake::formats::read_csv;
use crate::intake::json::parse_json;
use crate::intake::validate::RAW_KEPT;
use crate::intake::{
    Detection, DetectionError, Format, JsonlReader, Line, decode_line, parse_any, parse_generic,
    to_detections,
};

/// The longest a rejection may read: its reason is bounded (it may quote the input), and so
/// is the field path around it.
const REJECTION_MAX: usize = 1024;

/// The JSONL readers on one input. `stanch run`'s reports every line that is not blank or a
/// comment exactly once, in order, by its 1-based number, as a detection or a rejection, and
/// counts every byte; HTTP intake's reads the same bytes as one JSON value or as lines, and
/// reports every such line at least once (a payload may hold several detections) and no other.
/// In both a rejection is bounded and its raw input kept (cut with a marker past
/// [`RAW_KEPT`]), and an accepted detection round-trips through the generic format.
pub fn jsonl(data: &[u8]) {
    file(data);
    body(data);
}

fn file(data: &[u8]) {
    let mut reader = JsonlReader::new(data);
    let items: Vec<_> = reader
        .by_ref()
        .map(|item| item.expect("reading from memory cannot fail"))
        .collect();
    assert_eq!(
        reader.bytes_read(),
        data.len() as u64,
        "every byte is counted"
    );

    let reported: Vec<usize> = items.iter().map(|item| item.line).collect();
    assert_eq!(reported, read_lines(data), "each line once, by its number");
    for item in &items {
        raw_bounded(item.line, &item.raw);
        match &item.result {
            Ok(detection) => round_trips(detection),
            Err(error) => bounded(&error.to_string()),
        }
    }
}

fn body(data: &[u8]) {
    let items = split(data, None);
    let whole = std::str::from_utf8(data).is_ok_and(|text| parse_json(text).is_ok());
    let mut reported: Vec<usize> = items.iter().map(|item| item.line).collect();
    assert!(reported.is_sorted(), "items in body order: {reported:?}");
    if !whole {
        reported.dedup();
        assert_eq!(reported, read_lines(data), "each line, by its number");
    }
    for item in &items {
        raw_bounded(item.line, &item.raw);
        match &item.result {
            Ok(detection) => round_trips(detection),
            Err(reason) => bounded(reason),
        }
    }
}

/// The 1-based numbers of the lines a reader reads (not blank, not a `#` comment).
fn read_lines(data: &[u8]) -> Vec<usize> {
    data.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| decode_line(line) != Line::Skip)
        .map(|(i, _)| i + 1)
        .collect()
}

fn raw_bounded(line: usize, raw: &str) {
    // The marker after the kept bytes names the size and the SHA-256 of the whole.
    assert!(
        raw.len() <= RAW_KEPT + 200,
        "line {line}: raw kept unbounded ({} bytes)",
        raw.len()
    );
}

/// Every adapter, and recognition by shape, on one payload (JSON, or a CSV export whose rows go
/// through recognition as the samples' exports do): no panic; an accepted detection keeps the
/// payload in `details.raw` and round-trips through the generic format; a rejection is bounded.
pub fn formats(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = parse_json(text) {
        let value = parsed.value;
        let single =
            !value.is_array() && value.get("value").is_none() && value.get("records").is_none();
        for format in Format::ALL {
            let result = to_detections(format, value.clone());
            if single
                && format != Format::Generic
                && let Ok(detections) = &result
            {
                for d in detections {
                    assert_eq!(
                        d.details.get("raw"),
                        Some(&value),
                        "{format}: the payload is kept verbatim in details.raw"
                    );
                }
            }
            checked(result);
        }
        checked(parse_any(value));
    }
    if let Ok(rows) = read_csv(text) {
        for row in rows {
            checked(parse_any(row));
        }
    }
}

fn checked(result: Result<Vec<Detection>, DetectionError>) {
    match result {
        Ok(detections) => detections.iter().for_each(round_trips),
        Err(error) => bounded(&error.to_string()),
    }
}

/// "A detection round-trips through the generic JSON format without losing anything" (what the
/// store keeps and reads back, and what `stanch` prints).
fn round_trips(detection: &Detection) {
    let text = serde_json::to_string(detection).expect("a detection serializes");
    match parse_generic(&text) {
        Ok(again) => assert_eq!(&again, detection, "round trip through {text}"),
        Err(e) => panic!("an accepted detection is refused when read back ({e}): {text}"),
    }
}

/// A rejection is answered and audited as it reads: bounded, and with nothing in it that
/// hides or reorders text.
fn bounded(text: &str) {
    assert!(
        text.len() <= REJECTION_MAX,
        "a rejection of {} bytes: {}…",
        text.len(),
        &text[..text.floor_char_boundary(200)]
    );
    if let Some(c) = text.chars().find(|c| crate::intake::validate::hides(*c)) {
        panic!("a rejection shows {:?} as it is: {text}", c);
    }
}
