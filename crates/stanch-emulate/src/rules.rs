//! Inbox rules (`mailFolders/inbox/messageRules`), with Exchange's error codes.

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, json_body, mailbox_not_enabled, metadata, method_not_allowed,
    unknown_segment,
};

const WRITABLE: &[&str] = &[
    "displayName",
    "sequence",
    "isEnabled",
    "conditions",
    "exceptions",
    "actions",
];

fn item_not_found() -> GraphResponse {
    GraphResponse::error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn invalid(message: &str) -> GraphResponse {
    GraphResponse::error(StatusCode::BAD_REQUEST, "ErrorInvalidRequest", message)
}

/// `rest` starts after `mailFolders`.
pub fn route(
    tenant: &mut Fixture,
    req: &GraphRequest,
    user: usize,
    rest: &[String],
) -> GraphResponse {
    if !tenant.users[user].mailbox_enabled {
        return mailbox_not_enabled();
    }
    let folder = rest.first().map(|s| s.to_ascii_lowercase());
    let collection = rest.get(1).map(|s| s.to_ascii_lowercase());
    if folder.as_deref() != Some("inbox") || collection.as_deref() != Some("messagerules") {
        return unknown_segment(rest.last().map(String::as_str).unwrap_or("mailFolders"));
    }
    let upn = tenant.users[user].user_principal_name.clone();
    let rules = tenant.rules_mut(user);
    match (rest.get(2), &req.method) {
        (None, &Method::GET) => {
            let mut sorted = rules.clone();
            sorted.sort_by_key(|r| r.get("sequence").and_then(Value::as_i64).unwrap_or(0));
            GraphResponse::ok(json!({
                "@odata.context": metadata(&format!("users('{upn}')/mailFolders('inbox')/messageRules")),
                "value": sorted,
            }))
        }
        (None, &Method::POST) => create(rules, req),
        (None, _) => method_not_allowed(),
        (Some(id), method) if rest.len() == 3 => {
            if !well_formed(id) {
                return GraphResponse::error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidIdMalformed",
                    "Id is malformed.",
                );
            }
            let Some(pos) = rules
                .iter()
                .position(|r| r.get("id").and_then(Value::as_str) == Some(id.as_str()))
            else {
                return item_not_found();
            };
            let read_only = rules[pos].get("isReadOnly").and_then(Value::as_bool) == Some(true);
            match *method {
                Method::GET => GraphResponse::ok(rules[pos].clone()),
                Method::PATCH | Method::DELETE if read_only => GraphResponse::error(
                    StatusCode::FORBIDDEN,
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                ),
                Method::PATCH => update(&mut rules[pos], req),
                Method::DELETE => {
                    rules.remove(pos);
                    GraphResponse::no_content()
                }
                _ => method_not_allowed(),
            }
        }
        (Some(_), _) => unknown_segment(rest.last().map(String::as_str).unwrap_or("")),
    }
}

/// Exchange ids are base64; anything else is rejected before the lookup, as Exchange does.
fn well_formed(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'))
}

fn update(rule: &mut Value, req: &GraphRequest) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    if let Some(k) = body.keys().find(|k| !WRITABLE.contains(&k.as_str())) {
        return invalid(&format!("The property '{k}' cannot be updated."));
    }
    if body.get("isEnabled").is_some_and(|v| !v.is_boolean()) {
        return invalid("The value of 'isEnabled' must be a boolean.");
    }
    if let Some(map) = rule.as_object_mut() {
        for (k, v) in body {
            map.insert(k, v);
        }
    }
    // The contract's quirk: 200 with the whole rule, not 204.
    GraphResponse::ok(rule.clone())
}

fn create(rules: &mut Vec<Value>, req: &GraphRequest) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    if let Some(k) = body.keys().find(|k| !WRITABLE.contains(&k.as_str())) {
        return invalid(&format!("The property '{k}' cannot be set."));
    }
    if !body.get("displayName").is_some_and(Value::is_string) {
        return invalid("The displayName of a rule is required.");
    }
    let id =
        base64::engine::general_purpose::STANDARD.encode(&uuid::Uuid::new_v4().as_bytes()[..8]);
    let next = rules
        .iter()
        .filter_map(|r| r.get("sequence").and_then(Value::as_i64))
        .max()
        .unwrap_or(0)
        + 1;
    let mut rule = json!({
        "id": id, "displayName": body["displayName"], "sequence": next, "isEnabled": true,
        "hasError": false, "isReadOnly": false, "conditions": {}, "actions": {},
    });
    if let Some(map) = rule.as_object_mut() {
        for (k, v) in body {
            map.insert(k, v);
        }
    }
    rules.push(rule.clone());
    GraphResponse::json(StatusCode::CREATED, rule)
}
