//! `POST /v1/chat/slack/interactions`: Slack's Interactivity Request URL, where button clicks
//! arrive.
//!
//! The signature is checked over the raw bytes before anything is parsed (a bad or stale one is
//! a 401). A signed click is answered 200 at once, because Slack gives up after 3 s and the
//! decision may need Graph (group membership) and Slack (`users.info`); the decision itself then
//! goes through `approvals::decide` like every other channel, as the email Slack has for the
//! clicking `user.id` (never the display name, which anyone can change). Every refusal is
//! audited with the raw body's SHA-256, and the person is told privately why.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::approvals::slack::message::{APPROVE, DENY};
use crate::approvals::slack::{Slack, SlackUser};
use crate::approvals::{ApprovalError, Deciding, DecisionRequest, action_hash, decide};
use stanch_core::slack::payload::{Click, parse_button_value};
use stanch_core::slack::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use stanch_core::util::sha256_hex;

#[utoipa::path(post, path = "/v1/chat/slack/interactions", tag = "approvals", summary = "Slack's interactivity requests (signed with the app's signing secret)", request_body(content = String, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "Acknowledged", body = Object), (status = 400, description = "A payload that cannot be read", body = ErrorBody), (status = 401, description = "Not signed by Slack (audited)", body = ErrorBody), (status = 404, description = "Slack is not configured", body = ErrorBody)))]
pub(super) async fn interactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_sha256 = sha256_hex(&body);
    let slack = match state.service.channels.slack() {
        Ok(slack) => slack.clone(),
        Err(why) => return ApiError::new(ErrorCode::NotFound, why).into_response(),
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = Utc::now().timestamp();
    if let Err(e) = signature::verify(
        &slack.signing_secrets(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        now,
    ) {
        let refusal = Refusal::new(&raw_sha256, e.to_string());
        refusal.record(&state, None).await;
        return ApiError::unauthorized(e.to_string()).into_response();
    }
    let click = match Click::parse(&body) {
        Ok(click) => click,
        Err(why) => {
            Refusal::new(&raw_sha256, why.clone())
                .record(&state, None)
                .await;
            return ApiError::new(ErrorCode::InvalidPayload, why).into_response();
        }
    };
    let settings = slack.settings();
    let why = if click.kind != "block_actions" {
        Some(format!("`{}` interactions are not handled", click.kind))
    } else if settings
        .team_id
        .as_ref()
        .is_some_and(|t| click.team_id.as_ref() != Some(t))
    {
        Some("the click comes from another Slack workspace".to_string())
    } else if settings
        .app_id
        .as_ref()
        .is_some_and(|a| click.app_id.as_ref() != Some(a))
    {
        Some("the click is for another Slack app".to_string())
    } else if !slack.first_click(&click.key, now) {
        Some("replayed click: this click was already taken in".to_string())
    } else {
        None
    };
    if let Some(why) = why {
        let refusal = Refusal {
            slack_user: Some(click.user_id.clone()),
            ..Refusal::new(&raw_sha256, why)
        };
        refusal.record(&state, Some((&slack, &click))).await;
        // Slack shows the clicker an error for anything but a 200; the refusal is audited and
        // they were told why.
        return StatusCode::OK.into_response();
    }
    tokio::spawn(async move { decide_click(state, slack, click, raw_sha256).await });
    StatusCode::OK.into_response()
}

/// Decides on the action a signed, first-seen click names, as the person who clicked.
async fn decide_click(state: AppState, slack: Slack, click: Click, raw_sha256: String) {
    let mut refusal = Refusal {
        slack_user: Some(click.user_id.clone()),
        ..Refusal::new(&raw_sha256, String::new())
    };
    let refuse = |mut refusal: Refusal, why: String| {
        refusal.why = why;
        let (state, slack, click) = (&state, &slack, &click);
        async move { refusal.record(state, Some((slack, click))).await }
    };
    let approve = match click.action_id.as_str() {
        APPROVE => true,
        DENY => false,
        other => return refuse(refusal, format!("unknown action `{other}`")).await,
    };
    refusal.approve = Some(approve);
    let Some((pk, hash)) = parse_button_value(&click.value) else {
        return refuse(refusal, "unknown action: the button names none".into()).await;
    };
    refusal.pk = Some(pk);
    let row = match state.service.store.action(pk).await {
        Ok(Some(row)) => row,
        Ok(None) => return refuse(refusal, format!("unknown action #{pk}")).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the action a Slack click names");
            slack
                .tell(
                    &click.channel_id,
                    &click.user_id,
                    "stanch could not record your click; nothing was decided, try again",
                )
                .await;
            return;
        }
    };
    if action_hash(&row) != hash {
        let why = "the action changed since this message was posted; it cannot be decided here";
        return refuse(refusal, why.into()).await;
    }
    let email = match slack.user(&click.user_id).await {
        Ok(SlackUser {
            email: Some(email),
            deleted: false,
            is_bot: false,
            ..
        }) => email,
        Ok(_) => {
            let why = format!(
                "Slack user {} has no usable email (deleted, a bot, or the app lacks users:read.email)",
                click.user_id
            );
            return refuse(refusal, why).await;
        }
        Err(e) => {
            let why = format!("cannot tell who Slack user {} is: {e}", click.user_id);
            return refuse(refusal, why).await;
        }
    };
    refusal.approver = Some(email.clone());
    let reason = format!(
        "clicked {} in Slack (#{} as {})",
        if approve { "Approve" } else { "Deny" },
        click.channel_name,
        click.user_id
    );
    let ctx = Deciding {
        store: &state.service.store,
        directory: state.service.runner.as_ref(),
        settings: &state.service.approvals,
    };
    let request = DecisionRequest {
        pk,
        approver: &email,
        approve,
        reason: &reason,
        channel: "slack",
        raw_sha256: Some(raw_sha256.clone()),
        actor: None,
    };
    match decide(ctx, &request).await {
        Ok(effect) => {
            state.service.wake.notify_one();
            if let Err(e) = state
                .service
                .dispatcher()
                .announce_decision(pk, &effect, &email)
                .await
            {
                tracing::warn!(action = pk, error = %e, "cannot update the approval request's messages");
            }
        }
        // `decide` audited it already.
        Err(ApprovalError::Refused(why)) => {
            let text = format!("stanch did not take your click: {why}");
            slack.tell(&click.channel_id, &click.user_id, &text).await;
        }
        Err(ApprovalError::Decision(e)) => refuse(refusal, e.to_string()).await,
        Err(ApprovalError::NotFound(pk)) => refuse(refusal, format!("unknown action #{pk}")).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot record a Slack decision");
            slack
                .tell(
                    &click.channel_id,
                    &click.user_id,
                    "stanch could not record your click; nothing was decided, try again",
                )
                .await;
        }
    }
}

/// An `approval.refused` record for a Slack request.
#[derive(Debug, Default)]
struct Refusal {
    pk: Option<i64>,
    slack_user: Option<String>,
    approver: Option<String>,
    approve: Option<bool>,
    why: String,
    raw_sha256: String,
}

impl Refusal {
    fn new(raw_sha256: &str, why: String) -> Refusal {
        Refusal {
            why,
            raw_sha256: raw_sha256.to_string(),
            ..Refusal::default()
        }
    }

    /// Audits the refusal and, for a click from a known person, tells them why.
    async fn record(self, state: &AppState, tell: Option<(&Slack, &Click)>) {
        let subject = self
            .pk
            .map_or_else(|| "slack".to_string(), |pk| format!("action/{pk}"));
        let payload = json!({"channel": "slack", "why": self.why, "raw_sha256": self.raw_sha256,
               "slack_user": self.slack_user, "approver": self.approver,
               "approve": self.approve});
        state
            .refusals
            .record(&state.service.store, "approval.refused", &subject, payload)
            .await;
        if let Some((slack, click)) = tell {
            let text = format!("stanch did not take your click: {}", self.why);
            slack.tell(&click.channel_id, &click.user_id, &text).await;
        }
    }
}
