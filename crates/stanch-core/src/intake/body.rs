//! An HTTP intake body, as `POST /v1/detections[/{format}]` reads it: one JSON value (an
//! object, a Graph page, an array of payloads), or one payload per line. Pure, so the service
//! and the `jsonl` fuzz target read bodies the same way. (Refusing the `stanch` source is the
//! caller's: campaigns, which own that name, stand above intake.)

use serde_json::Value;

use super::json::{duplicate_keys, duplicates_by_element, parse_json};
use super::validate::{bounded_reason, kept_raw};
use super::{Detection, Format, Line, decode_line, parse_any, to_detections};

/// One detection of a body, or the rejection of one payload, by the line it starts on.
#[derive(Debug)]
pub struct Item {
    /// 1-based: the line of a JSONL body, the element of an array (whose lines are not known).
    pub line: usize,
    /// The payload as received (cut with a marker past `RAW_KEPT`), for the audit trail.
    pub raw: String,
    pub result: Result<Detection, String>,
}

/// One object, an array of objects, or one object per line (blank and `#` lines skipped, as in
/// files; a line that is not UTF-8 is rejected by number). Each payload may hold several
/// detections (a Graph page, a Sentinel incident). A key written twice rejects its payload.
pub fn split(bytes: &[u8], format: Option<Format>) -> Vec<Item> {
    // A whole-body JSON value first (a pretty-printed alert spans many lines), else JSONL.
    if let Some(parsed) = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| parse_json(text).ok().map(|p| (text, p)))
    {
        let (text, parsed) = parsed;
        match parsed.value {
            Value::Array(values) => {
                let duplicates = duplicates_by_element(&parsed.duplicates);
                return values
                    .into_iter()
                    .enumerate()
                    .flat_map(|(i, v)| {
                        let own: Vec<String> = duplicates
                            .iter()
                            .filter(|(at, _)| *at == i)
                            .map(|(_, path)| path.clone())
                            .collect();
                        let value =
                            duplicate_keys(&own).map_or(Ok(v.clone()), |e| Err(e.to_string()));
                        items(i + 1, v.to_string(), value, format)
                    })
                    .collect();
            }
            value => {
                let value =
                    duplicate_keys(&parsed.duplicates).map_or(Ok(value), |e| Err(e.to_string()));
                return items(1, text.to_string(), value, format);
            }
        }
    }
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .flat_map(|(i, line)| match decode_line(line) {
            Line::Skip => Vec::new(),
            Line::Text(text) => items(
                i + 1,
                text.to_string(),
                parse_json(text)
                    .map_err(|e| format!("not valid JSON: {e}"))
                    .and_then(|p| p.strict().map_err(|e| e.to_string())),
                format,
            ),
            Line::NotUtf8 { error, raw } => items(i + 1, raw, Err(error.to_string()), format),
        })
        .collect()
}

fn items(
    line: usize,
    raw: String,
    value: Result<Value, String>,
    format: Option<Format>,
) -> Vec<Item> {
    let raw = kept_raw(&raw).into_owned();
    let value = value.map_err(bounded_reason);
    let parsed = value.and_then(|v| {
        match format {
            None => parse_any(v),
            Some(format) => to_detections(format, v),
        }
        .map_err(|e| e.to_string())
    });
    match parsed {
        Ok(detections) if detections.is_empty() => vec![Item {
            line,
            raw,
            result: Err("the payload holds no detection".into()),
        }],
        Ok(detections) => detections
            .into_iter()
            .map(|d| Item {
                line,
                raw: raw.clone(),
                result: Ok(d),
            })
            .collect(),
        Err(reason) => vec![Item {
            line,
            raw,
            result: Err(reason),
        }],
    }
}
