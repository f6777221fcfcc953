//! The one error shape of the HTTP API, with stable codes (as Meilisearch does):
//! `{"error": {"code": "...", "message": "...", "details": ...}}`. Every answer of 400 and above
//! has it, including the ones axum makes itself (no route, wrong method, a body it refused):
//! [`uniform_errors`] rewrites those.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// What went wrong, for clients to branch on (never on the message). Each code has one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request was not understood (axum refused its path, query or body).
    InvalidRequest,
    InvalidBody,
    EmptyBody,
    /// Some detections of a batch were rejected; the others were stored.
    InvalidDetections,
    /// A chat platform's payload could not be read.
    InvalidPayload,
    Unauthorized,
    /// Signed in, but the token's roles do not allow this operation.
    Forbidden,
    /// A decision the approvals refused (not among the step's approvers, the target, …); audited.
    ApprovalRefused,
    /// The resource is not in a state that allows this (not failed, not in effect, decided).
    Conflict,
    NotFound,
    UnknownFormat,
    MethodNotAllowed,
    PayloadTooLarge,
    /// The body did not arrive within `server.body_timeout`.
    RequestTimeout,
    /// More items in one request than `intake.max_items`; nothing was stored.
    TooManyItems,
    UnsupportedMediaType,
    /// A signed request seen before within the replay window; refused and audited.
    ReplayedRequest,
    /// The database cannot take writes now (full disk, unreachable, its file replaced):
    /// nothing was stored, send it again later.
    StoreUnavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidBody,
        ErrorCode::EmptyBody,
        ErrorCode::InvalidDetections,
        ErrorCode::InvalidPayload,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::ApprovalRefused,
        ErrorCode::Conflict,
        ErrorCode::NotFound,
        ErrorCode::UnknownFormat,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::TooManyItems,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::ReplayedRequest,
        ErrorCode::StoreUnavailable,
        ErrorCode::Internal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::EmptyBody => "empty_body",
            ErrorCode::InvalidDetections => "invalid_detections",
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ApprovalRefused => "approval_refused",
            ErrorCode::Conflict => "conflict",
            ErrorCode::NotFound => "not_found",
            ErrorCode::UnknownFormat => "unknown_format",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::TooManyItems => "too_many_items",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::ReplayedRequest => "replayed_request",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::InvalidBody
            | ErrorCode::EmptyBody
            | ErrorCode::InvalidDetections
            | ErrorCode::InvalidPayload => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::ApprovalRefused => StatusCode::FORBIDDEN,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::NotFound | ErrorCode::UnknownFormat => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge | ErrorCode::TooManyItems => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ReplayedRequest => StatusCode::CONFLICT,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code for an error status axum answered by itself.
    fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            StatusCode::FORBIDDEN => ErrorCode::Forbidden,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error answer: `{"error": {"code", "message", "details"?}}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: answers are built by `ApiError`
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    code: ErrorCode,
    message: String,
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Box<Value>>,
    /// Extra top-level fields (e.g. `accepted` on a partly rejected batch).
    pub extra: Option<Box<Value>>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: None,
            extra: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        // The cause goes to the log; the client gets a stable code and no internals.
        tracing::error!(error = %message.into(), "request failed");
        ApiError::new(
            ErrorCode::Internal,
            "something went wrong; the detections were not stored",
        )
    }

    /// A failure of the operator API: a stable code and no internals; the cause goes to the log.
    pub fn unexpected(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "operator request failed");
        ApiError::new(
            ErrorCode::Internal,
            "something went wrong; the server's log says what",
        )
    }

    /// A store failure: 503 when the database cannot take writes now (the sender retries),
    /// 500 otherwise. Either way, the cause goes to the log.
    pub fn store(error: &crate::store::StoreError) -> ApiError {
        if error.is_unavailable() {
            tracing::error!(error = %error, "the database cannot take writes");
            return ApiError::new(
                ErrorCode::StoreUnavailable,
                "the database cannot take writes now; nothing was stored, send it again later",
            );
        }
        ApiError::internal(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(details) = self.details {
            error["details"] = *details;
        }
        let mut body = json!({"error": error});
        if let Some(Value::Object(extra)) = self.extra.map(|e| *e) {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let mut response = (self.code.status(), Json(body)).into_response();
        if self.code == ErrorCode::StoreUnavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Gives the error shape to error answers that have none: axum's own 404 (no route) and 405
/// (wrong method, keeping its `Allow` header), and its extractors' plain-text refusals. Answers
/// already in JSON, and the approval page's HTML, pass through untouched.
pub async fn uniform_errors(response: Response) -> Response {
    let status = response.status();
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if status.as_u16() < 400 || shaped {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let said = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&said).trim().to_string();
    let code = ErrorCode::for_status(status);
    let message = match code {
        _ if !said.is_empty() => said,
        ErrorCode::NotFound => "nothing is served at this path".to_string(),
        // axum adds the `Allow` header after this layer has run.
        ErrorCode::MethodNotAllowed => {
            "this path does not answer that method; the Allow header lists those it does"
                .to_string()
        }
        other => status
            .canonical_reason()
            .map_or_else(|| other.as_str().to_string(), str::to_lowercase),
    };
    let body = serde_json::to_vec(&json!({"error": {"code": code, "message": message}}))
        .unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::{get, post};

    async fn served(router: Router) -> String {
        let router = router
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(axum::middleware::map_response(uniform_errors));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    async fn answer(request: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let allow = response
            .headers()
            .get(header::ALLOW)
            .map(|v| v.to_str().unwrap().to_string());
        (status, allow, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn axums_own_refusals_answer_in_the_error_shape() {
        let url = served(
            Router::new()
                .route("/json", post(|_: Json<Value>| async { StatusCode::OK }))
                .route("/page", get(|| async { StatusCode::OK })),
        )
        .await;
        let http = reqwest::Client::new();

        let (status, _, body) = answer(http.get(format!("{url}/nowhere"))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        assert!(body["error"]["message"].as_str().unwrap().contains("path"));

        let (status, allow, body) = answer(http.delete(format!("{url}/page"))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (405, Some("method_not_allowed"))
        );
        assert_eq!(
            allow.as_deref(),
            Some("GET,HEAD"),
            "the Allow header is kept"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains("Allow"),
            "{body}"
        );

        let (status, _, body) = answer(http.post(format!("{url}/json")).body("{}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{body}"
        );
        let (status, _, body) = answer(
            http.post(format!("{url}/json"))
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request"))
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains("JSON"),
            "axum's reason is kept: {body}"
        );
    }

    #[tokio::test]
    async fn answers_that_have_their_shape_pass_untouched() {
        let url = served(
            Router::new()
                .route(
                    "/api",
                    get(|| async { ApiError::new(ErrorCode::UnknownFormat, "no such format") }),
                )
                .route(
                    "/html",
                    get(|| async {
                        (
                            StatusCode::GONE,
                            axum::response::Html("<p>this link expired</p>"),
                        )
                    }),
                ),
        )
        .await;
        let (status, _, body) = answer(reqwest::Client::new().get(format!("{url}/api"))).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["message"], "no such format");
        let page = reqwest::get(format!("{url}/html")).await.unwrap();
        assert_eq!(page.status().as_u16(), 410);
        assert_eq!(page.text().await.unwrap(), "<p>this link expired</p>");
    }

    #[test]
    fn each_code_has_one_string_form_and_serializes_as_it() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(code.status().as_u16() >= 400);
        }
    }
}
