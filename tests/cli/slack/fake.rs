//! A small fake of Slack's Web API (records what stanch sends, answers like Slack), Slack-signed
//! clicks, and a running `stanch serve` pointed at both the fake and the Graph emulator.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::active::Tenant;
use crate::helpers::{Env, wait_until};
use crate::serve::{Server, TOKEN, bearer, post as http_post};

pub(super) const BOT_TOKEN: &str = "xoxb-test-token";
pub(super) const SECRET: &str = "current-signing-secret";
pub(super) const OLD_SECRET: &str = "previous-signing-secret";

/// Slack users and the emails `users.info` gives for them.
const PEOPLE: &[(&str, &str)] = &[
    ("UOKAFOR", "f.okafor@contoso.com"),
    ("UMULLER", "g.muller@contoso.com"),
    ("UHROOM", "h.room@contoso.com"),
    ("UBJONES", "b.jones@contoso.com"),
];

#[derive(Debug, Clone)]
pub(super) struct Call {
    pub(super) method: String,
    pub(super) auth: String,
    pub(super) body: Value,
    pub(super) reply: Value,
}

#[derive(Clone, Default)]
pub(super) struct FakeSlack {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FakeSlack {
    /// Serves the fake on the tenant's runtime; returns it and its API root.
    pub(super) fn start(tenant: &Tenant) -> (FakeSlack, String) {
        let fake = FakeSlack::default();
        let app = Router::new()
            .route("/api/{method}", post(answer).get(answer))
            .with_state(fake.clone());
        let addr = tenant.runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            addr
        });
        (fake, format!("http://{addr}/api"))
    }

    pub(super) fn calls(&self, method: &str) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The texts of the private "why" messages so far.
    pub(super) fn told(&self) -> Vec<String> {
        self.calls("chat.postEphemeral")
            .iter()
            .map(|c| c.body["text"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn answer(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = if body.is_empty() {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Value::Object(pairs)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let mut calls = fake.calls.lock().unwrap();
    let reply = if auth != format!("Bearer {BOT_TOKEN}") {
        json!({"ok": false, "error": "invalid_auth"})
    } else {
        match method.as_str() {
            "chat.postMessage" => json!({"ok": true, "channel": body["channel"],
                "ts": format!("1700000000.{:06}", calls.len())}),
            "chat.update" => json!({"ok": true, "channel": body["channel"], "ts": body["ts"]}),
            "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000001.000001"}),
            "users.info" => match PEOPLE.iter().find(|(id, _)| body["user"] == *id) {
                Some((id, email)) => json!({"ok": true, "user": {"id": id, "deleted": false,
                    "is_bot": false, "profile": {"email": email}}}),
                None => json!({"ok": false, "error": "user_not_found"}),
            },
            _ => json!({"ok": false, "error": "unknown_method"}),
        }
    };
    calls.push(Call {
        method,
        auth,
        body,
        reply: reply.clone(),
    });
    axum::Json(reply)
}

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
    let ip = ip.map(|ip| format!(",\"ip\":\"{ip}\"")).unwrap_or_default();
    format!(
        "{{\"id\":\"sl-{upn}\",\"source\":\"darktrace\",\"name\":\"Antigena Email: Unusual Login Location + Sender Surge\",\"severity\":\"critical\",\"observed_at\":\"2021-06-01T10:05:00Z\",\"user\":{{\"upn\":\"{upn}\"}}{ip}}}\n"
    )
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

/// A running stanch with Slack pointed at the fake.
pub(super) struct Setup {
    pub(super) tenant: Tenant,
    pub(super) env: Env,
    pub(super) config: String,
    pub(super) server: Server,
    pub(super) fake: FakeSlack,
}

impl Setup {
    pub(super) fn start(targets: &[&str]) -> Setup {
        // Sender surges without an IP: the only gated step is `disable` (group:SOC Tier 2).
        let lines: String = targets.iter().map(|upn| surge(upn, None)).collect();
        Setup::start_with(lines, targets.len())
    }

    pub(super) fn start_with(detections: String, requests: usize) -> Setup {
        let tenant = Tenant::start();
        let env = Env::new();
        let (fake, api_url) = FakeSlack::start(&tenant);
        let config = tenant.config(
            &env,
            &format!(
                "listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\napprovals:\n  slack:\n    bot_token: {BOT_TOKEN}\n    signing_secrets: [{SECRET}, {OLD_SECRET}]\n    channel: C0SECOPS\n    api_url: {api_url}\n    team_id: T0CONTOSO\n    app_id: A0STANCH\n"
            ),
        );
        let server = Server::start(&env, &config);
        let (status, reply) = http_post(
            &tenant,
            &format!("{}/v1/detections", server.url),
            detections,
            &bearer(),
        );
        assert_eq!(status, 202, "{reply}");
        wait_until(20, "the approval requests were not posted to Slack", || {
            fake.calls("chat.postMessage").len() == requests
        });
        Setup {
            tenant,
            env,
            config,
            server,
            fake,
        }
    }

    /// The posted request about `target`: the message and its button value.
    pub(super) fn request(&self, target: &str) -> (Call, String) {
        let call = self
            .fake
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
        let url = format!("{}/v1/chat/slack/interactions", self.server.url);
        http_post(&self.tenant, &url, body.to_string(), headers)
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
        self.fake
            .calls("chat.update")
            .into_iter()
            .find(|c| c.body["ts"] == ts)
    }

    /// Stops the server; returns the audit trail as (kind, payload).
    pub(super) fn stop_and_audit(self) -> Vec<(String, Value)> {
        assert_eq!(self.server.stop(), 0);
        let export = self
            .env
            .stanch(&["audit", "export", "--config", &self.config]);
        export
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|r| {
                let payload = serde_json::from_str(r["payload"].as_str().unwrap()).unwrap();
                (r["kind"].as_str().unwrap().to_string(), payload)
            })
            .collect()
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
