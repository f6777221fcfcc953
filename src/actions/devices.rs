//! `disable_devices`: disable the devices the user registered inside the window, judged by
//! Graph's `registrationDateTime`; rollback enables exactly the ones this action disabled (a
//! device already disabled before is not ours to enable).

use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::runner::{GraphRunner, graph_failure};
use super::window::{Window, none_left, set_object_enabled, user_path, with_id};
use crate::graph::{GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;

const DEVICE_FIELDS: &str =
    "id,deviceId,displayName,accountEnabled,operatingSystem,trustType,registrationDateTime";
const DEVICE_TYPE: &str = "#microsoft.graph.device";

fn device_path(action: &PlannedAction, id: &str) -> Result<GraphPath, ActionError> {
    with_id(action, GraphPath::new(["devices"]), id)
}

pub(super) async fn read_devices(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let path = user_path(action)?
        .segment("registeredDevices")
        .query("$select", DEVICE_FIELDS);
    let body = runner.call(action, GraphRequest::get(path)).await?.body;
    // registeredDevices lists directory objects; only devices are ours to disable.
    let devices: Vec<Value> = body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["@odata.type"].as_str().is_none_or(|t| t == DEVICE_TYPE))
        .cloned()
        .collect();
    Ok(json!({"devices": devices}))
}

fn shown(device: &Value) -> Value {
    json!({
        "id": device["id"],
        "displayName": device["displayName"],
        "operatingSystem": device["operatingSystem"],
        "registrationDateTime": device["registrationDateTime"],
    })
}

async fn set_enabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    id: &str,
    enabled: bool,
) -> Result<Result<(), crate::graph::GraphError>, ActionError> {
    set_object_enabled(runner, action, device_path(action, id)?, enabled).await
}

pub(super) async fn disable(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let window = Window::of(action)?;
    let mut disabled = Vec::new();
    let mut already_disabled = Vec::new();
    let mut kept = Vec::new();
    for device in evidence.0["devices"].as_array().into_iter().flatten() {
        if window.contains(&device["registrationDateTime"]) != Some(true) {
            kept.push(shown(device));
            continue;
        }
        if device["accountEnabled"] == false {
            already_disabled.push(shown(device));
            continue;
        }
        let id = device["id"].as_str().unwrap_or_default();
        match set_enabled(runner, action, id, false).await? {
            Ok(()) => disabled.push(shown(device)),
            // Deleted since the pre-check: it can no longer be used either.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(graph_failure(action, e)),
        }
    }
    let ids: Vec<&Value> = disabled.iter().map(|d| &d["id"]).collect();
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({
            "window": window.describe(),
            "disabled": disabled,
            "already_disabled": already_disabled,
            "kept": kept,
        }),
        restore: Some(Restore(json!({"reenable": ids}))),
    })
}

pub(super) async fn verify_disabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    execution: &Execution,
) -> Result<(), ActionError> {
    let mut still_enabled = Vec::new();
    for id in execution.outcome["disabled"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_str())
    {
        let path = device_path(action, id)?.query("$select", "id,accountEnabled");
        let device = runner.call(action, GraphRequest::get(path)).await?.body;
        if device["accountEnabled"] != false {
            still_enabled.push(id.to_string());
        }
    }
    none_left(
        action,
        "devices still enabled after disabling them",
        &still_enabled,
    )
}

pub(super) async fn reenable(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    for id in restore.ids("reenable") {
        match set_enabled(runner, action, id, true).await? {
            Ok(()) => {}
            // A device deleted since is not ours to bring back.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(graph_failure(action, e)),
        }
    }
    Ok(())
}
