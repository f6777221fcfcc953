//! Vendor detection formats: each adapter turns one source's payload into canonical
//! [`Detection`]s, keeping the payload verbatim in `details.raw` so nothing is lost.
//!
//! Field mappings follow `shared/reference/detection-formats.md`; the tests run on the real
//! third-party samples in `shared/samples/`.

mod audit_inbox;
mod common;
mod csv;
mod darktrace;
mod entra;
mod graph_alert;
mod sentinel;

use serde_json::Value;

use super::validate::check_visible;
use super::{Detection, DetectionError, parse_generic_value};

pub use csv::{CsvError, read_csv};

/// A detection format, as named in `/v1/detections/{format}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Generic,
    GraphAlert,
    Sentinel,
    DarktraceBreach,
    DarktraceAiAnalyst,
    AuditInboxRule,
    EntraRiskDetection,
    EntraSignIn,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Generic,
        Format::GraphAlert,
        Format::Sentinel,
        Format::DarktraceBreach,
        Format::DarktraceAiAnalyst,
        Format::AuditInboxRule,
        Format::EntraRiskDetection,
        Format::EntraSignIn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Generic => "generic",
            Format::GraphAlert => "graph-alert",
            Format::Sentinel => "sentinel",
            Format::DarktraceBreach => "darktrace-breach",
            Format::DarktraceAiAnalyst => "darktrace-ai-analyst",
            Format::AuditInboxRule => "audit-inbox-rule",
            Format::EntraRiskDetection => "entra-risk-detection",
            Format::EntraSignIn => "entra-sign-in",
        }
    }

    /// The format with this URL name (case-insensitive).
    pub fn parse(name: &str) -> Option<Format> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Recognizes a payload by its distinctive keys. Lists (a JSON array, a Graph `{"value":[…]}`
/// page, an Azure diagnostics `{"records":[…]}` batch) are recognized by their first element.
pub fn detect_format(value: &Value) -> Option<Format> {
    if let Some(first) = items(value).and_then(|list| list.first()) {
        return detect_format(first);
    }
    let obj = value.as_object()?;
    let has = |key: &str| obj.contains_key(key);
    let props = obj.get("properties").unwrap_or(&Value::Null);
    let odata = obj.get("@odata.type").and_then(Value::as_str).unwrap_or("");
    let category = obj.get("category").and_then(Value::as_str).unwrap_or("");

    if odata.ends_with("security.alert") || (has("providerAlertId") && has("serviceSource")) {
        Some(Format::GraphAlert)
    } else if has("objectSchemaType")
        || common::get(value, &["object", "properties", "incidentNumber"]).is_some()
        || props.get("incidentNumber").is_some()
        || has("incidentNumber")
        || has("SystemAlertId")
    {
        Some(Format::Sentinel)
    } else if has("aiaScore") || (has("breachDevices") && has("relatedBreaches")) {
        Some(Format::DarktraceAiAnalyst)
    } else if has("pbid") || (has("ExternalID") && has("Activity")) {
        Some(Format::DarktraceBreach)
    } else if has("Operation") && (has("RecordType") || has("CreationTime")) {
        Some(Format::AuditInboxRule)
    } else if category == "UserRiskEvents"
        || has("riskEventType")
        || props.get("riskEventType").is_some()
    {
        Some(Format::EntraRiskDetection)
    } else if category.ends_with("SignInLogs")
        || (has("createdDateTime") && (has("clientAppUsed") || has("appDisplayName")))
    {
        Some(Format::EntraSignIn)
    } else if has("id") && has("name") && has("observed_at") {
        Some(Format::Generic)
    } else {
        None
    }
}

/// Converts one payload of a known format. A list payload yields one detection per element; the
/// first element that fails rejects the payload, with its index in the error field.
pub fn to_detections(format: Format, value: Value) -> Result<Vec<Detection>, DetectionError> {
    if items(&value).is_some() {
        let list = match value {
            Value::Array(list) => list,
            Value::Object(mut obj) => match obj.remove("value").or_else(|| obj.remove("records")) {
                Some(Value::Array(list)) => list,
                _ => unreachable!("items() checked the list"),
            },
            _ => unreachable!("items() checked the list"),
        };
        let mut out = Vec::new();
        for (i, item) in list.into_iter().enumerate() {
            out.extend(one(format, item).map_err(|e| at_index(e, i))?);
        }
        return Ok(out);
    }
    one(format, value)
}

/// Recognizes the format, then converts.
pub fn parse_any(value: Value) -> Result<Vec<Detection>, DetectionError> {
    // An empty page (`{"value":[]}` when nothing fired) is not an error.
    if items(&value).is_some_and(|list| list.is_empty()) {
        return Ok(Vec::new());
    }
    match detect_format(&value) {
        Some(format) => to_detections(format, value),
        None if value.is_object() => Err(DetectionError::Invalid {
            field: "(payload)".into(),
            reason: format!(
                "unrecognized detection format; expected one of {}, or the generic `id`/`name`/`observed_at`",
                Format::ALL[1..]
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
        None => Err(DetectionError::NotAnObject(crate::intake::json_kind_of(
            &value,
        ))),
    }
}

fn one(format: Format, value: Value) -> Result<Vec<Detection>, DetectionError> {
    if !value.is_object() {
        return Err(DetectionError::NotAnObject(crate::intake::json_kind_of(
            &value,
        )));
    }
    let detections = match format {
        Format::Generic => parse_generic_value(value).map(|d| vec![d]),
        Format::GraphAlert => graph_alert::parse(value).map(|d| vec![d]),
        Format::Sentinel => sentinel::parse(value),
        Format::DarktraceBreach => darktrace::parse_breach(value).map(|d| vec![d]),
        Format::DarktraceAiAnalyst => darktrace::parse_ai_analyst(value).map(|d| vec![d]),
        Format::AuditInboxRule => audit_inbox::parse(value).map(|d| vec![d]),
        Format::EntraRiskDetection => entra::parse_risk_detection(value).map(|d| vec![d]),
        Format::EntraSignIn => entra::parse_sign_in(value).map(|d| vec![d]),
    }?;
    // What approvers read of a detection must read as it is, whoever reported it.
    for d in &detections {
        for (field, text) in [("id", &d.id), ("source", &d.source), ("name", &d.name)] {
            check_visible(field, text)?;
        }
    }
    Ok(detections)
}

/// The elements of a list payload, if `value` is one.
fn items(value: &Value) -> Option<&Vec<Value>> {
    match value {
        Value::Array(list) => Some(list),
        Value::Object(obj) => ["value", "records"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_array)),
        _ => None,
    }
}

fn at_index(err: DetectionError, i: usize) -> DetectionError {
    match err {
        DetectionError::Invalid { field, reason } => DetectionError::Invalid {
            field: format!("[{i}].{field}"),
            reason,
        },
        DetectionError::Missing(field) => DetectionError::Invalid {
            field: format!("[{i}].{field}"),
            reason: "missing".into(),
        },
        other => DetectionError::Invalid {
            field: format!("[{i}]"),
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
