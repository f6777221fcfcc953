//! HTTP plumbing: the axum router, the entry that turns an HTTP call into a `GraphRequest` (and
//! the answer back, with request ids), the token endpoint, and serving in the background.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::time::Instant;

use crate::emulator::{Emulator, lock};
use crate::log::LoggedRequest;
use crate::wire::{GraphRequest, GraphResponse};
use crate::{alerts, batch, control, faults, idp, idp_token, token};

impl Emulator {
    pub fn router(&self) -> axum::Router {
        router(self.clone())
    }

    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Binds `addr` (port 0 picks a free port) and serves in a background task.
    pub async fn spawn(self, addr: &str) -> std::io::Result<RunningEmulator> {
        spawn(self, addr).await
    }
}

pub struct RunningEmulator {
    /// Base URL, e.g. `http://127.0.0.1:PORT`; Graph is under `/v1.0`.
    pub url: String,
    pub emulator: Emulator,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningEmulator {
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.url)
    }

    pub fn token_url(&self) -> String {
        let tenant = lock(&self.emulator.shared.tenant).tenant_id.clone();
        format!("{}/{tenant}/oauth2/v2.0/token", self.url)
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.handle).await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
}

async fn spawn(emulator: Emulator, addr: &str) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = emulator.router();
    let handle = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(RunningEmulator {
        url,
        emulator,
        handle,
        shutdown: Some(tx),
    })
}

fn router(emulator: Emulator) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint))
        .route("/{tenant}/oauth2/v2.0/authorize", get(idp::authorize))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(idp::discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(idp::jwks))
        .merge(control::router())
        .merge(alerts::control_router())
        .fallback(graph_entry)
        .with_state(emulator)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn logged_body(body: &[u8], form: bool) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    if form {
        let pairs = crate::wire::query_pairs(&String::from_utf8_lossy(body));
        let map = pairs
            .into_iter()
            .map(|(k, v)| {
                let secret = k == "client_secret" || k == "client_assertion";
                (
                    k,
                    Value::String(if secret { "[redacted]".into() } else { v }),
                )
            })
            .collect();
        return Some(Value::Object(map));
    }
    Some(
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
    )
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = header(headers, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

async fn graph_entry(
    State(emulator): State<Emulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = header(&headers, "client-request-id");
    let echo_id = client_request_id
        .clone()
        .unwrap_or_else(|| request_id.clone());
    let full_path = uri.path().to_string();
    let content_type = header(&headers, "content-type");
    let version_rest = ["/v1.0", "/beta"].iter().find_map(|v| {
        full_path
            .strip_prefix(v)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    let token = bearer(&headers);
    let mut response = match version_rest {
        None => GraphResponse::error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource not found for the segment '{full_path}'."),
        ),
        Some(rest) => {
            let req = GraphRequest {
                method: method.clone(),
                path: rest.to_string(),
                query: uri.query().unwrap_or("").to_string(),
                content_type: content_type.clone(),
                body: body.to_vec(),
                client: None,
                base: format!(
                    "http://{}{}",
                    header(&headers, "host").unwrap_or_else(|| "localhost".into()),
                    &full_path[..full_path.len() - rest.len()]
                ),
            };
            match emulator.gate(&method, &full_path, token.as_deref()).await {
                Err(refused) => refused,
                Ok(client) => {
                    let req = GraphRequest {
                        client: Some(client),
                        ..req
                    };
                    if batch::is_batch(&req) {
                        batch::run(&emulator, &req, token.as_deref(), &echo_id).await
                    } else {
                        emulator.route(&req)
                    }
                }
            }
        }
    };
    response.stamp(&request_id, &echo_id);
    emulator.log(LoggedRequest {
        method: method.to_string(),
        path: full_path,
        query: uri.query().unwrap_or("").to_string(),
        has_authorization: headers.contains_key("authorization"),
        client_request_id,
        request_id: request_id.clone(),
        content_type,
        body: logged_body(&body, false),
        status: response.status.as_u16(),
        time: crate::wire::log_time(),
        batch_item_id: None,
    });
    into_http(response, &request_id, &echo_id)
}

fn into_http(response: GraphResponse, request_id: &str, client_request_id: &str) -> Response {
    let mut http = match (&response.body, response.raw) {
        (_, Some(raw)) => {
            let (content_type, text) = *raw;
            (response.status, [("content-type", content_type)], text).into_response()
        }
        (Some(body), None) => (
            response.status,
            [(
                "content-type",
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            )],
            body.to_string(),
        )
            .into_response(),
        (None, None) => (response.status, Body::empty()).into_response(),
    };
    let headers = http.headers_mut();
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    for (name, value) in [
        ("request-id", request_id),
        ("client-request-id", client_request_id),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    http
}

async fn token_endpoint(
    State(emulator): State<Emulator>,
    Path(tenant_segment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let content_type = header(&headers, "content-type");
    let path = uri.path().to_string();
    let outcome = faults::apply(&mut lock(&emulator.shared.faults), "POST", &path);
    if !outcome.delay.is_zero() {
        tokio::time::sleep(outcome.delay).await;
    }
    let mut extra_headers = Vec::new();
    let (status, reply) = if let Some(mut failure) = outcome.response {
        failure.stamp(&request_id, &request_id);
        extra_headers = failure.headers;
        (failure.status, failure.body.unwrap_or_default())
    } else {
        let tenant = lock(&emulator.shared.tenant).clone();
        let form = crate::wire::query_pairs(&String::from_utf8_lossy(&body));
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let root = idp::root(&headers);
        if field("grant_type") == Some("authorization_code") && tenant.knows(&tenant_segment) {
            match idp_token::redeem_code(&emulator, &root, &form) {
                Ok(reply) => (StatusCode::OK, reply),
                Err(e) => (e.status, e.body),
            }
        } else {
            match token::authenticate(&tenant, &tenant_segment, content_type.as_deref(), &body) {
                Ok(client)
                    if let Some(resource) = field("scope").and_then(idp_token::api_resource) =>
                {
                    (
                        StatusCode::OK,
                        idp_token::app_token(&emulator, &root, &client, &resource),
                    )
                }
                Ok(client) => {
                    let lifetime = *lock(&emulator.shared.token_lifetime);
                    let (access, reply) = token::issue(lifetime);
                    lock(&emulator.shared.tokens).insert(
                        access,
                        token::Token {
                            client: client.id,
                            expires: Instant::now() + lifetime,
                        },
                    );
                    (StatusCode::OK, reply)
                }
                Err(e) => (e.status, e.body),
            }
        }
    };
    emulator.log(LoggedRequest {
        method: "POST".into(),
        path,
        query: uri.query().unwrap_or("").to_string(),
        has_authorization: headers.contains_key("authorization"),
        client_request_id: header(&headers, "client-request-id"),
        request_id: request_id.clone(),
        content_type,
        body: logged_body(&body, true),
        status: status.as_u16(),
        time: crate::wire::log_time(),
        batch_item_id: None,
    });
    let mut response = (
        status,
        [("content-type", "application/json; charset=utf-8")],
        reply.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    for (name, value) in extra_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain([("x-ms-request-id", request_id.as_str())])
    {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    response
}
