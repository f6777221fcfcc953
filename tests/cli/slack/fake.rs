//! Slack-signed clicks, and a running stanch whose Slack channel talks to the harness's fake of
//! Slack's Web API.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub(super) use crate::harness::slack::{
    BOT_TOKEN, Call, OLD_SIGNING_SECRET as OLD_SECRET, SIGNING_SECRET as SECRET,
};
use crate::harness::{TestApp, detection, wait_until};

/// A `block_actions` body as Slack sends it: `payload=<url-encoded JSON>`.
pub(super) fn click(user: &str, action: &str, value: &str, trigger: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": "renamed-by-anyone", "team_id": "T0CONTOSO"},
        "api_app_id": "A0STANCH", "team": {"id": "T0CONTOSO", "domain": "contoso"},
        "container": {"type": "message", "message_ts": "1700000000.000000", "channel_id": "C0SECOPS"},
        "channel": {"id": "C0SECOPS", "name": "secops-approvals"},
        "trigger_id": trigger,
        "response_url": "https://hooks.slack.com/actions/T0CONTOSO/1/x",
        "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": value,
                     "action_ts": "1700000005.123456"}]
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

pub(super) fn surge(upn: &str, ip: Option<&str>) -> String {
    detection::surge(&format!("sl-{upn}"), upn, ip)
}

pub(super) fn signed(secret: &str, ts: i64, body: &str) -> Vec<(&'static str, String)> {
    let signature =
        stanch::approvals::slack::signature::sign(secret.as_bytes(), ts, body.as_bytes());
    vec![
        ("content-type", "application/x-www-form-urlencoded".into()),
        ("x-slack-request-timestamp", ts.to_string()),
        ("x-slack-signature", signature),
    ]
}

pub(super) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A running stanch with Slack pointed at the fake, its detections posted and their requests
/// in Slack. Derefs to the [`TestApp`].
pub(super) struct Setup {
    app: TestApp,
}

impl std::ops::Deref for Setup {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Setup {
    pub(super) fn start(targets: &[&str]) -> Setup {
        // Sender surges without an IP: the only gated step is `disable` (group:SOC Tier 2).
        let lines: String = targets.iter().map(|upn| surge(upn, None)).collect();
        Setup::start_with(lines, targets.len())
    }

    pub(super) fn start_with(detections: String, requests: usize) -> Setup {
        let app = TestApp::builder().tenant().intake().slack().serve().build();
        let (status, reply) = app.post_detections(detections);
        assert_eq!(status, 202, "{reply}");
        wait_until(20, "the approval requests were not posted to Slack", || {
            app.slack().calls("chat.postMessage").len() == requests
        });
        Setup { app }
    }

    /// The posted request about `target`: the message and its button value.
    pub(super) fn request(&self, target: &str) -> (Call, String) {
        let call = self
            .slack()
            .calls("chat.postMessage")
            .into_iter()
            .find(|c| c.body["text"].as_str().unwrap().contains(target))
            .unwrap_or_else(|| panic!("no request about {target}"));
        let value = call.body["blocks"][2]["elements"][0]["value"]
            .as_str()
            .unwrap()
            .to_string();
        (call, value)
    }

    pub(super) fn send(&self, body: &str, headers: &[(&str, String)]) -> (u16, Value) {
        let url = self.url("/v1/chat/slack/interactions");
        self.post(&url, body.to_string(), headers)
    }

    /// Clicks as `user`, signed with `secret` now; answers 200 at once.
    pub(super) fn click(
        &self,
        secret: &str,
        user: &str,
        action: &str,
        value: &str,
        trigger: &str,
    ) -> String {
        let body = click(user, action, value, trigger);
        let (status, reply) = self.send(&body, &signed(secret, now(), &body));
        assert_eq!(status, 200, "{reply}");
        body
    }

    pub(super) fn update_of(&self, ts: &str) -> Option<Call> {
        self.slack()
            .calls("chat.update")
            .into_iter()
            .find(|c| c.body["ts"] == ts)
    }

    /// Stops the server; returns the audit trail as (kind, payload).
    pub(super) fn stop_and_audit(self) -> Vec<(String, Value)> {
        assert_eq!(self.stop_server(), 0);
        self.audit_trail()
    }
}

pub(super) fn of_kind(audit: &[(String, Value)], kind: &str) -> Vec<Value> {
    audit
        .iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, p)| p.clone())
        .collect()
}

pub(super) fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
