//! The operator API's reads: actions, approvals, detections, campaigns and the audit trail,
//! each a page after a cursor or one item; any role may read.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::error::{ApiError, ErrorCode};
use super::Caller;
use super::page::{Paging, page};
use crate::http::oidc::Permission;
use crate::store::{ActionFilter, AuditFilter, StoreError};

type Answer = Result<Json<Value>, ApiError>;

pub(super) fn store_error(e: StoreError) -> ApiError {
    if e.is_unavailable() {
        return ApiError::store(&e);
    }
    ApiError::unexpected(e)
}

fn not_found(what: String) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no {what}"))
}

/// The id in a path, or a 404 naming it.
pub(super) fn id_of(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .map_err(|_| not_found(format!("{what} `{text}`: ids are numbers")))
}

/// Who the token says the caller is, and the roles it grants.
pub async fn me(State(state): State<AppState>, caller: Caller) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    Ok(Json(json!(caller.0)))
}

#[derive(Debug, Deserialize)]
pub struct ActionQuery {
    status: Option<String>,
    account: Option<String>,
    playbook: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

pub async fn actions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ActionQuery>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let (after, limit) = q.paging.bounds()?;
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

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    subject: Option<String>,
    actor: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

/// The trail, filtered, each record with its payload parsed and its hashes.
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let (after, limit) = q.paging.bounds()?;
    for (name, value) in [("since", &q.since), ("until", &q.until)] {
        if let Some(text) = value
            && chrono::DateTime::parse_from_rfc3339(text).is_err()
        {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("`{name}` must be an RFC 3339 time (2026-03-27T10:00:00Z), not `{text}`"),
            ));
        }
    }
    let normalize = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| crate::store::timestamp(t.with_timezone(&chrono::Utc)))
    };
    let filter = AuditFilter {
        since: normalize(&q.since),
        until: normalize(&q.until),
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

#[derive(Debug, Deserialize)]
pub struct DetectionQuery {
    account: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

pub async fn detections(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<DetectionQuery>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let (after, limit) = q.paging.bounds()?;
    let store = &state.service.store;
    let rows = (store
        .detections_page(q.account.as_deref(), after, limit)
        .await)
        .map_err(store_error)?;
    Ok(Json(page(&rows, limit, |d| d.seq)))
}

/// One detection as received (the raw payload in `details.raw`) and as normalised.
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

pub async fn campaigns(State(state): State<AppState>, caller: Caller) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let all = (state.service.store.campaigns().await).map_err(store_error)?;
    Ok(Json(json!({"items": all, "next_cursor": null})))
}

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
