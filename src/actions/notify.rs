//! `notify`: a message to a configured webhook (Slack- and Teams-workflow-compatible `text`).
//!
//! The webhook URL is a secret (its path or query is the token): the audit records, the action's
//! outcome and its errors name the channel and the URL's redacted form (`scheme://host/…`).

use std::time::Instant;

use chrono::Utc;
use serde_json::json;

use super::failure::audit_failure;
use super::lifecycle::{ActionError, Evidence, Execution};
use super::runner::{GraphRunner, target_text};
use stanch_core::audit::AuditEvent;
use stanch_core::engine::PlannedAction;

pub(super) async fn send(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Execution, ActionError> {
    let channel = action
        .params
        .get("channel")
        .and_then(|c| c.as_str())
        .unwrap_or("default");
    let message = action
        .params
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    let code = deliver(runner, action, channel, message, message).await?;
    Ok(Execution {
        evidence: Evidence(json!({})),
        outcome: json!({"channel": channel, "status": code}),
        restore: None,
    })
}

/// Sends `text` to a configured channel, audited before and after with `recorded` in its place
/// (the same text, or one with a secret taken out, such as a Temporary Access Pass); the
/// webhook's 2xx status on success.
pub(super) async fn deliver(
    runner: &GraphRunner,
    action: &PlannedAction,
    channel: &str,
    text: &str,
    recorded: &str,
) -> Result<u16, ActionError> {
    let failed = |reason: String| ActionError::Failed {
        action: action.action.to_string(),
        target: target_text(action),
        reason,
    };
    let url = runner.notify.get(channel).ok_or_else(|| {
        failed(format!(
            "no webhook for channel `{channel}`; set `notify.{channel}` in the config"
        ))
    })?;
    let webhook = url.shown();
    let message = |text: &str| json!({"text": text, "playbook": action.playbook, "step": action.step, "action_key": action.key});
    let body = message(text);
    let subject = format!("action/{}", action.key);
    let record =
        |kind: &'static str, payload| AuditEvent::new(Utc::now(), kind, subject.clone(), payload);
    let audit_failed = |e| audit_failure(action, e);
    // A message is a write like a Graph one: fenced by the action's lease, audited before.
    runner.check_fence().await.map_err(audit_failed)?;
    runner
        .store
        .append_audit(&[record(
            "notify.request",
            json!({"channel": channel, "webhook": webhook, "body": message(recorded)}),
        )])
        .await
        .map_err(audit_failed)?;
    runner
        .withhold_if_lapsed(&subject)
        .await
        .map_err(audit_failed)?;
    let started = Instant::now();
    let mut request = runner.http.post(url.expose()).json(&body);
    if let Some(left) = runner.time_left() {
        // The client's own 15 s still applies; the action's deadline may be sooner.
        request = request.timeout(left);
    }
    // reqwest names the URL in its errors.
    let result = request.send().await.map_err(reqwest::Error::without_url);
    let status = result.as_ref().map(|r| r.status().as_u16()).ok();
    let after = json!({"channel": channel, "webhook": webhook, "status": status, "error": result.as_ref().err().map(|e| e.to_string()), "elapsed_ms": started.elapsed().as_millis() as u64});
    let answered = record("notify.response", after);
    if let Err(e) = runner
        .store
        .append_audit(std::slice::from_ref(&answered))
        .await
    {
        // Sent already: failing the action now would invite a second message.
        tracing::error!(subject, error = %e, "the webhook answered, but its answer could not be written to the audit trail; it is kept and written with the next record");
        runner.record_late(answered, &e);
    }
    match status {
        Some(code) if (200..300).contains(&code) => Ok(code),
        Some(code) => Err(failed(format!(
            "the `{channel}` webhook ({webhook}) answered {code}"
        ))),
        None => Err(failed(format!(
            "cannot reach the `{channel}` webhook ({webhook}): {}",
            result.err().map(|e| e.to_string()).unwrap_or_default()
        ))),
    }
}
