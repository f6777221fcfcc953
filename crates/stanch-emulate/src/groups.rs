//! Groups and their membership, including the `$ref` quarantine-group pattern.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::fixture::{Fixture, Group};
use crate::users;
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, json_body, metadata, method_not_allowed, not_found,
    now_rfc3339, unknown_segment,
};

fn view(group: &Group) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(group.id));
    out.insert("displayName".into(), json!(group.display_name));
    for (k, v) in &group.extra {
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}

/// `GET /groups`, with `$filter=displayName eq '…'` or `mailNickname eq '…'` (what stanch's setup
/// looks its quarantine group up by); any other filter is refused as Graph refuses what it
/// cannot evaluate.
fn list(tenant: &Fixture, req: &GraphRequest) -> GraphResponse {
    let pairs = crate::wire::query_pairs(&req.query);
    let wanted = match crate::wire::query_param(&pairs, "$filter") {
        None => None,
        Some(filter) => match crate::wire::parse_eq(&filter, &["displayName", "mailNickname"]) {
            Some(clause) => Some(clause),
            None => return crate::wire::unsupported_query(&filter),
        },
    };
    let value: Vec<Value> = tenant
        .groups
        .iter()
        .map(view)
        .filter(|g| {
            wanted
                .as_ref()
                .is_none_or(|(field, value)| g[field.as_str()].as_str() == Some(value.as_str()))
        })
        .collect();
    GraphResponse::ok(json!({"@odata.context": metadata("groups"), "value": value}))
}

/// `GET /directoryRoles` and `GET /directoryRoles/{id}/members` (`segs` starts after
/// `directoryRoles`). Roles are read-only here, as stanch only reads them.
pub fn directory_roles(tenant: &mut Fixture, req: &GraphRequest, segs: &[String]) -> GraphResponse {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    match segs {
        [] => GraphResponse::ok(json!({
            "@odata.context": metadata("directoryRoles"),
            "value": tenant.directory_roles.iter().map(view).collect::<Vec<_>>(),
        })),
        [id, rest @ ..] => {
            let Some(role) = tenant
                .directory_roles
                .iter()
                .find(|r| r.id.eq_ignore_ascii_case(id))
            else {
                return not_found(id);
            };
            match rest {
                [] => GraphResponse::ok(view(role)),
                [m] if m.eq_ignore_ascii_case("members") => GraphResponse::ok(json!({
                    "@odata.context": metadata("directoryObjects"),
                    "value": member_views(tenant, &role.members),
                })),
                _ => unknown_segment(rest.last().map(String::as_str).unwrap_or("")),
            }
        }
    }
}

fn member_views(tenant: &Fixture, members: &[String]) -> Vec<Value> {
    members
        .iter()
        .filter_map(|m| tenant.user_index(m))
        .map(|u| {
            let mut v = users::view(&tenant.users[u]);
            if let Some(map) = v.as_object_mut() {
                map.insert("@odata.type".into(), json!("#microsoft.graph.user"));
            }
            v
        })
        .collect()
}

/// `segs` starts after `groups`.
pub fn route(tenant: &mut Fixture, req: &GraphRequest, segs: &[String]) -> GraphResponse {
    let Some(id) = segs.first() else {
        return match req.method {
            Method::GET => list(tenant, req),
            Method::POST => create(tenant, req),
            _ => method_not_allowed(),
        };
    };
    let Some(g) = tenant
        .groups
        .iter()
        .position(|g| g.id.eq_ignore_ascii_case(id))
    else {
        return not_found(id);
    };
    let rest: Vec<String> = segs[1..].iter().map(|s| s.to_ascii_lowercase()).collect();
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (rest.as_slice(), &req.method) {
        ([], &Method::GET) => GraphResponse::ok(view(&tenant.groups[g])),
        (["members"], &Method::GET) => {
            let members = member_views(tenant, &tenant.groups[g].members);
            GraphResponse::ok(json!({
                "@odata.context": metadata("directoryObjects"),
                "value": members,
            }))
        }
        (["members", "$ref"], &Method::POST) => add_member(tenant, req, g),
        (["members", _, "$ref"], &Method::DELETE) => {
            let member = &segs[2];
            let group = &mut tenant.groups[g];
            match group
                .members
                .iter()
                .position(|m| m.eq_ignore_ascii_case(member))
            {
                Some(pos) => {
                    group.members.remove(pos);
                    GraphResponse::no_content()
                }
                None => not_found(member),
            }
        }
        ([], _) | (["members"], _) | (["members", "$ref"], _) => method_not_allowed(),
        _ => unknown_segment(segs.last().map(String::as_str).unwrap_or("")),
    }
}

fn add_member(tenant: &mut Fixture, req: &GraphRequest, g: usize) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    let Some(reference) = body.get("@odata.id").and_then(Value::as_str) else {
        return bad_request("Invalid object identifier ''.");
    };
    let id = reference.rsplit('/').next().unwrap_or("");
    let lower = reference.to_ascii_lowercase();
    if !(lower.contains("/directoryobjects/") || lower.contains("/users/")) {
        return bad_request(&format!("Invalid object identifier '{reference}'."));
    }
    let Some(u) = tenant.user_index(id) else {
        return not_found(id);
    };
    let user_id = tenant.users[u].id.clone();
    let group = &mut tenant.groups[g];
    if group
        .members
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&user_id))
    {
        return bad_request(
            "One or more added object references already exist for the following modified properties: 'members'.",
        );
    }
    group.members.push(user_id);
    GraphResponse::no_content()
}

fn create(tenant: &mut Fixture, req: &GraphRequest) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    for required in [
        "displayName",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
    ] {
        if !body.contains_key(required) {
            return bad_request(&format!(
                "Invalid value specified for property '{required}' of resource 'Group'."
            ));
        }
    }
    let Some(name) = body.get("displayName").and_then(Value::as_str) else {
        return bad_request(
            "Invalid value specified for property 'displayName' of resource 'Group'.",
        );
    };
    let mut extra = Map::new();
    for (k, v) in &body {
        if k != "displayName" && !k.starts_with("members@") && !k.starts_with("owners@") {
            extra.insert(k.clone(), v.clone());
        }
    }
    extra.insert("createdDateTime".into(), json!(now_rfc3339()));
    let group = Group {
        id: uuid::Uuid::new_v4().to_string(),
        display_name: name.to_string(),
        members: Vec::new(),
        extra,
    };
    let mut out = view(&group);
    if let Some(map) = out.as_object_mut() {
        map.insert("@odata.context".into(), json!(metadata("groups/$entity")));
    }
    tenant.groups.push(group);
    GraphResponse::json(StatusCode::CREATED, out)
}
