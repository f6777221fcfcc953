//! `POST /v1/detections[/{format}]`: one detection, a JSON array, or JSONL.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};

use super::AppState;
use super::auth::authenticate;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::pipeline::Input;
use stanch_core::campaign::reserved_source;
use stanch_core::engine;
use stanch_core::intake::body::split;
use stanch_core::intake::{Format, Line, decode_line};

/// How many rejections an answer lists; the message says how many more there were.
const REJECTIONS_LISTED: usize = 100;

#[utoipa::path(post, path = "/v1/detections", tag = "intake", security(("intake_token" = [])), summary = "Post detections; the shape decides the format", request_body(content = String, description = "One JSON object, an array, or JSONL", content_type = "application/json"), responses((status = 202, description = "Stored with their plans and audit records", body = Object), (status = 400, description = "Some detections were rejected (the others were stored)", body = ErrorBody), (status = 401, description = "No bearer token or signature", body = ErrorBody), (status = 409, description = "A replayed signature", body = ErrorBody), (status = 413, description = "Too large or too many items", body = ErrorBody), (status = 415, description = "Not JSON, NDJSON or text", body = ErrorBody), (status = 503, description = "Nothing was stored; send it again", body = ErrorBody)))]
pub(super) async fn post_detections(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    accept(state, None, headers, body).await
}

#[utoipa::path(post, path = "/v1/detections/{format}", tag = "intake", security(("intake_token" = [])), summary = "Post detections in a named format", params(("format" = String, Path, description = "generic, graph-alert, sentinel, darktrace-breach, darktrace-ai-analyst, audit-inbox-rule, entra-risk-detection, entra-sign-in")), request_body(content = String, description = "One JSON object, an array, or JSONL", content_type = "application/json"), responses((status = 202, description = "Stored with their plans and audit records", body = Object), (status = 404, description = "No such format", body = ErrorBody), (status = 400, description = "Some detections were rejected (the others were stored)", body = ErrorBody), (status = 401, description = "No bearer token or signature", body = ErrorBody), (status = 409, description = "A replayed signature", body = ErrorBody), (status = 413, description = "Too large or too many items", body = ErrorBody), (status = 415, description = "Not JSON, NDJSON or text", body = ErrorBody), (status = 503, description = "Nothing was stored; send it again", body = ErrorBody)))]
pub(super) async fn post_detections_in_format(
    state: State<AppState>,
    Path(format): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    accept(state, Some(format), headers, body).await
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
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<super::server::BodyTimedOut>()) {
            ApiError::new(ErrorCode::RequestTimeout, e.to_string())
        } else {
            too_large()
        }
    })?;
    let now = Utc::now().timestamp();
    let caller = match authenticate(&state.intake, &headers, &bytes, now) {
        Ok(caller) => caller,
        Err(e) => {
            state
                .service
                .metrics
                .unauthorized
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Who claimed to send it, quoted and cut short: the header is the sender's to write.
            let source: String = headers
                .get(super::SOURCE_HEADER)
                .map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .chars()
                        .take(64)
                        .collect()
                })
                .unwrap_or_default();
            tracing::warn!(why = %e.message, bytes = bytes.len(), source = ?source, "intake request refused: bad credentials");
            return Err(e);
        }
    };
    let replay_key = signed_key(&headers, &caller, state.intake.replay_window_secs);
    if let Some((key, expires)) = &replay_key {
        if !state.seen.first_use(key, *expires, now) {
            return Err(refuse_replay(&state, &caller, &bytes).await);
        }
        // Another replica of the same database may have taken it first.
        match state
            .service
            .store
            .first_use_of_signature(key, *expires, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(refuse_replay(&state, &caller, &bytes).await),
            Err(e) => {
                state.seen.forget(key);
                return Err(ApiError::store(&e));
            }
        }
    }
    let result = take(&state, format, &headers, &bytes).await;
    if let Err(e) = &result {
        tracing::warn!(caller = %caller, code = ?e.code, why = %e.message, "intake request not (fully) accepted");
    }
    if let (Err(e), Some((key, _))) = (&result, &replay_key)
        && e.code != ErrorCode::InvalidDetections
    {
        // Nothing was stored: the same signed request may come again.
        state.seen.forget(key);
        if let Err(e) = state.service.store.forget_signature(key).await {
            tracing::warn!(error = %e, "cannot forget the signature of a request that stored nothing");
        }
    }
    result
}

/// For a signed request, the key its signature is remembered by, and until when.
fn signed_key(headers: &HeaderMap, caller: &str, window: u64) -> Option<(String, i64)> {
    caller.strip_prefix("hmac:")?;
    let header = headers.get(super::SIGNATURE_HEADER)?.to_str().ok()?;
    let (t, digest) = crate::signing::parse(header)?;
    let key = format!("{caller}:{t}:{}", stanch_core::util::to_hex(&digest));
    Some((key, t.saturating_add(window as i64)))
}

async fn refuse_replay(state: &AppState, caller: &str, body: &[u8]) -> ApiError {
    let payload = json!({"caller": caller, "body_sha256": stanch_core::util::sha256_hex(body), "body_bytes": body.len()});
    state
        .refusals
        .record(
            &state.service.store,
            "intake.replay_refused",
            &format!("intake/{caller}"),
            payload,
        )
        .await;
    ApiError::new(
        ErrorCode::ReplayedRequest,
        "this signed request was already received within the replay window; sign each request anew (a fresh t=)",
    )
}

async fn take(
    state: &AppState,
    format: Option<String>,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    check_media_type(headers)?;
    let max_items = state.intake.max_items;
    let too_many = |n: usize| {
        ApiError::new(
            ErrorCode::TooManyItems,
            format!(
                "the body holds {n} items; at most {max_items} are taken per request (intake.max_items): nothing was stored, send them in smaller batches"
            ),
        )
    };
    let lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| decode_line(l) != Line::Skip)
        .count();
    if lines > max_items && !bytes.trim_ascii_start().starts_with(b"[") {
        return Err(too_many(lines));
    }
    let mut items = split(bytes, format);
    for item in &mut items {
        if let Some(reason) = item.result.as_ref().ok().and_then(reserved_source) {
            item.result = Err(reason);
        }
    }
    if items.len() > max_items {
        return Err(too_many(items.len()));
    }
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
        .map_err(|e| ApiError::store(&e))?;
    state.service.new_work();

    let accepted: Vec<Value> = items
        .iter()
        .zip(&plans)
        .filter_map(|(item, plan)| {
            let (detection, plan) = (item.result.as_ref().ok()?, plan.as_ref()?);
            Some(json!({"line": item.line, "detection": detection.key(), "actions": plan.actions.len(), "matched": plan.matched.iter().map(|m| &m.playbook).collect::<Vec<_>>()}))
        })
        .collect();
    let rejections = items.iter().filter(|i| i.result.is_err()).count();
    let rejected: Vec<Value> = items
        .iter()
        .filter_map(|i| {
            i.result
                .as_ref()
                .err()
                .map(|r| json!({"line": i.line, "reason": r}))
        })
        .take(REJECTIONS_LISTED)
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
        .fetch_add(rejections as u64, std::sync::atomic::Ordering::Relaxed);
    let mut playbooks: Vec<&str> = plans
        .iter()
        .flatten()
        .flat_map(|p| p.matched.iter().map(|m| m.playbook.as_str()))
        .collect();
    playbooks.sort_unstable();
    playbooks.dedup();
    tracing::info!(
        accepted = accepted.len(),
        rejected = rejections,
        first = accepted
            .first()
            .and_then(|a| a["detection"].as_str())
            .unwrap_or(""),
        format = format.map_or("by shape", |f| f.name()),
        actions = plans.iter().flatten().map(|p| p.actions.len()).sum::<usize>(),
        playbooks = %playbooks.join(", "),
        "detections received"
    );
    if rejected.is_empty() {
        return Ok((StatusCode::ACCEPTED, Json(json!({"accepted": accepted}))));
    }
    let unlisted = match rejections - rejected.len() {
        0 => String::new(),
        n => format!(
            " (details lists the first {}; {n} more were rejected)",
            rejected.len()
        ),
    };
    let message = format!(
        "{rejections} of {} detection(s) rejected{unlisted}; the other {} were accepted and stored",
        items.len(),
        accepted.len()
    );
    Err(ApiError {
        details: Some(Box::new(Value::Array(rejected))),
        extra: Some(Box::new(json!({"accepted": accepted}))),
        ..ApiError::new(ErrorCode::InvalidDetections, message)
    })
}

/// Refuses a declared Content-Type that is not JSON, NDJSON or plain text (or not UTF-8).
fn check_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get("content-type") else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or_default().to_ascii_lowercase();
    let mut parts = text.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    let known = matches!(
        essence,
        "application/json"
            | "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines"
            | "text/plain"
    ) || (essence.starts_with("application/") && essence.ends_with("+json"));
    let charset_ok = parts
        .filter_map(|p| p.strip_prefix("charset="))
        .all(|c| matches!(c.trim_matches('"'), "utf-8" | "utf8" | "us-ascii"));
    if known && charset_ok {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!(
            "Content-Type `{}` is not taken: send application/json, application/x-ndjson or text/plain, in UTF-8",
            stanch_core::intake::validate::shown(&text)
        ),
    ))
}
