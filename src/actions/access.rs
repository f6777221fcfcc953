//! Conditional Access containment of one account: the legacy-authentication quarantine group.
//! (The tenant-wide block of attacker IP ranges is `block_ips.rs`.)

use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::runner::{GraphRunner, graph_failure, target_id, target_text};
use crate::graph::{Expect, GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;

pub(super) fn failed(action: &PlannedAction, reason: impl Into<String>) -> ActionError {
    ActionError::Failed {
        action: action.action.to_string(),
        target: target_text(action),
        reason: reason.into(),
    }
}

fn quarantine_group(runner: &GraphRunner, action: &PlannedAction) -> Result<String, ActionError> {
    runner.containment.quarantine_group_id.clone().ok_or_else(|| {
        failed(action, "no quarantine group is configured: run `stanch setup legacy-auth` and set `containment.quarantine_group_id`")
    })
}

fn members_path(action: &PlannedAction, group: &str) -> Result<GraphPath, ActionError> {
    GraphPath::new(["groups"])
        .opaque(group)
        .map(|p| p.segment("members"))
        .map_err(|e| graph_failure(action, e))
}

/// The target's object id (group membership needs it, not a UPN).
async fn object_id(runner: &GraphRunner, action: &PlannedAction) -> Result<String, ActionError> {
    if let Some(id) = action.target.as_ref().and_then(|t| t.id.clone()) {
        return Ok(id);
    }
    let path = GraphPath::new(["users"])
        .id(target_id(action)?)
        .map_err(|e| graph_failure(action, e))?
        .query("$select", "id");
    let user = runner.call(action, GraphRequest::get(path)).await?.body;
    user["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| failed(action, "Graph returned the user without an id"))
}

async fn is_member(
    runner: &GraphRunner,
    action: &PlannedAction,
    group: &str,
    user: &str,
) -> Result<bool, ActionError> {
    let path = members_path(action, group)?.query("$select", "id");
    let members = runner.call(action, GraphRequest::get(path)).await?.body;
    Ok(members["value"].as_array().into_iter().flatten().any(|m| {
        m["id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(user))
    }))
}

pub(super) async fn read_membership(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let group = quarantine_group(runner, action)?;
    let user = object_id(runner, action).await?;
    let member = is_member(runner, action, &group, &user).await?;
    Ok(json!({"group_id": group, "user_id": user, "member_before": member}))
}

pub(super) async fn add_to_quarantine(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let (group, user) = (
        evidence.0["group_id"].as_str().unwrap_or_default(),
        evidence.0["user_id"].as_str().unwrap_or_default(),
    );
    let mut added = false;
    if evidence.0["member_before"] != true {
        let reference = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{user}", runner.client.config().graph_root())});
        let path = members_path(action, group)?.segment("$ref");
        match runner
            .call_raw(
                action,
                GraphRequest::post(path, Some(reference)).expecting(Expect::NoContent),
            )
            .await?
        {
            Ok(_) => added = true,
            // Added by someone else since the pre-check: the effect we want already exists.
            Err(e) if e.status() == Some(400) && e.to_string().contains("already exist") => {}
            Err(e) => return Err(graph_failure(action, e)),
        }
    }
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({"quarantine_group": group, "added": added}),
        // Only a membership this action created is removed on rollback.
        restore: Some(Restore(
            json!({"group_id": group, "user_id": user, "remove": added}),
        )),
    })
}

pub(super) async fn verify_membership(
    runner: &GraphRunner,
    action: &PlannedAction,
    expected: bool,
) -> Result<(), ActionError> {
    let group = quarantine_group(runner, action)?;
    let user = object_id(runner, action).await?;
    if is_member(runner, action, &group, &user).await? == expected {
        return Ok(());
    }
    Err(failed(
        action,
        format!(
            "after the change the account is {}in the quarantine group",
            if expected { "not " } else { "still " }
        ),
    ))
}

pub(super) async fn remove_from_quarantine(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    if restore.0["remove"] != true {
        return Ok(());
    }
    let (group, user) = (
        restore.0["group_id"].as_str().unwrap_or_default(),
        restore.0["user_id"].as_str().unwrap_or_default(),
    );
    let path = members_path(action, group)?
        .opaque(user)
        .map_err(|e| graph_failure(action, e))?
        .segment("$ref");
    match runner
        .call_raw(
            action,
            GraphRequest::delete(path).expecting(Expect::NoContent),
        )
        .await?
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(graph_failure(action, e)),
    }
}
