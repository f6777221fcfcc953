//! Detection fields as playbooks name them (`user.upn`, `details.rule.forward_to`...).
//!
//! Paths are resolved when the playbook is compiled, so a typo such as `usr.upn` is a load error,
//! not a condition that silently never matches.

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::intake::{Detection, Severity};
use crate::util::did_you_mean;

#[derive(Debug, Clone, PartialEq)]
pub enum FieldPath {
    Id,
    Source,
    Name,
    Severity,
    ObservedAt,
    UserUpn,
    UserId,
    Ip,
    Asn,
    Country,
    UserAgent,
    ClientApp,
    /// A path inside the free-form `details` object.
    Details(Vec<String>),
    /// A path inside the unknown top-level fields the detection carried.
    Extra(Vec<String>),
}

/// How a field's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Severity,
    Time,
    Ip,
    Int,
    /// Free-form JSON: strings compare as text, numbers as numbers, lists as "any element".
    Json,
}

/// A field's value on one detection.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Text(Cow<'a, str>),
    Severity(Severity),
    Time(DateTime<Utc>),
    Ip(IpAddr),
    Int(i64),
    Json(&'a Value),
}

const SIMPLE: [(&str, FieldPath); 12] = [
    ("id", FieldPath::Id),
    ("source", FieldPath::Source),
    ("name", FieldPath::Name),
    ("severity", FieldPath::Severity),
    ("observed_at", FieldPath::ObservedAt),
    ("user.upn", FieldPath::UserUpn),
    ("user.id", FieldPath::UserId),
    ("ip", FieldPath::Ip),
    ("asn", FieldPath::Asn),
    ("country", FieldPath::Country),
    ("user_agent", FieldPath::UserAgent),
    ("client_app", FieldPath::ClientApp),
];

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let text = text.trim();
        if let Some((_, path)) = SIMPLE.iter().find(|(name, _)| *name == text) {
            return Ok(path.clone());
        }
        for (prefix, make) in [
            (
                "details.",
                FieldPath::Details as fn(Vec<String>) -> FieldPath,
            ),
            ("extra.", FieldPath::Extra),
        ] {
            if let Some(rest) = text.strip_prefix(prefix) {
                let parts: Vec<String> = rest.split('.').map(str::to_string).collect();
                if parts.iter().any(String::is_empty) {
                    return Err(format!("`{text}` has an empty path segment"));
                }
                return Ok(make(parts));
            }
        }
        let known = SIMPLE
            .iter()
            .map(|(name, _)| *name)
            .chain(["details.<path>", "extra.<path>"]);
        let hint = match did_you_mean(text, SIMPLE.iter().map(|(name, _)| *name)) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("known fields: {}", known.collect::<Vec<_>>().join(", ")),
        };
        Err(format!("unknown detection field `{text}`; {hint}"))
    }

    pub fn ty(&self) -> FieldType {
        match self {
            FieldPath::Severity => FieldType::Severity,
            FieldPath::ObservedAt => FieldType::Time,
            FieldPath::Ip => FieldType::Ip,
            FieldPath::Asn => FieldType::Int,
            FieldPath::Details(_) | FieldPath::Extra(_) => FieldType::Json,
            _ => FieldType::Text,
        }
    }

    pub fn get<'a>(&self, d: &'a Detection) -> Option<FieldValue<'a>> {
        let text = |s: &'a str| Some(FieldValue::Text(Cow::Borrowed(s)));
        match self {
            FieldPath::Id => text(&d.id),
            FieldPath::Source => text(&d.source),
            FieldPath::Name => text(&d.name),
            FieldPath::Severity => d.severity.map(FieldValue::Severity),
            FieldPath::ObservedAt => Some(FieldValue::Time(d.observed_at)),
            FieldPath::UserUpn => d.user.as_ref()?.upn.as_deref().and_then(text),
            FieldPath::UserId => d.user.as_ref()?.id.as_deref().and_then(text),
            FieldPath::Ip => d.ip.map(FieldValue::Ip),
            FieldPath::Asn => d.asn.map(|a| FieldValue::Int(a.into())),
            FieldPath::Country => d.country.as_deref().and_then(text),
            FieldPath::UserAgent => d.user_agent.as_deref().and_then(text),
            FieldPath::ClientApp => d.client_app.as_deref().and_then(text),
            FieldPath::Details(path) => walk(d.details.get(&path[0])?, &path[1..]),
            FieldPath::Extra(path) => walk(d.extra.get(&path[0])?, &path[1..]),
        }
    }
}

fn walk<'a>(mut value: &'a Value, rest: &[String]) -> Option<FieldValue<'a>> {
    for key in rest {
        value = match value {
            Value::Object(map) => map.get(key)?,
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!value.is_null()).then_some(FieldValue::Json(value))
}

impl FieldValue<'_> {
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Text(s) => Value::String(s.to_string()),
            FieldValue::Severity(s) => Value::String(s.as_str().to_string()),
            FieldValue::Time(t) => Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            FieldValue::Ip(ip) => Value::String(ip.to_string()),
            FieldValue::Int(i) => Value::from(*i),
            FieldValue::Json(v) => (*v).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::parse_generic;

    #[test]
    fn paths_resolve_on_a_detection() {
        let d = parse_generic(r#"{"id":"1","name":"x","observed_at":"2021-06-01T00:00:00Z","user":{"upn":"a@contoso.com"},"details":{"rules":[{"forward":"x@evil.example"}]},"ticket":"T-1"}"#).unwrap();
        let get = |p: &str| FieldPath::parse(p).unwrap().get(&d).map(|v| v.to_json());
        assert_eq!(get("user.upn"), Some("a@contoso.com".into()));
        assert_eq!(
            get("details.rules.0.forward"),
            Some("x@evil.example".into())
        );
        assert_eq!(get("extra.ticket"), Some("T-1".into()));
        assert_eq!(get("user.id"), None);
        assert_eq!(get("details.nope"), None);
    }

    #[test]
    fn unknown_paths_are_errors_with_suggestions() {
        assert_eq!(
            FieldPath::parse("usr.upn").unwrap_err(),
            "unknown detection field `usr.upn`; did you mean `user.upn`?"
        );
        assert!(
            FieldPath::parse("details..x")
                .unwrap_err()
                .contains("empty path segment")
        );
    }
}
