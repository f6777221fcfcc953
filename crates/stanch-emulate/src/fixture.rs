//! The tenant file: what the emulated directory holds before the first request.
//!
//! Field names follow Graph (camelCase) so fixtures can be pasted from real responses.
//! Freeform Graph objects (rules, policies, locations, sign-ins) stay `serde_json::Value`
//! because the emulator echoes them back verbatim and Graph keeps adding properties.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The well-known mail folders the emulator keeps, by their Graph names: a fixture's message
/// names one of them as its `parentFolderId`.
pub const FOLDERS: &[&str] = &[
    "inbox",
    "sentitems",
    "deleteditems",
    "recoverableitemsdeletions",
];

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot read tenant file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid tenant file {path} at line {line} column {column}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid tenant file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixture {
    pub tenant_id: String,
    /// Verified domains; the token endpoint accepts them in place of the tenant id.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Access token lifetime; Entra issues 3599 s.
    #[serde(default)]
    pub token_lifetime_seconds: Option<u64>,
    pub clients: Vec<Client>,
    #[serde(default)]
    pub users: Vec<User>,
    /// People who may sign in to the operator API through the emulator's identity provider:
    /// UPN (of one of `users`) → the API's app roles they hold.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operators: BTreeMap<String, Vec<String>>,
    /// Inbox rules keyed by user id or UPN.
    #[serde(default)]
    pub inbox_rules: BTreeMap<String, Vec<Value>>,
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Activated directory roles (e.g. Global Administrator) with their member ids; read-only.
    #[serde(default)]
    pub directory_roles: Vec<Group>,
    #[serde(default)]
    pub conditional_access_policies: Vec<Value>,
    #[serde(default)]
    pub named_locations: Vec<Value>,
    #[serde(default)]
    pub risky_users: Vec<Value>,
    #[serde(default)]
    pub sign_ins: Vec<Value>,
    /// Defender XDR alerts served by `security/alerts_v2` (Graph alerts_v2 shape).
    #[serde(default)]
    pub security_alerts: Vec<Value>,
    /// Mail keyed by user id or UPN (Graph message shape); `parentFolderId` names a well-known
    /// folder (`inbox`, `sentitems`, `deleteditems`, `recoverableitemsdeletions`) and is served
    /// as that mailbox's own folder id.
    #[serde(default)]
    pub messages: BTreeMap<String, Vec<Value>>,
    /// Rows served by `admin/exchange/tracing/messageTraces` (exchangeMessageTrace shape).
    #[serde(default)]
    pub message_traces: Vec<Value>,
    /// When the message trace requests of the current throttling window came (not in the file).
    #[serde(skip)]
    pub trace_requests: Vec<std::time::Instant>,
    /// Authentication methods keyed by user id or UPN, as `authentication/methods` lists them:
    /// each with its `@odata.type`, and `createdDateTime` only on the types Graph gives one.
    #[serde(default)]
    pub authentication_methods: BTreeMap<String, Vec<Value>>,
    /// Each user's default MFA method id (Graph keeps it in the sign-in preferences): it cannot
    /// be deleted while the user has other methods.
    #[serde(default)]
    pub default_authentication_methods: BTreeMap<String, String>,
    #[serde(default)]
    pub service_principals: Vec<Value>,
    /// Delegated permission grants (no timestamps: Graph keeps none).
    #[serde(default)]
    pub oauth2_permission_grants: Vec<Value>,
    #[serde(default)]
    pub app_role_assignments: Vec<Value>,
    #[serde(default)]
    pub devices: Vec<Value>,
    /// Device object ids each user registered, keyed by user id or UPN.
    #[serde(default)]
    pub registered_devices: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Client {
    /// The application (client) id.
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub certificate: Option<Certificate>,
    /// Whether the app's service principal holds Privileged Authentication Administrator,
    /// which Graph requires before an app may touch sensitive attributes of admins.
    #[serde(default)]
    pub privileged: bool,
    /// Graph application permissions an administrator did not grant this app: its service
    /// principal's `appRoleAssignments` hold every permission the emulator knows but these.
    #[serde(default)]
    pub withheld_permissions: Vec<String>,
    /// The operator API's app roles this app holds: a client-credentials token for an `api://`
    /// resource carries them in `roles` (issue 14: automation calling stanch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Certificate {
    /// base64url SHA-1 thumbprint, compared with the assertion's `x5t` when both are present.
    #[serde(default)]
    pub thumbprint: Option<String>,
    /// Standard base64 of the DER public key (PKCS#1 or SubjectPublicKeyInfo); without it the
    /// assertion's claims are checked but not its signature.
    #[serde(default)]
    pub public_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// Holds an admin role, so only a privileged app may change its sensitive attributes.
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default)]
    pub sign_in_sessions_valid_from_date_time: Option<String>,
    /// Never returned by Graph; kept in the state snapshot so tests can see a reset happened.
    #[serde(default)]
    pub password_profile: Option<Value>,
    /// A user without an Exchange Online mailbox answers mail calls with MailboxNotEnabledForRESTAPI.
    #[serde(default = "yes")]
    pub mailbox_enabled: bool,
    /// Exchange RBAC for Applications scopes the app's `Mail.*` access away from this mailbox:
    /// its messages and folders answer 403 `ErrorAccessDenied` (inbox rules still answer).
    #[serde(default)]
    pub mail_scoped_out: bool,
    /// Any other Graph user property (mail, jobTitle, department, …), echoed on GET.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: String,
    /// Member object ids.
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Fixture {
    pub fn from_file(path: &Path) -> Result<Fixture, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let fixture: Fixture =
            serde_json::from_str(&text).map_err(|source| EmulatorError::Parse {
                path: path.to_path_buf(),
                line: source.line(),
                column: source.column(),
                source,
            })?;
        fixture
            .validate()
            .map_err(|message| EmulatorError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(fixture)
    }

    /// Catches fixture mistakes at load time rather than as puzzling 404s mid-test.
    pub fn validate(&self) -> Result<(), String> {
        let mut ids = std::collections::HashSet::new();
        for user in &self.users {
            if !ids.insert(user.id.to_ascii_lowercase()) {
                return Err(format!("duplicate user id {}", user.id));
            }
        }
        let keyed = [
            ("inboxRules", self.inbox_rules.keys().collect::<Vec<_>>()),
            (
                "authenticationMethods",
                self.authentication_methods.keys().collect(),
            ),
            (
                "defaultAuthenticationMethods",
                self.default_authentication_methods.keys().collect(),
            ),
            (
                "registeredDevices",
                self.registered_devices.keys().collect(),
            ),
        ];
        for (kind, keys) in keyed {
            if let Some(key) = keys.into_iter().find(|k| self.user_index(k).is_none()) {
                return Err(format!("{kind} refers to unknown user {key}"));
            }
        }
        for (key, devices) in &self.registered_devices {
            if let Some(id) = devices.iter().find(|id| self.device_index(id).is_none()) {
                return Err(format!(
                    "registeredDevices of {key} names unknown device {id}"
                ));
            }
        }
        for (key, rules) in &self.inbox_rules {
            for rule in rules {
                if rule.get("id").and_then(Value::as_str).is_none() {
                    return Err(format!("an inbox rule of {key} has no string id"));
                }
            }
        }
        for (key, messages) in &self.messages {
            if self.user_index(key).is_none() {
                return Err(format!("messages refers to unknown user {key}"));
            }
            for message in messages {
                let folder = message.get("parentFolderId").and_then(Value::as_str);
                if message.get("id").and_then(Value::as_str).is_none()
                    || message
                        .get("internetMessageId")
                        .and_then(Value::as_str)
                        .is_none()
                    || !folder.is_some_and(|f| FOLDERS.contains(&f))
                {
                    return Err(format!(
                        "a message of {key} needs a string id, internetMessageId and a well-known parentFolderId"
                    ));
                }
            }
        }
        for group in &self.groups {
            for member in &group.members {
                if self.user_index(member).is_none() {
                    return Err(format!("group {} has unknown member {member}", group.id));
                }
            }
        }
        for (kind, list) in [
            (
                "conditionalAccessPolicies",
                &self.conditional_access_policies,
            ),
            ("namedLocations", &self.named_locations),
            ("riskyUsers", &self.risky_users),
            ("signIns", &self.sign_ins),
            ("securityAlerts", &self.security_alerts),
            ("messageTraces", &self.message_traces),
            ("servicePrincipals", &self.service_principals),
            ("oauth2PermissionGrants", &self.oauth2_permission_grants),
            ("appRoleAssignments", &self.app_role_assignments),
            ("devices", &self.devices),
        ]
        .into_iter()
        .chain(
            self.authentication_methods
                .values()
                .map(|m| ("authenticationMethods", m)),
        ) {
            if list
                .iter()
                .any(|v| v.get("id").and_then(Value::as_str).is_none())
            {
                return Err(format!("an entry of {kind} has no string id"));
            }
        }
        if self.clients.is_empty() {
            return Err("no clients: nobody could get a token".to_string());
        }
        Ok(())
    }

    /// Whether a token endpoint path segment names this tenant (its id or a verified domain).
    pub fn knows(&self, segment: &str) -> bool {
        self.tenant_id.eq_ignore_ascii_case(segment)
            || self.domains.iter().any(|d| d.eq_ignore_ascii_case(segment))
    }

    /// Finds a user by object id or UPN, case-insensitively as Entra does.
    pub fn user_index(&self, key: &str) -> Option<usize> {
        self.users.iter().position(|u| {
            u.id.eq_ignore_ascii_case(key) || u.user_principal_name.eq_ignore_ascii_case(key)
        })
    }

    /// Rules of a user, whichever key (id or UPN) the fixture used.
    pub fn rules_mut(&mut self, user: usize) -> &mut Vec<Value> {
        let user = &self.users[user];
        keyed_mut(&mut self.inbox_rules, &user.id, &user.user_principal_name)
    }

    /// Authentication methods of a user, whichever key (id or UPN) the fixture used.
    pub fn methods_mut(&mut self, user: usize) -> &mut Vec<Value> {
        let user = &self.users[user];
        keyed_mut(
            &mut self.authentication_methods,
            &user.id,
            &user.user_principal_name,
        )
    }

    /// The id of a user's default method, if the fixture names one.
    pub fn default_method(&self, user: usize) -> Option<&str> {
        let user = &self.users[user];
        self.default_authentication_methods
            .iter()
            .find(|(k, _)| names(k, &user.id, &user.user_principal_name))
            .map(|(_, id)| id.as_str())
    }

    /// Device object ids a user registered, whichever key the fixture used.
    pub fn registered_device_ids(&self, user: usize) -> Vec<String> {
        let user = &self.users[user];
        self.registered_devices
            .iter()
            .filter(|(k, _)| names(k, &user.id, &user.user_principal_name))
            .flat_map(|(_, ids)| ids.iter().cloned())
            .collect()
    }

    /// A device by object id (case-insensitive, as directory ids are).
    pub fn device_index(&self, id: &str) -> Option<usize> {
        self.devices.iter().position(|d| {
            d.get("id")
                .and_then(Value::as_str)
                .is_some_and(|d| d.eq_ignore_ascii_case(id))
        })
    }

    /// Mail of a user, whichever key (id or UPN) the fixture used.
    pub fn messages_mut(&mut self, user: usize) -> &mut Vec<Value> {
        let user = &self.users[user];
        keyed_mut(&mut self.messages, &user.id, &user.user_principal_name)
    }
}

fn names(key: &str, id: &str, upn: &str) -> bool {
    key.eq_ignore_ascii_case(id) || key.eq_ignore_ascii_case(upn)
}

/// The entry of a per-user map, under the key the fixture used (or the id for a new one).
fn keyed_mut<'a, T: Default>(map: &'a mut BTreeMap<String, T>, id: &str, upn: &str) -> &'a mut T {
    let key = map
        .keys()
        .find(|k| names(k, id, upn))
        .cloned()
        .unwrap_or_else(|| id.to_string());
    map.entry(key).or_default()
}
