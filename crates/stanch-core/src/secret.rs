//! Secrets from the config: never printed, not even by `Debug`. A leaf.
//!
//! Some secrets are URLs that carry their authorisation (a webhook's path or `sig=` query, a
//! database URL's password): a [`SecretUrl`] is used whole and only ever shown redacted, so
//! an operator still sees where it points.

use std::fmt;

/// A secret from the config: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> SecretString {
        SecretString(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What stands in for an elided part.
const ELIDED: &str = "…";

/// A URL with a secret in it. `Display` and `Debug` show only the redacted form; `expose`
/// gives the URL to connect to.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl {
    url: SecretString,
    shown: String,
}

impl SecretUrl {
    /// A webhook URL, whose path and query may be its token: shown as `scheme://host/…`.
    pub fn webhook(url: impl Into<String>) -> SecretUrl {
        let url = url.into();
        SecretUrl {
            shown: redact_webhook_url(&url),
            url: SecretString::new(url),
        }
    }

    /// A database URL: shown without its password (the database it names stays visible).
    pub fn database(url: impl Into<String>) -> SecretUrl {
        let url = url.into();
        SecretUrl {
            shown: redact_database_url(&url),
            url: SecretString::new(url),
        }
    }

    pub fn expose(&self) -> &str {
        self.url.expose()
    }

    /// The redacted form, for messages, logs, the audit trail and the database.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown)
    }
}

/// `scheme://host[:port]/…`: no credentials, and the path and query (where webhooks keep their
/// token) elided. Anything that is not such a URL is not shown at all.
pub fn redact_webhook_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[redacted]".to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest[..end]
        .rsplit_once('@')
        .map_or(&rest[..end], |(_, h)| h);
    let tail = rest[end..].trim_start_matches('/');
    if tail.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{ELIDED}")
    }
}

/// The URL without its password, in the authority (`user:password@`) or the query
/// (`?password=`): `postgres://stanch:pw@db/stanch` → `postgres://stanch@db/stanch`.
pub fn redact_database_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}={ELIDED}")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_shown_as_scheme_and_host_only() {
        for (url, shown) in [
            (
                "https://hooks.slack.com/services/T0/B0/xyzTOKEN",
                "https://hooks.slack.com/…",
            ),
            (
                "https://prod-00.logic.azure.com:443/workflows/4f1c/invoke?sv=1.0&sig=s1gTOKEN",
                "https://prod-00.logic.azure.com:443/…",
            ),
            ("http://u:pTOKEN@127.0.0.1:9/", "http://127.0.0.1:9"),
            (
                "https://soar.example.com?key=TOKEN",
                "https://soar.example.com/…",
            ),
            ("https://soar.example.com", "https://soar.example.com"),
            ("not a url TOKEN", "[redacted]"),
        ] {
            let secret = SecretUrl::webhook(url);
            assert_eq!(secret.shown(), shown, "{url}");
            for printed in [secret.to_string(), format!("{secret:?}")] {
                assert!(!printed.contains("TOKEN"), "{printed}");
            }
            assert_eq!(secret.expose(), url);
        }
    }

    #[test]
    fn database_urls_are_shown_without_their_password() {
        for (url, shown) in [
            (
                "postgres://stanch:pw0rdTOKEN@db:5432/stanch",
                "postgres://stanch@db:5432/stanch",
            ),
            (
                "postgresql://stanch@db/stanch?password=TOKEN&sslmode=require",
                "postgresql://stanch@db/stanch?password=…&sslmode=require",
            ),
            ("postgres://db?password=TOKEN", "postgres://db?password=…"),
            ("sqlite:///var/lib/stanch.db", "sqlite:///var/lib/stanch.db"),
            ("sqlite::memory:", "sqlite::memory:"),
        ] {
            let secret = SecretUrl::database(url);
            assert_eq!(secret.shown(), shown, "{url}");
            assert!(!format!("{secret} {secret:?}").contains("TOKEN"));
        }
    }
}
