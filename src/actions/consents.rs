//! `revoke_app_consent`: revoke what the user consented to for the attacker's app.
//!
//! How a consent is judged the attacker's: an app role assignment has `createdDateTime`, so one
//! made inside the window is; a delegated permission grant (`oAuth2PermissionGrant`) carries no
//! time at all in Graph, so a grant is revoked only when its client app is named in `apps`
//! (appId or display name), or when the user was assigned to that same client app inside the
//! window (consenting to an app assigns the user to it, so the assignment dates the grant).
//! Assignments to a named app go too, whatever their time. `AllPrincipals` grants (an admin's,
//! tenant-wide) are not the user's and are not listed under the user: they are left alone.
//!
//! Rollback grants again what was revoked, from the saved `clientId`, `consentType`,
//! `principalId`, `resourceId` and `scope` (grants) and `principalId`, `resourceId`,
//! `appRoleId` (assignments); they come back with new ids.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::runner::{GraphRunner, graph_failure};
use super::window::{Window, list_param, none_left, still_present, user_path, with_id};
use crate::graph::{Expect, GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;

const ASSIGNMENT_FIELDS: &str =
    "id,appRoleId,createdDateTime,principalId,resourceId,resourceDisplayName";
const GRANT_KEYS: &[&str] = &[
    "clientId",
    "consentType",
    "principalId",
    "resourceId",
    "scope",
];
const ASSIGNMENT_KEYS: &[&str] = &["principalId", "resourceId", "appRoleId"];

fn pick(object: &Value, keys: &[&str]) -> Value {
    let map: Map<String, Value> = keys
        .iter()
        .map(|k| (k.to_string(), object[*k].clone()))
        .collect();
    Value::Object(map)
}

async fn list(
    runner: &GraphRunner,
    action: &PlannedAction,
    path: GraphPath,
) -> Result<Vec<Value>, ActionError> {
    let body = runner.call(action, GraphRequest::get(path)).await?.body;
    Ok(body["value"].as_array().cloned().unwrap_or_default())
}

async fn read_grants(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<(Vec<Value>, Vec<Value>), ActionError> {
    let grants = list(
        runner,
        action,
        user_path(action)?.segment("oauth2PermissionGrants"),
    )
    .await?;
    let assignments = list(
        runner,
        action,
        user_path(action)?
            .segment("appRoleAssignments")
            .query("$select", ASSIGNMENT_FIELDS),
    )
    .await?;
    Ok((grants, assignments))
}

/// The user's grants and assignments, and the apps they name (each read once).
pub(super) async fn read_consents(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let (grants, assignments) = read_grants(runner, action).await?;
    let ids: BTreeSet<&str> = grants
        .iter()
        .filter_map(|g| g["clientId"].as_str())
        .chain(assignments.iter().filter_map(|a| a["resourceId"].as_str()))
        .collect();
    let mut apps = Map::new();
    for id in ids {
        let path = with_id(action, GraphPath::new(["servicePrincipals"]), id)?
            .query("$select", "id,appId,displayName");
        let app = runner.call(action, GraphRequest::get(path)).await?.body;
        apps.insert(
            id.to_string(),
            json!({"appId": app["appId"], "displayName": app["displayName"]}),
        );
    }
    Ok(json!({"grants": grants, "assignments": assignments, "apps": apps}))
}

pub(super) async fn revoke(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let window = Window::of(action)?;
    let named = list_param(action, "apps");
    let apps = &evidence.0["apps"];
    let is_named = |sp: &Value| {
        let app = &apps[sp.as_str().unwrap_or_default()];
        [&app["appId"], &app["displayName"]]
            .iter()
            .filter_map(|v| v.as_str())
            .any(|v| named.contains(&v.to_lowercase()))
    };
    let all = |key: &str| evidence.0[key].as_array().cloned().unwrap_or_default();
    let (assignments, kept_assignments): (Vec<Value>, Vec<Value>) =
        all("assignments").into_iter().partition(|a| {
            is_named(&a["resourceId"]) || window.contains(&a["createdDateTime"]) == Some(true)
        });
    let dated_apps: Vec<&Value> = assignments
        .iter()
        .filter(|a| window.contains(&a["createdDateTime"]) == Some(true))
        .map(|a| &a["resourceId"])
        .collect();
    let (grants, kept_grants): (Vec<Value>, Vec<Value>) = all("grants")
        .into_iter()
        .partition(|g| is_named(&g["clientId"]) || dated_apps.contains(&&g["clientId"]));
    let app_name = |sp: &Value| apps[sp.as_str().unwrap_or_default()]["displayName"].clone();
    let mut revoked_grants = Vec::new();
    for grant in &grants {
        let id = grant["id"].as_str().unwrap_or_default();
        let path = with_id(action, GraphPath::new(["oauth2PermissionGrants"]), id)?;
        if delete(runner, action, path).await? {
            let mut shown = grant.clone();
            shown["app"] = app_name(&grant["clientId"]);
            revoked_grants.push(shown);
        }
    }
    let mut revoked_assignments = Vec::new();
    for assignment in &assignments {
        let id = assignment["id"].as_str().unwrap_or_default();
        let path = with_id(action, user_path(action)?.segment("appRoleAssignments"), id)?;
        if delete(runner, action, path).await? {
            revoked_assignments.push(assignment.clone());
        }
    }
    // The apps that held what was revoked: each may be the attacker's, for everyone.
    let revoked_apps: Vec<Value> = (revoked_grants.iter().map(|g| &g["clientId"]))
        .chain(revoked_assignments.iter().map(|a| &a["resourceId"]))
        .filter_map(Value::as_str)
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .map(|sp| json!({"id": sp, "appId": apps[sp]["appId"], "displayName": apps[sp]["displayName"]}))
        .collect();
    let restore = json!({
        "grants": revoked_grants.iter().map(|g| pick(g, GRANT_KEYS)).collect::<Vec<_>>(),
        "assignments": revoked_assignments.iter().map(|a| pick(a, ASSIGNMENT_KEYS)).collect::<Vec<_>>(),
    });
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({
            "window": window.describe(),
            "apps": named,
            "revoked_grants": revoked_grants,
            "revoked_assignments": revoked_assignments,
            "revoked_apps": revoked_apps,
            "kept_grants": kept_grants,
            "kept_assignments": kept_assignments,
        }),
        restore: Some(Restore(restore)),
    })
}

/// Deletes one consent (204); `false` when it was already gone.
async fn delete(
    runner: &GraphRunner,
    action: &PlannedAction,
    path: GraphPath,
) -> Result<bool, ActionError> {
    let request = GraphRequest::delete(path).expecting(Expect::NoContent);
    match runner.call_raw(action, request).await? {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(graph_failure(action, e)),
    }
}

pub(super) async fn verify_revoked(
    runner: &GraphRunner,
    action: &PlannedAction,
    execution: &Execution,
) -> Result<(), ActionError> {
    let outcome = &execution.outcome;
    let revoked = |key: &str| outcome[key].as_array().cloned().unwrap_or_default();
    let (grants, assignments) = (revoked("revoked_grants"), revoked("revoked_assignments"));
    if grants.is_empty() && assignments.is_empty() {
        return Ok(());
    }
    let (now_grants, now_assignments) = read_grants(runner, action).await?;
    let mut left = still_present(&grants, &now_grants);
    left.extend(still_present(&assignments, &now_assignments));
    none_left(action, "consents still in place after revoking them", &left)
}

/// Grants again what was revoked; one already back (the user consented again) is left as is.
pub(super) async fn restore(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    let (now_grants, now_assignments) = read_grants(runner, action).await?;
    let same = |a: &Value, b: &Value, keys: &[&str]| keys.iter().all(|k| a[*k] == b[*k]);
    let saved = |key: &str| restore.0[key].as_array().cloned().unwrap_or_default();
    for grant in saved("grants") {
        let keys = ["clientId", "consentType", "principalId", "resourceId"];
        if now_grants.iter().any(|g| same(g, &grant, &keys)) {
            continue;
        }
        let request = GraphRequest::post(GraphPath::new(["oauth2PermissionGrants"]), Some(grant))
            .expecting(Expect::Created);
        runner.call(action, request).await?;
    }
    for assignment in saved("assignments") {
        if now_assignments
            .iter()
            .any(|a| same(a, &assignment, ASSIGNMENT_KEYS))
        {
            continue;
        }
        let path = user_path(action)?.segment("appRoleAssignments");
        let request = GraphRequest::post(path, Some(assignment)).expecting(Expect::Created);
        runner.call(action, request).await?;
    }
    Ok(())
}
