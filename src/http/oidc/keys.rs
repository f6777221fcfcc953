//! The issuer's signing keys: its discovery document names the JWKS, which is fetched once and
//! cached. A token signed with a key the cache does not know refetches the set (Entra rotates
//! keys), at most once per `refetch_interval`, so a stream of forged `kid`s cannot turn stanch
//! into a load generator against the identity provider.

use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use tokio::sync::Mutex;

use super::OidcError;

/// Keys older than this are refetched before use, whatever the `kid`.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The cached key set of one issuer.
pub struct KeyCache {
    discovery_url: String,
    issuer: String,
    http: reqwest::Client,
    refetch_interval: Duration,
    state: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    keys: Option<JwkSet>,
    fetched: Option<Instant>,
}

impl KeyCache {
    pub fn new(issuer: &str, refetch_interval: Duration) -> KeyCache {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        KeyCache {
            discovery_url: format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
            issuer: issuer.to_string(),
            http,
            refetch_interval,
            state: Mutex::new(Cached::default()),
        }
    }

    /// The RSA key named `kid`, fetching the set when it is not cached (or is stale) and the
    /// rate limit allows.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, OidcError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched.is_none_or(|at| at.elapsed() > MAX_AGE);
        if let Some(key) = state.keys.as_ref().and_then(|k| rsa_key(k, kid))
            && !stale
        {
            return key;
        }
        let may_fetch = state
            .fetched
            .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if may_fetch {
            match self.fetch().await {
                Ok(keys) => {
                    state.keys = Some(keys);
                    state.fetched = Some(Instant::now());
                }
                // A stale set still serves the keys it has while the issuer is down.
                Err(e) if state.keys.is_none() => return Err(e),
                Err(e) => tracing::warn!(error = %e, "cannot refresh the operator sign-in keys"),
            }
        }
        state
            .keys
            .as_ref()
            .and_then(|k| rsa_key(k, kid))
            .unwrap_or_else(|| Err(OidcError::UnknownKey(kid.to_string())))
    }

    /// Fetches the set now, whatever the cache holds; how many keys it has.
    pub async fn refresh(&self) -> Result<usize, OidcError> {
        let keys = self.fetch().await?;
        let count = keys.keys.len();
        let mut state = self.state.lock().await;
        state.keys = Some(keys);
        state.fetched = Some(Instant::now());
        Ok(count)
    }

    async fn fetch(&self) -> Result<JwkSet, OidcError> {
        let discovery: serde_json::Value = self.get_json(&self.discovery_url).await?;
        let issuer = discovery["issuer"].as_str().unwrap_or_default();
        if issuer.trim_end_matches('/') != self.issuer.trim_end_matches('/') {
            return Err(OidcError::Keys(format!(
                "{} names the issuer `{issuer}`, not the configured `{}`",
                self.discovery_url, self.issuer
            )));
        }
        let Some(jwks_uri) = discovery["jwks_uri"].as_str() else {
            return Err(OidcError::Keys(format!(
                "{} has no `jwks_uri`",
                self.discovery_url
            )));
        };
        let keys: serde_json::Value = self.get_json(jwks_uri).await?;
        serde_json::from_value(keys)
            .map_err(|e| OidcError::Keys(format!("{jwks_uri} is not a JSON Web Key Set: {e}")))
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, OidcError> {
        let failed = |e: String| OidcError::Keys(format!("GET {url}: {e}"));
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        response.json().await.map_err(|e| failed(e.to_string()))
    }
}

/// The key `kid` of `set` when it is an RSA key; `None` when the set has no such key.
fn rsa_key(set: &JwkSet, kid: &str) -> Option<Result<DecodingKey, OidcError>> {
    let jwk = set.find(kid)?;
    Some(match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => DecodingKey::from_rsa_components(&rsa.n, &rsa.e)
            .map_err(|e| OidcError::Keys(format!("key `{kid}` is not a usable RSA key: {e}"))),
        _ => Err(OidcError::Keys(format!("key `{kid}` is not an RSA key"))),
    })
}
