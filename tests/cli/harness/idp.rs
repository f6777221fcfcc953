//! Signing in to the operator API through the emulator's identity provider, as a browser
//! (authorization code + PKCE) or as automation (client credentials), and calling the server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::TestApp;
use super::tenant::{CLIENT, TENANT};

/// The fixture's automation app, holding the operator role `responder`.
pub const AUTOMATION: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b53";
const AUTOMATION_SECRET: &str = "emu-secret-soc-automation";
const REDIRECT: &str = "http://127.0.0.1:9/signed-in";

/// One call to the server: the status and the JSON answer.
pub fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let url = app.url(path);
    app.runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        (
            answer.status().as_u16(),
            answer.json().await.unwrap_or(Value::Null),
        )
    })
}

/// Signs in as `upn` the way a browser would: authorize with PKCE (S256), follow the
/// redirect's code, redeem it with the verifier.
pub fn sign_in(app: &TestApp, upn: &str) -> String {
    let emulator = &app.tenant().running.url;
    let verifier = format!("verifier-{}", uuid::Uuid::new_v4().simple());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
    app.runtime.block_on(async {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let authorize = format!(
            "{emulator}/{TENANT}/oauth2/v2.0/authorize?client_id={CLIENT}&response_type=code&redirect_uri={REDIRECT}&scope=openid%20api://stanch/access_as_user&state=st&code_challenge={challenge}&code_challenge_method=S256&login_hint={upn}"
        );
        let answer = browser.get(authorize).send().await.unwrap();
        assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
        let location = answer.headers()["location"].to_str().unwrap().to_string();
        let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        access_token(emulator, &form).await
    })
}

/// The access token the emulator's token endpoint answers `form` with.
async fn access_token(emulator: &str, form: &[(&str, &str)]) -> String {
    let answer = reqwest::Client::new()
        .post(format!("{emulator}/{TENANT}/oauth2/v2.0/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let token: Value = answer.json().await.unwrap();
    let access = token["access_token"].as_str();
    access
        .unwrap_or_else(|| panic!("no access token: {token}"))
        .to_string()
}

/// A client-credentials token for the automation app (role `responder`).
pub fn automation_token(app: &TestApp) -> String {
    let emulator = &app.tenant().running.url;
    app.runtime.block_on(async {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", AUTOMATION),
            ("client_secret", AUTOMATION_SECRET),
            ("scope", "api://stanch/.default"),
        ];
        access_token(emulator, &form).await
    })
}

pub fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
