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
//! already moved came from. For the same reason a run resumed after a crash counts copies the
//! interrupted run had moved as `already_removed`, without restore data (Graph does not say
//! which folder an item came from).
//!
//! One action's Graph calls share `graph.action_deadline`, and an action cut off by it keeps
//! nothing, so a wave too large for it is handled in part rather than lost: the pre-check reads
//! mailboxes while more than two thirds of the time is left, execute moves while more than a
//! third is, verify reads back while a sixth is; mailboxes not reached are named (`not_reached`)
//! and the outcome is `partial`. What was moved keeps its restore data.
//!
//! The recipients budget (`max_recipients`) is checked after the recipients are found, which
//! the claim's budgets cannot do (their count is known only from Graph): a larger wave ends
//! `needs_human` before anything is moved, unless a person approved the step (its `approval:`
//! gate), whose decision covers the wave whatever its size.

use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::purge_defender;
use super::purge_recipients::{self, parse_time};
use super::purge_wave::{
    Mode, announce_hard_delete, copies, failed, message_path, short_of_time, unreadable, wave,
};
use super::runner::{GraphRunner, graph_failure, target_text};
use super::settings::PurgeBackend;
use crate::graph::{Expect, GraphRequest};
use stanch_core::engine::PlannedAction;

pub(super) async fn find_wave(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    if runner.containment.purge_backend == PurgeBackend::Defender {
        return purge_defender::find_wave(runner, action).await;
    }
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
    let mut not_reached = Vec::new();
    for mailbox in &recipients.addresses {
        if short_of_time(runner, (2, 3)) {
            not_reached.push(mailbox.clone());
            continue;
        }
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
        "not_reached": not_reached,
    }))
}

/// Whether the evidence was gathered through Defender (the setting may have changed since).
fn through_defender(recorded: &Value) -> bool {
    recorded["backend"] == "defender"
}

pub(super) async fn purge(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    if through_defender(&evidence.0) {
        return purge_defender::purge(runner, action, evidence).await;
    }
    let wave = wave(action)?;
    let mut unread: Vec<Value> = evidence.0["unreadable"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if wave.mode == Mode::Hard {
        announce_hard_delete(runner, action, evidence).await?;
    }
    let (mut moved, mut purged, mut already, mut vanished) = (vec![], vec![], vec![], vec![]);
    let mut not_reached: Vec<Value> = evidence.0["not_reached"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for found in evidence.0["mailboxes"].as_array().into_iter().flatten() {
        let mailbox = found["mailbox"].as_str().unwrap_or_default();
        if short_of_time(runner, (1, 3)) {
            not_reached.push(json!(mailbox));
            continue;
        }
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
                Ok(_) if wave.mode == Mode::Hard => purged.push(entry),
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
        .chain(not_reached.iter().map(|m| format!(
            "{} was not reached within `graph.action_deadline`: run the purge again (a new detection of the wave) or raise the deadline",
            m.as_str().unwrap_or_default()
        )))
        .collect();
    let mut outcome = json!({
        "partial": !unread.is_empty() || !not_reached.is_empty(),
        "unreadable": unread,
        "not_reached": not_reached,
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

/// Every mailbox acted on is read again: no copy may remain outside the destination folder.
pub(super) async fn verify_purged(
    runner: &GraphRunner,
    action: &PlannedAction,
    execution: &Execution,
) -> Result<(), ActionError> {
    if through_defender(&execution.evidence.0) {
        // Defender acts after its 202: there is nothing to read back yet.
        return Ok(());
    }
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
    if through_defender(&restore.0) {
        return purge_defender::restore(runner, action, restore).await;
    }
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
