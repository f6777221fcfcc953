//! Who is calling: the bearer token validated by the configured issuer, and whether its roles
//! allow what the handler does. Refusals are audited in bounded space (`http::refusals`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::json;

use super::super::AppState;
use super::super::error::{ApiError, ErrorCode};
use crate::http::oidc::{Identity, OidcError, Permission, grants};

/// A caller proven by their token.
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let Some(verifier) = &state.operators else {
            return Err(ApiError::unauthorized(
                "the operator API is not set up: add an `operators:` section to the config",
            ));
        };
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let verified = match token {
            Some(token) => verifier.verify(token).await,
            None => Err(OidcError::MissingToken),
        };
        match verified {
            Ok(identity) => Ok(Caller(identity)),
            Err(why) => {
                if let OidcError::Keys(cause) = &why {
                    tracing::error!(error = %cause, "cannot validate operator tokens");
                }
                if why != OidcError::MissingToken {
                    let payload = json!({"path": parts.uri.path(), "why": why.to_string()});
                    let store = &state.service.store;
                    state
                        .refusals
                        .record(store, "operator.unauthenticated", "api", payload)
                        .await;
                }
                Err(ApiError::unauthorized(why.to_string()))
            }
        }
    }
}

impl Caller {
    /// Whether the caller's roles allow `permission`; a refused write is audited.
    pub async fn may(
        &self,
        state: &AppState,
        permission: Permission,
        subject: &str,
    ) -> Result<(), ApiError> {
        if grants(&self.0.roles, permission) {
            return Ok(());
        }
        let held: Vec<&str> = self.0.roles.iter().map(|r| r.as_str()).collect();
        let needed: Vec<&str> = permission.roles().iter().map(|r| r.as_str()).collect();
        let message = format!(
            "{} may not {}: that needs one of the roles {}, and the token holds {}",
            self.0.name,
            permission.as_str(),
            needed.join(", "),
            if held.is_empty() {
                "none".to_string()
            } else {
                held.join(", ")
            }
        );
        if permission != Permission::Read {
            let payload = json!({"actor": self.0.actor(), "needs": needed, "why": message});
            let store = &state.service.store;
            state
                .refusals
                .record(store, "operator.forbidden", subject, payload)
                .await;
        }
        Err(ApiError::new(ErrorCode::Forbidden, message))
    }
}
