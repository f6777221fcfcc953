//! The Slack channel: approval requests posted with `chat.postMessage` (evidence plus Approve /
//! Deny buttons), replaced with `chat.update` once decided, and the Web API calls the
//! interactivity endpoint (`http/slack.rs`) needs: who clicked (`users.info`) and telling a
//! person privately why a click was refused (`chat.postEphemeral`).
//!
//! Slack answers API errors with HTTP 200 and `{"ok": false, "error": "..."}`; those are
//! failures here like any other status.

pub mod message;
// The v0 signature check is pure (and fuzzed), so it lives in the core; its path stays here.
pub use stanch_core::slack::signature;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::outcome::Outcome;
use super::request::ApprovalRequest;
use super::settings::SlackSettings;
use crate::store::Delivery;
use stanch_core::vocab::ApprovalState;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack is unreachable: {0}")]
    Unreachable(reqwest::Error),
    #[error("Slack answered {method} with HTTP {status}")]
    Status { method: &'static str, status: u16 },
    #[error("Slack refused {method}: {error}")]
    Api { method: &'static str, error: String },
    #[error("Slack's answer to {method} is not what the Web API returns: {what}")]
    Malformed { method: &'static str, what: String },
}

// By hand, not `#[from]`: each message already tells its cause, so it is not also a `source`.
impl From<reqwest::Error> for SlackError {
    fn from(e: reqwest::Error) -> Self {
        SlackError::Unreachable(e)
    }
}

/// A Slack user as `users.info` describes them.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackUser {
    pub id: String,
    /// `profile.email`; needs the `users:read.email` scope.
    pub email: Option<String>,
    pub deleted: bool,
    pub is_bot: bool,
}

/// A configured Slack app (settings checked complete).
#[derive(Debug, Clone)]
pub struct Slack {
    http: reqwest::Client,
    settings: SlackSettings,
    /// Clicks already taken in (`trigger_id` + `action_ts`), with when: a replay inside the
    /// signature window is recognized before anything else happens.
    clicks: Arc<Mutex<HashMap<String, i64>>>,
}

impl Slack {
    pub fn new(settings: &SlackSettings) -> Slack {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        Slack {
            http,
            settings: settings.clone(),
            clicks: Arc::default(),
        }
    }

    pub fn settings(&self) -> &SlackSettings {
        &self.settings
    }

    pub fn signing_secrets(&self) -> Vec<&[u8]> {
        self.settings
            .signing_secrets
            .iter()
            .map(|s| s.expose().as_bytes())
            .collect()
    }

    /// Posts `req` to the configured channel; the value (channel, ts, summary) finds the
    /// message again for `chat.update`.
    pub async fn post_request(&self, req: &ApprovalRequest) -> Result<Value, SlackError> {
        let body = message::request(&self.settings.channel, req);
        let reply = self.call("chat.postMessage", &body).await?;
        let (Some(channel), Some(ts)) = (reply["channel"].as_str(), reply["ts"].as_str()) else {
            return Err(SlackError::Malformed {
                method: "chat.postMessage",
                what: "no channel and ts".into(),
            });
        };
        Ok(json!({"channel": channel, "ts": ts, "summary": req.summary()}))
    }

    /// Replaces a delivered request by its outcome. Progress that still needs clicks (a partial
    /// quorum) goes to the thread instead, keeping the buttons; the fresh request of an
    /// escalation is left alone when the escalation is announced.
    pub async fn update(&self, delivery: &Delivery, outcome: &Outcome) -> Result<(), SlackError> {
        let d = &delivery.delivery;
        let (Some(channel), Some(ts)) = (d["channel"].as_str(), d["ts"].as_str()) else {
            return Err(SlackError::Malformed {
                method: "chat.update",
                what: "the delivery has no channel and ts".into(),
            });
        };
        match outcome.state {
            ApprovalState::Escalated if delivery.round > 0 => Ok(()),
            ApprovalState::Waiting => {
                let body = message::thread_reply(channel, ts, &outcome.text);
                self.call("chat.postMessage", &body).await.map(|_| ())
            }
            _ => {
                let summary = d["summary"].as_str().unwrap_or("Approval request");
                let body = message::outcome(channel, ts, summary, outcome);
                self.call("chat.update", &body).await.map(|_| ())
            }
        }
    }

    /// Who a Slack user id is. Ids are checked to be Slack's shape before they reach a URL.
    pub async fn user(&self, id: &str) -> Result<SlackUser, SlackError> {
        let method = "users.info";
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SlackError::Api {
                method,
                error: "not a Slack user id".into(),
            });
        }
        let request = self
            .http
            .get(format!("{}/{method}?user={id}", self.settings.api_url));
        let reply = self.send(method, request).await?;
        let user = &reply["user"];
        Ok(SlackUser {
            id: id.to_string(),
            email: user["profile"]["email"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_string),
            deleted: user["deleted"].as_bool().unwrap_or(false),
            is_bot: user["is_bot"].as_bool().unwrap_or(false),
        })
    }

    /// Tells one person, in the channel, something only they see (best effort).
    pub async fn tell(&self, channel: &str, user: &str, text: &str) {
        let body = json!({"channel": channel, "user": user, "text": text});
        if let Err(e) = self.call("chat.postEphemeral", &body).await {
            tracing::warn!(error = %e, "cannot tell a Slack user why their click was refused");
        }
    }

    /// Records a click; false when the same click was already taken in. Entries older than the
    /// signature window are dropped: a replay that old fails the timestamp check anyway.
    pub fn first_click(&self, key: &str, now_unix: i64) -> bool {
        let window = signature::MAX_AGE_SECS as i64;
        let mut clicks = self.clicks.lock().unwrap_or_else(|e| e.into_inner());
        clicks.retain(|_, at| now_unix - *at <= 2 * window);
        if clicks.contains_key(key) {
            return false;
        }
        clicks.insert(key.to_string(), now_unix);
        true
    }

    async fn call(&self, method: &'static str, body: &Value) -> Result<Value, SlackError> {
        let request = self
            .http
            .post(format!("{}/{method}", self.settings.api_url))
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string());
        self.send(method, request).await
    }

    async fn send(
        &self,
        method: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, SlackError> {
        let token = self
            .settings
            .bot_token
            .as_ref()
            .map(|t| t.expose())
            .unwrap_or_default();
        let response = request.bearer_auth(token).send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(SlackError::Status {
                method,
                status: status.as_u16(),
            });
        }
        let reply: Value = response.json().await.map_err(|e| SlackError::Malformed {
            method,
            what: e.to_string(),
        })?;
        check_reply(method, reply)
    }
}

/// Slack's errors come back as HTTP 200 with `ok: false`.
fn check_reply(method: &'static str, reply: Value) -> Result<Value, SlackError> {
    match reply["ok"].as_bool() {
        Some(true) => Ok(reply),
        Some(false) => Err(SlackError::Api {
            method,
            error: reply["error"]
                .as_str()
                .unwrap_or("unknown_error")
                .to_string(),
        }),
        None => Err(SlackError::Malformed {
            method,
            what: "no `ok` field".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_false_is_a_failure() {
        let err = check_reply(
            "chat.postMessage",
            json!({"ok": false, "error": "channel_not_found"}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Slack refused chat.postMessage: channel_not_found"
        );
        assert!(check_reply("chat.update", json!({"ok": true})).is_ok());
        assert!(check_reply("chat.update", json!({"error": "x"})).is_err());
    }

    #[test]
    fn a_click_is_taken_in_once() {
        let slack = Slack::new(&SlackSettings::default());
        assert!(slack.first_click("t1/1.0", 1000));
        assert!(!slack.first_click("t1/1.0", 1100));
        assert!(slack.first_click("t2/1.0", 1100));
        // Long past the window, the entry is gone (the timestamp check refuses such replays).
        assert!(slack.first_click("t1/1.0", 1000 + 601));
    }
}
