//! Conditional Access containment: the legacy-authentication quarantine group, and the named
//! location of attacker IP ranges blocked for the whole tenant.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::runner::{GraphRunner, graph_failure, target_id, target_text};
use crate::graph::{Expect, GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;

fn failed(action: &PlannedAction, reason: impl Into<String>) -> ActionError {
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

fn locations_path() -> GraphPath {
    GraphPath::new(["identity", "conditionalAccess", "namedLocations"])
}

fn policies_path() -> GraphPath {
    GraphPath::new(["identity", "conditionalAccess", "policies"])
}

fn location_name(runner: &GraphRunner, action: &PlannedAction) -> String {
    action
        .params
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| runner.containment.blocked_ips_location.clone())
}

fn policy_name(location: &str) -> String {
    format!("{location}: block sign-in")
}

fn wanted_ranges(action: &PlannedAction) -> BTreeSet<String> {
    action
        .params
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn ranges_of(location: &Value) -> BTreeSet<String> {
    location["ipRanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["cidrAddress"].as_str())
        .map(str::to_string)
        .collect()
}

fn range_json(cidr: &str) -> Value {
    let kind = if cidr.contains(':') {
        "#microsoft.graph.iPv6CidrRange"
    } else {
        "#microsoft.graph.iPv4CidrRange"
    };
    json!({"@odata.type": kind, "cidrAddress": cidr})
}

/// The PATCH replacing a named location's ranges (Graph answers 204).
fn set_ranges(path: GraphPath, name: &str, ranges: &BTreeSet<String>) -> GraphRequest {
    GraphRequest::patch(path, location_body(name, ranges)).expecting(Expect::NoContent)
}

fn location_body(name: &str, ranges: &BTreeSet<String>) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "displayName": name,
        "isTrusted": false,
        "ipRanges": ranges.iter().map(|r| range_json(r)).collect::<Vec<_>>(),
    })
}

async fn find_by_name(
    runner: &GraphRunner,
    action: &PlannedAction,
    path: GraphPath,
    name: &str,
) -> Result<Option<Value>, ActionError> {
    let list = runner.call(action, GraphRequest::get(path)).await?.body;
    Ok(list["value"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|item| item["displayName"] == name)
        .cloned())
}

pub(super) async fn read_location(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let name = location_name(runner, action);
    let location = find_by_name(runner, action, locations_path(), &name).await?;
    let policies = policies_path().query("$select", "id,displayName");
    let policy = find_by_name(runner, action, policies, &policy_name(&name)).await?;
    Ok(json!({"location_name": name, "location": location, "policy": policy}))
}

pub(super) async fn block_ips(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let name = location_name(runner, action);
    let wanted = wanted_ranges(action);
    if wanted.is_empty() {
        return Err(failed(action, "no IP ranges to block"));
    }
    let existing_location = &evidence.0["location"];
    let (location_id, added, created_location) = if existing_location.is_object() {
        let id = existing_location["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let before = ranges_of(existing_location);
        let added: BTreeSet<String> = wanted.difference(&before).cloned().collect();
        if !added.is_empty() {
            let all: BTreeSet<String> = before.union(&added).cloned().collect();
            let path = locations_path()
                .opaque(&id)
                .map_err(|e| graph_failure(action, e))?;
            runner.call(action, set_ranges(path, &name, &all)).await?;
        }
        (id, added, false)
    } else {
        let created = runner
            .call(
                action,
                GraphRequest::post(locations_path(), Some(location_body(&name, &wanted)))
                    .expecting(Expect::Created),
            )
            .await?
            .body;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| failed(action, "Graph created the named location without an id"))?
            .to_string();
        (id, wanted.clone(), true)
    };
    let created_policy = match evidence.0["policy"]["id"].as_str() {
        Some(_) => None,
        None => Some(create_block_policy(runner, action, &name, &location_id).await?),
    };
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({"location_id": location_id, "blocked": wanted, "added": added, "policy_created": created_policy}),
        restore: Some(Restore(json!({
            "location_id": location_id, "location_name": name, "added": added,
            "created_location": created_location, "created_policy": created_policy,
        }))),
    })
}

/// The tenant-wide policy blocking sign-in from the named location, sparing protected accounts.
async fn create_block_policy(
    runner: &GraphRunner,
    action: &PlannedAction,
    name: &str,
    location_id: &str,
) -> Result<String, ActionError> {
    let mut excluded = Vec::new();
    for account in &runner.protected {
        let path = GraphPath::new(["users"])
            .id(account)
            .map_err(|e| graph_failure(action, e))?
            .query("$select", "id");
        match runner.call_raw(action, GraphRequest::get(path)).await? {
            Ok(user) => excluded.extend(user.body["id"].as_str().map(str::to_string)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(graph_failure(action, e)),
        }
    }
    let policy = json!({
        "displayName": policy_name(name),
        "state": "enabled",
        "conditions": {
            "applications": {"includeApplications": ["All"]},
            "users": {"includeUsers": ["All"], "excludeUsers": excluded},
            "locations": {"includeLocations": [location_id]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    });
    let created = runner
        .call(
            action,
            GraphRequest::post(policies_path(), Some(policy)).expecting(Expect::Created),
        )
        .await?
        .body;
    created["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| failed(action, "Graph created the policy without an id"))
}

pub(super) async fn verify_ranges(
    runner: &GraphRunner,
    action: &PlannedAction,
    execution: &Execution,
) -> Result<(), ActionError> {
    let id = execution.outcome["location_id"]
        .as_str()
        .unwrap_or_default();
    let path = locations_path()
        .opaque(id)
        .map_err(|e| graph_failure(action, e))?;
    let location = runner.call(action, GraphRequest::get(path)).await?.body;
    let missing: Vec<String> = wanted_ranges(action)
        .difference(&ranges_of(&location))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(failed(
        action,
        format!(
            "ranges missing from the named location after the change: {}",
            missing.join(", ")
        ),
    ))
}

pub(super) async fn unblock_ips(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    let id = restore.0["location_id"].as_str().unwrap_or_default();
    let name = restore.0["location_name"].as_str().unwrap_or_default();
    let added: BTreeSet<String> = restore.0["added"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let path = locations_path()
        .opaque(id)
        .map_err(|e| graph_failure(action, e))?;
    let location = match runner
        .call_raw(action, GraphRequest::get(path.clone()))
        .await?
    {
        Ok(response) => response.body,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(graph_failure(action, e)),
    };
    let remaining: BTreeSet<String> = ranges_of(&location).difference(&added).cloned().collect();
    if !remaining.is_empty() {
        runner
            .call(action, set_ranges(path, name, &remaining))
            .await?;
        return Ok(());
    }
    // Nothing left to block: remove the policy first (it references the location), then it.
    if let Some(policy) = restore.0["created_policy"].as_str() {
        let policy_path = policies_path()
            .opaque(policy)
            .map_err(|e| graph_failure(action, e))?;
        runner
            .call(
                action,
                GraphRequest::delete(policy_path).expecting(Expect::NoContent),
            )
            .await?;
        runner
            .call(
                action,
                GraphRequest::delete(path).expecting(Expect::NoContent),
            )
            .await?;
    } else {
        // Someone else's policy may still use the location: leave a harmless documentation range.
        let placeholder: BTreeSet<String> = ["192.0.2.255/32".to_string()].into();
        runner
            .call(action, set_ranges(path, name, &placeholder))
            .await?;
    }
    Ok(())
}
