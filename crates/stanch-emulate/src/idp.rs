//! The Entra sign-in side for stanch's operator API (issue 14): the OpenID discovery document,
//! the JWKS of the emulator's signing key, and `authorize` (authorization code with PKCE S256
//! for the fixture's `operators`: `login_hint` picks one, without it a page lists them). The
//! tokens the code and client-credentials grants answer are `idp_token`'s.

use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::emulator::{Emulator, lock};
use crate::fixture::{Client, Fixture};
use crate::token::{AuthCode, aadsts};
use crate::wire::query_pairs;

/// How long an authorization code may wait to be redeemed (Entra: 10 minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// `http://host` as the caller reached the emulator: the root of the issuer it names.
pub fn root(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn not_found(segment: &str) -> Response {
    let reply = aadsts(
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        90002,
        &format!("Tenant '{segment}' not found."),
    );
    (reply.status, axum::Json(reply.body)).into_response()
}

pub async fn discovery(
    State(emulator): State<Emulator>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = lock(&emulator.shared.tenant).clone();
    if !tenant.knows(&segment) {
        return not_found(&segment);
    }
    let root = root(&headers);
    let tid = &tenant.tenant_id;
    axum::Json(json!({
        "issuer": format!("{root}/{tid}/v2.0"),
        "authorization_endpoint": format!("{root}/{segment}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{root}/{segment}/oauth2/v2.0/token"),
        "jwks_uri": format!("{root}/{segment}/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "EU",
    }))
    .into_response()
}

pub async fn jwks(State(emulator): State<Emulator>, Path(segment): Path<String>) -> Response {
    if !lock(&emulator.shared.tenant).knows(&segment) {
        return not_found(&segment);
    }
    axum::Json(json!({"keys": [emulator.signing_key().jwk()]})).into_response()
}

fn bad_request(code: u32, text: &str) -> Response {
    let reply = aadsts(StatusCode::BAD_REQUEST, "invalid_request", code, text);
    (reply.status, axum::Json(reply.body)).into_response()
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: with a known `login_hint`, redirects to
/// `redirect_uri` with a code (the emulator asks for no password); without one, a page of
/// links, one per operator.
pub async fn authorize(
    State(emulator): State<Emulator>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = lock(&emulator.shared.tenant).clone();
    if !tenant.knows(&segment) {
        return not_found(&segment);
    }
    let query = query.unwrap_or_default();
    let pairs = query_pairs(&query);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(client_id) = get("client_id") else {
        return bad_request(
            900144,
            "The request must contain the parameter 'client_id'.",
        );
    };
    if client(&tenant, client_id).is_none() {
        return bad_request(
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        );
    }
    if get("response_type") != Some("code") {
        return bad_request(
            900144,
            "The request must contain 'response_type=code'; only the code flow is supported.",
        );
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return bad_request(
            900144,
            "The request must contain the parameter 'redirect_uri'.",
        );
    };
    let (Some(challenge), Some("S256")) = (get("code_challenge"), get("code_challenge_method"))
    else {
        return bad_request(
            501491,
            "Invalid size of Code_Challenge parameter; PKCE with code_challenge_method=S256 is required.",
        );
    };
    let Some(upn) = get("login_hint") else {
        return sign_in_page(&tenant, &segment, &query);
    };
    if !tenant.operators.keys().any(|o| o.eq_ignore_ascii_case(upn)) {
        return bad_request(
            50034,
            &format!(
                "The user account {upn} does not exist in the directory or holds no role of this app."
            ),
        );
    }
    let code = format!("emu-code.{}", uuid::Uuid::new_v4().simple());
    lock(&emulator.shared.codes).insert(
        code.clone(),
        AuthCode {
            upn: upn.to_ascii_lowercase(),
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            challenge: challenge.to_string(),
            scope: get("scope").unwrap_or("openid").to_string(),
            expires: Instant::now() + CODE_LIFETIME,
        },
    );
    let mut location = format!("{redirect_uri}?code={code}");
    if let Some(state) = get("state") {
        location.push_str(&format!("&state={}", encode(state)));
    }
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn sign_in_page(tenant: &Fixture, segment: &str, query: &str) -> Response {
    let links: String = tenant
        .operators
        .iter()
        .map(|(upn, roles)| {
            let href = format!(
                "/{segment}/oauth2/v2.0/authorize?{query}&login_hint={}",
                encode(upn)
            );
            format!(
                "<li><a href=\"{}\">{}</a> ({})</li>",
                escape(&href),
                escape(upn),
                escape(&roles.join(", "))
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><title>Sign in (stanch emulator)</title><h1>Pick an account</h1><ul>{links}</ul>"
    ))
    .into_response()
}

fn client<'t>(tenant: &'t Fixture, id: &str) -> Option<&'t Client> {
    tenant
        .clients
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(id))
}
