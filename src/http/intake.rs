//! `POST /v1/detections[/{format}]`: one detection, a JSON array, or JSONL.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};

use super::AppState;
use super::auth::authenticate;
use super::error::ApiError;
use crate::engine;
use crate::intake::{Detection, parse_generic_value};
use crate::store::{Evaluation, PreparedBatch};

pub(super) async fn post_detections(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    accept(state, None, headers, body).await
}

pub(super) async fn post_detections_in_format(
    state: State<AppState>,
    Path(format): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    accept(state, Some(format), headers, body).await
}

struct Item {
    line: usize,
    raw: String,
    result: Result<Detection, String>,
}

async fn accept(
    State(state): State<AppState>,
    format: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let limit = state.intake.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the configured {limit} bytes (intake.max_body_bytes)"),
        )
    };
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    if let Err(e) = authenticate(&state.intake, &headers, &bytes, Utc::now().timestamp()) {
        state
            .metrics
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(e);
    }
    if let Some(format) = format.as_deref().filter(|f| *f != "generic") {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_format",
            format!("unknown detection format `{format}`; this server reads: generic"),
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body is not UTF-8",
        )
    })?;
    let items = split(text);
    if items.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_body",
            "the body holds no detection",
        ));
    }
    let plans: Vec<Option<engine::Plan>> = items
        .iter()
        .map(|item| {
            item.result
                .as_ref()
                .ok()
                .map(|d| engine::plan(d, &state.playbooks, &state.context))
        })
        .collect();
    let evaluations: Vec<Evaluation<'_>> = items
        .iter()
        .zip(&plans)
        .map(|(item, plan)| match (&item.result, plan) {
            (Ok(detection), Some(plan)) => Evaluation::Accepted {
                line: Some(item.line),
                detection,
                plan,
            },
            (Err(_), _) | (Ok(_), None) => Evaluation::Rejected {
                line: Some(item.line),
                reason: reason_of(&item.result),
                raw: &item.raw,
            },
        })
        .collect();
    let prepared = PreparedBatch::new(state.run_id, &evaluations, Utc::now())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    state
        .store
        .record_prepared(prepared)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    state.wake.notify_one();

    let accepted: Vec<Value> = items
        .iter()
        .zip(&plans)
        .filter_map(|(item, plan)| {
            let (detection, plan) = (item.result.as_ref().ok()?, plan.as_ref()?);
            Some(json!({"line": item.line, "detection": detection.key(), "actions": plan.actions.len(), "matched": plan.matched.iter().map(|m| &m.playbook).collect::<Vec<_>>()}))
        })
        .collect();
    let rejected: Vec<Value> = items
        .iter()
        .filter_map(|i| {
            i.result
                .as_ref()
                .err()
                .map(|r| json!({"line": i.line, "reason": r}))
        })
        .collect();
    state
        .metrics
        .received
        .fetch_add(accepted.len() as u64, std::sync::atomic::Ordering::Relaxed);
    state
        .metrics
        .rejected
        .fetch_add(rejected.len() as u64, std::sync::atomic::Ordering::Relaxed);
    if rejected.is_empty() {
        return Ok((StatusCode::ACCEPTED, Json(json!({"accepted": accepted}))));
    }
    let message = format!(
        "{} of {} detection(s) rejected; the other {} were accepted and stored",
        rejected.len(),
        items.len(),
        accepted.len()
    );
    Err(ApiError {
        details: Some(Box::new(Value::Array(rejected))),
        extra: Some(Box::new(json!({"accepted": accepted}))),
        ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_detections", message)
    })
}

fn reason_of(result: &Result<Detection, String>) -> String {
    result.as_ref().err().cloned().unwrap_or_default()
}

/// One object, an array of objects, or one object per line (blank and `#` lines skipped, as in files).
fn split(text: &str) -> Vec<Item> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<Vec<Value>>(text) {
            Ok(values) => values
                .into_iter()
                .enumerate()
                .map(|(i, v)| item(i + 1, v.to_string(), Ok(v)))
                .collect(),
            Err(e) => vec![item(
                1,
                text.to_string(),
                Err(format!("not valid JSON: {e}")),
            )],
        };
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(i, line)| {
            item(
                i + 1,
                line.to_string(),
                serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}")),
            )
        })
        .collect()
}

fn item(line: usize, raw: String, value: Result<Value, String>) -> Item {
    let result = value.and_then(|v| parse_generic_value(v).map_err(|e| e.to_string()));
    Item { line, raw, result }
}
