//! The generic JSON detection format: one object, or one object per line in JSONL.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::json::parse_json;
use super::validate::{bounded_reason, check_upn, check_visible, check_year};
use super::{Detection, Severity, UserRef};

/// Why a detection was rejected. `field` is the JSON path of the offending field, if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectionError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    /// `byte` is 1-based, counted from the start of the line.
    #[error("not valid UTF-8: byte {byte} of the line does not belong to a UTF-8 character")]
    NotUtf8 { byte: usize },
}

impl DetectionError {
    /// A rejection of `field`; the reason (which may quote the value) is kept bounded and shows
    /// characters that would hide or reorder text as escapes.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        DetectionError::Invalid {
            field: field.to_string(),
            reason: bounded_reason(reason.into()),
        }
    }
}

impl From<(String, String)> for DetectionError {
    /// A `(field, reason)` pair from the checks in `validate`.
    fn from((field, reason): (String, String)) -> Self {
        DetectionError::invalid(&field, reason)
    }
}

/// Parses one detection in the generic JSON format (a key written twice rejects it).
pub fn parse_generic(text: &str) -> Result<Detection, DetectionError> {
    let value = parse_json(text)
        .map_err(|e| DetectionError::Json(e.to_string()))?
        .strict()?;
    parse_generic_value(value)
}

/// Builds a detection from an already-parsed JSON value in the generic format.
pub fn parse_generic_value(value: Value) -> Result<Detection, DetectionError> {
    let Value::Object(mut obj) = value else {
        return Err(DetectionError::NotAnObject(json_kind(&value)));
    };
    let id = required_string(&mut obj, "id")?;
    let name = required_string(&mut obj, "name")?;
    check_visible("id", &id)?;
    check_visible("name", &name)?;
    let observed_at = match obj.remove("observed_at") {
        None | Some(Value::Null) => return Err(DetectionError::Missing("observed_at")),
        Some(v) => parse_time("observed_at", &v)?,
    };
    let source = optional_string(&mut obj, "source")?.unwrap_or_else(|| "generic".to_string());
    check_visible("source", &source)?;
    let severity = match optional_string(&mut obj, "severity")? {
        None => None,
        Some(text) => Some(Severity::parse(&text).ok_or_else(|| {
            DetectionError::invalid(
                "severity",
                format!(
                    "unknown severity `{text}`, expected one of {}",
                    Severity::NAMES.join(", ")
                ),
            )
        })?),
    };
    let user = match obj.remove("user") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_user(v)?),
    };
    let ip = match optional_string(&mut obj, "ip")? {
        None => None,
        Some(text) => Some(parse_ip(&text).ok_or_else(|| {
            DetectionError::invalid("ip", format!("`{text}` is not an IPv4 or IPv6 address"))
        })?),
    };
    let asn = match obj.remove("asn") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_asn(&v)?),
    };
    let country = match optional_string(&mut obj, "country")? {
        None => None,
        Some(text) if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(text.to_ascii_uppercase())
        }
        Some(text) => {
            return Err(DetectionError::invalid(
                "country",
                format!("`{text}` is not an ISO 3166 alpha-2 country code"),
            ));
        }
    };
    let user_agent = optional_string(&mut obj, "user_agent")?;
    let client_app = optional_string(&mut obj, "client_app")?;
    let details = match obj.remove("details") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(DetectionError::invalid(
                "details",
                format!("expected an object, found {}", json_kind(&other)),
            ));
        }
    };
    Ok(Detection {
        id,
        source,
        name,
        severity,
        observed_at,
        user,
        ip,
        asn,
        country,
        user_agent,
        client_app,
        details,
        extra: obj,
    })
}

fn required_string(
    obj: &mut Map<String, Value>,
    field: &'static str,
) -> Result<String, DetectionError> {
    match optional_string(obj, field)? {
        Some(text) if !text.trim().is_empty() => Ok(text),
        Some(_) => Err(DetectionError::invalid(field, "must not be empty")),
        None => Err(DetectionError::Missing(field)),
    }
}

fn optional_string(
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<String>, DetectionError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) if field == "id" => Ok(Some(n.to_string())),
        Some(other) => Err(DetectionError::invalid(
            field,
            format!("expected a string, found {}", json_kind(&other)),
        )),
    }
}

fn parse_time(field: &str, value: &Value) -> Result<DateTime<Utc>, DetectionError> {
    let Value::String(text) = value else {
        return Err(DetectionError::invalid(
            field,
            format!(
                "expected an RFC 3339 timestamp string, found {}",
                json_kind(value)
            ),
        ));
    };
    let at = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            DetectionError::invalid(
                field,
                format!("`{text}` is not an RFC 3339 timestamp ({e})"),
            )
        })?;
    Ok(check_year(field, at)?)
}

fn parse_user(value: Value) -> Result<UserRef, DetectionError> {
    let (upn, id) = match value {
        // A bare string is accepted as shorthand: a GUID is an object id, anything else a UPN.
        Value::String(text) if is_object_id(&text) => (None, Some(text)),
        Value::String(text) => (Some(text), None),
        Value::Object(mut obj) => {
            let upn = optional_string(&mut obj, "upn").map_err(|e| prefix(e, "user."))?;
            let id = optional_string(&mut obj, "id").map_err(|e| prefix(e, "user."))?;
            (upn, id)
        }
        other => {
            return Err(DetectionError::invalid(
                "user",
                format!(
                    "expected an object with `upn` and/or `id`, found {}",
                    json_kind(&other)
                ),
            ));
        }
    };
    let (upn, id) = (upn.map(trimmed), id.map(canonical_id));
    if let Some(upn) = &upn
        && let Err(reason) = check_upn(upn)
    {
        return Err(DetectionError::invalid("user.upn", reason));
    }
    if let Some(id) = &id
        && !is_object_id(id)
    {
        return Err(DetectionError::invalid(
            "user.id",
            format!("`{id}` is not an Entra object id (a GUID)"),
        ));
    }
    if upn.is_none() && id.is_none() {
        return Err(DetectionError::invalid("user", "needs `upn` and/or `id`"));
    }
    Ok(UserRef { upn, id })
}

fn prefix(err: DetectionError, path: &str) -> DetectionError {
    match err {
        DetectionError::Invalid { field, reason } => DetectionError::Invalid {
            field: format!("{path}{field}"),
            reason,
        },
        other => other,
    }
}

/// A UPN as Entra allows it (see [`check_upn`]): `local@domain` in ASCII, within Entra's lengths,
/// and nothing that could escape a URL path or pass for another account.
pub fn is_upn(text: &str) -> bool {
    check_upn(text).is_ok()
}

/// An Entra object id: a GUID in its 8-4-4-4-12 hexadecimal form.
/// A name without the spaces around it (a copied UPN often carries one).
pub fn trimmed(text: String) -> String {
    match text.trim() {
        t if t.len() == text.len() => text,
        t => t.to_string(),
    }
}

/// An object id in its canonical form: trimmed, lower case (GUIDs are case-insensitive; one
/// spelling keeps keys, campaigns and the trail consistent).
pub fn canonical_id(text: String) -> String {
    let text = trimmed(text);
    if is_object_id(&text) {
        text.to_ascii_lowercase()
    } else {
        text
    }
}

pub fn is_object_id(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses an IP address, tolerating the `:port` and `[v6]:port` forms that audit logs write.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    text.rsplit_once(':')
        .filter(|(host, _)| !host.contains(':'))
        .and_then(|(host, _)| host.parse().ok())
}

fn parse_asn(value: &Value) -> Result<u32, DetectionError> {
    let parsed = match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => {
            let digits = s.trim().trim_start_matches("AS").trim_start_matches("as");
            digits.parse().ok()
        }
        _ => None,
    };
    parsed.ok_or_else(|| {
        DetectionError::invalid(
            "asn",
            format!("`{value}` is not an autonomous system number"),
        )
    })
}

pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"id":"d-1","source":"darktrace","name":"SaaS::Compromise::Unusual Login and New Email Rule",
        "severity":"HIGH","observed_at":"2021-06-01T09:15:00+02:00",
        "user":{"upn":"b.jones@contoso.com","id":"6f1c1a2b-0000-4000-8000-000000000002"},
        "ip":"[2001:db8::7]:443","asn":"AS36924","country":"ng","user_agent":"Mozilla/5.0",
        "client_app":"Browser","details":{"rule":{"forward_to":"drop@evil.example"}},"ticket":"INC-7"}"#;

    #[test]
    fn parses_every_canonical_field_and_keeps_unknown_ones() {
        let d = parse_generic(FULL).unwrap();
        assert_eq!(d.severity, Some(Severity::High));
        assert_eq!(d.observed_at.to_rfc3339(), "2021-06-01T07:15:00+00:00");
        assert_eq!(d.ip, Some("2001:db8::7".parse().unwrap()));
        assert_eq!(d.asn, Some(36924));
        assert_eq!(d.country.as_deref(), Some("NG"));
        assert_eq!(d.details["rule"]["forward_to"], "drop@evil.example");
        assert_eq!(d.extra["ticket"], "INC-7");
        assert_eq!(
            d.normalized_name(),
            "SaaS / Compromise / Unusual Login and New Email Rule"
        );
        let round_trip = parse_generic_value(serde_json::to_value(&d).unwrap()).unwrap();
        assert_eq!(round_trip, d);
    }

    #[test]
    fn a_detection_with_float_literals_round_trips_through_its_text_exactly() {
        // Found by the `formats` fuzz target: without serde_json's exact float parsing, a
        // literal such as `2222e222` read as an f64, written back and read again came back one
        // ulp apart, so the detection read back from its stored text was not the one received.
        let long = "8".to_string() + &"2".repeat(95) + "1";
        for literal in ["2222e222", &long] {
            let text = format!(
                r#"{{"id":"1","name":"x","observed_at":"2021-06-01T00:00:00Z","details":{{"score":{literal}}}}}"#
            );
            let d = parse_generic(&text).unwrap();
            let again = parse_generic(&serde_json::to_string(&d).unwrap()).unwrap();
            assert_eq!(again, d, "{literal}");
        }
    }

    #[test]
    fn rejects_with_the_field_and_the_reason() {
        let cases = [
            (
                r#"{"name":"x","observed_at":"2021-06-01T00:00:00Z"}"#,
                "missing required field `id`",
            ),
            (
                r#"{"id":"1","observed_at":"2021-06-01T00:00:00Z"}"#,
                "missing required field `name`",
            ),
            (
                r#"{"id":"1","name":"x"}"#,
                "missing required field `observed_at`",
            ),
            (
                r#"{"id":"1","name":"x","observed_at":"2025-09-18T15:14:17+0530577Z"}"#,
                "field `observed_at`: `2025-09-18T15:14:17+0530577Z` is not an RFC 3339 timestamp",
            ),
            (
                r#"{"id":"1","name":"x","observed_at":"2021-06-01T00:00:00Z","severity":"severe"}"#,
                "field `severity`: unknown severity `severe`",
            ),
            (
                r#"{"id":"1","name":"x","observed_at":"2021-06-01T00:00:00Z","user":{"id":"x/../../groups/g1"}}"#,
                "field `user.id`: `x/../../groups/g1` is not an Entra object id",
            ),
            (
                r#"{"id":"1","name":"x","observed_at":"2021-06-01T00:00:00Z","ip":"999.1.1.1"}"#,
                "field `ip`: `999.1.1.1` is not an IPv4 or IPv6 address",
            ),
            (r#"[1,2]"#, "expected a JSON object, found an array"),
            (r#"{"id":"1","#, "not valid JSON"),
        ];
        for (input, expected) in cases {
            let err = parse_generic(input).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{input}: got `{err}`, want `{expected}`"
            );
        }
    }

    #[test]
    fn ip_forms_from_audit_logs() {
        assert_eq!(parse_ip("1.2.3.4:63070"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(
            parse_ip("[2a01:111::1]:36185"),
            Some("2a01:111::1".parse().unwrap())
        );
        assert_eq!(
            parse_ip("2a01:111::1"),
            Some("2a01:111::1".parse().unwrap())
        );
        assert_eq!(parse_ip("not-an-ip"), None);
    }
}
