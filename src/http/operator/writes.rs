//! The operator API's writes. Each needs a reason and the role for it, goes through the same
//! store and approvals functions as the CLI, and records the caller's authenticated identity
//! (`Identity::actor`) in its audit record.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::error::{ApiError, ErrorBody, ErrorCode};
use super::Caller;
use super::reads::{id_of, store_error};
use crate::approvals::{ApprovalError, Deciding, DecisionRequest};
use crate::http::oidc::Permission;
use crate::store::{ExpiryChange, ExpiryError, ExpiryOperator};

type Answer = Result<Json<Value>, ApiError>;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reasoned {
    reason: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// How much longer, e.g. `24h`.
    by: String,
    reason: String,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Deny,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    decision: Verdict,
    reason: String,
}

fn reason(text: &str) -> Result<&str, ApiError> {
    match text.trim() {
        "" => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`reason` must say why; the audit trail records it",
        )),
        reason => Ok(reason),
    }
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Conflict, message)
}

/// The caller, the action's id and the subject of its audit records, once the role allows.
async fn authorized(
    state: &AppState,
    caller: &Caller,
    id: &str,
    permission: Permission,
) -> Result<i64, ApiError> {
    let pk = id_of(id, "action")?;
    caller
        .may(state, permission, &format!("action/{pk}"))
        .await?;
    Ok(pk)
}

#[utoipa::path(post, path = "/v1/actions/{id}/rollback", tag = "operators", security(("operator_token" = [])), summary = "Undo a succeeded action (responder, admin)", params(("id" = String, Path, description = "The action's id")), request_body = Reasoned, responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 409, description = "Not in a state that allows it", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody), (status = 422, description = "The JSON is not this operation's body", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Reasoned>,
) -> Answer {
    let pk = authorized(&state, &caller, &id, Permission::Respond).await?;
    let reason = reason(&body.reason)?;
    let Some(runner) = &state.service.runner else {
        return Err(conflict(
            "rolling back needs a `graph` connection in the server's config",
        ));
    };
    let actor = caller.0.actor();
    let store = &state.service.store;
    match crate::actions::rollback(runner, store, pk, reason, &actor).await {
        Ok(took) => Ok(Json(json!({"id": pk, "status": "rolled_back",
                                   "took_ms": took.as_millis() as u64, "actor": actor}))),
        Err(crate::actions::RollbackError::Store(e)) => Err(store_error(e)),
        Err(crate::actions::RollbackError::NotFound(_)) => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no action #{pk}"),
        )),
        Err(e) => Err(conflict(format!("action #{pk} was not rolled back: {e}"))),
    }
}

#[utoipa::path(post, path = "/v1/actions/{id}/retry", tag = "operators", security(("operator_token" = [])), summary = "Queue a failed, unverified or stuck action again (responder, admin)", params(("id" = String, Path, description = "The action's id")), request_body = Reasoned, responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 409, description = "Not in a state that allows it", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody), (status = 422, description = "The JSON is not this operation's body", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Reasoned>,
) -> Answer {
    let pk = authorized(&state, &caller, &id, Permission::Respond).await?;
    let reason = reason(&body.reason)?;
    let actor = caller.0.actor();
    let store = &state.service.store;
    if (store.requeue_by(pk, &actor, reason).await).map_err(store_error)? {
        state.service.wake.notify_one();
        return Ok(Json(json!({"id": pk, "status": "pending", "actor": actor})));
    }
    match store.action(pk).await.map_err(store_error)? {
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no action #{pk}"),
        )),
        Some(row) => Err(conflict(format!(
            "action #{pk} is {}: only a failed, unverified or stuck action can be retried",
            row.status
        ))),
    }
}

async fn change_expiry(
    state: &AppState,
    caller: &Caller,
    pk: i64,
    change: ExpiryChange,
    reason: &str,
) -> Answer {
    let actor = caller.0.actor();
    let who = ExpiryOperator {
        name: caller.0.approver_name(),
        actor: Some(&actor),
        reason,
        at: chrono::Utc::now(),
    };
    match state.service.store.change_expiry(pk, change, who).await {
        Ok(changed) => Ok(Json(json!({"id": pk, "expires_at": changed.expires_at,
                                      "confirmed": changed.confirmed, "actor": actor}))),
        Err(ExpiryError::NotFound(_)) => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no action #{pk}"),
        )),
        Err(ExpiryError::Store(e)) => Err(store_error(e)),
        Err(e) => Err(conflict(e.to_string())),
    }
}

#[utoipa::path(post, path = "/v1/actions/{id}/extend", tag = "operators", security(("operator_token" = [])), summary = "Push an expiring action's deadline back (responder, admin)", params(("id" = String, Path, description = "The action's id")), request_body = Extension, responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 409, description = "Not in a state that allows it", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody), (status = 422, description = "The JSON is not this operation's body", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn extend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Extension>,
) -> Answer {
    let pk = authorized(&state, &caller, &id, Permission::Respond).await?;
    let reason = reason(&body.reason)?;
    let secs = match stanch_core::util::parse_duration(&body.by) {
        Ok(secs) if secs > 0 => secs,
        Ok(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "`by` must be longer than zero",
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("`by`: {e}"),
            ));
        }
    };
    change_expiry(&state, &caller, pk, ExpiryChange::Extend { secs }, reason).await
}

#[utoipa::path(post, path = "/v1/actions/{id}/confirm", tag = "operators", security(("operator_token" = [])), summary = "Make an expiring action permanent (responder, admin)", params(("id" = String, Path, description = "The action's id")), request_body = Reasoned, responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 409, description = "Not in a state that allows it", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody), (status = 422, description = "The JSON is not this operation's body", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Reasoned>,
) -> Answer {
    let pk = authorized(&state, &caller, &id, Permission::Respond).await?;
    let reason = reason(&body.reason)?;
    change_expiry(&state, &caller, pk, ExpiryChange::Confirm, reason).await
}

/// A decision on a gated action, as the caller's UPN: still subject to the step's approver
/// list, the four-eyes rule and the target rule; a refusal is audited with the identity.
#[utoipa::path(post, path = "/v1/approvals/{id}/decision", tag = "operators", security(("operator_token" = [])), summary = "Approve or deny a gated action (approver, admin; the step's list still applies)", params(("id" = String, Path, description = "The gated action's id")), request_body = DecisionBody, responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 409, description = "Not in a state that allows it", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody), (status = 422, description = "The JSON is not this operation's body", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<DecisionBody>,
) -> Answer {
    let pk = authorized(&state, &caller, &id, Permission::Decide).await?;
    let reason = reason(&body.reason)?;
    let service = &state.service;
    let ctx = Deciding {
        store: &service.store,
        directory: service.runner.as_ref(),
        settings: &service.approvals,
    };
    let actor = caller.0.actor();
    let request = DecisionRequest {
        pk,
        approver: caller.0.approver_name(),
        approve: matches!(body.decision, Verdict::Approve),
        reason,
        channel: "api",
        raw_sha256: None,
        actor: Some(&actor),
    };
    match crate::approvals::decide(ctx, &request).await {
        Ok(effect) => {
            service.wake.notify_one();
            let by = caller.0.approver_name();
            if let Err(e) = service
                .dispatcher()
                .announce_decision(pk, &effect, by)
                .await
            {
                tracing::warn!(action = pk, error = %e, "cannot update the approval request's messages");
            }
            Ok(Json(json!({"id": pk, "effect": effect, "actor": actor})))
        }
        Err(ApprovalError::Refused(why)) => Err(ApiError::new(
            ErrorCode::ApprovalRefused,
            format!("{why} (recorded in the audit trail)"),
        )),
        Err(ApprovalError::NotFound(_)) => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no action #{pk}"),
        )),
        Err(ApprovalError::Decision(e)) => Err(conflict(e.to_string())),
        Err(ApprovalError::Store(e)) => Err(store_error(e)),
    }
}

/// An operator confirms a campaign, as `stanch campaigns confirm` does: each member's
/// containment is recorded for the worker, and the confirmation is audited with the identity.
#[utoipa::path(post, path = "/v1/campaigns/{id}/confirm", tag = "operators", security(("operator_token" = [])), summary = "Confirm a campaign: contain every member (responder, admin)", params(("id" = String, Path, description = "The campaign's id")), request_body = Reasoned, responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody), (status = 422, description = "The JSON is not this operation's body", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn confirm_campaign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Reasoned>,
) -> Answer {
    let subject = format!("campaign/{id}");
    caller.may(&state, Permission::Respond, &subject).await?;
    let reason = reason(&body.reason)?;
    let actor = caller.0.actor();
    let confirmation = stanch_core::campaign::Confirmation {
        at: chrono::Utc::now(),
        by: format!("operator {}", caller.0.approver_name()),
        reason: reason.to_string(),
    };
    let service = &state.service;
    let Some((live, follow_ups)) = service
        .recorder
        .confirm_campaign(&id, confirmation)
        .await
        .map_err(store_error)?
    else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no campaign {id}"),
        ));
    };
    let event = stanch_core::audit::AuditEvent::new(
        chrono::Utc::now(),
        "campaign.confirmed_by_operator",
        format!("campaign/{live}"),
        json!({"campaign": live, "reason": reason, "actor": actor, "follow_ups": follow_ups}),
    );
    service
        .store
        .append_audit(&[event])
        .await
        .map_err(store_error)?;
    service.wake.notify_one();
    Ok(Json(
        json!({"campaign": live, "follow_ups": follow_ups, "actor": actor}),
    ))
}
