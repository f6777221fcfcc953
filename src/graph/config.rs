//! Client configuration: tenant, credential, cloud and retry limits.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::GraphError;

/// A Microsoft cloud: decides the default login and Graph hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    /// Global and GCC.
    #[default]
    Global,
    /// GCC High.
    UsGov,
    /// US Department of Defense.
    Dod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    pub const NAMES: [&'static str; 4] = ["global", "usgov", "dod", "china"];

    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "usgov",
            Cloud::Dod => "dod",
            Cloud::China => "china",
        }
    }

    /// The token service root, without a trailing slash.
    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::Dod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Graph service root, without the version and without a trailing slash.
    pub fn graph_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::Dod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
}

impl FromStr for Cloud {
    type Err = GraphError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "global" => Ok(Cloud::Global),
            "usgov" => Ok(Cloud::UsGov),
            "dod" => Ok(Cloud::Dod),
            "china" => Ok(Cloud::China),
            other => Err(GraphError::Config(format!(
                "unknown cloud `{other}`: expected one of {}",
                Cloud::NAMES.join(", ")
            ))),
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A client secret. Prints as `[redacted]` so it cannot leak through logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How the app proves its identity to the token service.
#[derive(Debug, Clone)]
pub enum Credential {
    Secret(Secret),
    /// PEM files; the key may sit in the same file as the certificate (`key_path == cert_path`).
    Certificate {
        cert_path: PathBuf,
        key_path: PathBuf,
    },
}

/// Everything the Graph client needs; build with [`GraphConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
    pub cloud: Cloud,
    /// Graph service root (e.g. `https://graph.microsoft.com`); the client appends `/v1.0/...`.
    pub graph_url: Option<String>,
    /// Token service root (e.g. `https://login.microsoftonline.com`); the client appends
    /// `/{tenant}/oauth2/v2.0/token`.
    pub login_url: Option<String>,
    /// Attempts per call, counting the first; applies to throttling, 503/504 and transport errors.
    pub max_attempts: u32,
    /// Cap on a single wait between attempts, whatever `Retry-After` says.
    pub max_retry_wait: Duration,
    /// Concurrent requests per mailbox (Outlook allows 4 per app and mailbox).
    pub mailbox_concurrency: usize,
    /// Requests in flight at once in all, whatever their resource (`graph.max_in_flight`).
    pub max_in_flight: usize,
    /// Accounts whose actions are carried out at once (`graph.concurrency`): the callers'
    /// setting, kept here so every caller sharing the client shares it.
    pub concurrency: usize,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Largest body read from an answer; a longer one is refused unread (`TooLarge`).
    pub max_response_bytes: usize,
    /// Total time one action may take in Graph, all its calls and retries together
    /// (`graph.action_deadline`); past it the action fails, to be retried later.
    pub action_deadline: Duration,
}

/// 4 MiB: far more than any containment answer (a page of 1,000 sign-ins is about 2 MB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 << 20;
/// Accounts contained at once: enough to keep a wave's containment in seconds, few enough
/// that one app's share of Graph is not spent on a single incident.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Requests in flight at once: every account at once with room for its reads.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// Well under a minute, so one hung Graph cannot hold a worker for minutes.
pub const DEFAULT_ACTION_DEADLINE: Duration = Duration::from_secs(30);

impl GraphConfig {
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> GraphConfig {
        GraphConfig {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            cloud: Cloud::Global,
            graph_url: None,
            login_url: None,
            max_attempts: 5,
            max_retry_wait: Duration::from_secs(30),
            mailbox_concurrency: 4,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            concurrency: DEFAULT_CONCURRENCY,
            timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            action_deadline: DEFAULT_ACTION_DEADLINE,
        }
    }

    /// The Graph root in use, without a trailing slash.
    pub fn graph_root(&self) -> String {
        root(self.graph_url.as_deref(), self.cloud.graph_url())
    }

    /// The token service root in use, without a trailing slash.
    pub fn login_root(&self) -> String {
        root(self.login_url.as_deref(), self.cloud.login_url())
    }

    /// The token endpoint, which is also the `aud` of a client assertion.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.login_root(), self.tenant_id)
    }

    /// The app-only scope: the Graph root plus `/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.graph_root())
    }

    /// Checks values that would otherwise fail later, on the first call.
    pub(crate) fn validate(&self) -> Result<(), GraphError> {
        let bad = |what: &str| Err(GraphError::Config(what.to_string()));
        if self.tenant_id.trim().is_empty() {
            return bad("graph tenant id is empty");
        }
        if !self
            .tenant_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return bad("graph tenant id must be a GUID or a domain name");
        }
        if self.client_id.trim().is_empty() {
            return bad("graph client id is empty");
        }
        if self.max_attempts == 0 {
            return bad("graph max_attempts must be at least 1");
        }
        if self.max_response_bytes == 0 {
            return bad("graph max_response_bytes must be at least 1");
        }
        if self.action_deadline.is_zero() {
            return bad("graph action_deadline must be longer than zero");
        }
        if self.mailbox_concurrency == 0 {
            return bad("graph mailbox_concurrency must be at least 1");
        }
        if self.max_in_flight == 0 || self.concurrency == 0 {
            return bad("graph max_in_flight and concurrency must be at least 1");
        }
        for (name, url) in [
            ("graph_url", self.graph_root()),
            ("login_url", self.login_root()),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(GraphError::Config(format!(
                    "graph {name} `{url}` must start with https:// or http://"
                )));
            }
        }
        if let Credential::Secret(secret) = &self.credential
            && secret.expose().is_empty()
        {
            return bad("graph client secret is empty");
        }
        Ok(())
    }
}

fn root(configured: Option<&str>, default: &str) -> String {
    configured
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(default)
        .trim_end_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GraphConfig {
        GraphConfig::new("contoso", "app", Credential::Secret(Secret::new("s3cr3t")))
    }

    #[test]
    fn clouds_parse_and_pick_hosts() {
        let c: Cloud = "DoD".parse().unwrap();
        assert_eq!(c, Cloud::Dod);
        assert_eq!(c.graph_url(), "https://dod-graph.microsoft.us");
        assert_eq!(c.login_url(), "https://login.microsoftonline.us");
        let china: Cloud = "china".parse().unwrap();
        assert_eq!(china.graph_url(), "https://microsoftgraph.chinacloudapi.cn");
        let err = "germany".parse::<Cloud>().unwrap_err().to_string();
        assert!(err.contains("unknown cloud `germany`"), "{err}");
    }

    #[test]
    fn urls_follow_cloud_and_tolerate_trailing_slashes() {
        let mut c = config();
        c.cloud = Cloud::UsGov;
        assert_eq!(
            c.token_url(),
            "https://login.microsoftonline.us/contoso/oauth2/v2.0/token"
        );
        assert_eq!(c.scope(), "https://graph.microsoft.us/.default");
        c.graph_url = Some("http://127.0.0.1:9//".into());
        c.login_url = Some("http://127.0.0.1:8/".into());
        assert_eq!(c.graph_root(), "http://127.0.0.1:9");
        assert_eq!(c.scope(), "http://127.0.0.1:9/.default");
        assert_eq!(
            c.token_url(),
            "http://127.0.0.1:8/contoso/oauth2/v2.0/token"
        );
    }

    #[test]
    fn secret_is_redacted() {
        let c = config();
        let shown = format!("{c:?} {}", Secret::new("s3cr3t"));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn validation_rejects_bad_values() {
        let mut c = config();
        assert!(c.validate().is_ok());
        c.tenant_id = "contoso/../x".into();
        assert!(c.validate().is_err());
        let mut c = config();
        c.max_attempts = 0;
        assert!(c.validate().is_err());
        let mut c = config();
        c.graph_url = Some("ftp://x".into());
        assert!(c.validate().is_err());
    }
}
