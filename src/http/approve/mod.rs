//! The signed approval page: `GET /approve/{token}` shows the evidence and a form (it never
//! decides, so link scanners approve nothing); `POST /approve/{token}` decides. Plain HTML, no
//! JavaScript; `tests/cli/browser.rs` drives it in headless Chromium. With `operators:`
//! configured, deciding also needs the approver signed in as themselves (`sign_in`): the link
//! is one factor, the sign-in the other.
//!
//! A POST from another site is refused (and audited), so a page elsewhere cannot make an
//! approver's browser decide: when the request carries `Sec-Fetch-Site` it must be
//! `same-origin`, and when it carries `Origin` that must be `approvals.public_url`'s origin (or,
//! without one, the `Host` the request was sent to; `null` only with `Sec-Fetch-Site:
//! same-origin`). Browsers send at least one of them on every
//! POST; a request with neither comes from a non-browser client (a script holding the link) and
//! is decided like any other.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

mod origin;
mod page;
pub(super) mod sign_in;

use origin::same_origin;
use page::{escape, evidence, form, page};

use super::AppState;
use crate::approvals::link::{LinkClaims, verify_link};
use crate::approvals::{ApprovalError, Deciding, DecisionRequest, action_hash, decide};
use crate::store::ActionRow;
use stanch_core::vocab::{ActionStatus, Decision};

/// The form's fields, read from the raw body (kept whole so its hash goes in the audit trail).
#[derive(Debug, Default)]
struct DecisionForm {
    decision: String,
    reason: String,
}

impl DecisionForm {
    fn parse(body: &[u8]) -> DecisionForm {
        let mut form = DecisionForm::default();
        for (key, value) in form_urlencoded::parse(body) {
            match key.as_ref() {
                "decision" => form.decision = value.into_owned(),
                "reason" => form.reason = value.into_owned(),
                _ => {}
            }
        }
        form
    }
}

#[utoipa::path(get, path = "/approve/{token}", tag = "approvals", summary = "The signed approval page: evidence and a form; never decides", params(("token" = String, Path, description = "The signed link token")), responses((status = 200, description = "The page", body = String, content_type = "text/html"), (status = 403, description = "A forged or expired link", body = String, content_type = "text/html"), (status = 404, description = "Approval links are not configured, or no such action", body = String, content_type = "text/html"), (status = 410, description = "Nothing left to decide", body = String, content_type = "text/html")))]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (claims, row) = match open(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let detection = state
        .service
        .store
        .detection_at(row.detection_seq)
        .await
        .ok()
        .flatten()
        .map(|d| d["detection"].clone())
        .unwrap_or(Value::Null);
    // The form only while there is something to decide, so a reopened link (or the back button
    // after deciding) shows why instead of a form that can only be refused.
    let mine = state
        .service
        .store
        .decisions(row.pk)
        .await
        .ok()
        .and_then(|all| {
            all.into_iter()
                .find(|d| d.approver.eq_ignore_ascii_case(&claims.u))
        });
    let closed = if row.status != ActionStatus::AwaitingApproval {
        Some(format!(
            "This action is no longer waiting for a decision (status: {}).",
            row.status
        ))
    } else {
        mine.map(|d| {
            format!(
                "You already decided on this action: {} at {}.",
                d.decision, d.decided_at
            )
        })
    };
    let mut html = evidence(&row, &claims, &detection);
    let title = match closed {
        Some(why) => {
            html.push_str(&format!("<p><strong>{}</strong></p>", escape(&why)));
            "Already decided"
        }
        None => match sign_in::required(&state) {
            None => {
                html.push_str(&form(&token));
                "Approval requested"
            }
            Some(verifier) => match sign_in::signed_in(&state, verifier, &headers, &token).await {
                Some(identity) => {
                    html.push_str(&format!(
                        "<p>Signed in as <strong>{}</strong>.</p>",
                        escape(identity.approver_name())
                    ));
                    html.push_str(&form(&token));
                    "Approval requested"
                }
                None => {
                    html.push_str(&format!(
                        "<p><a href=\"./{}/sign-in\">Sign in as {} to decide</a></p>",
                        escape(&token),
                        escape(&claims.u)
                    ));
                    "Sign in to decide"
                }
            },
        },
    };
    page(StatusCode::OK, title, &html)
}

#[utoipa::path(post, path = "/approve/{token}", tag = "approvals", summary = "Decide through a signed link, from the page's own origin", params(("token" = String, Path, description = "The signed link token")), request_body(content = String, description = "The page's form: decision and reason", content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "Recorded", body = String, content_type = "text/html"), (status = 400, description = "The form is incomplete", body = String, content_type = "text/html"), (status = 401, description = "The link's approver is not signed in (audited)", body = String, content_type = "text/html"), (status = 403, description = "Refused (audited)", body = String, content_type = "text/html"), (status = 404, description = "Approval links are not configured, or no such action", body = String, content_type = "text/html"), (status = 409, description = "Already decided", body = String, content_type = "text/html")))]
pub(super) async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(why) = same_origin(&headers, state.service.approvals.public_url.as_deref()) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let payload = json!({"channel": "link", "why": why, "origin": header("origin"),
               "sec_fetch_site": header("sec-fetch-site"),
               "token_sha256": stanch_core::util::sha256_hex(token.as_bytes())});
        let body = format!("<p>{}. Nothing was decided.</p>", escape(&why));
        return refused(&state, payload, StatusCode::FORBIDDEN, "Refused", &body).await;
    }
    let form = DecisionForm::parse(&body);
    let (claims, _row) = match open(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // The second factor: the approver signed in as themselves, for this very link.
    let actor = match sign_in::required(&state) {
        None => None,
        Some(verifier) => match sign_in::signed_in(&state, verifier, &headers, &token).await {
            Some(identity)
                if identity
                    .upn
                    .as_deref()
                    .is_some_and(|upn| upn.eq_ignore_ascii_case(&claims.u)) =>
            {
                Some(identity.actor())
            }
            _ => {
                let payload = json!({"channel": "link", "action": claims.a,
                                     "why": "not signed in as the link's approver"});
                let body = format!(
                    "<p>Deciding needs you signed in as {} too. <a href=\"./{}/sign-in\">Sign in</a>; nothing was decided.</p>",
                    escape(&claims.u),
                    escape(&token)
                );
                let status = StatusCode::UNAUTHORIZED;
                return refused(&state, payload, status, "Sign in first", &body).await;
            }
        },
    };
    let approve = match Decision::parse(&form.decision) {
        Some(decision) => decision == Decision::Approve,
        None => {
            return page(
                StatusCode::BAD_REQUEST,
                "Unknown decision",
                "<p>Choose approve or deny.</p>",
            );
        }
    };
    let ctx = Deciding {
        store: &state.service.store,
        directory: state.service.runner.as_ref(),
        settings: &state.service.approvals,
    };
    let request = DecisionRequest {
        pk: claims.a,
        approver: &claims.u,
        approve,
        reason: &form.reason,
        channel: "link",
        raw_sha256: Some(stanch_core::util::sha256_hex(
            &[format!("POST /approve/{token}\n").as_bytes(), &body[..]].concat(),
        )),
        actor: actor.as_ref(),
    };
    match decide(ctx, &request).await {
        Ok(effect) => {
            state.service.wake.notify_one();
            if let Err(e) = state
                .service
                .dispatcher()
                .announce_decision(claims.a, &effect, &claims.u)
                .await
            {
                tracing::warn!(action = claims.a, error = %e, "cannot update the approval request's messages");
            }
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

/// Audits a refused use of a link (in bounded space) and says why; nothing was decided.
async fn refused(
    state: &AppState,
    payload: Value,
    status: StatusCode,
    title: &str,
    body: &str,
) -> Response {
    state
        .refusals
        .record(&state.service.store, "approval.refused", "link", payload)
        .await;
    page(status, title, body)
}

/// Verifies the token and that the action is still the one the link was made for.
async fn open(state: &AppState, token: &str) -> Result<(LinkClaims, ActionRow), Response> {
    let Some(secret) = state.service.approvals.link_secret.as_ref() else {
        return Err(page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>Approval links are not enabled on this server.</p>",
        ));
    };
    let refuse = |why: String| async move {
        let digest = stanch_core::util::sha256_hex(token.as_bytes());
        let payload = json!({"channel": "link", "why": why, "token_sha256": digest});
        state
            .refusals
            .record(&state.service.store, "approval.refused", "link", payload)
            .await;
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
    let row = match state.service.store.action(claims.a).await {
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
