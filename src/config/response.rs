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
//!   action_deadline: 30s             # all of one action's calls and retries together
//!   max_response_bytes: 4194304      # a longer answer is refused unread
//! containment:
//!   quarantine_group_id: 3f0c...     # the group a CA policy blocks legacy auth for (`stanch setup`)
//!   blocked_ips_location: "stanch: blocked attacker IPs"
//!   purge_backend: mailboxes         # or defender: purge_messages through Defender for Office 365
//! notify:
//!   default: https://hooks.example.com/stanch
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::actions::{ContainmentSettings, PurgeBackend};
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
    "action_deadline",
    "max_response_bytes",
    "concurrency",
    "mailbox_concurrency",
    "max_in_flight",
];
pub(super) const CONTAINMENT_KEYS: &[&str] = &[
    "quarantine_group_id",
    "blocked_ips_location",
    "purge_backend",
];

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
    let action_deadline_secs = f.get("action_deadline").and_then(|n| {
        let text = decode::string(p, n, "`graph.action_deadline`")?;
        match stanch_core::util::parse_duration(text) {
            Ok(0) => {
                p.error(n.loc, "`graph.action_deadline` must be longer than zero");
                None
            }
            Ok(secs) => Some(secs),
            Err(m) => {
                p.error(n.loc, format!("`graph.action_deadline`: {m}"));
                None
            }
        }
    });
    let max_response_bytes = f
        .get("max_response_bytes")
        .and_then(|n| decode::positive_int(p, n, "`graph.max_response_bytes`"));
    let count = |p: &mut Problems, key: &str| {
        f.get(key)
            .and_then(|n| decode::positive_int(p, n, &format!("`graph.{key}`")))
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    let concurrency = count(p, "concurrency");
    let mailbox_concurrency = count(p, "mailbox_concurrency");
    let max_in_flight = count(p, "max_in_flight");
    Some(GraphSettings {
        tenant_id: text(p, "tenant_id").unwrap_or_default(),
        client_id: text(p, "client_id").unwrap_or_default(),
        client_secret: text(p, "client_secret").map(SecretString::new),
        certificate_path: text(p, "certificate_path").map(PathBuf::from),
        private_key_path: text(p, "private_key_path").map(PathBuf::from),
        cloud,
        graph_url: text(p, "graph_url"),
        login_url: text(p, "login_url"),
        action_deadline_secs,
        max_response_bytes,
        concurrency,
        mailbox_concurrency,
        max_in_flight,
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
    if let Some(n) = f.get("purge_backend") {
        match decode::string(p, n, "`containment.purge_backend`") {
            Some("mailboxes") => settings.purge_backend = PurgeBackend::Mailboxes,
            Some("defender") => settings.purge_backend = PurgeBackend::Defender,
            Some(other) => p.error(
                n.loc,
                format!(
                    "`containment.purge_backend` must be `mailboxes` or `defender`, found `{other}`"
                ),
            ),
            None => {}
        }
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

#[cfg(test)]
mod tests {
    use crate::config::load_text as load;

    #[test]
    fn graph_action_deadline_and_response_cap_are_read_and_checked() {
        let config =
            load("graph:\n  tenant_id: t\n  action_deadline: 20s\n  max_response_bytes: 1048576\n")
                .unwrap();
        let graph = config.graph.unwrap();
        assert_eq!(
            (graph.action_deadline_secs, graph.max_response_bytes),
            (Some(20), Some(1_048_576))
        );
        let defaults = load("graph:\n  tenant_id: t\n").unwrap().graph.unwrap();
        assert_eq!(
            (defaults.action_deadline_secs, defaults.max_response_bytes),
            (None, None)
        );
        let zero = load("graph:\n  tenant_id: t\n  action_deadline: 0s\n").unwrap_err();
        assert!(
            zero.contains(":3:20: error: `graph.action_deadline` must be longer than zero"),
            "{zero}"
        );
        let bad = load("graph:\n  tenant_id: t\n  max_response_bytes: lots\n").unwrap_err();
        assert!(
            bad.contains(":3:23: error: `graph.max_response_bytes` must be a positive integer"),
            "{bad}"
        );
    }
}
