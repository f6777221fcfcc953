//! `POST /v1/detections[/{format}]`: one detection, a JSON array, or JSONL.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};

use super::AppState;
use super::auth::authenticate;
use super::error::{ApiError, ErrorCode};
use crate::pipeline::Input;
use stanch_core::engine;
use stanch_core::intake::{Detection, Format, parse_any, to_detections};

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
            ErrorCode::PayloadTooLarge,
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
            .service
            .metrics
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(e);
    }
    let format = match format.as_deref() {
        None => None,
        Some(name) => Some(Format::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            ApiError::new(
                ErrorCode::UnknownFormat,
                format!(
                    "unknown detection format `{name}`; known formats: {}",
                    known.join(", ")
                ),
            )
        })?),
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::new(ErrorCode::InvalidBody, "the body is not UTF-8"))?;
    let items = split(text, format);
    if items.is_empty() {
        return Err(ApiError::new(
            ErrorCode::EmptyBody,
            "the body holds no detection",
        ));
    }
    let inputs: Vec<Input<'_>> = items
        .iter()
        .map(|item| match &item.result {
            Ok(detection) => Input::Detection {
                line: Some(item.line),
                detection,
            },
            Err(reason) => Input::Rejected {
                line: Some(item.line),
                reason: reason.clone(),
                raw: &item.raw,
            },
        })
        .collect();
    // Grouped into campaigns, planned and committed before the answer.
    let plans: Vec<Option<engine::Plan>> = state
        .service
        .recorder
        .record(&inputs)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    state.service.new_work();

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
        .service
        .metrics
        .received
        .fetch_add(accepted.len() as u64, std::sync::atomic::Ordering::Relaxed);
    state
        .service
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
        ..ApiError::new(ErrorCode::InvalidDetections, message)
    })
}

/// One object, an array of objects, or one object per line (blank and `#` lines skipped, as in
/// files). Each payload may hold several detections (a Graph page, a Sentinel incident).
fn split(text: &str, format: Option<Format>) -> Vec<Item> {
    // A whole-body JSON value first (a pretty-printed alert spans many lines), else JSONL.
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(values)) => {
            return values
                .into_iter()
                .enumerate()
                .flat_map(|(i, v)| items(i + 1, v.to_string(), Ok(v), format))
                .collect();
        }
        Ok(value) => return items(1, text.to_string(), Ok(value), format),
        Err(_) => {}
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .flat_map(|(i, line)| {
            items(
                i + 1,
                line.to_string(),
                serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}")),
                format,
            )
        })
        .collect()
}

fn items(
    line: usize,
    raw: String,
    value: Result<Value, String>,
    format: Option<Format>,
) -> Vec<Item> {
    let parsed = value.and_then(|v| {
        match format {
            None => parse_any(v),
            Some(format) => to_detections(format, v),
        }
        .map_err(|e| e.to_string())
    });
    match parsed {
        Ok(detections) if detections.is_empty() => vec![Item {
            line,
            raw,
            result: Err("the payload holds no detection".into()),
        }],
        Ok(detections) => detections
            .into_iter()
            .map(|d| Item {
                line,
                raw: raw.clone(),
                result: match stanch_core::campaign::reserved_source(&d) {
                    Some(reason) => Err(reason),
                    None => Ok(d),
                },
            })
            .collect(),
        Err(reason) => vec![Item {
            line,
            raw,
            result: Err(reason),
        }],
    }
}
