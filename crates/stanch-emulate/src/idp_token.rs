//! The operator sign-in's tokens: the code grant (the code once, for its client and redirect
//! URI, with the verifier of its PKCE challenge) and client credentials for an `api://`
//! resource, each an RS256 access token signed with the emulator's key (`idp` serves the key
//! and the authorize step).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::emulator::{Emulator, lock};
use crate::fixture::{Client, Fixture};
use crate::token::{TokenReply, aadsts};

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
