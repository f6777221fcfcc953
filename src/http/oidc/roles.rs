//! The operator roles and what each may do. A token's `roles` (the app registration's app roles)
//! and `groups` claims map to roles through `operators.roles` and `operators.groups`; by default
//! an app role's value is the role's own name (`viewer`, `responder`, `approver`, `admin`).

use std::collections::BTreeMap;

use serde::Serialize;

/// What an operator is allowed to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Retries, rolls back, extends and confirms actions.
    Responder,
    /// Decides on gated actions, still subject to each step's approver list.
    Approver,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Responder, Role::Approver, Role::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request wants to do, each needing one of some roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    /// Retry, rollback, extend, confirm.
    Respond,
    /// Decide on a gated action.
    Decide,
}

impl Permission {
    /// The roles any one of which grants this.
    pub const fn roles(self) -> &'static [Role] {
        match self {
            Permission::Read => &Role::ALL,
            Permission::Respond => &[Role::Responder, Role::Admin],
            Permission::Decide => &[Role::Approver, Role::Admin],
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Respond => "respond to actions",
            Permission::Decide => "decide on approvals",
        }
    }
}

/// How claim values become roles.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoleMap {
    /// App role value → role; empty means each role's own name.
    pub app_roles: BTreeMap<String, Role>,
    /// Group object id → role.
    pub groups: BTreeMap<String, Role>,
}

impl RoleMap {
    /// The roles a token's `roles` and `groups` claims grant, sorted, each once.
    pub fn roles_of(&self, app_roles: &[String], groups: &[String]) -> Vec<Role> {
        let mut roles: Vec<Role> = app_roles
            .iter()
            .filter_map(|value| match self.app_roles.is_empty() {
                true => Role::parse(value),
                false => self.app_roles.get(value).copied(),
            })
            .chain(groups.iter().filter_map(|g| {
                self.groups
                    .iter()
                    .find(|(id, _)| id.eq_ignore_ascii_case(g))
                    .map(|(_, r)| *r)
            }))
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

/// Whether `roles` grant `permission`.
pub fn grants(roles: &[Role], permission: Permission) -> bool {
    roles.iter().any(|r| permission.roles().contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn app_roles_map_by_name_unless_a_map_is_configured() {
        let default = RoleMap::default();
        assert_eq!(
            default.roles_of(&strings(&["responder", "viewer", "Stanch.Admin"]), &[]),
            [Role::Viewer, Role::Responder]
        );
        let mapped = RoleMap {
            app_roles: [("Stanch.Admin".to_string(), Role::Admin)].into(),
            groups: [("0b7c-GROUP".to_string(), Role::Approver)].into(),
        };
        assert_eq!(
            mapped.roles_of(
                &strings(&["Stanch.Admin", "responder"]),
                &strings(&["0b7c-group"])
            ),
            [Role::Approver, Role::Admin],
            "with a map, only mapped values count; group ids match in any case"
        );
    }

    #[test]
    fn each_permission_needs_its_roles() {
        let table = [
            (Role::Viewer, [true, false, false]),
            (Role::Responder, [true, true, false]),
            (Role::Approver, [true, false, true]),
            (Role::Admin, [true, true, true]),
        ];
        for (role, expected) in table {
            let got = [Permission::Read, Permission::Respond, Permission::Decide]
                .map(|p| grants(&[role], p));
            assert_eq!(got, expected, "{role}");
        }
        assert!(!grants(&[], Permission::Read), "no role, no reading");
    }
}
