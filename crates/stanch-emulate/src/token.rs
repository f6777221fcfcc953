//! The Entra v2.0 token endpoint for the client credentials grant, and bearer checks.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::fixture::{Client, Fixture};
use crate::wire::query_pairs;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An issued opaque access token.
#[derive(Debug, Clone)]
pub struct Token {
    pub client: String,
    pub expires: Instant,
}

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

/// A token endpoint answer: status plus the AADSTS-shaped body.
pub struct TokenReply {
    pub status: StatusCode,
    pub body: Value,
}

pub fn aadsts(status: StatusCode, error: &str, code: u32, text: &str) -> TokenReply {
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let now = chrono::Utc::now();
    TokenReply {
        status,
        body: json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {}",
                now.format("%Y-%m-%d %H:%M:%SZ")
            ),
            "error_codes": [code],
            "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    }
}

fn missing(name: &str) -> TokenReply {
    aadsts(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// Checks the grant and returns the authenticated client; the caller issues the token.
pub fn authenticate(
    tenant: &Fixture,
    tenant_segment: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Client, TokenReply> {
    if !tenant.knows(tenant_segment) {
        return Err(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    let is_form = content_type
        .map(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !is_form {
        return Err(missing("grant_type"));
    }
    let form = query_pairs(&String::from_utf8_lossy(body));
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let grant = get("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(aadsts(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        ));
    }
    let client_id = get("client_id").ok_or_else(|| missing("client_id"))?;
    let Some(client) = tenant
        .clients
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(client_id))
    else {
        return Err(aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_segment}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        ));
    };
    let scope = get("scope").ok_or_else(|| missing("scope"))?;
    // A real tenant knows only https resources; the emulator also serves its own http root, since
    // the client asks for `{graph_url}/.default` and tests point graph_url at the emulator.
    let resource_ok = scope.starts_with("https://")
        || scope.starts_with("api://")
        || scope.starts_with("http://127.0.0.1")
        || scope.starts_with("http://localhost");
    if !resource_ok || !scope.ends_with("/.default") || scope.contains(' ') {
        return Err(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. The .default scope is required for the client credentials grant."
            ),
        ));
    }
    if let Some(secret) = get("client_secret") {
        return match &client.secret {
            Some(expected) if expected == secret => Ok(client.clone()),
            _ => Err(aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
            )),
        };
    }
    let Some(assertion) = get("client_assertion") else {
        return Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    if get("client_assertion_type") != Some(ASSERTION_TYPE) {
        return Err(missing("client_assertion_type"));
    }
    check_assertion(client, tenant_segment, assertion)?;
    Ok(client.clone())
}

fn malformed(detail: &str) -> TokenReply {
    aadsts(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        50027,
        &format!("JWT token is invalid or malformed: {detail}."),
    )
}

fn check_assertion(client: &Client, tenant_segment: &str, jwt: &str) -> Result<(), TokenReply> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(malformed("expected three parts"));
    };
    let decode = |part: &str| -> Result<Value, TokenReply> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| malformed("not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| malformed("not JSON"))
    };
    let header_json = decode(header)?;
    let claims_json = decode(claims)?;
    let claim = |name: &str| claims_json.get(name).and_then(Value::as_str);
    let audience_ok = claim("aud").is_some_and(|aud| {
        aud.starts_with("http")
            && aud.to_ascii_lowercase().ends_with(&format!(
                "/{}/oauth2/v2.0/token",
                tenant_segment.to_ascii_lowercase()
            ))
    });
    if !audience_ok {
        return Err(malformed("aud must be the token endpoint URL"));
    }
    if claim("iss") != Some(client.id.as_str()) || claim("sub") != Some(client.id.as_str()) {
        return Err(malformed("iss and sub must be the client id"));
    }
    if claim("jti").is_none() {
        return Err(malformed("jti is required"));
    }
    // Entra wants numeric dates; string dates are a known SDK bug worth catching.
    let (Some(nbf), Some(exp)) = (
        claims_json.get("nbf").and_then(Value::as_i64),
        claims_json.get("exp").and_then(Value::as_i64),
    ) else {
        return Err(malformed("nbf and exp must be numbers"));
    };
    let now = chrono::Utc::now().timestamp();
    // Entra allows about five minutes of clock skew.
    if now + 300 < nbf || now > exp {
        return Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let Some(cert) = &client.certificate else {
        return Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion failed signature validation. No certificate is registered for this app.",
        ));
    };
    if let (Some(thumb), Some(x5t)) = (
        &cert.thumbprint,
        header_json.get("x5t").and_then(Value::as_str),
    ) && thumb.trim_end_matches('=') != x5t.trim_end_matches('=')
    {
        return Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion failed signature validation. The key was not found.",
        ));
    }
    if let Some(key) = &cert.public_key {
        let alg = header_json.get("alg").and_then(Value::as_str).unwrap_or("");
        if !verify(alg, key, &format!("{header}.{claims}"), signature) {
            return Err(aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            ));
        }
    }
    Ok(())
}

fn verify(alg: &str, key_b64: &str, signed: &str, signature: &str) -> bool {
    use aws_lc_rs::signature::{self, UnparsedPublicKey};
    let algorithm: &dyn signature::VerificationAlgorithm = match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        _ => return false,
    };
    let (Ok(key), Ok(sig)) = (
        STANDARD.decode(key_b64.trim()),
        URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')),
    ) else {
        return false;
    };
    UnparsedPublicKey::new(algorithm, key)
        .verify(signed.as_bytes(), &sig)
        .is_ok()
}

pub fn issue(lifetime: Duration) -> (String, Value) {
    let access = format!(
        "emu.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let seconds = lifetime.as_secs();
    let body = json!({
        "token_type": "Bearer",
        "expires_in": seconds,
        "ext_expires_in": seconds,
        "access_token": access,
    });
    (access, body)
}
