//! Detection fields as playbooks name them (`user.upn`, `details.rule.forward_to`...).
//!
//! Paths are resolved when the playbook is compiled, so a typo such as `usr.upn` is a load error,
//! not a condition that silently never matches.

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::campaign::{CampaignView, ListKind};
use crate::intake::{Detection, Severity};
use crate::util::did_you_mean;

/// What conditions and templates read: the detection, and the campaign it was assigned to
/// (absent in playbook tests without a `campaign`, and for detections with nothing to group on).
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub detection: &'a Detection,
    pub campaign: Option<CampaignView<'a>>,
}

impl<'a> From<&'a Detection> for Subject<'a> {
    fn from(detection: &'a Detection) -> Self {
        Subject {
            detection,
            campaign: None,
        }
    }
}

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
    /// A fact about the detection's campaign (`campaign.accounts`...).
    Campaign(CampaignField),
}

/// The `campaign.*` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignField {
    Id,
    Accounts,
    AccountList,
    Confirmed,
    Ips,
    Networks,
    Asns,
    UserAgents,
    Detections,
    FirstSeen,
    LastSeen,
    WindowStart,
}

/// Every `campaign.*` field, as playbooks write them (also listed by `stanch schema`).
pub const CAMPAIGN_FIELDS: [(&str, CampaignField); 12] = [
    ("campaign.id", CampaignField::Id),
    ("campaign.accounts", CampaignField::Accounts),
    ("campaign.account_list", CampaignField::AccountList),
    ("campaign.confirmed", CampaignField::Confirmed),
    ("campaign.ips", CampaignField::Ips),
    ("campaign.networks", CampaignField::Networks),
    ("campaign.asns", CampaignField::Asns),
    ("campaign.user_agents", CampaignField::UserAgents),
    ("campaign.detections", CampaignField::Detections),
    ("campaign.first_seen", CampaignField::FirstSeen),
    ("campaign.last_seen", CampaignField::LastSeen),
    ("campaign.window_start", CampaignField::WindowStart),
];

static TRUE: Value = Value::Bool(true);
static FALSE: Value = Value::Bool(false);

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
    /// JSON built for this evaluation (a campaign's list cut at the detection's time).
    Owned(Value),
}

pub const SIMPLE: [(&str, FieldPath); 12] = [
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
        if text.starts_with("campaign.") {
            if let Some((_, field)) = CAMPAIGN_FIELDS.iter().find(|(name, _)| *name == text) {
                return Ok(FieldPath::Campaign(*field));
            }
            let names = CAMPAIGN_FIELDS.iter().map(|(name, _)| *name);
            let hint = match did_you_mean(text, names.clone()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("campaign fields: {}", names.collect::<Vec<_>>().join(", ")),
            };
            return Err(format!("unknown campaign field `{text}`; {hint}"));
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
        let known = SIMPLE.iter().map(|(name, _)| *name).chain([
            "details.<path>",
            "extra.<path>",
            "campaign.<field>",
        ]);
        let candidates = SIMPLE
            .iter()
            .map(|(name, _)| *name)
            .chain(CAMPAIGN_FIELDS.iter().map(|(name, _)| *name));
        let hint = match did_you_mean(text, candidates) {
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
            FieldPath::Campaign(field) => match field {
                CampaignField::Id => FieldType::Text,
                CampaignField::Accounts | CampaignField::Detections => FieldType::Int,
                CampaignField::FirstSeen | CampaignField::LastSeen | CampaignField::WindowStart => {
                    FieldType::Time
                }
                _ => FieldType::Json,
            },
            _ => FieldType::Text,
        }
    }

    pub fn get<'a>(&self, subject: impl Into<Subject<'a>>) -> Option<FieldValue<'a>> {
        let subject = subject.into();
        let d = subject.detection;
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
            FieldPath::Campaign(field) => campaign_value(subject.campaign?, *field),
        }
    }
}

fn campaign_value(view: CampaignView<'_>, field: CampaignField) -> Option<FieldValue<'_>> {
    let c = view.campaign;
    let count = |n: usize| Some(FieldValue::Int(i64::try_from(n).unwrap_or(i64::MAX)));
    let list = |kind| Some(FieldValue::Owned(view.list(kind)));
    match field {
        CampaignField::Id => Some(FieldValue::Text(Cow::Borrowed(&c.id))),
        CampaignField::Accounts => count(view.accounts()),
        CampaignField::AccountList => list(ListKind::Accounts),
        CampaignField::Confirmed => Some(FieldValue::Json(if view.confirmed() {
            &TRUE
        } else {
            &FALSE
        })),
        CampaignField::Ips => list(ListKind::Ips),
        CampaignField::Networks => list(ListKind::Networks),
        CampaignField::Asns => list(ListKind::Asns),
        CampaignField::UserAgents => list(ListKind::UserAgents),
        CampaignField::Detections => count(c.detections as usize),
        CampaignField::FirstSeen => Some(FieldValue::Time(c.first_seen)),
        CampaignField::LastSeen => Some(FieldValue::Time(view.last_seen())),
        CampaignField::WindowStart => Some(FieldValue::Time(view.window_start())),
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
            FieldValue::Owned(v) => v.clone(),
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
