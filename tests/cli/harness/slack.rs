//! A small fake of Slack's Web API: records what stanch sends and answers like Slack.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

pub const BOT_TOKEN: &str = "xoxb-test-token";
pub const SIGNING_SECRET: &str = "current-signing-secret";
pub const OLD_SIGNING_SECRET: &str = "previous-signing-secret";

/// Slack users and the emails `users.info` gives for them.
const PEOPLE: &[(&str, &str)] = &[
    ("UOKAFOR", "f.okafor@contoso.com"),
    ("UMULLER", "g.muller@contoso.com"),
    ("UHROOM", "h.room@contoso.com"),
    ("UBJONES", "b.jones@contoso.com"),
];

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub auth: String,
    pub body: Value,
    pub reply: Value,
}

#[derive(Clone, Default)]
pub struct FakeSlack {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Its API root, for `approvals.slack.api_url`.
    pub api_url: String,
}

impl FakeSlack {
    pub fn start(runtime: &tokio::runtime::Runtime) -> FakeSlack {
        let mut fake = FakeSlack::default();
        let app = Router::new()
            .route("/api/{method}", post(answer).get(answer))
            .with_state(fake.clone());
        let addr = super::fakes::serve_router(runtime, app);
        fake.api_url = format!("http://{addr}/api");
        fake
    }

    /// The config block that points stanch's Slack channel at this fake.
    pub fn config(&self) -> String {
        format!(
            "  slack:\n    bot_token: {BOT_TOKEN}\n    signing_secrets: [{SIGNING_SECRET}, {OLD_SIGNING_SECRET}]\n    channel: C0SECOPS\n    api_url: {}\n    team_id: T0CONTOSO\n    app_id: A0STANCH\n",
            self.api_url
        )
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The texts of the private "why" messages so far.
    pub fn told(&self) -> Vec<String> {
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
            "auth.test" => json!({"ok": true, "team": "Contoso", "team_id": "T0CONTOSO",
                "user": "stanch", "bot_id": "B0STANCH"}),
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
