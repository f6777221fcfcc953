//! The parts of the config that `stanch serve` reads.
//!
//! ```yaml
//! listen: 127.0.0.1:8940            # port 0 picks a free port
//! intake:
//!   bearer_tokens: [s3cr3t-token]   # or STANCH_INTAKE_BEARER_TOKENS (comma-separated)
//!   hmac_secrets: { darktrace: k3y } # per source: X-Stanch-Signature: t=<unix>,v1=<hex hmac-sha256>
//!   max_body_bytes: 1048576
//!   max_items: 1000                 # detections per request
//!   replay_window_secs: 300
//! ```

use crate::http::{IntakeSettings, ServerSettings};
use crate::schedule::ScheduleSetting;
use stanch_core::secret::SecretString;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::Problems;
use stanch_core::yaml::{Node, NodeValue};

pub(super) const INTAKE_KEYS: &[&str] = &[
    "bearer_tokens",
    "hmac_secrets",
    "max_body_bytes",
    "max_items",
    "replay_window_secs",
];

pub(super) fn decode_intake(p: &mut Problems, node: &Node) -> IntakeSettings {
    let mut settings = IntakeSettings::default();
    let Some(f) = decode::fields(p, node, "`intake`", INTAKE_KEYS) else {
        return settings;
    };
    if let Some(n) = f.get("bearer_tokens") {
        settings.bearer_tokens = decode::strings(p, n, "`intake.bearer_tokens`")
            .into_iter()
            .map(|(_, t)| SecretString::new(t))
            .collect();
    }
    if let Some(n) = f.get("hmac_secrets") {
        match &n.value {
            NodeValue::Map(entries) => {
                for (key, value) in entries {
                    if let Some(secret) = decode::string(
                        p,
                        value,
                        &format!("`intake.hmac_secrets.{}`", key.scalar_text()),
                    ) {
                        settings
                            .hmac_secrets
                            .insert(key.scalar_text(), SecretString::new(secret));
                    }
                }
            }
            _ => p.error(
                n.loc,
                format!(
                    "`intake.hmac_secrets` must map source names to secrets, found {}",
                    n.kind()
                ),
            ),
        }
    }
    if let Some(n) = f.get("max_body_bytes") {
        settings.max_body_bytes = decode::positive_int(p, n, "`intake.max_body_bytes`")
            .unwrap_or(settings.max_body_bytes as u64) as usize;
    }
    if let Some(n) = f.get("max_items") {
        settings.max_items = decode::positive_int(p, n, "`intake.max_items`")
            .unwrap_or(settings.max_items as u64) as usize;
    }
    if let Some(n) = f.get("replay_window_secs") {
        settings.replay_window_secs = decode::positive_int(p, n, "`intake.replay_window_secs`")
            .unwrap_or(settings.replay_window_secs);
    }
    settings
}

pub(super) const SERVER_KEYS: &[&str] = &["max_connections", "header_timeout", "body_timeout"];

/// `server:`: how many connections `stanch serve` takes at once and how long a request may take
/// to arrive.
pub(super) fn decode_server(p: &mut Problems, node: &Node) -> ServerSettings {
    let mut settings = ServerSettings::default();
    let Some(f) = decode::fields(p, node, "`server`", SERVER_KEYS) else {
        return settings;
    };
    if let Some(n) = f.get("max_connections") {
        settings.max_connections = decode::positive_int(p, n, "`server.max_connections`")
            .unwrap_or(settings.max_connections as u64) as usize;
    }
    for (key, slot) in [
        ("header_timeout", &mut settings.header_timeout),
        ("body_timeout", &mut settings.body_timeout),
    ] {
        if let Some(n) = f.get(key)
            && let Some(text) = decode::string(p, n, &format!("`server.{key}`"))
        {
            match stanch_core::util::parse_duration(text) {
                Ok(0) => p.error(n.loc, format!("`server.{key}` must be at least 1s")),
                Ok(secs) => *slot = std::time::Duration::from_secs(secs),
                Err(m) => p.error(n.loc, m),
            }
        }
    }
    settings
}

pub(super) const SCHEDULE_KEYS: &[&str] = &["name", "cron", "tz", "job"];

pub(super) fn decode_schedules(p: &mut Problems, node: &Node) -> Vec<ScheduleSetting> {
    let Some(items) = decode::list(p, node, "`schedules`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(f) = decode::fields(p, item, "a schedule", SCHEDULE_KEYS) else {
            continue;
        };
        let text = |p: &mut Problems, key: &str| {
            f.require(p, key, "a schedule")
                .and_then(|n| decode::string(p, n, &format!("`{key}`")))
                .map(str::to_string)
        };
        let (name, cron, job) = (text(p, "name"), text(p, "cron"), text(p, "job"));
        let tz = f
            .get("tz")
            .and_then(|n| decode::string(p, n, "`tz`"))
            .unwrap_or("UTC")
            .to_string();
        if let Some(job_name) = &job
            && crate::schedule::JobKind::parse(job_name).is_none()
        {
            p.error(f.get("job").map_or(item.loc, |n| n.loc), format!("unknown job `{job_name}`; jobs: poll-alerts, verify-audit, approval-timeouts, expire-actions"));
        }
        if let (Some(name), Some(cron), Some(job)) = (name, cron, job) {
            out.push(ScheduleSetting {
                name,
                cron,
                tz,
                job,
                line: item.loc.line,
            });
        }
    }
    out
}
