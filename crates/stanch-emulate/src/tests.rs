//! End-to-end tests over real HTTP against the example tenant.

mod assertion;
mod batch_faults;
mod idp;
mod mail;
mod named_locations;
mod permissions;
mod persistence;
mod resources;
mod select;
mod sign_ins;

use reqwest::{Client, Method, Response};
use serde_json::{Value, json};

use super::{Emulator, Fixture, RunningEmulator};

pub const TENANT: &str = "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d";
pub const CLIENT: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51";
pub const SECRET: &str = "emu-secret-stanch-responder";
pub const PRIV_CLIENT: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b52";
pub const PRIV_SECRET: &str = "emu-secret-stanch-privileged";
pub const A: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0001";
pub const B: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0002";
pub const BREAKGLASS: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e00bb";
pub const QUARANTINE: &str = "9e3b1c2d-7a4f-4b6e-8d5c-1a2b3c4d5e01";

pub fn fixture() -> Fixture {
    let fixture: Fixture = serde_json::from_str(include_str!("../../../examples/tenant.json"))
        .expect("examples/tenant.json parses");
    fixture.validate().expect("examples/tenant.json is valid");
    fixture
}

pub struct Harness {
    pub emu: RunningEmulator,
    pub http: Client,
    pub token: String,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_as(CLIENT, SECRET).await
    }

    pub async fn start_as(client: &str, secret: &str) -> Harness {
        let emu = Emulator::new(fixture()).spawn("127.0.0.1:0").await.unwrap();
        let http = Client::new();
        let mut h = Harness {
            emu,
            http,
            token: String::new(),
        };
        h.token = h.fetch_token(client, secret).await;
        h
    }

    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.emu.url))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn fetch_token(&self, client: &str, secret: &str) -> String {
        let response = self
            .token_request(
                TENANT,
                &[
                    ("client_id", client),
                    ("client_secret", secret),
                    ("scope", "https://graph.microsoft.com/.default"),
                    ("grant_type", "client_credentials"),
                ],
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// A Graph call with the harness token; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .http
            .request(method, format!("{}/v1.0{path}", self.emu.url))
            .bearer_auth(&self.token)
            .header("client-request-id", "c1a2b3c4-0000-4000-8000-000000000001");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body, headers)
    }
}

#[tokio::test]
async fn token_is_issued_and_errors_follow_aadsts() {
    let h = Harness::start().await;
    let ok = h
        .token_request(
            TENANT,
            &[
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ],
        )
        .await;
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);

    type Form<'a> = Vec<(&'a str, &'a str)>;
    let cases: [(&str, Form, u16, &str, u64); 4] = [
        (
            TENANT,
            vec![
                ("client_id", CLIENT),
                ("client_secret", "wrong"),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            "nosuch.example",
            vec![
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ],
            400,
            "invalid_request",
            90002,
        ),
        (
            TENANT,
            vec![
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", "User.Read"),
                ("grant_type", "client_credentials"),
            ],
            400,
            "invalid_scope",
            70011,
        ),
        (
            "contoso.com",
            vec![
                ("client_id", "00000000-0000-0000-0000-000000000000"),
                ("client_secret", SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let response = h.token_request(tenant, &form).await;
        assert_eq!(response.status(), status, "{error}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error);
        assert_eq!(body["error_codes"], json!([code]));
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with(&format!("AADSTS{code}:"))
        );
        assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
    }
    // The log never keeps the secret.
    let log = h.emu.emulator.requests();
    assert_eq!(log[0].body.as_ref().unwrap()["client_secret"], "[redacted]");
}

#[tokio::test]
async fn graph_needs_a_live_token() {
    let h = Harness::start().await;
    let response = h
        .http
        .get(format!("{}/v1.0/users/{A}", h.emu.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(body["error"]["innerError"]["request-id"].is_string());

    h.emu
        .emulator
        .set_token_lifetime(std::time::Duration::from_millis(50));
    let short = h.fetch_token(CLIENT, SECRET).await;
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    let response = h
        .http
        .get(format!("{}/v1.0/users/{A}", h.emu.url))
        .bearer_auth(short)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, ..) = h.call(Method::GET, &format!("/users/{A}"), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn log_state_and_reset() {
    let h = Harness::start().await;
    let (status, _, headers) = h
        .call(
            Method::PATCH,
            &format!("/users/{A}"),
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        headers["client-request-id"],
        "c1a2b3c4-0000-4000-8000-000000000001"
    );
    let request_id = headers["request-id"].to_str().unwrap().to_string();
    let log = h.emu.emulator.requests();
    let entry = log.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(entry.path, format!("/v1.0/users/{A}"));
    assert_eq!(entry.status, 204);
    assert!(entry.has_authorization);
    assert_eq!(entry.request_id, request_id);
    assert_eq!(
        entry.client_request_id.as_deref(),
        Some("c1a2b3c4-0000-4000-8000-000000000001")
    );
    assert_eq!(entry.body, Some(json!({"accountEnabled": false})));
    assert!(
        entry
            .content_type
            .as_deref()
            .unwrap()
            .starts_with("application/json")
    );

    let over_http: Value = h
        .http
        .get(format!("{}/_emulator/requests", h.emu.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http["value"].as_array().unwrap().len(), log.len());
    let state: Value = h
        .http
        .get(format!("{}/_emulator/state", h.emu.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["users"][0]["accountEnabled"], false);

    let reset = h
        .http
        .post(format!("{}/_emulator/reset", h.emu.url))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(h.emu.emulator.state()["users"][0]["accountEnabled"], true);
    assert!(h.emu.emulator.requests().is_empty());
    // Reset also forgets tokens.
    let (status, ..) = h.call(Method::GET, &format!("/users/{A}"), None).await;
    assert_eq!(status, 401);
}

#[test]
fn from_file_reports_path_and_position() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tenant.json");
    assert!(Emulator::from_file(&example).is_ok());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.json");
    std::fs::write(&path, "{\n  \"tenantId\": \"t\",\n  \"clients\": [,]\n}").unwrap();
    let message = Emulator::from_file(&path).err().unwrap().to_string();
    assert!(
        message.contains("tenant.json") && message.contains("line 3"),
        "{message}"
    );
    std::fs::write(
        &path,
        r#"{"tenantId":"t","clients":[{"id":"c"}],"inboxRules":{"nobody":[]}}"#,
    )
    .unwrap();
    let message = Emulator::from_file(&path).err().unwrap().to_string();
    assert!(message.contains("unknown user nobody"), "{message}");
}
