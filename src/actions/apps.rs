//! `disable_app`: disable an application for the whole tenant by setting its service
//! principal's `accountEnabled` to false. Microsoft's incident-response playbooks disable a
//! malicious app rather than delete it: a deleted app can simply be consented to again. It acts
//! for every user of the tenant, so the playbook compiler requires an approval for it.
//!
//! The rails refuse, before anything is sent, Microsoft's own first-party apps (Graph, Exchange,
//! Teams: disabling one stops the company), stanch's own app registration (it would lock
//! stanch out of the tenant) and any app in `safety.never_disable_apps`. Rollback enables the
//! app again, only when this action disabled it.

use serde_json::{Value, json};

use super::failure::failure;
use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::runner::{GraphRunner, graph_failure, target_text};
use super::window::{set_object_enabled, with_id};
use crate::graph::{GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;
use stanch_core::intake::is_object_id;
use stanch_core::rails::ranges::Refusal;

const APP_FIELDS: &str = "id,appId,displayName,accountEnabled,appOwnerOrganizationId";

/// The tenants Microsoft's first-party applications are registered in.
const MICROSOFT_TENANTS: &[&str] = &[
    "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    "72f988bf-86f1-41af-91ab-2d7cd011db47",
];

fn app_param(action: &PlannedAction) -> Result<String, ActionError> {
    let app = action
        .params
        .get("app")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let app = app.trim().to_ascii_lowercase();
    if is_object_id(&app) {
        return Ok(app);
    }
    Err(failure(
        action,
        format!(
            "`app` must be the service principal's object id or its appId (a GUID), found `{app}`"
        ),
        false,
    ))
}

fn app_path(action: &PlannedAction, id: &str) -> Result<GraphPath, ActionError> {
    with_id(action, GraphPath::new(["servicePrincipals"]), id)
}

/// The service principal `wanted` names: by object id, else by appId.
async fn find(
    runner: &GraphRunner,
    action: &PlannedAction,
    wanted: &str,
) -> Result<Option<Value>, ActionError> {
    let by_id = GraphRequest::get(app_path(action, wanted)?.query("$select", APP_FIELDS));
    match runner.call_raw(action, by_id).await? {
        Ok(response) => return Ok(Some(response.body)),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(graph_failure(action, e)),
    }
    let by_app_id = GraphPath::new(["servicePrincipals"])
        .query("$filter", &format!("appId eq '{wanted}'"))
        .query("$select", APP_FIELDS);
    let body = runner
        .call(action, GraphRequest::get(by_app_id))
        .await?
        .body;
    Ok(body["value"].as_array().and_then(|v| v.first()).cloned())
}

/// Why the rails refuse to disable `app`, if they do.
fn refusal(runner: &GraphRunner, app: &Value) -> Option<String> {
    let text = |key: &str| app[key].as_str().unwrap_or_default().to_ascii_lowercase();
    if MICROSOFT_TENANTS.contains(&text("appOwnerOrganizationId").as_str()) {
        return Some("is one of Microsoft's first-party applications; disabling it would stop the company's own use of Microsoft 365".into());
    }
    if text("appId") == runner.client.config().client_id.to_ascii_lowercase() {
        return Some(
            "is stanch's own app registration; disabling it would lock stanch out of the tenant"
                .into(),
        );
    }
    let listed = &runner.safety().settings.never_disable_apps;
    let names = [text("id"), text("appId"), text("displayName")];
    listed
        .iter()
        .any(|l| names.contains(&l.to_ascii_lowercase()))
        .then(|| "is listed in `safety.never_disable_apps`".into())
}

fn shown(app: &Value) -> Value {
    json!({
        "id": app["id"],
        "appId": app["appId"],
        "displayName": app["displayName"],
        "appOwnerOrganizationId": app["appOwnerOrganizationId"],
    })
}

/// Reads the app, and refuses (before anything is sent) one the rails protect.
pub(super) async fn read_app(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let wanted = app_param(action)?;
    let Some(app) = find(runner, action, &wanted).await? else {
        let why =
            format!("no service principal in the tenant has the object id or appId `{wanted}`");
        return Err(failure(action, why, false));
    };
    if let Some(why) = refusal(runner, &app) {
        let name = app["displayName"].as_str().unwrap_or(&wanted).to_string();
        return Err(ActionError::Refused {
            action: action.action.to_string(),
            target: target_text(action),
            reason: format!("`{name}` {why}"),
            refused: vec![Refusal { range: name, why }],
        });
    }
    Ok(json!({"app": app}))
}

async fn set_enabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    id: &str,
    enabled: bool,
) -> Result<Result<(), crate::graph::GraphError>, ActionError> {
    set_object_enabled(runner, action, app_path(action, id)?, enabled).await
}

pub(super) async fn disable(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let app = &evidence.0["app"];
    let id = app["id"].as_str().unwrap_or_default();
    if app["accountEnabled"] == false {
        // Someone disabled it before: not ours to enable on rollback.
        return Ok(Execution {
            evidence: evidence.clone(),
            outcome: json!({"app": shown(app), "already_disabled": true}),
            restore: None,
        });
    }
    set_enabled(runner, action, id, false)
        .await?
        .map_err(|e| graph_failure(action, e))?;
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({"app": shown(app), "disabled": true}),
        restore: Some(Restore(json!({"service_principal_id": id}))),
    })
}

pub(super) async fn verify_disabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    execution: &Execution,
) -> Result<(), ActionError> {
    let id = execution.outcome["app"]["id"].as_str().unwrap_or_default();
    let path = app_path(action, id)?.query("$select", "id,accountEnabled");
    let app = runner.call(action, GraphRequest::get(path)).await?.body;
    if app["accountEnabled"] == false {
        return Ok(());
    }
    Err(failure(
        action,
        format!("the application `{id}` is still enabled after disabling it"),
        false,
    ))
}

pub(super) async fn reenable(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    let id = restore.0["service_principal_id"]
        .as_str()
        .unwrap_or_default();
    match set_enabled(runner, action, id, true).await? {
        Ok(()) => Ok(()),
        // Deleted since: there is nothing left to enable.
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(graph_failure(action, e)),
    }
}
