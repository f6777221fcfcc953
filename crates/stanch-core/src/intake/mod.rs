//! Intake: detections from the outside world become canonical [`Detection`]s.
//!
//! Every format adapter produces the same type; a malformed input is rejected with a reason
//! (and a line number for JSONL) and never stops the rest of the batch.

pub mod body;
mod detection;
pub mod formats;
mod generic;
pub mod json;
mod jsonl;
pub mod validate;

pub use detection::{Detection, Severity, UserRef};
pub use formats::{Format, detect_format, parse_any, to_detections};
pub use generic::{
    DetectionError, canonical_id, is_object_id, is_upn, json_kind as json_kind_of, parse_generic,
    parse_generic_value, parse_ip as parse_ip_text, trimmed,
};
pub use jsonl::{JsonlItem, JsonlReader, Line, decode_line};
