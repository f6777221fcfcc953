//! Unauthenticated control endpoints under `/_emulator`, for tests and engineers driving the
//! emulator from outside the process:
//!
//! - `GET /_emulator/requests` → `{"value":[LoggedRequest…]}`; `DELETE` clears the log (204).
//! - `GET /_emulator/state` → the tenant in fixture form.
//! - `POST /_emulator/reset` → back to the fixture; also forgets tokens, faults and the log (204).
//! - `GET|POST|DELETE /_emulator/faults`: list, add one fault or an array (204), clear (204).
//!   A fault: `{"kind":"throttle"|"unavailable"|"gatewayTimeout","retryAfter":7}`,
//!   `{"kind":"latency","ms":500}` or `{"kind":"expireTokens"}`, plus optional `method`,
//!   `pathPrefix` (e.g. `/v1.0/users`), `times` and `forMs` (a storm that lasts that long).
//! - `POST /_emulator/tokens/expire` → every issued token becomes invalid (204).
//! - `POST /_emulator/webhook` records a JSON body (200), `GET /_emulator/webhooks` lists them: a
//!   stand-in for a Slack or Teams incoming webhook, so `notify` can be exercised offline.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::emulator::Emulator;
use crate::faults::Fault;

pub fn router() -> Router<Emulator> {
    Router::new()
        .route("/_emulator/requests", get(requests).delete(clear_requests))
        .route("/_emulator/state", get(state))
        .route("/_emulator/reset", post(reset))
        .route(
            "/_emulator/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/_emulator/tokens/expire", post(expire_tokens))
        .route("/_emulator/webhook", post(webhook))
        .route("/_emulator/webhooks", get(webhooks))
}

async fn requests(State(emulator): State<Emulator>) -> Response {
    Json(json!({"value": emulator.requests()})).into_response()
}

async fn clear_requests(State(emulator): State<Emulator>) -> StatusCode {
    emulator.clear_requests();
    StatusCode::NO_CONTENT
}

async fn state(State(emulator): State<Emulator>) -> Json<Value> {
    Json(emulator.state())
}

async fn reset(State(emulator): State<Emulator>) -> StatusCode {
    emulator.reset();
    StatusCode::NO_CONTENT
}

async fn list_faults(State(emulator): State<Emulator>) -> Json<Value> {
    Json(json!({"value": emulator.faults()}))
}

/// Takes one fault or an array of them.
async fn add_faults(State(emulator): State<Emulator>, body: axum::body::Bytes) -> Response {
    let parsed: Result<Vec<Fault>, _> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items.into_iter().map(serde_json::from_value).collect(),
        Ok(one) => serde_json::from_value(one).map(|f| vec![f]),
        Err(e) => Err(e),
    };
    match parsed {
        Ok(faults) => {
            for fault in faults {
                emulator.inject(fault.normalized());
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"code": "BadFault", "message": e.to_string()}})),
        )
            .into_response(),
    }
}

async fn clear_faults(State(emulator): State<Emulator>) -> StatusCode {
    emulator.clear_faults();
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(emulator): State<Emulator>) -> StatusCode {
    emulator.expire_tokens();
    StatusCode::NO_CONTENT
}

async fn webhook(State(emulator): State<Emulator>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) => {
            emulator.record_webhook(value);
            (StatusCode::OK, "ok").into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("not JSON: {e}")).into_response(),
    }
}

async fn webhooks(State(emulator): State<Emulator>) -> Json<Value> {
    Json(json!({"value": emulator.webhooks()}))
}
