//! Users: read, disable, reset password, revoke sessions.

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::fixture::{Fixture, User};
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, forbidden, json_body, metadata, method_not_allowed,
    not_found, now_rfc3339, unknown_segment,
};
use crate::{auth_methods, consents, devices, mail, rules, select};

/// Properties Graph treats as sensitive for admin targets (MC358528).
const SENSITIVE: &[&str] = &[
    "accountEnabled",
    "passwordProfile",
    "businessPhones",
    "mobilePhone",
    "otherMails",
    "userPrincipalName",
    "onPremisesImmutableId",
];

const WRITABLE: &[&str] = &[
    "accountEnabled",
    "passwordProfile",
    "businessPhones",
    "mobilePhone",
    "otherMails",
    "userPrincipalName",
    "displayName",
    "jobTitle",
    "department",
    "officeLocation",
    "usageLocation",
];

/// Whether the app behind the request may change sensitive attributes of admins.
fn client_is_privileged(tenant: &Fixture, req: &GraphRequest) -> bool {
    req.client.as_deref().is_some_and(|id| {
        tenant
            .clients
            .iter()
            .any(|c| c.id.eq_ignore_ascii_case(id) && c.privileged)
    })
}

/// Properties Graph returns only when `$select` names them (the user resource's docs: "returned
/// only on `$select`"); a client reading them without selecting them reads nothing.
const SELECT_ONLY: &[&str] = &["signInSessionsValidFromDateTime", "onPremisesSyncEnabled"];

/// A user as a collection read shows it; `$select` (if any) is applied by the router.
pub fn view(user: &User) -> Value {
    view_with(user, None, false)
}

/// A user as Graph shows it: the `$select`-only properties only when `selected`.
fn view_with(user: &User, context: Option<String>, selected: bool) -> Value {
    let mut out = Map::new();
    if let Some(context) = context {
        out.insert("@odata.context".into(), json!(context));
    }
    out.insert("id".into(), json!(user.id));
    out.insert("displayName".into(), json!(user.display_name));
    out.insert("userPrincipalName".into(), json!(user.user_principal_name));
    out.insert("accountEnabled".into(), json!(user.account_enabled));
    out.insert(
        "onPremisesSyncEnabled".into(),
        json!(user.on_premises_sync_enabled),
    );
    out.insert(
        "signInSessionsValidFromDateTime".into(),
        json!(user.sign_in_sessions_valid_from_date_time),
    );
    for (k, v) in &user.extra {
        out.insert(k.clone(), v.clone());
    }
    if !selected {
        out.retain(|k, _| !SELECT_ONLY.contains(&k.as_str()));
    }
    Value::Object(out)
}

pub fn route(tenant: &mut Fixture, req: &GraphRequest, segs: &[String]) -> GraphResponse {
    // `users('$x@y')` puts the key inside the first segment.
    let (key, rest) = match segs[0].strip_prefix("users(") {
        Some(inner) => (
            Some(inner.trim_end_matches(')').trim_matches('\'').to_string()),
            &segs[1..],
        ),
        None => (segs.get(1).cloned(), segs.get(2..).unwrap_or(&[])),
    };
    let Some(key) = key else {
        return match req.method {
            Method::GET => {
                let selected = select::selected(req).is_some();
                let users: Vec<Value> = tenant
                    .users
                    .iter()
                    .map(|u| view_with(u, None, selected))
                    .collect();
                GraphResponse::ok(json!({"@odata.context": metadata("users"), "value": users}))
            }
            _ => method_not_allowed(),
        };
    };
    let Some(index) = tenant.user_index(&key) else {
        return not_found(&key);
    };
    let first = rest.first().map(|s| s.to_ascii_lowercase());
    match (first.as_deref(), &req.method) {
        (None, &Method::GET) => GraphResponse::ok(view_with(
            &tenant.users[index],
            Some(metadata("users/$entity")),
            select::selected(req).is_some(),
        )),
        (None, &Method::PATCH) => patch(tenant, req, index),
        (None, _) => method_not_allowed(),
        (Some("revokesigninsessions"), &Method::POST) if rest.len() == 1 => {
            revoke(tenant, req, index)
        }
        // A folder itself (`mailFolders/deleteditems`); deeper paths are inbox rules.
        (Some("mailfolders"), _) if rest.len() == 2 => mail::folder(tenant, req, index, &rest[1..]),
        (Some("mailfolders"), _) => rules::route(tenant, req, index, &rest[1..]),
        (Some("messages"), _) => mail::route(tenant, req, index, &rest[1..]),
        (Some("authentication"), _) => auth_methods::route(tenant, req, index, &rest[1..]),
        (Some("oauth2permissiongrants"), _) if rest.len() == 1 => {
            consents::user_grants(tenant, req, index)
        }
        (Some("approleassignments"), _) => {
            consents::user_assignments(tenant, req, index, &rest[1..])
        }
        (Some("registereddevices"), _) if rest.len() == 1 => {
            devices::registered_by(tenant, req, index)
        }
        (Some(_), _) => unknown_segment(rest.last().map(String::as_str).unwrap_or("")),
    }
}

fn revoke(tenant: &mut Fixture, req: &GraphRequest, index: usize) -> GraphResponse {
    if tenant.users[index].privileged && !client_is_privileged(tenant, req) {
        return forbidden();
    }
    tenant.users[index].sign_in_sessions_valid_from_date_time = Some(now_rfc3339());
    // The documented answer is 204; the service really answers this (contract §1).
    GraphResponse::ok(json!({
        "@odata.context": metadata("Edm.Boolean"),
        "value": true,
    }))
}

fn patch(tenant: &mut Fixture, req: &GraphRequest, index: usize) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    if let Some(k) = body.keys().find(|k| !WRITABLE.contains(&k.as_str())) {
        return bad_request(&format!(
            "Property '{k}' is read-only or does not exist on type 'microsoft.graph.user'."
        ));
    }
    let sensitive = body.keys().any(|k| SENSITIVE.contains(&k.as_str()));
    if sensitive && tenant.users[index].privileged && !client_is_privileged(tenant, req) {
        return forbidden();
    }
    let enabled = match body.get("accountEnabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return bad_request(
                "Invalid value specified for property 'accountEnabled' of resource 'User'.",
            );
        }
    };
    let password = match body.get("passwordProfile") {
        None => None,
        Some(profile) => match check_password(profile, &tenant.users[index]) {
            Ok(p) => Some(p),
            Err(e) => return e,
        },
    };
    let user = &mut tenant.users[index];
    if let Some(enabled) = enabled {
        user.account_enabled = enabled;
    }
    if let Some(profile) = password {
        user.password_profile = Some(profile);
    }
    for (k, v) in body {
        match k.as_str() {
            "accountEnabled" | "passwordProfile" => {}
            "displayName" => {
                if let Some(name) = v.as_str() {
                    user.display_name = name.to_string();
                }
            }
            "userPrincipalName" => {
                if let Some(upn) = v.as_str() {
                    user.user_principal_name = upn.to_string();
                }
            }
            _ => {
                user.extra.insert(k, v);
            }
        }
    }
    GraphResponse::no_content()
}

/// Entra's default policy: 8 to 256 characters, three of four character classes, and not
/// containing the account name.
fn check_password(profile: &Value, user: &User) -> Result<Value, GraphResponse> {
    let Some(password) = profile.get("password").and_then(Value::as_str) else {
        return Err(bad_request(
            "Invalid value specified for property 'passwordProfile' of resource 'User'.",
        ));
    };
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    let alias = user
        .user_principal_name
        .split('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let weak = password.chars().count() < 8
        || password.chars().count() > 256
        || classes < 3
        || (alias.len() >= 3 && password.to_ascii_lowercase().contains(&alias));
    if weak {
        return Err(bad_request(
            "The specified password does not comply with password complexity requirements. Please provide a different password.",
        ));
    }
    Ok(json!({
        "password": password,
        "forceChangePasswordNextSignIn": profile
            .get("forceChangePasswordNextSignIn")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        "lastPasswordChangeDateTime": now_rfc3339(),
    }))
}
