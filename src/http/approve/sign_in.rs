//! The second factor of an approval link (`operators.link_sign_in`, on by default once
//! `operators:` is configured): the page decides only for the approver the link names, signed
//! in with the tenant's identity provider as that very person. The server runs the
//! authorization code flow with PKCE itself (`/approve/{token}/sign-in`, then the provider
//! redirects to `/approve/signed-in`), and keeps the validated access token in a short-lived,
//! HttpOnly cookie sealed with a key derived from the link secret and bound to that one link.
//! Each decision validates the token again, and records the identity it proves.

use aws_lc_rs::hmac;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{escape, page};
use super::{AppState, open, refused};
use crate::http::oidc::{Identity, Verifier};

const SIGN_IN_COOKIE: &str = "stanch_sign_in";
const APPROVER_COOKIE: &str = "stanch_approver";
/// How long a sign-in may take, and how long it lasts for one link.
const SIGN_IN_SECS: i64 = 600;
const SIGNED_IN_SECS: i64 = 900;

/// The verifier of operator tokens when links need a sign-in too.
pub(super) fn required(state: &AppState) -> Option<&Verifier> {
    state
        .operators
        .as_deref()
        .filter(|v| v.settings().link_sign_in)
}

/// Who is signed in for the link `token`: the identity its cookie's token still proves.
pub(super) async fn signed_in(
    state: &AppState,
    verifier: &Verifier,
    headers: &HeaderMap,
    token: &str,
) -> Option<Identity> {
    let sealed = unseal(state, cookie(headers, APPROVER_COOKIE)?)?;
    if sealed["link"] != link_digest(token) {
        return None;
    }
    verifier.verify(sealed["access_token"].as_str()?).await.ok()
}

/// `GET /approve/{token}/sign-in`: off to the identity provider, as the link's approver.
#[utoipa::path(get, path = "/approve/{token}/sign-in", tag = "approvals", summary = "Sign in as the link's approver before deciding (the link's second factor)", params(("token" = String, Path, description = "The signed link token")), responses((status = 302, description = "To the identity provider"), (status = 403, description = "A forged or expired link", body = String, content_type = "text/html"), (status = 404, description = "Approval links or operator sign-in are not configured, or no such action", body = String, content_type = "text/html")))]
pub(crate) async fn start(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(verifier) = required(&state) else {
        return not_configured();
    };
    let (claims, _row) = match open(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (verifier_text, nonce) = (random(), random());
    let challenge = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier_text.as_bytes()).as_ref(),
    );
    let settings = verifier.settings();
    let scope = format!(
        "openid profile {}/.default",
        settings
            .audience
            .first()
            .map(String::as_str)
            .unwrap_or_default()
    );
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &settings.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &callback(&state, &headers))
        .append_pair("scope", &scope)
        .append_pair("state", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", &claims.u)
        .finish();
    let sealed = seal(
        &state,
        json!({"state": nonce, "verifier": verifier_text, "token": token}),
        SIGN_IN_SECS,
    );
    (
        StatusCode::FOUND,
        [
            (
                header::LOCATION,
                format!("{}?{query}", verifier.endpoint("authorize")),
            ),
            (
                header::SET_COOKIE,
                set_cookie(&state, SIGN_IN_COOKIE, &sealed, SIGN_IN_SECS),
            ),
        ],
    )
        .into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /approve/signed-in`: where the identity provider sends the approver back.
#[utoipa::path(get, path = "/approve/signed-in", tag = "approvals", summary = "The identity provider's redirect after signing in for an approval link", params(Callback), responses((status = 303, description = "Back to the approval page, signed in"), (status = 400, description = "No sign-in in progress, or the provider refused it", body = String, content_type = "text/html"), (status = 403, description = "Signed in as someone the link is not for (audited)", body = String, content_type = "text/html"), (status = 404, description = "Operator sign-in is not configured", body = String, content_type = "text/html")))]
pub(crate) async fn finish(
    State(state): State<AppState>,
    Query(back): Query<Callback>,
    headers: HeaderMap,
) -> Response {
    let Some(verifier) = required(&state) else {
        return not_configured();
    };
    let bad = |why: &str| {
        page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            &format!("<p>{}. Open the link again to sign in.</p>", escape(why)),
        )
    };
    if let Some(error) = &back.error {
        let detail = back.error_description.as_deref().unwrap_or_default();
        return bad(&format!("the identity provider answered {error}: {detail}"));
    }
    let Some(started) = cookie(&headers, SIGN_IN_COOKIE).and_then(|c| unseal(&state, c)) else {
        return bad("no sign-in is in progress in this browser (or it took too long)");
    };
    let (Some(code), true) = (
        &back.code,
        back.state.as_deref() == started["state"].as_str(),
    ) else {
        return bad("the answer does not belong to the sign-in this browser started");
    };
    let token = started["token"].as_str().unwrap_or_default().to_string();
    let (claims, _row) = match open(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let access = match redeem(&state, verifier, &headers, code, &started).await {
        Ok(access) => access,
        Err(why) => return bad(&why),
    };
    let identity = match verifier.verify(&access).await {
        Ok(identity) => identity,
        Err(e) => return bad(&format!("the identity provider's token is not valid: {e}")),
    };
    if !identity
        .upn
        .as_deref()
        .is_some_and(|upn| upn.eq_ignore_ascii_case(&claims.u))
    {
        let why = format!(
            "signed in as {}, but this link is for {}",
            identity.approver_name(),
            claims.u
        );
        let payload = json!({"channel": "link", "action": claims.a, "why": why,
                             "actor": identity.actor()});
        let body = format!("<p>{}. Nothing was decided.</p>", escape(&why));
        return refused(&state, payload, StatusCode::FORBIDDEN, "Refused", &body).await;
    }
    let sealed = seal(
        &state,
        json!({"link": link_digest(&token), "access_token": access}),
        SIGNED_IN_SECS,
    );
    let mut response = (
        StatusCode::SEE_OTHER,
        [
            (
                header::LOCATION,
                format!("{}/approve/{token}", base(&state, &headers)),
            ),
            (
                header::SET_COOKIE,
                set_cookie(&state, APPROVER_COOKIE, &sealed, SIGNED_IN_SECS),
            ),
        ],
    )
        .into_response();
    if let Ok(clear) = set_cookie(&state, SIGN_IN_COOKIE, "", 0).parse() {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// The access token the provider's token endpoint gives for `code`.
async fn redeem(
    state: &AppState,
    verifier: &Verifier,
    headers: &HeaderMap,
    code: &str,
    started: &Value,
) -> Result<String, String> {
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", verifier.settings().client_id.as_str()),
        ("code", code),
        ("redirect_uri", &callback(state, headers)),
        (
            "code_verifier",
            started["verifier"].as_str().unwrap_or_default(),
        ),
    ];
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let answer = client
        .post(verifier.endpoint("token"))
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("the identity provider cannot be reached: {e}"))?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    match body["access_token"].as_str() {
        Some(access) if status.is_success() => Ok(access.to_string()),
        _ => Err(format!(
            "the identity provider refused the code ({status}): {}",
            body["error_description"]
                .as_str()
                .unwrap_or("no reason given")
        )),
    }
}

fn not_configured() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        "<p>Signing in for approval links is not enabled on this server.</p>",
    )
}

/// Where approvers reach this server: `approvals.public_url`, else the `Host` they used.
fn base(state: &AppState, headers: &HeaderMap) -> String {
    match &state.service.approvals.public_url {
        Some(url) => url.clone(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

fn callback(state: &AppState, headers: &HeaderMap) -> String {
    format!("{}/approve/signed-in", base(state, headers))
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> String {
    let secure = state
        .service
        .approvals
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    format!(
        "{name}={value}; Path=/approve; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn link_digest(token: &str) -> String {
    stanch_core::util::sha256_hex(token.as_bytes())
}

/// The cookies' key: derived from the link secret, so a link's signature is never a cookie's.
fn key(state: &AppState) -> Option<hmac::Key> {
    let secret = state.service.approvals.link_secret.as_ref()?;
    let derived = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes()),
        b"stanch approval link sign-in cookie",
    );
    Some(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
}

fn seal(state: &AppState, mut value: Value, lifetime: i64) -> String {
    value["exp"] = json!(chrono::Utc::now().timestamp() + lifetime);
    let body = URL_SAFE_NO_PAD.encode(value.to_string());
    let Some(key) = key(state) else {
        return String::new();
    };
    let tag = URL_SAFE_NO_PAD.encode(hmac::sign(&key, body.as_bytes()).as_ref());
    format!("{body}.{tag}")
}

fn unseal(state: &AppState, text: &str) -> Option<Value> {
    let (body, tag) = text.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    hmac::verify(&key(state)?, body.as_bytes(), &tag).ok()?;
    let value: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    (value["exp"].as_i64()? > chrono::Utc::now().timestamp()).then_some(value)
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}
