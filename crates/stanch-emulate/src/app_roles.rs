//! The application permissions of Microsoft Graph as app roles: the Graph service principal
//! (appId `00000003-0000-0000-c000-000000000000`) lists them in `appRoles`, and a fixture
//! client's service principal holds one `appRoleAssignment` per permission it was granted
//! (every one here, minus the client's `withheldPermissions`), which is how a client reads
//! what an administrator consented to.
//!
//! The role ids are the emulator's own, not Microsoft's: a client maps ids to names through
//! the Graph service principal's `appRoles`, as it must against a real tenant.

use serde_json::{Value, json};

use crate::fixture::{Client, Fixture};

/// Microsoft Graph's application id, the same in every tenant.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The Graph application permissions the emulator knows (what stanch may need, and a few
/// broader ones that cover them).
pub const GRAPH_APP_ROLES: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "User.RevokeSessions.All",
    "User.EnableDisableAccount.All",
    "User-PasswordProfile.ReadWrite.All",
    "MailboxSettings.ReadWrite",
    "Mail.ReadWrite",
    "ExchangeMessageTrace.Read.All",
    "SecurityAnalyzedMessage.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "Application.Read.All",
    "Application.ReadWrite.All",
    "IdentityRiskyUser.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Device.ReadWrite.All",
    "AuditLog.Read.All",
    "Directory.Read.All",
    "SecurityAlert.Read.All",
    "RoleManagement.Read.Directory",
];

/// The emulator's id of the app role `index` of [`GRAPH_APP_ROLES`].
fn role_id(index: usize) -> String {
    format!("e6a0f3c2-0000-4000-8000-{:012x}", index + 1)
}

/// `appRoles` as the Graph service principal lists them.
pub fn graph_app_roles() -> Value {
    let roles: Vec<Value> = GRAPH_APP_ROLES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "id": role_id(i),
                "value": name,
                "displayName": name,
                "description": format!("Allows the app {name} without a signed-in user."),
                "allowedMemberTypes": ["Application"],
                "isEnabled": true,
                "origin": "Application",
            })
        })
        .collect();
    Value::Array(roles)
}

/// A service principal as served: the Graph one carries its `appRoles` when the fixture gives
/// none.
pub fn served(sp: &Value) -> Value {
    let mut sp = sp.clone();
    if sp["appId"].as_str() == Some(GRAPH_APP_ID) && sp.get("appRoles").is_none() {
        sp["appRoles"] = graph_app_roles();
    }
    sp
}

/// The fixture client whose app this service principal is.
fn client_of<'a>(tenant: &'a Fixture, sp: &Value) -> Option<&'a Client> {
    let app_id = sp["appId"].as_str()?;
    tenant
        .clients
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(app_id))
}

/// The app role assignments held by the service principal `sp` (`GET
/// /servicePrincipals/{id}/appRoleAssignments`): the fixture's, and for a client's service
/// principal one per granted Graph permission.
pub fn assignments_of(tenant: &Fixture, sp: &Value) -> Vec<Value> {
    let sp_id = sp["id"].as_str().unwrap_or_default();
    let mut held: Vec<Value> = tenant
        .app_role_assignments
        .iter()
        .filter(|a| {
            a["principalId"]
                .as_str()
                .is_some_and(|p| p.eq_ignore_ascii_case(sp_id))
        })
        .cloned()
        .collect();
    let Some(client) = client_of(tenant, sp) else {
        return held;
    };
    let graph = tenant
        .service_principals
        .iter()
        .find(|s| s["appId"].as_str() == Some(GRAPH_APP_ID));
    let resource_id = graph.and_then(|g| g["id"].as_str()).unwrap_or_default();
    for (i, name) in GRAPH_APP_ROLES.iter().enumerate() {
        let withheld = client
            .withheld_permissions
            .iter()
            .any(|w| w.eq_ignore_ascii_case(name));
        if withheld {
            continue;
        }
        held.push(json!({
            "id": format!("grant-{}-{}", i + 1, sp_id),
            "appRoleId": role_id(i),
            "createdDateTime": "2021-01-10T09:00:00Z",
            "principalDisplayName": sp["displayName"],
            "principalId": sp_id,
            "principalType": "ServicePrincipal",
            "resourceDisplayName": "Microsoft Graph",
            "resourceId": resource_id,
        }));
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ids_are_distinct_and_every_role_is_an_application_permission() {
        let roles = graph_app_roles();
        let ids: std::collections::HashSet<&str> = roles
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), GRAPH_APP_ROLES.len());
        assert!(roles.as_array().unwrap().iter().all(|r| {
            r["allowedMemberTypes"] == json!(["Application"]) && r["isEnabled"] == true
        }));
    }
}
