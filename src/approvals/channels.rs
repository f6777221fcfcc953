//! Where approval requests go. Every channel ends in the same decision path (`decide`); a channel
//! only delivers the request, and later updates what it delivered once the action is decided.
//!
//! - `webhook`: a JSON POST signed like intake (`X-Stanch-Signature: t=<unix>,v1=<hex
//!   HMAC-SHA256 of "t.body">`), for other tools.
//! - `slack`: a message with Approve / Deny buttons (`slack.rs`).
//! - `teams`: an Adaptive Card to a Workflows webhook, with links to the approval page (`teams.rs`).

use std::time::Duration;

use super::outcome::Outcome;
use serde_json::{Value, json};

use super::request::ApprovalRequest;
use super::settings::{ApprovalSettings, WebhookSettings};
use crate::store::Delivery;

const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured channels, ready to send.
#[derive(Debug, Clone)]
pub struct Channels {
    http: reqwest::Client,
    webhook: Option<WebhookSettings>,
    slack: Option<super::slack::Slack>,
    teams: Option<super::teams::Teams>,
}

impl Channels {
    pub fn new(settings: &ApprovalSettings) -> Channels {
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .build()
            .unwrap_or_default();
        Channels {
            http,
            webhook: settings.webhook.clone(),
            // Incomplete settings are refused when `serve` starts; elsewhere the channel is off.
            slack: (settings.slack.as_ref())
                .filter(|s| s.problems().is_empty())
                .map(super::slack::Slack::new),
            teams: settings.teams.as_ref().map(super::teams::Teams::new),
        }
    }

    /// The channels that can send, by name.
    pub fn configured(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.webhook.is_some() {
            names.push("webhook");
        }
        if self.slack.is_some() {
            names.push("slack");
        }
        if self.teams.is_some() {
            names.push("teams");
        }
        names
    }

    /// Whether channel `name` announces an outcome with a new message instead of editing the one
    /// it delivered.
    pub fn follows_up(name: &str) -> bool {
        name == "teams"
    }

    /// Delivers `request` through channel `name`; the value is what finding the delivery again
    /// takes (or the channel's answer).
    pub async fn send(&self, name: &str, request: &ApprovalRequest) -> Result<Value, String> {
        match name {
            "webhook" => {
                let webhook = self
                    .webhook
                    .as_ref()
                    .ok_or("the webhook channel is not configured")?;
                self.post_signed(webhook, &request.to_json()).await
            }
            "slack" => {
                let slack = self.slack()?;
                slack.post_request(request).await.map_err(|e| e.to_string())
            }
            "teams" => {
                let teams = self
                    .teams
                    .as_ref()
                    .ok_or("the teams channel is not configured")?;
                teams
                    .send(&self.http, request)
                    .await
                    .map_err(|e| e.to_string())
            }
            other => Err(format!("the `{other}` channel is not configured")),
        }
    }

    /// Tells channel `delivery.channel` how the request it delivered ended.
    pub async fn update(&self, delivery: &Delivery, outcome: &Outcome) -> Result<(), String> {
        match delivery.channel.as_str() {
            "webhook" => {
                let webhook = self
                    .webhook
                    .as_ref()
                    .ok_or("the webhook channel is not configured")?;
                let body = json!({"type": "approval.updated", "outcome": outcome});
                self.post_signed(webhook, &body).await.map(|_| ())
            }
            "slack" => (self.slack()?.update(delivery, outcome).await).map_err(|e| e.to_string()),
            "teams" => {
                let teams = self
                    .teams
                    .as_ref()
                    .ok_or("the teams channel is not configured")?;
                let sent = teams.update(&self.http, delivery, outcome).await;
                sent.map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }

    /// The Slack app, for the interactivity endpoint.
    pub fn slack(&self) -> Result<&super::slack::Slack, String> {
        self.slack
            .as_ref()
            .ok_or_else(|| "the slack channel is not configured".to_string())
    }

    async fn post_signed(&self, webhook: &WebhookSettings, body: &Value) -> Result<Value, String> {
        let bytes = body.to_string().into_bytes();
        let signature = crate::signing::sign(
            webhook.secret.expose().as_bytes(),
            chrono::Utc::now().timestamp(),
            &bytes,
        );
        let response = self
            .http
            .post(webhook.url.expose())
            .header("content-type", "application/json")
            .header("x-stanch-signature", signature)
            .body(bytes)
            .send()
            .await
            // reqwest names the URL in its errors, and this one is a secret: the message goes
            // to the log, the database and the audit trail, so it shows the redacted form.
            .map_err(|e| format!("webhook {} unreachable: {}", webhook.url, e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(json!({"status": status.as_u16()}))
        } else {
            Err(format!("webhook {} answered {status}", webhook.url))
        }
    }
}
