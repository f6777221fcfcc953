//! Operators proven by their identity provider: bearer tokens from Microsoft Entra ID (or
//! `stanch emulate`, which plays it), validated against the issuer's published keys.
//!
//! A token counts only when it is RS256-signed by a key of the issuer's JWKS (`keys.rs`), names
//! the configured issuer, audience and tenant, and is within its `nbf`..`exp` (with
//! `operators.leeway`); `verify.rs` checks each. Its `roles` and `groups` claims become
//! [`Role`]s (`roles.rs`), and the person or app becomes an [`Identity`], which the audit
//! trail records as an [`Actor`].

mod keys;
mod roles;
mod verify;

pub use roles::{Permission, Role, RoleMap, grants};
pub use verify::Verifier;

use serde::Serialize;
use stanch_core::audit::Actor;

/// The operator API's sign-in (`operators:` in the config).
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorSettings {
    /// The Entra tenant whose users and apps may operate (`tid`); defaults to `graph.tenant_id`.
    pub tenant_id: String,
    /// Accepted `aud` values: the API's app id URI (`api://…`) and/or its client id.
    pub audience: Vec<String>,
    /// The token issuer; defaults to `{graph.login_url}/{tenant_id}/v2.0`.
    pub issuer: Option<String>,
    pub roles: RoleMap,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// The least time between two fetches of the key set for an unknown `kid`.
    pub refetch_interval_secs: u64,
    /// Decisions only through the operator API (signed in): the CLI's `approvals approve|deny`
    /// is refused.
    pub require_for_decisions: bool,
    /// The app people sign in to from the approval page (`client_id`); default `graph.client_id`.
    pub client_id: String,
    /// An approval link also needs its approver signed in (two factors: the link and the
    /// sign-in); off for tenants that cannot use OIDC on the page.
    pub link_sign_in: bool,
}

impl Default for OperatorSettings {
    fn default() -> Self {
        OperatorSettings {
            tenant_id: String::new(),
            audience: Vec::new(),
            issuer: None,
            roles: RoleMap::default(),
            leeway_secs: 60,
            refetch_interval_secs: 60,
            require_for_decisions: false,
            client_id: String::new(),
            link_sign_in: true,
        }
    }
}

/// The token service root in use: `graph.login_url`, else the cloud's (global without `graph`).
pub fn login_root(graph: Option<&crate::graph::GraphSettings>) -> String {
    use crate::graph::Cloud;
    let cloud = |g: &crate::graph::GraphSettings| g.cloud.parse::<Cloud>().unwrap_or_default();
    match graph {
        Some(g) => g
            .login_url
            .clone()
            .unwrap_or_else(|| cloud(g).login_url().to_string()),
        None => Cloud::Global.login_url().to_string(),
    }
    .trim_end_matches('/')
    .to_string()
}

impl OperatorSettings {
    /// The issuer tokens must name, given the login root in use (`graph.login_url` or the
    /// cloud's).
    pub fn issuer_for(&self, login_root: &str) -> String {
        match &self.issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_string(),
            None => format!(
                "{}/{}/v2.0",
                login_root.trim_end_matches('/'),
                self.tenant_id
            ),
        }
    }
}

/// Who a validated token says is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The display name (`name`), or for an app its client id.
    pub name: String,
    /// `preferred_username` (the UPN) of a person; `None` for an app.
    pub upn: Option<String>,
    /// `oid`: the user's, or the app's service principal's, object id.
    pub object_id: String,
    pub roles: Vec<Role>,
    /// `uti` (Entra's token id), else `jti`.
    pub token_id: Option<String>,
    /// Whether the token was issued to an app (client credentials) rather than a person.
    pub app: bool,
}

impl Identity {
    /// What the audit trail records.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.name.clone(),
            upn: self.upn.clone(),
            object_id: Some(self.object_id.clone()),
            roles: self.roles.iter().map(|r| r.as_str().to_string()).collect(),
            token_id: self.token_id.clone(),
            via: "token",
            authenticated: true,
            claimed_name: None,
        }
    }

    /// The name approver lists are matched against: the UPN of a person, the client id of an app.
    pub fn approver_name(&self) -> &str {
        self.upn.as_deref().unwrap_or(&self.name)
    }
}

/// Why a token was refused; every one is a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("send `Authorization: Bearer <access token>` from the tenant's identity provider")]
    MissingToken,
    #[error("the bearer token is not a JSON Web Token: {0}")]
    Malformed(String),
    #[error("tokens must be signed with RS256; this one says `{0}`")]
    Algorithm(String),
    #[error("the token's header names no signing key (`kid`)")]
    NoKeyId,
    #[error("the token is signed with key `{0}`, which the issuer does not publish")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf`)")]
    NotYetValid,
    #[error("the token was issued by another issuer than the configured one")]
    Issuer,
    #[error("the token is for another audience than this API")]
    Audience,
    #[error("the token is for tenant `{0}`, not the configured one")]
    Tenant(String),
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    #[error("cannot read the issuer's signing keys: {0}")]
    Keys(String),
}
