//! The parts of the config that say how stanch acts: Graph credentials, containment resources,
//! notification webhooks.
//!
//! ```yaml
//! graph:
//!   tenant_id: 7c2e...               # or STANCH_GRAPH_TENANT_ID
//!   client_id: 5a1f...               # or STANCH_GRAPH_CLIENT_ID
//!   client_secret: ...               # or STANCH_GRAPH_CLIENT_SECRET; or certificate_path (+ private_key_path)
//!   cloud: global                    # global | usgov | dod | china
//!   graph_url: https://graph.microsoft.com          # optional override (emulator, proxies)
//!   login_url: https://login.microsoftonline.com    # optional override
//! containment:
//!   quarantine_group_id: 3f0c...     # the group a CA policy blocks legacy auth for (`stanch setup`)
//!   blocked_ips_location: "stanch: blocked attacker IPs"
//! notify:
//!   default: https://hooks.example.com/stanch
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::yaml::decode;
use crate::yaml::diag::Problems;
use crate::yaml::Node;

pub(super) const GRAPH_KEYS: &[&str] = &[
    "tenant_id",
    "client_id",
    "client_secret",
    "certificate_path",
    "private_key_path",
    "cloud",
    "graph_url",
    "login_url",
];
pub(super) const CONTAINMENT_KEYS: &[&str] = &["quarantine_group_id", "blocked_ips_location"];
pub const CLOUDS: &[&str] = &["global", "usgov", "dod", "china"];

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
}

/// Tenant resources the containment actions use.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainmentSettings {
    /// The security group a Conditional Access policy blocks legacy authentication for.
    pub quarantine_group_id: Option<String>,
    /// Display name of the IP named location that `block_ips` adds ranges to.
    pub blocked_ips_location: String,
}

impl Default for ContainmentSettings {
    fn default() -> Self {
        ContainmentSettings {
            quarantine_group_id: None,
            blocked_ips_location: "stanch: blocked attacker IPs".to_string(),
        }
    }
}

pub(super) fn decode_graph(p: &mut Problems, node: &Node) -> Option<GraphSettings> {
    let f = decode::fields(p, node, "`graph`", GRAPH_KEYS)?;
    let text = |p: &mut Problems, key: &str| {
        f.get(key)
            .and_then(|n| decode::string(p, n, &format!("`graph.{key}`")))
            .map(str::to_string)
    };
    let cloud = text(p, "cloud").unwrap_or_else(|| "global".to_string());
    if !CLOUDS.contains(&cloud.as_str()) {
        p.error(
            f.get("cloud").map_or(node.loc, |n| n.loc),
            format!(
                "unknown cloud `{cloud}`; expected one of {}",
                CLOUDS.join(", ")
            ),
        );
    }
    Some(GraphSettings {
        tenant_id: text(p, "tenant_id").unwrap_or_default(),
        client_id: text(p, "client_id").unwrap_or_default(),
        client_secret: text(p, "client_secret").map(SecretString::new),
        certificate_path: text(p, "certificate_path").map(PathBuf::from),
        private_key_path: text(p, "private_key_path").map(PathBuf::from),
        cloud,
        graph_url: text(p, "graph_url"),
        login_url: text(p, "login_url"),
    })
}

pub(super) fn decode_containment(p: &mut Problems, node: &Node) -> Option<ContainmentSettings> {
    let f = decode::fields(p, node, "`containment`", CONTAINMENT_KEYS)?;
    let mut settings = ContainmentSettings::default();
    if let Some(id) = f
        .get("quarantine_group_id")
        .and_then(|n| decode::string(p, n, "`containment.quarantine_group_id`"))
    {
        settings.quarantine_group_id = Some(id.to_string());
    }
    if let Some(name) = f
        .get("blocked_ips_location")
        .and_then(|n| decode::string(p, n, "`containment.blocked_ips_location`"))
    {
        settings.blocked_ips_location = name.to_string();
    }
    Some(settings)
}

/// `notify:` maps a channel name to a webhook URL.
pub(super) fn decode_notify(p: &mut Problems, node: &Node) -> BTreeMap<String, String> {
    let mut channels = BTreeMap::new();
    if let crate::yaml::NodeValue::Map(entries) = &node.value {
        for (key, value) in entries {
            if let Some(url) = decode::string(p, value, &format!("`notify.{}`", key.scalar_text()))
            {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    p.error(
                        value.loc,
                        format!(
                            "`notify.{}` must be an http(s) URL, found `{url}`",
                            key.scalar_text()
                        ),
                    );
                }
                channels.insert(key.scalar_text(), url.to_string());
            }
        }
    } else {
        p.error(
            node.loc,
            format!(
                "`notify` must map channel names to webhook URLs, found {}",
                node.kind()
            ),
        );
    }
    channels
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
