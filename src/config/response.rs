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
use std::path::PathBuf;

use crate::actions::ContainmentSettings;
use crate::graph::{CLOUDS, GraphSettings};
use stanch_core::secret::{SecretString, SecretUrl};

use stanch_core::yaml::Node;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::Problems;

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

/// `notify:` maps a channel name to a webhook URL, a secret (its path or query is the token):
/// a mistake names the channel, never the URL.
pub(super) fn decode_notify(p: &mut Problems, node: &Node) -> BTreeMap<String, SecretUrl> {
    let mut channels = BTreeMap::new();
    if let stanch_core::yaml::NodeValue::Map(entries) = &node.value {
        for (key, value) in entries {
            let what = format!("`notify.{}`", key.scalar_text());
            if let Some(url) = decode::string(p, value, &what) {
                if let Some(problem) = not_http(url, &what) {
                    p.error(value.loc, problem);
                }
                channels.insert(key.scalar_text(), SecretUrl::webhook(url));
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

/// Why `url` (setting `what`, a secret) is not an http(s) URL, without repeating it.
pub(super) fn not_http(url: &str, what: &str) -> Option<String> {
    let ok = url.starts_with("https://") || url.starts_with("http://");
    (!ok).then(|| format!("{what} must be an http(s) URL (the value is a secret and not shown)"))
}
