use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// A detection in stanch's canonical shape, whatever tool reported it.
///
/// Unknown input fields are kept in `extra` (they are serialized back at the top level), so a
/// detection round-trips through the generic JSON format without losing anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub id: String,
    pub source: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(serialize_with = "rfc3339")]
    pub observed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_app: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Detection {
    /// The name with Darktrace-style `::` separators written as ` / `, so one playbook pattern
    /// matches the API spelling (`SaaS::Compromise::X`) and the UI spelling (`SaaS / Compromise / X`).
    pub fn normalized_name(&self) -> std::borrow::Cow<'_, str> {
        if self.name.contains("::") {
            std::borrow::Cow::Owned(self.name.replace("::", " / "))
        } else {
            std::borrow::Cow::Borrowed(&self.name)
        }
    }

    /// A stable, human-readable key: `source/id`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.source, self.id)
    }
}

fn rfc3339<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// The account a detection is about. At least one of `upn` and `id` is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl UserRef {
    /// The identifier to address the account by in Graph: the object id when known, else the UPN.
    pub fn graph_id(&self) -> &str {
        self.id
            .as_deref()
            .or(self.upn.as_deref())
            .unwrap_or_default()
    }

    /// Whether `name` (a UPN or an object id, compared case-insensitively) names this account.
    pub fn is(&self, name: &str) -> bool {
        [self.upn.as_deref(), self.id.as_deref()]
            .into_iter()
            .flatten()
            .any(|own| own.eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.upn, &self.id) {
            (Some(upn), _) => f.write_str(upn),
            (None, Some(id)) => f.write_str(id),
            (None, None) => f.write_str("(unknown account)"),
        }
    }
}

/// Detection severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const NAMES: [&'static str; 5] = ["informational", "low", "medium", "high", "critical"];
    const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Parses a severity name, case-insensitively.
    pub fn parse(text: &str) -> Option<Severity> {
        Self::NAMES
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text.trim()))
            .map(|i| Self::ALL[i])
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_parse_case_insensitively() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Informational);
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(
            Severity::parse("Informational"),
            Some(Severity::Informational)
        );
        assert_eq!(Severity::parse("severe"), None);
    }

    #[test]
    fn user_ref_matches_either_identifier() {
        let user = UserRef {
            upn: Some("Bob@Contoso.com".into()),
            id: Some("6f1c1a2b-0000-4000-8000-000000000001".into()),
        };
        assert!(user.is("bob@contoso.com"));
        assert!(user.is("6F1C1A2B-0000-4000-8000-000000000001"));
        assert!(!user.is("alice@contoso.com"));
        assert_eq!(user.graph_id(), "6f1c1a2b-0000-4000-8000-000000000001");
    }
}
