//! How stanch reaches Microsoft Graph (`graph:` in the config, decoded by `config`).

use std::path::PathBuf;

use stanch_core::secret::SecretString;

pub const CLOUDS: &[&str] = &["global", "usgov", "dod", "china"];

/// How stanch reaches Microsoft Graph.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphSettings {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub certificate_path: Option<PathBuf>,
    /// Defaults to `certificate_path` (a PEM holding both the certificate and its key).
    pub private_key_path: Option<PathBuf>,
    pub cloud: String,
    pub graph_url: Option<String>,
    pub login_url: Option<String>,
    /// `graph.action_deadline`: the total time of one action's calls and retries (default
    /// [`DEFAULT_ACTION_DEADLINE`](super::DEFAULT_ACTION_DEADLINE)).
    pub action_deadline_secs: Option<u64>,
    /// `graph.max_response_bytes`: the largest answer read (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`](super::DEFAULT_MAX_RESPONSE_BYTES)).
    pub max_response_bytes: Option<u64>,
    /// `graph.concurrency`: accounts whose actions run at once (default
    /// [`DEFAULT_CONCURRENCY`](super::DEFAULT_CONCURRENCY)).
    pub concurrency: Option<usize>,
    /// `graph.mailbox_concurrency`: requests in flight per mailbox (default 4, Outlook's limit).
    pub mailbox_concurrency: Option<usize>,
    /// `graph.max_in_flight`: requests in flight to Graph in all (default
    /// [`DEFAULT_MAX_IN_FLIGHT`](super::DEFAULT_MAX_IN_FLIGHT)).
    pub max_in_flight: Option<usize>,
}

impl GraphSettings {
    /// Problems that make the settings unusable, for a clear error before anything runs.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tenant_id.is_empty() {
            problems.push("`graph.tenant_id` is not set (or STANCH_GRAPH_TENANT_ID)".to_string());
        }
        if self.client_id.is_empty() {
            problems.push("`graph.client_id` is not set (or STANCH_GRAPH_CLIENT_ID)".to_string());
        }
        match (&self.client_secret, &self.certificate_path) {
            (None, None) => problems.push("set `graph.client_secret` (or STANCH_GRAPH_CLIENT_SECRET) or `graph.certificate_path`".to_string()),
            (Some(_), Some(_)) => problems.push("set either `graph.client_secret` or `graph.certificate_path`, not both".to_string()),
            _ => {}
        }
        problems
    }
}
