//! What a `purge_messages` step asks for (`Wave`: the message, the mode, the budget) and the
//! reads every phase of it shares: one mailbox's copies of the wave, why a mailbox cannot be
//! read, and how much of the action's Graph time is left.

use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence};
use super::purge_recipients::literal;
use super::runner::{GraphRunner, graph_failure, target_text};
use crate::graph::{GraphError, GraphPath, GraphRequest};
use stanch_core::audit::AuditEvent;
use stanch_core::engine::PlannedAction;

/// Mailboxes one run changes without a person when the step sets no `max_recipients`.
pub const DEFAULT_MAX_RECIPIENTS: u64 = 500;

const SELECT: &str = "id,internetMessageId,parentFolderId,subject";

/// Whether less than `share` (a fraction) of the action's Graph time is left (never, outside
/// an action).
pub(super) fn short_of_time(runner: &GraphRunner, share: (u32, u32)) -> bool {
    let budget = runner.client().config().action_deadline;
    runner
        .time_left()
        .is_some_and(|left| left < budget * share.0 / share.1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Soft,
    Recoverable,
    Hard,
}

impl Mode {
    /// The well-known folder a copy is moved to; none for a purge.
    pub fn destination(self) -> Option<&'static str> {
        match self {
            Mode::Soft => Some("deleteditems"),
            Mode::Recoverable => Some("recoverableitemsdeletions"),
            Mode::Hard => None,
        }
    }
}

pub(super) struct Wave {
    pub internet_message_id: String,
    pub mode: Mode,
    pub max_recipients: u64,
}

pub(super) fn failed(action: &PlannedAction, reason: String) -> ActionError {
    ActionError::Failed {
        action: action.action.to_string(),
        target: target_text(action),
        reason,
    }
}

pub(super) fn wave(action: &PlannedAction) -> Result<Wave, ActionError> {
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

pub(super) fn mailbox_path(
    action: &PlannedAction,
    mailbox: &str,
) -> Result<GraphPath, ActionError> {
    GraphPath::new(["users"])
        .id(mailbox)
        .map_err(|e| graph_failure(action, e))
}

pub(super) fn message_path(
    action: &PlannedAction,
    mailbox: &str,
    id: &str,
) -> Result<GraphPath, ActionError> {
    mailbox_path(action, mailbox)?
        .segment("messages")
        .opaque(id)
        .map_err(|e| graph_failure(action, e))
}

/// Why a mailbox cannot be read, as the outcome names it.
pub(super) fn unreadable(mailbox: &str, error: &GraphError) -> Value {
    let why = if error.is_forbidden() {
        "the app may not read this mailbox (Exchange RBAC for Applications, or a missing Mail.ReadWrite)"
    } else {
        "no mailbox the app can reach (not in this tenant, or not in Exchange Online)"
    };
    json!({"mailbox": mailbox, "status": error.status(), "code": error.code(), "why": why})
}

/// This mailbox's copies of the wave, and the id of the folder they go to (a read per mailbox
/// that has a copy, so that a copy already there counts as done).
pub(super) async fn copies(
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

/// Says, in the trail and before the first `permanentDelete`, that none of it can be undone.
pub(super) async fn announce_hard_delete(
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
