//! `purge_messages` through Microsoft Defender for Office 365 (`containment.purge_backend:
//! defender`, Plan 2): the wave's copies are found with `security/collaboration/analyzedEmails`
//! (one row per recipient, in a window around the wave) and removed with one
//! `analyzedEmails/remediate`, which Defender carries out asynchronously and tracks in its Action
//! Center. It reaches mailboxes the app's `Mail.ReadWrite` may not (an RBAC-scoped app), and
//! needs `SecurityAnalyzedMessage.ReadWrite.All` instead of mailbox access.
//!
//! Only rows whose `internetMessageId` is exactly the wave's are remediated, whatever the
//! filter returned, and never the sender's own copy (`remediateSendersCopy: false`: it is
//! evidence). Rollback asks Defender to move the same copies to the Inbox (`moveToInbox`; not
//! the folder they were in, which Defender does not offer); a hard delete has no rollback.
//! Defender answers 202 before it acts, so the outcome says `submitted`, with its tracking link
//! where Graph gives one, and is not read back.

use chrono::Duration;
use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::pages::read_all;
use super::purge_recipients::{literal, parse_time};
use super::purge_wave::{Mode, announce_hard_delete, failed, wave};
use super::runner::{GraphRunner, target_text};
use crate::graph::{Expect, GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;

/// How far either side of `sent_around` the analyzed emails are searched.
const AROUND_DAYS: i64 = 2;

fn analyzed_emails() -> GraphPath {
    GraphPath::new(["security", "collaboration", "analyzedEmails"])
}

fn remediation(mode: Mode) -> &'static str {
    match mode {
        Mode::Soft => "moveToDeletedItems",
        Mode::Recoverable => "softDelete",
        Mode::Hard => "hardDelete",
    }
}

fn sender(action: &PlannedAction) -> String {
    action
        .target
        .as_ref()
        .and_then(|t| t.upn.clone())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The wave's copies as Defender analyzed them: one per recipient, the sender's own left out.
pub(super) async fn find_wave(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let wave = wave(action)?;
    let around = action
        .params
        .get("sent_around")
        .and_then(Value::as_str)
        .and_then(parse_time)
        .unwrap_or_else(chrono::Utc::now);
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let filter = format!(
        "internetMessageId eq {}",
        literal(&wave.internet_message_id)
    );
    let path = analyzed_emails()
        .query("startTime", &time(around - Duration::days(AROUND_DAYS)))
        .query("endTime", &time(around + Duration::days(AROUND_DAYS)))
        .query("$filter", &filter);
    let pages = read_all(runner, action, path, "analyzed emails").await?;
    let sender = sender(action);
    let mut copies = Vec::new();
    for row in pages {
        let recipient = row["recipientEmailAddress"].as_str().unwrap_or_default();
        // The filter is Graph's; the rule that only this message is touched is ours.
        if row["internetMessageId"] != wave.internet_message_id.as_str()
            || recipient.is_empty()
            || recipient.eq_ignore_ascii_case(&sender)
        {
            continue;
        }
        copies.push(json!({
            "networkMessageId": row["networkMessageId"],
            "recipientEmailAddress": recipient,
            "subject": row["subject"],
            "location": row["latestDelivery"]["location"],
        }));
    }
    let recipients: Vec<&Value> = copies.iter().map(|c| &c["recipientEmailAddress"]).collect();
    if recipients.len() as u64 > wave.max_recipients && !action.gate.needs_approval() {
        return Err(ActionError::NeedsHuman {
            action: action.action.to_string(),
            target: target_text(action),
            reason: format!(
                "Defender found the wave in {} mailboxes, more than `max_recipients` ({}); nothing was remediated: \
                 purge it from a step with `approval:` (a person decides) or a larger `max_recipients`",
                recipients.len(),
                wave.max_recipients
            ),
        });
    }
    Ok(json!({
        "backend": "defender",
        "internet_message_id": wave.internet_message_id,
        "mode": format!("{:?}", wave.mode).to_lowercase(),
        "recipients": recipients,
        "copies": copies,
    }))
}

fn targets(copies: &Value) -> Vec<Value> {
    copies
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"networkMessageId": c["networkMessageId"], "recipientEmailAddress": c["recipientEmailAddress"]})
        })
        .collect()
}

async fn remediate(
    runner: &GraphRunner,
    action: &PlannedAction,
    what: &'static str,
    emails: Vec<Value>,
) -> Result<(), ActionError> {
    let body = json!({
        "displayName": format!("stanch {} ({what})", action.key),
        "description": format!("stanch step `{}` of playbook `{}`", action.step, action.playbook),
        "severity": "high",
        "action": what,
        "remediateSendersCopy": false,
        "analyzedEmails": emails,
    });
    let path = analyzed_emails().segment("remediate");
    let request = GraphRequest::post(path, Some(body)).expecting(Expect::Accepted);
    runner.call(action, request).await?;
    Ok(())
}

pub(super) async fn purge(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let wave = wave(action)?;
    let emails = targets(&evidence.0["copies"]);
    if emails.is_empty() {
        return Ok(Execution {
            evidence: evidence.clone(),
            outcome: json!({"backend": "defender", "submitted": [], "note": "Defender found no copy of the wave outside the sender's mailbox"}),
            restore: None,
        });
    }
    if wave.mode == Mode::Hard {
        announce_hard_delete(runner, action, evidence).await?;
    }
    let what = remediation(wave.mode);
    remediate(runner, action, what, emails.clone()).await?;
    let restore = (wave.mode != Mode::Hard)
        .then(|| Restore(json!({"backend": "defender", "analyzed_emails": emails})));
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({
            "backend": "defender",
            "remediation": what,
            "submitted": emails,
            "note": "Defender carries the remediation out asynchronously; the Action Center tracks it",
        }),
        restore,
    })
}

/// Asks Defender to put the remediated copies back in each recipient's Inbox.
pub(super) async fn restore(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    let emails = restore.0["analyzed_emails"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if emails.is_empty() {
        return Err(failed(
            action,
            "no remediated copies are recorded to move back".into(),
        ));
    }
    remediate(runner, action, "moveToInbox", emails).await
}
