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

use crate::http::IntakeSettings;
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
