//! The tenant-wide block of attacker IP ranges: a named location of them and the Conditional
//! Access policy blocking sign-in from it. The pre-check reads the tenant's named locations and
//! policies, and nothing is sent when the rails refuse a range (`ip_rails.rs`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::access::failed;
use super::ip_rails::{Tenant, judge};
use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::pages::read_all;
use super::runner::{GraphRunner, graph_failure, target_text};
use crate::graph::{Expect, GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;
use stanch_core::rails::ranges::ranges_param;

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
    ranges_param(&action.params).into_iter().collect()
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

/// Reads the tenant's named locations and policies, and refuses the block (before anything is
/// sent) when a range or the location it would change fails the rails.
pub(super) async fn read_location(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let name = location_name(runner, action);
    let policy_name = policy_name(&name);
    let select = "id,displayName,isTrusted,ipRanges";
    let path = locations_path().query("$select", select);
    let locations = read_all(runner, action, path, "named locations").await?;
    let path = policies_path().query("$select", "id,displayName,conditions");
    let policies = read_all(runner, action, path, "Conditional Access policies").await?;
    let wanted: Vec<String> = wanted_ranges(action).into_iter().collect();
    let tenant = Tenant {
        locations: &locations,
        policies: &policies,
    };
    let rules = &runner.safety().settings.block_ips;
    let verdict = judge(rules, &wanted, &name, &policy_name, &tenant);
    if !verdict.is_clear() {
        return Err(ActionError::Refused {
            action: action.action.to_string(),
            target: target_text(action),
            reason: verdict.reason(),
            refused: verdict.refused,
        });
    }
    let trusted: Vec<&Value> = (locations.iter())
        .filter(|l| l["isTrusted"] == true)
        .map(|l| &l["displayName"])
        .collect();
    let location = locations.iter().find(|l| l["displayName"] == name);
    let policy = (policies.iter())
        .find(|p| p["displayName"] == policy_name)
        .map(|p| json!({"id": p["id"], "displayName": p["displayName"]}));
    Ok(
        json!({"location_name": name, "location": location, "policy": policy, "trusted_locations": trusted}),
    )
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
