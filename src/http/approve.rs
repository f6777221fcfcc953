//! The signed approval page: `GET /approve/{token}` shows the evidence and a form (it never
//! decides, so link scanners approve nothing); `POST /approve/{token}` decides. Plain HTML, no
//! JavaScript.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::approvals::link::{LinkClaims, verify_link};
use crate::approvals::{ApprovalError, Deciding, DecisionRequest, action_hash, decide};
use crate::audit::AuditEvent;
use crate::store::ActionRow;

#[derive(Debug, Deserialize)]
pub(super) struct DecisionForm {
    decision: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match open(&state, &token).await {
        Ok((claims, row)) => page(
            StatusCode::OK,
            "Approval requested",
            &evidence(&row, &claims, Some(&token)),
        ),
        Err(response) => response,
    }
}

pub(super) async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let (claims, _row) = match open(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "Unknown decision",
                "<p>Choose approve or deny.</p>",
            );
        }
    };
    let ctx = Deciding {
        store: &state.store,
        directory: state.runner.as_ref(),
        settings: &state.approvals,
    };
    let request = DecisionRequest {
        pk: claims.a,
        approver: &claims.u,
        approve,
        reason: &form.reason,
        channel: "link",
        raw_sha256: Some(crate::util::sha256_hex(
            format!("{token}\n{}\n{}", form.decision, form.reason).as_bytes(),
        )),
    };
    match decide(ctx, &request).await {
        Ok(effect) => {
            state.wake.notify_one();
            announce(&state, claims.a, &effect, &claims.u).await;
            let text = serde_json::to_value(&effect)
                .map(|v| v["result"].as_str().unwrap_or("recorded").to_string())
                .unwrap_or_default();
            page(
                StatusCode::OK,
                "Decision recorded",
                &format!(
                    "<p>Your decision on action #{} was recorded: <strong>{}</strong>.</p>",
                    claims.a,
                    escape(&text)
                ),
            )
        }
        Err(ApprovalError::Refused(why)) => page(
            StatusCode::FORBIDDEN,
            "Refused",
            &format!("<p>{}</p>", escape(&why)),
        ),
        Err(ApprovalError::Decision(e)) => page(
            StatusCode::CONFLICT,
            "Already decided",
            &format!("<p>{}</p>", escape(&e.to_string())),
        ),
        Err(e) => {
            tracing::error!(error = %e, "approval page failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Nothing was decided.</p>",
            )
        }
    }
}

/// Updates the chat messages that carried the request.
pub(crate) async fn announce(
    state: &AppState,
    pk: i64,
    effect: &crate::store::DecisionEffect,
    by: &str,
) {
    let (label, text) = crate::approvals::channels::describe(effect, by);
    if let Ok(Some(row)) = state.store.action(pk).await
        && let Err(e) = state
            .dispatcher()
            .announce(&row, label, Some(by), &text)
            .await
    {
        tracing::warn!(action = pk, error = %e, "cannot update the approval request's messages");
    }
}

/// Verifies the token and that the action is still the one the link was made for.
async fn open(state: &AppState, token: &str) -> Result<(LinkClaims, ActionRow), Response> {
    let Some(secret) = state.approvals.link_secret.as_ref() else {
        return Err(page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>Approval links are not enabled on this server.</p>",
        ));
    };
    let refuse = |why: String| async move {
        let digest = crate::util::sha256_hex(token.as_bytes());
        let event = AuditEvent::new(
            Utc::now(),
            "approval.refused",
            "link",
            json!({"channel": "link", "why": why, "token_sha256": digest}),
        );
        let _ = state.store.append_audit(&[event]).await;
        page(
            StatusCode::FORBIDDEN,
            "Link refused",
            &format!("<p>{}</p>", escape(&why)),
        )
    };
    let claims = match verify_link(secret.expose().as_bytes(), token, Utc::now().timestamp()) {
        Ok(claims) => claims,
        Err(e) => return Err(refuse(e.to_string()).await),
    };
    let row = match state.store.action(claims.a).await {
        Ok(Some(row)) => row,
        Ok(None) => return Err(refuse(format!("no action #{}", claims.a)).await),
        Err(e) => {
            tracing::error!(error = %e, "approval page cannot read the action");
            return Err(page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Nothing was decided.</p>",
            ));
        }
    };
    if action_hash(&row) != claims.h {
        return Err(refuse(
            "the action changed since this link was sent; it cannot be decided with it".into(),
        )
        .await);
    }
    Ok((claims, row))
}

fn evidence(row: &ActionRow, claims: &LinkClaims, token: Option<&str>) -> String {
    let target = row
        .target_upn
        .as_deref()
        .or(row.target_id.as_deref())
        .unwrap_or("the whole tenant");
    let mut html = format!(
        "<p>stanch asks <strong>{}</strong> to decide on action #{}.</p><dl><dt>Action</dt><dd>{}</dd><dt>Target</dt><dd>{}</dd><dt>Parameters</dt><dd><code>{}</code></dd><dt>Why</dt><dd>{}</dd><dt>Playbook</dt><dd>{} / {}</dd><dt>Status</dt><dd>{}</dd></dl>",
        escape(&claims.u),
        row.pk,
        escape(&row.kind),
        escape(target),
        escape(&row.params.to_string()),
        escape(&row.gate["reasons"].to_string()),
        escape(&row.playbook),
        escape(&row.step),
        escape(&row.status)
    );
    if let Some(token) = token {
        html.push_str(&format!(
            "<form method=\"post\" action=\"/approve/{t}\"><label>Reason <input name=\"reason\" required></label>\
             <button name=\"decision\" value=\"approve\">Approve</button> <button name=\"decision\" value=\"deny\">Deny</button></form>",
            t = escape(token)
        ));
    }
    html
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} · stanch</title></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (
        status,
        [
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
        ],
        Html(html),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
