//! The operator API's reads: actions, approvals, detections, campaigns and the audit trail,
//! each a page after a cursor or one item; any role may read.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::error::{ApiError, ErrorBody, ErrorCode};
use super::Caller;
use super::page::{Paging, page};
use crate::http::oidc::Permission;
use crate::store::{ActionFilter, AuditFilter, StoreError};

type Answer = Result<Json<Value>, ApiError>;

/// Paging from a query's own `limit` and `cursor` (a flattened struct would hide them from
/// the document).
fn paging(limit: Option<String>, cursor: Option<String>) -> Paging {
    Paging { limit, cursor }
}

pub(super) fn store_error(e: StoreError) -> ApiError {
    if e.is_unavailable() {
        return ApiError::store(&e);
    }
    ApiError::unexpected(e)
}

fn not_found(what: String) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no {what}"))
}

/// `since` and `until` as stored timestamps, or a 400 naming the one that is not RFC 3339.
pub(super) fn time_bounds(
    since: &Option<String>,
    until: &Option<String>,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let bound = |name: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| crate::store::timestamp(t.with_timezone(&chrono::Utc)))
                    .map_err(|_| {
                        ApiError::new(
                            ErrorCode::InvalidRequest,
                            format!(
                                "`{name}` must be an RFC 3339 time (2026-03-27T10:00:00Z), not `{text}`"
                            ),
                        )
                    })
            })
            .transpose()
    };
    Ok((bound("since", since)?, bound("until", until)?))
}

/// The id in a path, or a 404 naming it.
pub(super) fn id_of(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .map_err(|_| not_found(format!("{what} `{text}`: ids are numbers")))
}

/// Who the token says the caller is, and the roles it grants.
#[utoipa::path(get, path = "/v1/me", tag = "operators", security(("operator_token" = [])), summary = "Who the token says you are", responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    Ok(Json(json!(caller.0)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionQuery {
    /// Only actions in this status (`succeeded`, `failed`, `awaiting_approval`, …).
    status: Option<String>,
    /// Only actions on this account (UPN or object id, any case).
    account: Option<String>,
    /// Only actions of this playbook (its id).
    playbook: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/actions", tag = "operators", security(("operator_token" = [])), summary = "Actions, filtered, a page at a time", params(ActionQuery), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn actions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ActionQuery>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let (after, limit) = paging(q.limit, q.cursor).bounds()?;
    let status = q
        .status
        .map(|s| s.parse())
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("`status`: {e}")))?;
    let filter = ActionFilter {
        status,
        account: q.account,
        playbook: q.playbook,
    };
    let rows = (state
        .service
        .store
        .actions_page(&filter, after, limit)
        .await)
        .map_err(store_error)?;
    Ok(Json(page(&rows, limit, |r| r.pk)))
}

#[utoipa::path(get, path = "/v1/actions/{id}", tag = "operators", security(("operator_token" = [])), summary = "One action", params(("id" = String, Path, description = "The action's id")), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn action(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let pk = id_of(&id, "action")?;
    let row = (state.service.store.action(pk).await)
        .map_err(store_error)?
        .ok_or_else(|| not_found(format!("action #{pk}")))?;
    Ok(Json(json!(row)))
}

/// Approval requests (gated actions, waiting or decided), in pk order.
#[utoipa::path(get, path = "/v1/approvals", tag = "operators", security(("operator_token" = [])), summary = "Approval requests, a page at a time", params(Paging), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn approvals(
    State(state): State<AppState>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let (mut after, limit) = paging.bounds()?;
    let store = &state.service.store;
    let mut listed = Vec::new();
    // Pages of actions until `limit` gated ones are found or the actions run out.
    loop {
        let rows = (store
            .actions_page(&ActionFilter::default(), after, limit)
            .await)
            .map_err(store_error)?;
        for row in rows.iter().filter(|r| r.is_gated()) {
            if (listed.len() as i64) < limit {
                let summary =
                    crate::approvals::summary::summary(store, &state.service.approvals, row);
                listed.push(summary.await.map_err(store_error)?);
            }
        }
        match rows.last() {
            Some(last) if (listed.len() as i64) < limit && rows.len() as i64 == limit => {
                after = last.pk;
            }
            _ => break,
        }
    }
    Ok(Json(page(&listed, limit, |v| {
        v["id"].as_i64().unwrap_or(0)
    })))
}

#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "operators", security(("operator_token" = [])), summary = "One approval request with its evidence, deliveries and decisions", params(("id" = String, Path, description = "The gated action's id")), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn approval(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let pk = id_of(&id, "approval request")?;
    let store = &state.service.store;
    let row = (store.action(pk).await)
        .map_err(store_error)?
        .filter(|r| r.is_gated())
        .ok_or_else(|| not_found(format!("approval request for action #{pk}")))?;
    let shown = crate::approvals::summary::detail(store, &state.service.approvals, &row).await;
    Ok(Json(shown.map_err(store_error)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The record's subject, exactly (`action/12`).
    subject: Option<String>,
    /// Text in the record's payload: an actor's name, UPN or object id.
    actor: Option<String>,
    /// The record's kind (`action.rolled_back`).
    kind: Option<String>,
    /// RFC 3339; records at or after it.
    since: Option<String>,
    /// RFC 3339; records at or before it.
    until: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// The trail, filtered, each record with its payload parsed and its hashes.
#[utoipa::path(get, path = "/v1/audit", tag = "operators", security(("operator_token" = [])), summary = "Search the audit trail", params(AuditQuery), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let (after, limit) = paging(q.limit, q.cursor).bounds()?;
    let (since, until) = time_bounds(&q.since, &q.until)?;
    let filter = AuditFilter {
        since,
        until,
        subject: q.subject,
        actor: q.actor,
        kind: q.kind,
    };
    let records =
        (state.service.store.audit_page(&filter, after, limit).await).map_err(store_error)?;
    let shown: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({"seq": r.seq, "at": r.at, "kind": r.kind, "subject": r.subject,
                   "payload": serde_json::from_str::<Value>(&r.payload).unwrap_or(Value::Null),
                   "prev_hash": r.prev_hash, "hash": r.hash})
        })
        .collect();
    Ok(Json(page(&shown, limit, |v| {
        v["seq"].as_i64().unwrap_or(0)
    })))
}

#[utoipa::path(get, path = "/v1/audit/verify", tag = "operators", security(("operator_token" = [])), summary = "Check the audit trail's hash chain", responses((status = 200, description = "`problems` is empty when the trail is intact", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
/// The chain checked as `stanch audit verify` does: each edited, deleted or reordered record.
pub async fn audit_verify(State(state): State<AppState>, caller: Caller) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let report = (state.service.store.verify_audit().await).map_err(store_error)?;
    Ok(Json(
        json!({"intact": report.is_intact(), "records_checked": report.records_checked,
                   "problems": report.problems}),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetectionQuery {
    /// Only detections about this account (UPN or object id).
    account: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/detections", tag = "operators", security(("operator_token" = [])), summary = "Stored detections, a page at a time", params(DetectionQuery), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn detections(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<DetectionQuery>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let (after, limit) = paging(q.limit, q.cursor).bounds()?;
    let store = &state.service.store;
    let rows = (store
        .detections_page(q.account.as_deref(), after, limit)
        .await)
        .map_err(store_error)?;
    Ok(Json(page(&rows, limit, |d| d.seq)))
}

/// One detection as received (the raw payload in `details.raw`) and as normalised.
#[utoipa::path(get, path = "/v1/detections/{format}", tag = "operators", security(("operator_token" = [])), summary = "One detection, as received and as normalised", params(("format" = String, Path, description = "The detection's seq (this path also takes intake's POST, where it names a format)")), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn detection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let seq = id_of(&id, "detection")?;
    let found = (state.service.store.detection_at(seq).await).map_err(store_error)?;
    found
        .map(Json)
        .ok_or_else(|| not_found(format!("detection {seq}")))
}

#[utoipa::path(get, path = "/v1/campaigns", tag = "operators", security(("operator_token" = [])), summary = "Live campaigns", responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn campaigns(State(state): State<AppState>, caller: Caller) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let all = (state.service.store.campaigns().await).map_err(store_error)?;
    Ok(Json(json!({"items": all, "next_cursor": null})))
}

#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "operators", security(("operator_token" = [])), summary = "One campaign's story", params(("id" = String, Path, description = "The campaign's id")), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn campaign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let found = (state.service.store.campaign_detail(&id).await).map_err(store_error)?;
    found
        .map(|c| Json(json!(c)))
        .ok_or_else(|| not_found(format!("campaign `{id}`")))
}
