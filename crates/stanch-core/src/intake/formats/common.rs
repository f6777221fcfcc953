//! Helpers shared by the format adapters: loose field access, timestamps, identities.
//!
//! Vendor payloads are typed loosely on purpose: documentation-derived samples carry placeholders
//! (`"osBuild":"Integer"`) and Microsoft enums grow, so only the fields a detection cannot live
//! without (id, name, time) are allowed to reject it.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};

use crate::intake::{
    Detection, DetectionError, Severity, UserRef, canonical_id, is_object_id, is_upn, trimmed,
};

/// The value at `path` (object keys), if every step exists.
pub fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// A non-empty, trimmed string at `path`; numbers are written out (ids are sometimes numeric).
pub fn text(value: &Value, path: &[&str]) -> Option<String> {
    match get(value, path)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first of several candidate paths that holds text.
pub fn first_text(value: &Value, paths: &[&[&str]]) -> Option<String> {
    paths.iter().find_map(|path| text(value, path))
}

pub fn required(found: Option<String>, field: &'static str) -> Result<String, DetectionError> {
    found.ok_or(DetectionError::Missing(field))
}

pub fn invalid(field: &str, reason: impl Into<String>) -> DetectionError {
    DetectionError::invalid(field, reason)
}

/// The array at `path`, or an empty slice.
pub fn array<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    get(value, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Parses the activity time of a detection. Accepts RFC 3339, a zone-less ISO form (the unified
/// audit log writes UTC without a zone), epoch milliseconds (Darktrace), and the US-locale forms
/// of Entra diagnostics (`8/22/2022 6:41:02 PM`) and Sentinel exports (`4/26/2021, 7:17:10.000 AM`).
/// Anything else is rejected with the field and the value: a misparsed time would misorder the
/// story of a compromise.
pub fn parse_time(field: &str, value: &Value) -> Result<DateTime<Utc>, DetectionError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().and_then(from_epoch),
        Value::String(s) => parse_time_text(s.trim()),
        other => {
            return Err(invalid(
                field,
                format!(
                    "expected a timestamp, found {}",
                    crate::intake::json_kind_of(other)
                ),
            ));
        }
    };
    let at = parsed.ok_or_else(|| {
        invalid(
            field,
            format!(
                "`{}` is not an RFC 3339 timestamp (nor epoch milliseconds or a US-locale date)",
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string)
            ),
        )
    })?;
    Ok(crate::intake::validate::check_year(field, at)?)
}

/// The time at the first candidate path present; `Missing(name)` when none is.
pub fn time_at(
    value: &Value,
    paths: &[(&'static str, &[&str])],
) -> Result<DateTime<Utc>, DetectionError> {
    for (name, path) in paths {
        match get(value, path) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.trim().is_empty() => continue,
            Some(v) => return parse_time(name, v),
        }
    }
    Err(DetectionError::Missing(
        paths.first().map_or("time", |p| p.0),
    ))
}

fn parse_time_text(text: &str) -> Option<DateTime<Utc>> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().and_then(from_epoch);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    const NAIVE: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y, %I:%M:%S%.f %p",
    ];
    NAIVE
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())
        .map(|t| Utc.from_utc_datetime(&t))
}

fn from_epoch(n: i64) -> Option<DateTime<Utc>> {
    // Below 10^11 a value is seconds (10^11 ms is 1973, 10^11 s is the year 5138).
    if n.abs() < 100_000_000_000 {
        DateTime::from_timestamp(n, 0)
    } else {
        DateTime::from_timestamp_millis(n)
    }
}

/// A detection with only the required fields set.
pub fn detection(id: String, source: String, name: String, at: DateTime<Utc>) -> Detection {
    Detection {
        id,
        source,
        name,
        severity: None,
        observed_at: at,
        user: None,
        ip: None,
        asn: None,
        country: None,
        user_agent: None,
        client_app: None,
        details: Map::new(),
        extra: Map::new(),
    }
}

/// Builds the account reference from what a source says. Values that are not a UPN or a GUID
/// (anonymized exports, short audit ids, service principals) are kept in `details.unresolved_user`
/// instead of failing the detection: a detection without a user still reaches the SOC.
pub fn user_ref(
    upn: Option<String>,
    id: Option<String>,
    details: &mut Map<String, Value>,
) -> Option<UserRef> {
    let mut unresolved = Map::new();
    let (upn, id) = (upn.map(trimmed), id.map(canonical_id));
    let upn = upn.filter(|u| {
        let ok = is_upn(u);
        if !ok {
            unresolved.insert("upn".into(), json!(u));
        }
        ok
    });
    let id = id.filter(|i| {
        let ok = is_object_id(i);
        if !ok {
            unresolved.insert("id".into(), json!(i));
        }
        ok
    });
    if !unresolved.is_empty() {
        details.insert("unresolved_user".into(), Value::Object(unresolved));
    }
    (upn.is_some() || id.is_some()).then_some(UserRef { upn, id })
}

/// Maps a severity name; anything else (`unknown`, `hidden`, a new enum value) leaves the
/// severity unset and is kept in `details.severity_raw`.
pub fn severity(raw: Option<String>, details: &mut Map<String, Value>) -> Option<Severity> {
    let raw = raw?;
    let parsed = Severity::parse(&raw);
    if parsed.is_none() {
        details.insert("severity_raw".into(), json!(raw));
    }
    parsed
}

/// An ISO 3166 alpha-2 code, upper-cased, or `None` for names and empty values.
pub fn iso2(text: Option<String>) -> Option<String> {
    text.filter(|t| t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(|t| t.to_ascii_uppercase())
}

/// An autonomous system number from `2905`, `AS2905` or `AS2905 TICSA-ASN`.
pub fn asn(text: &str) -> Option<u32> {
    let t = text.trim();
    let t = t
        .strip_prefix("AS")
        .or_else(|| t.strip_prefix("as"))
        .unwrap_or(t);
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Inserts `value` under `key` unless it is null, an empty string or an empty array.
pub fn put(details: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        details.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> String {
        parse_time("t", &json!(text)).unwrap().to_rfc3339()
    }

    #[test]
    fn accepts_the_time_forms_the_sources_write() {
        assert_eq!(at("2022-08-22T18:05:06Z"), "2022-08-22T18:05:06+00:00");
        assert_eq!(at("2023-05-24T15:10:53"), "2023-05-24T15:10:53+00:00");
        assert_eq!(at("8/22/2022 6:41:02 PM"), "2022-08-22T18:41:02+00:00");
        assert_eq!(at("4/26/2021, 7:17:10.000 AM"), "2021-04-26T07:17:10+00:00");
        assert_eq!(at("1730023230000"), "2024-10-27T10:00:30+00:00");
        let ms = parse_time("t", &json!(1_674_522_265_000_i64)).unwrap();
        assert_eq!(ms.to_rfc3339(), "2023-01-24T01:04:25+00:00");
    }

    #[test]
    fn rejects_a_malformed_time_naming_field_and_value() {
        let err = parse_time(
            "firstActivityDateTime",
            &json!("2025-09-18T15:14:17+0530577Z"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("field `firstActivityDateTime`: `2025-09-18T15:14:17+0530577Z` is not an RFC 3339 timestamp"),
            "{err}"
        );
        assert!(parse_time("t", &json!(true)).is_err());
        assert!(parse_time("t", &json!("13/45/2022 1:00:00 PM")).is_err());
    }

    #[test]
    fn asn_and_country_forms() {
        assert_eq!(asn("AS2905 TICSA-ASN"), Some(2905));
        assert_eq!(asn("48744"), Some(48744));
        assert_eq!(asn("Chinanet"), None);
        assert_eq!(iso2(Some("fr".into())), Some("FR".into()));
        assert_eq!(iso2(Some("Sweden".into())), None);
    }

    #[test]
    fn invalid_identities_are_kept_aside_not_fatal() {
        let mut details = Map::new();
        let user = user_ref(
            Some("ANONYMIZED".into()),
            Some("user1".into()),
            &mut details,
        );
        assert_eq!(user, None);
        assert_eq!(details["unresolved_user"]["upn"], "ANONYMIZED");
        assert_eq!(details["unresolved_user"]["id"], "user1");
        let mut details = Map::new();
        assert_eq!(severity(Some("hidden".into()), &mut details), None);
        assert_eq!(details["severity_raw"], "hidden");
    }
}
