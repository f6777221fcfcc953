//! The operator API's view of the playbooks the server runs: what each does, their own tests
//! run against the engine as loaded, and the passive period replayed through the rails (what
//! `stanch playbooks test` and `stanch report` print).

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::error::{ApiError, ErrorBody};
use super::Caller;
use super::reads::{store_error, time_bounds};
use crate::http::oidc::Permission;

type Answer = Result<Json<Value>, ApiError>;

#[utoipa::path(get, path = "/v1/playbooks", tag = "operators", security(("operator_token" = [])), summary = "The loaded playbooks, their steps and their own tests' results", responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody)))]
pub async fn playbooks(State(state): State<AppState>, caller: Caller) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let set = &state.service.recorder.playbooks;
    let outcomes = stanch_core::engine::testing::run_tests(set);
    let items: Vec<Value> = set
        .playbooks
        .iter()
        .map(|p| {
            let steps: Vec<Value> = p
                .steps
                .iter()
                .map(|s| {
                    json!({"id": s.id, "action": s.action, "mode": s.mode,
                           "approval": s.approval.is_some(), "expires_after_secs": s.expires_after_secs})
                })
                .collect();
            let tests: Vec<Value> = outcomes
                .iter()
                .filter(|o| o.playbook == p.id)
                .map(|o| json!({"name": o.name, "line": o.line, "passed": o.passed(), "failures": o.failures}))
                .collect();
            json!({"id": p.id, "name": p.name, "description": p.description, "file": p.file,
                   "digest": p.digest, "enabled": p.enabled, "mode": p.mode, "steps": steps,
                   "tests": tests})
        })
        .collect();
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    Ok(Json(json!({
        "items": items,
        "tests": {"passed": outcomes.len() - failed, "failed": failed},
        "next_cursor": null,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// RFC 3339; passive actions of detections observed at or after it.
    since: Option<String>,
    /// RFC 3339; passive actions of detections observed at or before it.
    until: Option<String>,
}

/// The passive period replayed through the safety rails, per playbook: what would have run,
/// what a person would have been asked, what the rails would have stopped.
#[utoipa::path(get, path = "/v1/report", tag = "operators", security(("operator_token" = [])), summary = "What passive mode would have done, through the rails", params(ReportQuery), responses((status = 200, description = "Answered", body = Object), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 400, description = "A parameter or the body is not valid", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ReportQuery>,
) -> Answer {
    caller.may(&state, Permission::Read, "api").await?;
    let (since, until) = time_bounds(&q.since, &q.until)?;
    let rows = state
        .service
        .store
        .passive_actions(since.as_deref(), until.as_deref())
        .await
        .map_err(store_error)?;
    let report = stanch_core::report::build(rows, &state.service.safety);
    Ok(Json(json!(report)))
}
