//! App-only tokens through the client-credentials grant, cached until shortly before expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;

use super::assertion::CertificateSigner;
use super::response::{ReadError, read_limited};
use super::retry::wait_before_retry;
use super::{Credential, GraphConfig, GraphError, Secret};

/// Fetch a new token this long before the current one expires (there is no refresh token).
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

enum Proof {
    Secret(Secret),
    Certificate(CertificateSigner),
}

/// A bearer token; `Arc` so a 401 can tell whether the cache still holds the rejected one.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: Arc<str>,
    refresh_at: Instant,
}

pub(crate) struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    scope: String,
    client_id: String,
    proof: Proof,
    max_attempts: u32,
    max_retry_wait: Duration,
    max_response_bytes: usize,
    /// Held across the fetch so concurrent callers wait for one token request, not fire many.
    cache: Mutex<Option<Token>>,
}

impl TokenProvider {
    pub(crate) fn new(
        config: &GraphConfig,
        http: reqwest::Client,
    ) -> Result<TokenProvider, GraphError> {
        let proof = match &config.credential {
            Credential::Secret(secret) => Proof::Secret(secret.clone()),
            Credential::Certificate {
                cert_path,
                key_path,
            } => Proof::Certificate(CertificateSigner::load(cert_path, key_path)?),
        };
        Ok(TokenProvider {
            http,
            token_url: config.token_url(),
            scope: config.scope(),
            client_id: config.client_id.clone(),
            proof,
            max_attempts: config.max_attempts,
            max_retry_wait: config.max_retry_wait,
            max_response_bytes: config.max_response_bytes,
            cache: Mutex::new(None),
        })
    }

    /// The cached token, or a new one if it is missing or close to expiry.
    pub(crate) async fn token(&self) -> Result<Token, GraphError> {
        let mut cache = self.cache.lock().await;
        if let Some(token) = cache.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.clone());
        }
        let token = self.fetch().await?;
        *cache = Some(token.clone());
        Ok(token)
    }

    /// Forgets `rejected` after Graph answered 401, unless another caller already replaced it.
    pub(crate) async fn invalidate(&self, rejected: &Token) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(&t.value, &rejected.value))
        {
            *cache = None;
        }
    }

    /// Requests a token, retrying throttling, 5xx and transport failures within the limits.
    async fn fetch(&self) -> Result<Token, GraphError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_once().await {
                Err(error) if attempt < self.max_attempts && transient(&error) => {
                    let wait = wait_before_retry(None, attempt, self.max_retry_wait);
                    tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, %error, "graph token retry scheduled");
                    tokio::time::sleep(wait).await;
                }
                result => return result,
            }
        }
    }

    async fn fetch_once(&self) -> Result<Token, GraphError> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        match &self.proof {
            Proof::Secret(secret) => form.push(("client_secret", secret.expose().to_string())),
            Proof::Certificate(signer) => {
                form.push(("client_assertion_type", ASSERTION_TYPE.into()));
                form.push((
                    "client_assertion",
                    signer.assertion(&self.token_url, &self.client_id)?,
                ));
            }
        }
        let started = Instant::now();
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| self.error(None, "unreachable", &error_chain(&e), Vec::new()))?;
        let status = response.status().as_u16();
        let bytes = read_limited(response, self.max_response_bytes)
            .await
            .map_err(|e| match e {
                ReadError::Transport(e) => {
                    self.error(Some(status), "unreachable", &error_chain(&e), Vec::new())
                }
                ReadError::TooLarge { limit } => self.error(
                    Some(status),
                    "invalid_response",
                    &format!("the answer is over {limit} bytes (graph.max_response_bytes)"),
                    Vec::new(),
                ),
            })?;
        tracing::debug!(url = %self.token_url, status, elapsed_ms = started.elapsed().as_millis() as u64, "graph token request");
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            let codes = body
                .get("error_codes")
                .and_then(Value::as_array)
                .map(|codes| codes.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            return Err(self.error(
                Some(status),
                &field("error").unwrap_or_else(|| format!("http_{status}")),
                &field("error_description").unwrap_or_else(|| "no error description".into()),
                codes,
            ));
        }
        let Some(access_token) = body.get("access_token").and_then(Value::as_str) else {
            return Err(self.error(
                Some(status),
                "invalid_response",
                "the token response has no access_token",
                Vec::new(),
            ));
        };
        // Some endpoints send expires_in as a string.
        let expires_in = match &body["expires_in"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(3599);
        Ok(Token {
            value: Arc::from(access_token),
            refresh_at: started + Duration::from_secs(expires_in).saturating_sub(REFRESH_MARGIN),
        })
    }

    fn error(
        &self,
        status: Option<u16>,
        error: &str,
        description: &str,
        codes: Vec<u64>,
    ) -> GraphError {
        let mut description = description.to_string();
        // The token service never echoes secrets, but a proxy or emulator might.
        if let Proof::Secret(secret) = &self.proof
            && !secret.expose().is_empty()
        {
            description = description.replace(secret.expose(), "[redacted]");
        }
        GraphError::Token {
            url: self.token_url.clone(),
            status,
            error: error.to_string(),
            description,
            codes,
        }
    }
}

/// Worth another try: no answer, throttled, or a server-side failure. 4xx verdicts are final.
fn transient(error: &GraphError) -> bool {
    match error {
        GraphError::Token {
            status: None,
            error,
            ..
        } => error == "unreachable",
        GraphError::Token {
            status: Some(status),
            ..
        } => *status == 429 || *status >= 500,
        _ => false,
    }
}

/// `reqwest::Error` hides the interesting part (refused, timed out, dns) in its sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
