//! A user's authentication methods (`users/{id}/authentication/…`): the combined list, one
//! collection per method type, delete, and Temporary Access Pass creation, with the rule Graph
//! enforces that the default method cannot be deleted while the user has others.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, json_body, metadata, method_not_allowed, not_found,
    now_rfc3339, unknown_segment,
};

/// The collection segment of each method type, and its `@odata.type`.
const KINDS: &[(&str, &str)] = &[
    ("passwordMethods", "passwordAuthenticationMethod"),
    ("phoneMethods", "phoneAuthenticationMethod"),
    ("emailMethods", "emailAuthenticationMethod"),
    (
        "microsoftAuthenticatorMethods",
        "microsoftAuthenticatorAuthenticationMethod",
    ),
    ("softwareOathMethods", "softwareOathAuthenticationMethod"),
    ("fido2Methods", "fido2AuthenticationMethod"),
    (
        "windowsHelloForBusinessMethods",
        "windowsHelloForBusinessAuthenticationMethod",
    ),
    (
        "temporaryAccessPassMethods",
        "temporaryAccessPassAuthenticationMethod",
    ),
];

const PASSWORD_TYPE: &str = "#microsoft.graph.passwordAuthenticationMethod";
const TAP_TYPE: &str = "#microsoft.graph.temporaryAccessPassAuthenticationMethod";

fn odata_type(method: &Value) -> &str {
    method["@odata.type"].as_str().unwrap_or_default()
}

fn id_of(method: &Value) -> &str {
    method["id"].as_str().unwrap_or_default()
}

/// `rest` starts after `authentication`.
pub fn route(
    tenant: &mut Fixture,
    req: &GraphRequest,
    user: usize,
    rest: &[String],
) -> GraphResponse {
    let Some(collection) = rest.first() else {
        return unknown_segment("authentication");
    };
    let user_id = tenant.users[user].id.clone();
    if collection.eq_ignore_ascii_case("methods") {
        return match (rest.get(1), &req.method) {
            (None, &Method::GET) => list(tenant, user, &user_id, None),
            (None, _) => method_not_allowed(),
            (Some(_), _) => unknown_segment(rest.last().map(String::as_str).unwrap_or("")),
        };
    }
    let Some((segment, kind)) = KINDS
        .iter()
        .find(|(segment, _)| segment.eq_ignore_ascii_case(collection))
    else {
        return unknown_segment(collection);
    };
    let wanted = format!("#microsoft.graph.{kind}");
    match (rest.get(1), &req.method) {
        (None, &Method::GET) => list(tenant, user, &user_id, Some((segment, &wanted))),
        (None, &Method::POST) if wanted == TAP_TYPE => issue_pass(tenant, req, user),
        (None, _) => method_not_allowed(),
        (Some(id), method) if rest.len() == 2 => {
            let methods = tenant.methods_mut(user);
            let Some(pos) = methods
                .iter()
                .position(|m| odata_type(m) == wanted && id_of(m).eq_ignore_ascii_case(id))
            else {
                return not_found(id);
            };
            match *method {
                Method::GET => GraphResponse::ok(methods[pos].clone()),
                // The password is changed, never deleted.
                Method::DELETE if wanted == PASSWORD_TYPE => method_not_allowed(),
                Method::DELETE => delete(tenant, user, pos),
                _ => method_not_allowed(),
            }
        }
        (Some(_), _) => unknown_segment(rest.last().map(String::as_str).unwrap_or("")),
    }
}

fn list(
    tenant: &mut Fixture,
    user: usize,
    user_id: &str,
    only: Option<(&str, &str)>,
) -> GraphResponse {
    let methods: Vec<Value> = tenant
        .methods_mut(user)
        .iter()
        .filter(|m| only.is_none_or(|(_, wanted)| odata_type(m) == wanted))
        .cloned()
        .collect();
    let collection = only.map(|(segment, _)| segment).unwrap_or("methods");
    GraphResponse::ok(json!({
        "@odata.context": metadata(&format!("users('{user_id}')/authentication/{collection}")),
        "value": methods,
    }))
}

/// Graph answers 400 for the default method while other methods (besides the password) remain:
/// "Cannot delete default method with other methods configured."
fn delete(tenant: &mut Fixture, user: usize, pos: usize) -> GraphResponse {
    let default = tenant.default_method(user).map(str::to_string);
    let methods = tenant.methods_mut(user);
    let is_default = default.is_some_and(|d| d.eq_ignore_ascii_case(id_of(&methods[pos])));
    let others = methods
        .iter()
        .enumerate()
        .any(|(i, m)| i != pos && odata_type(m) != PASSWORD_TYPE);
    if is_default && others {
        return GraphResponse::error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            "Cannot delete default method with other methods configured. Please change default method before deletion.",
        );
    }
    methods.remove(pos);
    GraphResponse::no_content()
}

/// `POST temporaryAccessPassMethods`: 201 with the pass, shown this once; a later read of the
/// method returns `temporaryAccessPass: null`. A user holds at most one pass.
fn issue_pass(tenant: &mut Fixture, req: &GraphRequest, user: usize) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    if let Some(k) = body
        .keys()
        .find(|k| !["lifetimeInMinutes", "isUsableOnce", "startDateTime"].contains(&k.as_str()))
    {
        return bad_request(&format!(
            "Property '{k}' does not exist on type 'microsoft.graph.temporaryAccessPassAuthenticationMethod'."
        ));
    }
    let lifetime = match body.get("lifetimeInMinutes") {
        None => 60,
        Some(v) => match v.as_i64().filter(|m| (10..=43200).contains(m)) {
            Some(m) => m,
            None => return bad_request("lifetimeInMinutes must be between 10 and 43200."),
        },
    };
    let methods = tenant.methods_mut(user);
    if methods.iter().any(|m| odata_type(m) == TAP_TYPE) {
        return bad_request("The user already has a Temporary Access Pass.");
    }
    let now = now_rfc3339();
    let id = uuid::Uuid::new_v4().to_string();
    let stored = json!({
        "@odata.type": TAP_TYPE,
        "id": id,
        "temporaryAccessPass": null,
        "createdDateTime": now,
        "startDateTime": body.get("startDateTime").cloned().unwrap_or(json!(now)),
        "lifetimeInMinutes": lifetime,
        "isUsableOnce": body.get("isUsableOnce").and_then(Value::as_bool).unwrap_or(false),
        "isUsable": true,
        "methodUsabilityReason": "EnabledByPolicy",
    });
    methods.push(stored.clone());
    let mut shown = stored;
    let pass: String = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    shown["temporaryAccessPass"] = json!(pass);
    GraphResponse::json(StatusCode::CREATED, shown)
}
