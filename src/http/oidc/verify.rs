//! Checking one access token: header (RS256 and a `kid` only), signature against the issuer's
//! key, then `iss`, `aud`, `exp`/`nbf` (with leeway), `tid`, and the claims an identity needs.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::keys::KeyCache;
use super::{Identity, OidcError, OperatorSettings};

/// Validates the tokens of one issuer.
pub struct Verifier {
    settings: OperatorSettings,
    issuer: String,
    keys: KeyCache,
}

/// The claims read from an Entra v2.0 access token.
#[derive(Debug, Deserialize)]
struct Claims {
    tid: Option<String>,
    oid: Option<String>,
    name: Option<String>,
    preferred_username: Option<String>,
    azp: Option<String>,
    appid: Option<String>,
    idtyp: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    uti: Option<String>,
    jti: Option<String>,
}

impl Verifier {
    pub fn new(settings: OperatorSettings, login_root: &str) -> Verifier {
        let issuer = settings.issuer_for(login_root);
        let keys = KeyCache::new(&issuer, Duration::from_secs(settings.refetch_interval_secs));
        Verifier {
            settings,
            issuer,
            keys,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn settings(&self) -> &OperatorSettings {
        &self.settings
    }

    /// The issuer's OAuth 2.0 endpoint `name` (`authorize`, `token`), where Entra ID puts them:
    /// `{root}/{tenant}/oauth2/v2.0/{name}` for the issuer `{root}/{tenant}/v2.0`.
    pub fn endpoint(&self, name: &str) -> String {
        let base = self.issuer.strip_suffix("/v2.0").unwrap_or(&self.issuer);
        format!("{base}/oauth2/v2.0/{name}")
    }

    /// Fetches the issuer's discovery document and keys now: how many signing keys it
    /// publishes, or why they cannot be had (`stanch doctor`).
    pub async fn probe(&self) -> Result<usize, OidcError> {
        self.keys.refresh().await
    }

    /// The identity `token` proves, or why it proves none.
    pub async fn verify(&self, token: &str) -> Result<Identity, OidcError> {
        let kid = checked_header(token)?;
        let key = self.keys.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.settings.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.settings.leeway_secs;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| refusal(e.kind()))?
            .claims;
        let tid = claims.tid.clone().ok_or(OidcError::MissingClaim("tid"))?;
        if !tid.eq_ignore_ascii_case(&self.settings.tenant_id) {
            return Err(OidcError::Tenant(tid));
        }
        let object_id = claims.oid.clone().ok_or(OidcError::MissingClaim("oid"))?;
        let client = claims.azp.clone().or(claims.appid.clone());
        let app = claims.idtyp.as_deref() == Some("app")
            || (claims.preferred_username.is_none() && claims.name.is_none());
        let name = match app {
            true => client.ok_or(OidcError::MissingClaim("azp"))?,
            false => claims
                .name
                .clone()
                .or(claims.preferred_username.clone())
                .ok_or(OidcError::MissingClaim("name"))?,
        };
        Ok(Identity {
            name,
            upn: (!app)
                .then_some(claims.preferred_username.clone())
                .flatten(),
            object_id: object_id.to_ascii_lowercase(),
            roles: self.settings.roles.roles_of(&claims.roles, &claims.groups),
            token_id: claims.uti.or(claims.jti),
            app,
        })
    }
}

/// The `kid` of a token whose header says RS256; anything else (`none`, HS256, no `kid`) is
/// refused before a key is looked up.
fn checked_header(token: &str) -> Result<String, OidcError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OidcError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| OidcError::Malformed("the header is not base64url".into()))?;
    let header: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| OidcError::Malformed("the header is not JSON".into()))?;
    match header["alg"].as_str() {
        Some("RS256") => {}
        Some(other) => return Err(OidcError::Algorithm(other.to_string())),
        None => return Err(OidcError::Malformed("the header names no `alg`".into())),
    }
    header["kid"]
        .as_str()
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .ok_or(OidcError::NoKeyId)
}

fn refusal(kind: &ErrorKind) -> OidcError {
    match kind {
        ErrorKind::InvalidSignature => OidcError::Signature,
        ErrorKind::ExpiredSignature => OidcError::Expired,
        ErrorKind::ImmatureSignature => OidcError::NotYetValid,
        ErrorKind::InvalidIssuer => OidcError::Issuer,
        ErrorKind::InvalidAudience => OidcError::Audience,
        ErrorKind::InvalidAlgorithm => OidcError::Algorithm("not RS256".into()),
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => OidcError::MissingClaim("exp"),
            "iss" => OidcError::MissingClaim("iss"),
            _ => OidcError::MissingClaim("aud"),
        },
        other => OidcError::Malformed(format!("{other:?}")),
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
