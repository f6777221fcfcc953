//! The Entra sign-in side for stanch's operator API (issue 14): the OpenID discovery document,
//! the JWKS of the emulator's signing key, `authorize` (authorization code with PKCE S256 for
//! the fixture's `operators`: `login_hint` picks one, without it a page lists them), and the
//! RS256 access tokens `token` issues for an `api://` resource, to a person (code grant) or an
//! app (client credentials, with the client's `operatorRoles`).

use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::emulator::{Emulator, lock};
use crate::fixture::{Client, Fixture};
use crate::token::{TokenReply, aadsts};
use crate::wire::query_pairs;

/// How long an authorization code may wait to be redeemed (Entra: 10 minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// An authorization code waiting for its token request.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub upn: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub scope: String,
    pub expires: Instant,
}

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

/// The `api://` resource a scope names (`api://stanch/.default` → `api://stanch`), if any.
pub fn api_resource(scope: &str) -> Option<String> {
    let scope = scope.split(' ').find(|s| s.starts_with("api://"))?;
    let rest = &scope["api://".len()..];
    let resource = rest.split_once('/').map_or(rest, |(app, _)| app);
    Some(format!("api://{resource}"))
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref()) == challenge
}

/// The code grant: the code once, for its client and redirect URI, with the verifier of its
/// challenge; answers an access token for the scope's `api://` resource and an id token.
pub fn redeem_code(
    emulator: &Emulator,
    root: &str,
    form: &[(String, String)],
) -> Result<Value, TokenReply> {
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let invalid_grant =
        |code: u32, text: &str| aadsts(StatusCode::BAD_REQUEST, "invalid_grant", code, text);
    let code = get("code").ok_or_else(|| {
        invalid_grant(
            900144,
            "The request body must contain the following parameter: 'code'.",
        )
    })?;
    // Taken out at once: a code is redeemed at most once, even by a failing request.
    let Some(grant) = lock(&emulator.shared.codes).remove(code) else {
        return Err(invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed or is not valid.",
        ));
    };
    if grant.expires < Instant::now() {
        return Err(invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired.",
        ));
    }
    if get("client_id").is_none_or(|c| !c.eq_ignore_ascii_case(&grant.client_id)) {
        return Err(invalid_grant(
            700005,
            "Provided Authorization Code is intended to use against other tenant or client.",
        ));
    }
    if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(invalid_grant(
            50011,
            "The redirect URI specified in the request does not match the redirect URI of the authorization request.",
        ));
    }
    let verifier = get("code_verifier").unwrap_or_default();
    if !pkce_matches(verifier, &grant.challenge) {
        return Err(invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        ));
    }
    let tenant = lock(&emulator.shared.tenant).clone();
    let user = tenant
        .user_index(&grant.upn)
        .map(|i| tenant.users[i].clone())
        .ok_or_else(|| invalid_grant(50034, "The user account does not exist in the directory."))?;
    let roles = tenant
        .operators
        .iter()
        .find(|(upn, _)| upn.eq_ignore_ascii_case(&grant.upn))
        .map(|(_, roles)| roles.clone())
        .unwrap_or_default();
    let person = json!({
        "oid": user.id,
        "sub": user.id,
        "name": user.display_name,
        "preferred_username": user.user_principal_name,
        "idtyp": "user",
    });
    let lifetime = *lock(&emulator.shared.token_lifetime);
    let resource = api_resource(&grant.scope);
    let access = resource.as_deref().map(|aud| {
        let mut claims = claims(
            &tenant,
            root,
            aud,
            &grant.client_id,
            &person,
            &roles,
            lifetime,
        );
        claims["scp"] = json!("access_as_user");
        emulator.signing_key().sign(&claims)
    });
    let id_token = emulator.signing_key().sign(&claims(
        &tenant,
        root,
        &grant.client_id,
        &grant.client_id,
        &person,
        &[],
        lifetime,
    ));
    let seconds = lifetime.as_secs();
    Ok(json!({
        "token_type": "Bearer",
        "scope": grant.scope,
        "expires_in": seconds,
        "ext_expires_in": seconds,
        "access_token": access.unwrap_or_else(|| format!("emu.{}", uuid::Uuid::new_v4().simple())),
        "id_token": id_token,
    }))
}

/// A client-credentials token for an `api://` resource: the app's own identity and its
/// `operatorRoles`.
pub fn app_token(emulator: &Emulator, root: &str, client: &Client, resource: &str) -> Value {
    let tenant = lock(&emulator.shared.tenant).clone();
    let lifetime = *lock(&emulator.shared.token_lifetime);
    // A stable object id for the app's service principal, derived from its client id.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, client.id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    let oid = uuid::Uuid::from_bytes(bytes).to_string();
    let app = json!({"oid": oid, "sub": oid, "idtyp": "app"});
    let claims = claims(
        &tenant,
        root,
        resource,
        &client.id,
        &app,
        &client.operator_roles,
        lifetime,
    );
    let seconds = lifetime.as_secs();
    json!({
        "token_type": "Bearer",
        "expires_in": seconds,
        "ext_expires_in": seconds,
        "access_token": emulator.signing_key().sign(&claims),
    })
}

fn claims(
    tenant: &Fixture,
    root: &str,
    audience: &str,
    client_id: &str,
    who: &Value,
    roles: &[String],
    lifetime: Duration,
) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "aud": audience,
        "iss": format!("{root}/{}/v2.0", tenant.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime.as_secs() as i64,
        "tid": tenant.tenant_id,
        "azp": client_id,
        "uti": URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        "ver": "2.0",
    });
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    if let (Value::Object(claims), Value::Object(who)) = (&mut claims, who) {
        claims.extend(who.clone());
    }
    claims
}
