//! `purge_messages`: pull one message a compromised account sent (by `internetMessageId`) out
//! of every recipient's mailbox. The pre-check finds the recipients (`purge_recipients`) and
//! each mailbox's copies; execute moves them to Deleted Items (`soft`, the default) or to
//! Recoverable Items (`recoverable`, out of the user's sight), keeping where each came from so
//! rollback moves it back, or purges them (`hard`, `permanentDelete`: no undo, recorded before
//! the first one is sent). Only copies whose `internetMessageId` is exactly the wave's are
//! touched, and the sender's own mailbox is left as evidence.
//!
//! A mailbox the app cannot read (403, or 404: not in this tenant, no Exchange mailbox) is
//! named in the outcome, which is then `partial` with a manual step per mailbox. The action
//! still ends `succeeded`, because what it moved must stay undoable: only a succeeded action
//! keeps restore data and can be rolled back, and a retry could not tell where the messages it
//! already moved came from.
//!
//! The recipients budget (`max_recipients`) is checked after the recipients are found, which
//! the claim's budgets cannot do (their count is known only from Graph): a larger wave ends
//! `needs_human` before anything is moved, unless a person approved the step (its `approval:`
//! gate), whose decision covers the wave whatever its size.

use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::purge_recipients::{self, literal, parse_time};
use super::runner::{GraphRunner, graph_failure, target_text};
use crate::graph::{Expect, GraphError, GraphPath, GraphRequest};
use stanch_core::audit::AuditEvent;
use stanch_core::engine::PlannedAction;

/// Mailboxes one run changes without a person when the step sets no `max_recipients`.
pub const DEFAULT_MAX_RECIPIENTS: u64 = 500;

const SELECT: &str = "id,internetMessageId,parentFolderId,subject";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Soft,
    Recoverable,
    Hard,
}

impl Mode {
    /// The well-known folder a copy is moved to; none for a purge.
    fn destination(self) -> Option<&'static str> {
        match self {
            Mode::Soft => Some("deleteditems"),
            Mode::Recoverable => Some("recoverableitemsdeletions"),
            Mode::Hard => None,
        }
    }
}

struct Wave {
    internet_message_id: String,
    mode: Mode,
    max_recipients: u64,
}

fn failed(action: &PlannedAction, reason: String) -> ActionError {
    ActionError::Failed {
        action: action.action.to_string(),
        target: target_text(action),
        reason,
    }
}

fn wave(action: &PlannedAction) -> Result<Wave, ActionError> {
    let id = action
        .params
        .get("internet_message_id")
        .and_then(Value::as_str);
    let Some(internet_message_id) = id.map(str::trim).filter(|id| !id.is_empty()) else {
        return Err(failed(action, "`internet_message_id` is empty".into()));
    };
    let mode = match action.params.get("mode").and_then(Value::as_str) {
        None | Some("soft") => Mode::Soft,
        Some("recoverable") => Mode::Recoverable,
        Some("hard") => Mode::Hard,
        Some(other) => return Err(failed(action, format!("unknown `mode` `{other}`"))),
    };
    let max_recipients = match action.params.get("max_recipients").map(Value::as_i64) {
        None => DEFAULT_MAX_RECIPIENTS,
        Some(Some(n)) if n > 0 => n as u64,
        Some(_) => {
            return Err(failed(
                action,
                "`max_recipients` must be a positive integer".into(),
            ));
        }
    };
    Ok(Wave {
        internet_message_id: internet_message_id.to_string(),
        mode,
        max_recipients,
    })
}

fn mailbox_path(action: &PlannedAction, mailbox: &str) -> Result<GraphPath, ActionError> {
    GraphPath::new(["users"])
        .id(mailbox)
        .map_err(|e| graph_failure(action, e))
}

fn message_path(action: &PlannedAction, mailbox: &str, id: &str) -> Result<GraphPath, ActionError> {
    mailbox_path(action, mailbox)?
        .segment("messages")
        .opaque(id)
        .map_err(|e| graph_failure(action, e))
}

/// Why a mailbox cannot be read, as the outcome names it.
fn unreadable(mailbox: &str, error: &GraphError) -> Value {
    let why = if error.is_forbidden() {
        "the app may not read this mailbox (Exchange RBAC for Applications, or a missing Mail.ReadWrite)"
    } else {
        "no mailbox the app can reach (not in this tenant, or not in Exchange Online)"
    };
    json!({"mailbox": mailbox, "status": error.status(), "code": error.code(), "why": why})
}

/// This mailbox's copies of the wave, and the id of the folder they go to (a read per mailbox
/// that has a copy, so that a copy already there counts as done).
async fn copies(
    runner: &GraphRunner,
    action: &PlannedAction,
    mailbox: &str,
    wave: &Wave,
) -> Result<Result<Value, GraphError>, ActionError> {
    let path = mailbox_path(action, mailbox)?
        .segment("messages")
        .query(
            "$filter",
            &format!(
                "internetMessageId eq {}",
                literal(&wave.internet_message_id)
            ),
        )
        .query("$select", SELECT);
    let found = match runner
        .call_raw(
            action,
            GraphRequest::get(path).with_mailbox(mailbox.to_string()),
        )
        .await?
    {
        Ok(response) => response.body,
        Err(e) if e.is_forbidden() || e.is_not_found() => return Ok(Err(e)),
        Err(e) => return Err(graph_failure(action, e)),
    };
    // Graph's filter is trusted no further than this: a different id is never touched.
    let matches: Vec<Value> = found["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["internetMessageId"] == wave.internet_message_id.as_str())
        .cloned()
        .collect();
    let mut destination = Value::Null;
    if let (Some(folder), false) = (wave.mode.destination(), matches.is_empty()) {
        let path = mailbox_path(action, mailbox)?
            .segment("mailFolders")
            .opaque(folder)
            .map_err(|e| graph_failure(action, e))?
            .query("$select", "id");
        let request = GraphRequest::get(path).with_mailbox(mailbox.to_string());
        destination = runner.call(action, request).await?.body["id"].clone();
    }
    Ok(Ok(
        json!({"mailbox": mailbox, "copies": matches, "destination_folder_id": destination}),
    ))
}

pub(super) async fn find_wave(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let wave = wave(action)?;
    let around = action
        .params
        .get("sent_around")
        .and_then(Value::as_str)
        .and_then(parse_time);
    let recipients =
        purge_recipients::find(runner, action, &wave.internet_message_id, around).await?;
    let count = recipients.addresses.len() as u64;
    if count > wave.max_recipients && !action.gate.needs_approval() {
        return Err(ActionError::NeedsHuman {
            action: action.action.to_string(),
            target: target_text(action),
            reason: format!(
                "the wave reached {count} recipients, more than `max_recipients` ({}); nothing was moved: \
                 purge it from a step with `approval:` (a person decides) or a larger `max_recipients`",
                wave.max_recipients
            ),
        });
    }
    let mut mailboxes = Vec::new();
    let mut unread = Vec::new();
    for mailbox in &recipients.addresses {
        match copies(runner, action, mailbox, &wave).await? {
            Ok(found) => mailboxes.push(found),
            Err(e) => unread.push(unreadable(mailbox, &e)),
        }
    }
    Ok(json!({
        "internet_message_id": wave.internet_message_id,
        "mode": format!("{:?}", wave.mode).to_lowercase(),
        "recipients": recipients.addresses,
        "found_by": recipients.evidence,
        "mailboxes": mailboxes,
        "unreadable": unread,
    }))
}

pub(super) async fn purge(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let wave = wave(action)?;
    let mut unread: Vec<Value> = evidence.0["unreadable"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if wave.mode == Mode::Hard {
        announce_hard_delete(runner, action, evidence).await?;
    }
    let (mut moved, mut purged, mut already, mut vanished) = (vec![], vec![], vec![], vec![]);
    for found in evidence.0["mailboxes"].as_array().into_iter().flatten() {
        let mailbox = found["mailbox"].as_str().unwrap_or_default();
        let destination = &found["destination_folder_id"];
        for copy in found["copies"].as_array().into_iter().flatten() {
            let id = copy["id"].as_str().unwrap_or_default();
            let entry = json!({"mailbox": mailbox, "message_id": id, "subject": copy["subject"]});
            if !destination.is_null() && copy["parentFolderId"] == *destination {
                already.push(entry);
                continue;
            }
            let path = message_path(action, mailbox, id)?;
            let request = match wave.mode.destination() {
                Some(folder) => {
                    GraphRequest::post(path.segment("move"), Some(json!({"destinationId": folder})))
                        .expecting(Expect::Created)
                }
                None => GraphRequest::post(path.segment("permanentDelete"), None)
                    .expecting(Expect::NoContent),
            };
            match runner
                .call_raw(action, request.with_mailbox(mailbox.to_string()))
                .await?
            {
                Ok(response) if wave.mode == Mode::Hard => {
                    let _ = response;
                    purged.push(entry);
                }
                Ok(response) => moved.push(json!({
                    "mailbox": mailbox,
                    "message_id": response.body["id"],
                    "original_folder_id": copy["parentFolderId"],
                    "subject": copy["subject"],
                })),
                // Gone since the pre-check (the user deleted it): nothing left to pull.
                Err(e) if e.is_not_found() => vanished.push(entry),
                Err(e) if e.is_forbidden() => unread.push(unreadable(mailbox, &e)),
                Err(e) => return Err(graph_failure(action, e)),
            }
        }
    }
    let manual_steps: Vec<String> = unread
        .iter()
        .map(|u| format!(
            "remove the message {} from {} by hand (Exchange admin or Purview content search): {}",
            wave.internet_message_id,
            u["mailbox"].as_str().unwrap_or_default(),
            u["why"].as_str().unwrap_or_default()
        ))
        .collect();
    let mut outcome = json!({
        "partial": !unread.is_empty(),
        "unreadable": unread,
        "moved": moved.len(),
        "purged": purged.len(),
        "mode": evidence.0["mode"],
        "internet_message_id": wave.internet_message_id,
        "recipients": evidence.0["recipients"].as_array().map_or(0, Vec::len),
        "already_removed": already,
        "gone_before_moving": vanished,
        "purged_messages": purged,
        "manual_steps": manual_steps,
        "senders_copy": "kept as evidence",
    });
    if wave.mode == Mode::Hard {
        outcome["irreversible"] = json!("permanentDelete cannot be undone: no restore data");
    }
    let restore = (wave.mode != Mode::Hard).then(|| Restore(json!({"moved": moved.clone()})));
    outcome["moved_messages"] = json!(moved);
    Ok(Execution {
        evidence: evidence.clone(),
        outcome,
        restore,
    })
}

/// Says, in the trail and before the first `permanentDelete`, that none of it can be undone.
async fn announce_hard_delete(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<(), ActionError> {
    let event = AuditEvent::new(
        chrono::Utc::now(),
        "action.irreversible",
        format!("action/{}", action.key),
        json!({"action": action.action, "internet_message_id": evidence.0["internet_message_id"],
               "mailboxes": evidence.0["recipients"],
               "why": "mode `hard`: permanentDelete purges each copy; it cannot be restored"}),
    );
    runner.store.append_audit(&[event]).await.map_err(|e| {
        failed(
            action,
            format!("cannot record that the purge is irreversible, so nothing was purged: {e}"),
        )
    })
}

/// Every mailbox acted on is read again: no copy may remain outside the destination folder.
pub(super) async fn verify_purged(
    runner: &GraphRunner,
    action: &PlannedAction,
    execution: &Execution,
) -> Result<(), ActionError> {
    let wave = wave(action)?;
    let mut left = Vec::new();
    for found in execution.evidence.0["mailboxes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let mailbox = found["mailbox"].as_str().unwrap_or_default();
        if found["copies"].as_array().is_none_or(Vec::is_empty) {
            continue;
        }
        let now = match copies(runner, action, mailbox, &wave).await? {
            Ok(now) => now,
            Err(_) => continue,
        };
        let destination = &now["destination_folder_id"];
        let outside = now["copies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| destination.is_null() || c["parentFolderId"] != *destination)
            .count();
        if outside > 0 {
            left.push(format!("{mailbox} ({outside})"));
        }
    }
    if left.is_empty() {
        return Ok(());
    }
    Err(failed(
        action,
        format!(
            "copies still outside their destination after moving them: {}",
            left.join(", ")
        ),
    ))
}

/// Moves every message back to the folder it was taken from.
pub(super) async fn restore_messages(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    for moved in restore.0["moved"].as_array().into_iter().flatten() {
        let (Some(mailbox), Some(id), Some(folder)) = (
            moved["mailbox"].as_str(),
            moved["message_id"].as_str(),
            moved["original_folder_id"].as_str(),
        ) else {
            continue;
        };
        let path = message_path(action, mailbox, id)?.segment("move");
        let request = GraphRequest::post(path, Some(json!({"destinationId": folder})))
            .expecting(Expect::Created)
            .with_mailbox(mailbox.to_string());
        match runner.call_raw(action, request).await? {
            Ok(_) => {}
            // Emptied from Deleted Items since: not ours to bring back.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(graph_failure(action, e)),
        }
    }
    Ok(())
}
