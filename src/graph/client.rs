//! The client: one `send` with tokens, retries, throttling and per-mailbox concurrency.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, LOCATION, RETRY_AFTER};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::error::parse_error_body;
use super::governor::Governor;
use super::response::{Expect, ReadError, error_body, read_limited};
use super::retry::{is_retryable_status, parse_retry_after, wait_before_retry};
use super::token::{TokenProvider, error_chain};
use super::{GraphConfig, GraphError, GraphPath};

/// One Graph call.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: Method,
    pub path: GraphPath,
    pub body: Option<Value>,
    /// Target mailbox (UPN or id), the key for the per-mailbox concurrency limit.
    pub mailbox: Option<String>,
    /// What success looks like for this call: JSON for a GET, any 2xx otherwise, unless set.
    pub expect: Expect,
}

impl GraphRequest {
    pub fn new(method: Method, path: GraphPath) -> GraphRequest {
        GraphRequest {
            expect: if method == Method::GET {
                Expect::Json
            } else {
                Expect::AnySuccess
            },
            method,
            path,
            body: None,
            mailbox: None,
        }
    }

    /// The documented answer of this call, when it is stricter than the default.
    pub fn expecting(mut self, expect: Expect) -> GraphRequest {
        self.expect = expect;
        self
    }

    pub fn get(path: GraphPath) -> GraphRequest {
        GraphRequest::new(Method::GET, path)
    }

    pub fn delete(path: GraphPath) -> GraphRequest {
        GraphRequest::new(Method::DELETE, path)
    }

    /// A POST; pass `None` for actions such as `revokeSignInSessions` that take no body.
    pub fn post(path: GraphPath, body: Option<Value>) -> GraphRequest {
        GraphRequest {
            body,
            ..GraphRequest::new(Method::POST, path)
        }
    }

    pub fn patch(path: GraphPath, body: Value) -> GraphRequest {
        GraphRequest {
            body: Some(body),
            ..GraphRequest::new(Method::PATCH, path)
        }
    }

    /// Counts this call against the concurrency limit of `mailbox` (Exchange endpoints).
    pub fn with_mailbox(mut self, mailbox: impl Into<String>) -> GraphRequest {
        self.mailbox = Some(mailbox.into());
        self
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphResponse {
    pub status: u16,
    /// The JSON body; `Null` when empty (204), a JSON string when the body is not JSON.
    pub body: Value,
    pub request_id: Option<String>,
    pub client_request_id: String,
    /// Attempts made, counting the first (and a retry after a 401 token refresh).
    pub attempts: u32,
    pub elapsed: Duration,
}

/// A cheap-to-clone Microsoft Graph client.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: GraphConfig,
    /// `{graph_root}/v1.0`.
    pub(crate) base: String,
    http: reqwest::Client,
    tokens: TokenProvider,
    mailboxes: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Requests in flight in all (`max_in_flight`), whatever their resource.
    in_flight: Semaphore,
    /// Graph's throttling as every caller of this client sees it (see `governor`).
    governor: Governor,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.inner.base)
            .field("tenant_id", &self.inner.config.tenant_id)
            .finish_non_exhaustive()
    }
}

/// What one attempt produced, before deciding whether to retry.
enum Attempt {
    Answer {
        status: u16,
        headers: HeaderMap,
        bytes: Vec<u8>,
    },
    TooLarge {
        status: u16,
        limit: usize,
    },
    Failed {
        timed_out: bool,
        reason: String,
    },
}

impl GraphClient {
    /// Builds the client; loads the certificate now so a bad key fails at start-up.
    pub fn new(config: GraphConfig) -> Result<GraphClient, GraphError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("stanch/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            // A followed redirect turns a POST into a GET and drops the bearer token (or hands
            // it to another host); a 3xx is an error that says where it pointed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphError::Config(format!("cannot build the http client: {e}")))?;
        let tokens = TokenProvider::new(&config, http.clone())?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                base: format!("{}/v1.0", config.graph_root()),
                in_flight: Semaphore::new(config.max_in_flight),
                config,
                http,
                tokens,
                mailboxes: Mutex::new(HashMap::new()),
                governor: Governor::default(),
            }),
        })
    }

    pub fn config(&self) -> &GraphConfig {
        &self.inner.config
    }

    /// Obtains an access token (or finds a cached one): the credentials work.
    pub async fn check_token(&self) -> Result<(), GraphError> {
        self.inner.tokens.token().await.map(|_| ())
    }

    /// Sends one request, retrying throttling (429), 503, 504 and transport errors within the
    /// configured limits, and once more with a new token after a 401. Success is the answer
    /// the request [expects](GraphRequest::expect); any other 2xx, a redirect, or a body over
    /// the size limit is an error.
    pub async fn send(&self, request: GraphRequest) -> Result<GraphResponse, GraphError> {
        let path = request.path.to_string();
        let url = format!("{}{path}", self.inner.base);
        self.send_to(&request, &url, path).await
    }

    /// [`send`](Self::send) to an absolute `url` already checked to be under the Graph root;
    /// `path` is what logs and errors show.
    pub(crate) async fn send_to(
        &self,
        request: &GraphRequest,
        url: &str,
        path: String,
    ) -> Result<GraphResponse, GraphError> {
        let inner = &self.inner;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let max_attempts = inner.config.max_attempts;
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let token = inner.tokens.token().await?;
            // Waits out a pause Graph asked of another caller of the same resource.
            let mut turn = inner.governor.turn(request).await;
            let outcome = {
                let _permit = self.mailbox_permit(request.mailbox.as_deref()).await;
                // Never closed, so acquiring cannot fail.
                let _slot = inner.in_flight.acquire().await.ok();
                self.attempt(request, url, &token.value, &client_request_id)
                    .await
            };
            let (status, headers, bytes) = match outcome {
                Attempt::Answer {
                    status,
                    headers,
                    bytes,
                } => (status, headers, bytes),
                Attempt::TooLarge { status, limit } => {
                    return Err(GraphError::TooLarge {
                        call: call(&request.method, &path),
                        status,
                        limit,
                        client_request_id,
                    });
                }
                Attempt::Failed { timed_out, reason } => {
                    // No answer says nothing about throttling; the next caller may probe.
                    drop(turn);
                    tracing::debug!(method = %request.method, %path, attempt, %client_request_id, timed_out, %reason, "graph attempt failed");
                    if attempt < max_attempts {
                        let wait = wait_before_retry(None, attempt, inner.config.max_retry_wait);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(GraphError::Transport {
                        call: call(&request.method, &path),
                        attempts: attempt,
                        timed_out,
                        reason,
                        client_request_id,
                    });
                }
            };
            if !is_retryable_status(status) {
                turn.answered();
            }
            let request_id = header(&headers, "request-id");
            tracing::debug!(method = %request.method, %path, status, attempt, %client_request_id, request_id = request_id.as_deref().unwrap_or(""), "graph attempt");
            if (200..300).contains(&status) {
                let body = request
                    .expect
                    .accept(status, &headers, &bytes)
                    .map_err(|reason| GraphError::Protocol {
                        what: format!("{} {path}", request.method),
                        reason,
                    })?;
                return Ok(GraphResponse {
                    status,
                    body,
                    request_id,
                    client_request_id,
                    attempts: attempt,
                    elapsed: started.elapsed(),
                });
            }
            if (300..400).contains(&status) {
                return Err(GraphError::Redirected {
                    call: call(&request.method, &path),
                    status,
                    location: header(&headers, LOCATION.as_str()),
                    client_request_id,
                });
            }
            if status == 401 && !refreshed {
                // The token may have been revoked or rotated early: one fresh token, one retry.
                refreshed = true;
                inner.tokens.invalidate(&token).await;
                continue;
            }
            if is_retryable_status(status) {
                let retry_after = header(&headers, RETRY_AFTER.as_str())
                    .and_then(|v| parse_retry_after(&v, chrono::Utc::now()));
                let wait = wait_before_retry(retry_after, attempt, inner.config.max_retry_wait);
                // Every caller of this resource waits it out, this one on its next turn.
                turn.throttled(wait);
                if attempt < max_attempts {
                    tracing::debug!(method = %request.method, %path, status, attempt, wait_ms = wait.as_millis() as u64, %client_request_id, "graph retry scheduled");
                    continue;
                }
                return Err(GraphError::Throttled {
                    call: call(&request.method, &path),
                    attempts: attempt,
                    last_status: status,
                    request_id,
                    client_request_id,
                });
            }
            let body = error_body(&bytes);
            let (code, mut message) = parse_error_body(&body);
            if let Value::String(page) = &body {
                message = format!("not a Graph error body: {page}");
            }
            return Err(GraphError::Http {
                call: call(&request.method, &path),
                status,
                code,
                message,
                request_id,
                client_request_id,
            });
        }
    }

    async fn attempt(
        &self,
        request: &GraphRequest,
        url: &str,
        token: &str,
        client_request_id: &str,
    ) -> Attempt {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url)
            .bearer_auth(token)
            .header("client-request-id", client_request_id);
        builder = match &request.body {
            // `.json` also sets `Content-Type: application/json`.
            Some(body) => builder.json(body),
            // Graph's front end wants a length on bodyless writes (411 otherwise).
            None if request.method != Method::GET && request.method != Method::DELETE => {
                builder.header(CONTENT_LENGTH, "0")
            }
            None => builder,
        };
        let failed = |e: reqwest::Error| Attempt::Failed {
            timed_out: e.is_timeout(),
            reason: error_chain(&e),
        };
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => return failed(e),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = self.inner.config.max_response_bytes;
        match read_limited(response, limit).await {
            Ok(bytes) => Attempt::Answer {
                status,
                headers,
                bytes,
            },
            Err(ReadError::TooLarge { limit }) => Attempt::TooLarge { status, limit },
            Err(ReadError::Transport(e)) => failed(e),
        }
    }

    async fn mailbox_permit(
        &self,
        mailbox: Option<&str>,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let key = mailbox?.to_lowercase();
        let semaphore = {
            let mut map = self
                .inner
                .mailboxes
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.inner.config.mailbox_concurrency)))
                .clone()
        };
        // The semaphore is never closed, so acquiring cannot fail.
        semaphore.acquire_owned().await.ok()
    }
}

pub(crate) fn call(method: &Method, path: &str) -> Box<str> {
    format!("{method} {path}").into()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
