//! What users consented to: delegated permission grants (`oauth2PermissionGrants`, tenant-wide
//! and per user), app role assignments (`users/{id}/appRoleAssignments`), and the service
//! principals they name. Grants carry no timestamps in Graph; assignments have `createdDateTime`.

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::app_roles;
use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, json_body, metadata, method_not_allowed, not_found,
    now_rfc3339, unknown_segment,
};

fn text<'a>(object: &'a Value, key: &str) -> &'a str {
    object[key].as_str().unwrap_or_default()
}

fn same_id(a: &str, b: &str) -> bool {
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

/// `GET /users/{id}/oauth2PermissionGrants`: the grants whose principal is the user, so
/// `AllPrincipals` grants are not among them (as Graph documents).
pub fn user_grants(tenant: &Fixture, req: &GraphRequest, user: usize) -> GraphResponse {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    let id = &tenant.users[user].id;
    let grants: Vec<Value> = tenant
        .oauth2_permission_grants
        .iter()
        .filter(|g| same_id(text(g, "principalId"), id))
        .cloned()
        .collect();
    GraphResponse::ok(
        json!({"@odata.context": metadata("oauth2PermissionGrants"), "value": grants}),
    )
}

/// `/oauth2PermissionGrants[/{id}]`; `rest` starts after the collection.
pub fn grants(tenant: &mut Fixture, req: &GraphRequest, rest: &[String]) -> GraphResponse {
    if rest.is_empty() && req.method == Method::POST {
        return create_grant(tenant, req);
    }
    let list = &mut tenant.oauth2_permission_grants;
    match (rest.first(), &req.method) {
        (None, &Method::GET) => GraphResponse::ok(
            json!({"@odata.context": metadata("oauth2PermissionGrants"), "value": list.clone()}),
        ),
        (None, _) => method_not_allowed(),
        (Some(id), method) if rest.len() == 1 => {
            let Some(pos) = list.iter().position(|g| same_id(text(g, "id"), id)) else {
                return not_found(id);
            };
            match *method {
                Method::GET => GraphResponse::ok(list[pos].clone()),
                Method::DELETE => {
                    list.remove(pos);
                    GraphResponse::no_content()
                }
                _ => method_not_allowed(),
            }
        }
        (Some(_), _) => unknown_segment(rest.last().map(String::as_str).unwrap_or("")),
    }
}

fn create_grant(tenant: &mut Fixture, req: &GraphRequest) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    const FIELDS: &[&str] = &[
        "clientId",
        "consentType",
        "principalId",
        "resourceId",
        "scope",
    ];
    if let Some(k) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return bad_request(&format!(
            "Property '{k}' does not exist on type 'microsoft.graph.oAuth2PermissionGrant'."
        ));
    }
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let principal = match field("consentType") {
        "AllPrincipals" => "",
        "Principal" if !field("principalId").is_empty() => field("principalId"),
        _ => {
            return bad_request(
                "consentType must be AllPrincipals, or Principal with a principalId.",
            );
        }
    };
    for k in ["clientId", "resourceId"] {
        if !service_principal_exists(tenant, field(k)) {
            return not_found(field(k));
        }
    }
    if !principal.is_empty() && tenant.user_index(principal).is_none() {
        return not_found(principal);
    }
    let duplicate = tenant.oauth2_permission_grants.iter().any(|g| {
        same_id(text(g, "clientId"), field("clientId"))
            && same_id(text(g, "resourceId"), field("resourceId"))
            && text(g, "consentType") == field("consentType")
            && text(g, "principalId").eq_ignore_ascii_case(principal)
    });
    if duplicate {
        return GraphResponse::error(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            "Permission entry already exists.",
        );
    }
    let grant = json!({
        "id": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        "clientId": field("clientId"),
        "consentType": field("consentType"),
        "principalId": if principal.is_empty() { Value::Null } else { json!(principal) },
        "resourceId": field("resourceId"),
        "scope": field("scope"),
    });
    tenant.oauth2_permission_grants.push(grant.clone());
    GraphResponse::json(StatusCode::CREATED, grant)
}

fn service_principal_exists(tenant: &Fixture, id: &str) -> bool {
    tenant
        .service_principals
        .iter()
        .any(|sp| same_id(text(sp, "id"), id))
}

/// `/users/{id}/appRoleAssignments[/{id}]`; `rest` starts after the collection.
pub fn user_assignments(
    tenant: &mut Fixture,
    req: &GraphRequest,
    user: usize,
    rest: &[String],
) -> GraphResponse {
    let user_id = tenant.users[user].id.clone();
    let mine = |a: &Value| same_id(text(a, "principalId"), &user_id);
    match (rest.first(), &req.method) {
        (None, &Method::GET) => {
            let value: Vec<Value> = tenant
                .app_role_assignments
                .iter()
                .filter(|a| mine(a))
                .cloned()
                .collect();
            GraphResponse::ok(json!({
                "@odata.context": metadata(&format!("users('{user_id}')/appRoleAssignments")),
                "value": value,
            }))
        }
        (None, &Method::POST) => assign(tenant, req, user),
        (None, _) => method_not_allowed(),
        (Some(id), &Method::DELETE) if rest.len() == 1 => {
            let list = &mut tenant.app_role_assignments;
            match list
                .iter()
                .position(|a| mine(a) && same_id(text(a, "id"), id))
            {
                Some(pos) => {
                    list.remove(pos);
                    GraphResponse::no_content()
                }
                None => not_found(id),
            }
        }
        (Some(_), _) if rest.len() == 1 => method_not_allowed(),
        (Some(_), _) => unknown_segment(rest.last().map(String::as_str).unwrap_or("")),
    }
}

fn assign(tenant: &mut Fixture, req: &GraphRequest, user: usize) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let user = &tenant.users[user];
    if !same_id(field("principalId"), &user.id) {
        return bad_request("principalId must be the user the assignment is created for.");
    }
    let Some(resource) = tenant
        .service_principals
        .iter()
        .find(|sp| same_id(text(sp, "id"), field("resourceId")))
    else {
        return not_found(field("resourceId"));
    };
    let duplicate = tenant.app_role_assignments.iter().any(|a| {
        same_id(text(a, "principalId"), &user.id)
            && same_id(text(a, "resourceId"), field("resourceId"))
            && text(a, "appRoleId").eq_ignore_ascii_case(field("appRoleId"))
    });
    if duplicate {
        return bad_request("Permission being assigned already exists on the object");
    }
    let mut assignment = Map::new();
    for (k, v) in [
        (
            "id",
            json!(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(uuid::Uuid::new_v4().as_bytes())
            ),
        ),
        ("appRoleId", json!(field("appRoleId"))),
        ("createdDateTime", json!(now_rfc3339())),
        ("principalDisplayName", json!(user.display_name)),
        ("principalId", json!(user.id)),
        ("principalType", json!("User")),
        ("resourceDisplayName", resource["displayName"].clone()),
        ("resourceId", json!(field("resourceId"))),
    ] {
        assignment.insert(k.to_string(), v);
    }
    let assignment = Value::Object(assignment);
    tenant.app_role_assignments.push(assignment.clone());
    GraphResponse::json(StatusCode::CREATED, assignment)
}

/// `/servicePrincipals`: list (with `$filter=appId eq '…'`, how a client finds an app by its
/// appId), `GET /{id}` (Microsoft Graph's with its `appRoles`), `GET /{id}/appRoleAssignments`
/// (the permissions it holds), and `PATCH /{id}` of `accountEnabled` (how an app is disabled
/// for the whole tenant); `rest` starts after the collection.
pub fn service_principals(
    tenant: &mut Fixture,
    req: &GraphRequest,
    rest: &[String],
) -> GraphResponse {
    if let [id, collection] = rest
        && collection.eq_ignore_ascii_case("appRoleAssignments")
    {
        let Some(sp) = tenant
            .service_principals
            .iter()
            .find(|sp| same_id(text(sp, "id"), id))
        else {
            return not_found(id);
        };
        if req.method != Method::GET {
            return method_not_allowed();
        }
        let value = app_roles::assignments_of(tenant, sp);
        return GraphResponse::ok(json!({
            "@odata.context": metadata(&format!("servicePrincipals('{id}')/appRoleAssignments")),
            "value": value,
        }));
    }
    let list = &mut tenant.service_principals;
    match (rest, &req.method) {
        ([], &Method::GET) => list_service_principals(list, req),
        ([id], method) => {
            let Some(sp) = list.iter_mut().find(|sp| same_id(text(sp, "id"), id)) else {
                return not_found(id);
            };
            match *method {
                Method::GET => GraphResponse::ok(app_roles::served(sp)),
                Method::PATCH => patch_service_principal(sp, req),
                _ => method_not_allowed(),
            }
        }
        ([], _) => method_not_allowed(),
        _ => unknown_segment(rest.last().map(String::as_str).unwrap_or_default()),
    }
}

fn list_service_principals(list: &[Value], req: &GraphRequest) -> GraphResponse {
    let pairs = crate::wire::query_pairs(&req.query);
    let wanted = match crate::wire::query_param(&pairs, "$filter") {
        None => None,
        Some(filter) => match crate::wire::parse_eq(&filter, &["appId", "displayName"]) {
            Some(clause) => Some(clause),
            None => return crate::wire::unsupported_query(&filter),
        },
    };
    let value: Vec<Value> = list
        .iter()
        .filter(|sp| {
            wanted.as_ref().is_none_or(|(field, value)| {
                text(sp, field).eq_ignore_ascii_case(value) && !value.is_empty()
            })
        })
        .map(app_roles::served)
        .collect();
    GraphResponse::ok(json!({"@odata.context": metadata("servicePrincipals"), "value": value}))
}

fn patch_service_principal(sp: &mut Value, req: &GraphRequest) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    for (key, value) in body {
        match (key.as_str(), value) {
            ("accountEnabled", Value::Bool(enabled)) => sp["accountEnabled"] = json!(enabled),
            ("accountEnabled", _) => return bad_request("accountEnabled must be a boolean."),
            (other, _) => {
                return bad_request(&format!(
                    "Property '{other}' cannot be changed on a servicePrincipal here."
                ));
            }
        }
    }
    GraphResponse::no_content()
}
