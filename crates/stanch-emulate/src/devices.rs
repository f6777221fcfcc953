//! Devices: the ones a user registered (`users/{id}/registeredDevices`, directory objects typed
//! `#microsoft.graph.device`), and `devices/{id}` read and update (`accountEnabled`), 204.

use axum::http::Method;
use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, json_body, metadata, method_not_allowed, not_found,
    unknown_segment,
};

const WRITABLE: &[&str] = &["accountEnabled", "displayName", "extensionAttributes"];

fn typed(device: &Value) -> Value {
    let mut device = device.clone();
    device["@odata.type"] = json!("#microsoft.graph.device");
    device
}

pub fn registered_by(tenant: &Fixture, req: &GraphRequest, user: usize) -> GraphResponse {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    let devices: Vec<Value> = tenant
        .registered_device_ids(user)
        .iter()
        .filter_map(|id| tenant.device_index(id))
        .map(|i| typed(&tenant.devices[i]))
        .collect();
    GraphResponse::ok(json!({"@odata.context": metadata("directoryObjects"), "value": devices}))
}

/// `/devices/{id}`; `rest` starts after the collection.
pub fn route(tenant: &mut Fixture, req: &GraphRequest, rest: &[String]) -> GraphResponse {
    let [id] = rest else {
        return unknown_segment(rest.last().map(String::as_str).unwrap_or("devices"));
    };
    let Some(index) = tenant.device_index(id) else {
        return not_found(id);
    };
    match req.method {
        Method::GET => {
            let mut device = tenant.devices[index].clone();
            device["@odata.context"] = json!(metadata("devices/$entity"));
            GraphResponse::ok(device)
        }
        Method::PATCH => update(&mut tenant.devices[index], req),
        _ => method_not_allowed(),
    }
}

fn update(device: &mut Value, req: &GraphRequest) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    if let Some(k) = body.keys().find(|k| !WRITABLE.contains(&k.as_str())) {
        return bad_request(&format!(
            "Property '{k}' is read-only or does not exist on type 'microsoft.graph.device'."
        ));
    }
    if body.get("accountEnabled").is_some_and(|v| !v.is_boolean()) {
        return bad_request(
            "Invalid value specified for property 'accountEnabled' of resource 'Device'.",
        );
    }
    for (k, v) in body {
        device[k] = v;
    }
    GraphResponse::no_content()
}
