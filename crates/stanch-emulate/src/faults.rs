//! Injected failures: throttling, outages, latency and token expiry, matched by method and
//! path prefix, optionally only for the next N matching requests.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::wire::GraphResponse;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Matches any method when absent; compared case-insensitively.
    #[serde(default)]
    pub method: Option<String>,
    /// Prefix of the full request path, e.g. `/v1.0/users`; batch items are matched as
    /// `/v1.0` + their relative url. Matches every path when absent.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only the next N matching requests; forever when absent (except `expireTokens`, once).
    #[serde(default)]
    pub times: Option<u32>,
    /// Only for this long (ms) after it is injected: a storm, then calm.
    #[serde(default)]
    pub for_ms: Option<u64>,
    /// When it was injected (stamped by the emulator).
    #[serde(skip)]
    pub injected_at: Option<std::time::Instant>,
    #[serde(flatten)]
    pub kind: FaultKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FaultKind {
    /// 429 TooManyRequests.
    Throttle { retry_after: Option<u64> },
    /// 503 ServiceUnavailable.
    Unavailable { retry_after: Option<u64> },
    /// 504 GatewayTimeout.
    GatewayTimeout { retry_after: Option<u64> },
    /// Delays the request, then lets it through.
    Latency { ms: u64 },
    /// Forgets every issued token, so this and later Graph calls get 401 until a new token.
    ExpireTokens,
    /// Answers `status` (200 when absent) with an HTML page, as a captive portal or a proxy's
    /// sign-in page does; nothing reaches the tenant.
    Html { status: Option<u16> },
    /// Answers 302 to `location`, as a misconfigured proxy does; nothing reaches the tenant.
    Redirect { location: String },
    /// Answers 200 with a JSON body of `bytes` bytes (a `value` string of padding).
    LargeBody { bytes: u64 },
}

impl Fault {
    pub fn new(kind: FaultKind) -> Fault {
        Fault {
            method: None,
            path_prefix: None,
            times: None,
            for_ms: None,
            injected_at: None,
            kind,
        }
    }

    pub fn throttle(retry_after: Option<u64>) -> Fault {
        Fault::new(FaultKind::Throttle { retry_after })
    }

    pub fn unavailable(retry_after: Option<u64>) -> Fault {
        Fault::new(FaultKind::Unavailable { retry_after })
    }

    pub fn gateway_timeout(retry_after: Option<u64>) -> Fault {
        Fault::new(FaultKind::GatewayTimeout { retry_after })
    }

    pub fn latency(ms: u64) -> Fault {
        Fault::new(FaultKind::Latency { ms })
    }

    pub fn expire_tokens() -> Fault {
        Fault::new(FaultKind::ExpireTokens).times(1)
    }

    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_string());
        self
    }

    pub fn path_prefix(mut self, prefix: &str) -> Fault {
        self.path_prefix = Some(prefix.to_string());
        self
    }

    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }

    /// Active for `ms` milliseconds after it is injected, for every matching request.
    pub fn lasting(mut self, ms: u64) -> Fault {
        self.for_ms = Some(ms);
        self
    }

    fn over(&self) -> bool {
        match (self.for_ms, self.injected_at) {
            (Some(ms), Some(at)) => at.elapsed() >= Duration::from_millis(ms),
            _ => false,
        }
    }

    /// Fills defaults for faults posted over HTTP: an endless token expiry would make the
    /// emulator unusable, so it fires once unless told otherwise.
    pub fn normalized(mut self) -> Fault {
        if self.kind == FaultKind::ExpireTokens && self.times.is_none() {
            self.times = Some(1);
        }
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path_prefix.as_deref().is_none_or(|p| {
                path.to_ascii_lowercase()
                    .starts_with(&p.to_ascii_lowercase())
            })
    }
}

/// What the matching faults add up to for one request.
#[derive(Debug, Default)]
pub struct Outcome {
    pub delay: Duration,
    pub expire_tokens: bool,
    pub response: Option<GraphResponse>,
}

/// Consumes one use of each matching fault: latencies add up, the first failure wins.
pub fn apply(faults: &mut Vec<Fault>, method: &str, path: &str) -> Outcome {
    let mut outcome = Outcome::default();
    faults.retain(|f| !f.over());
    for fault in faults.iter_mut() {
        if !fault.matches(method, path) || outcome.response.is_some() {
            continue;
        }
        match &fault.kind {
            FaultKind::Latency { ms } => outcome.delay += Duration::from_millis(*ms),
            FaultKind::ExpireTokens => outcome.expire_tokens = true,
            FaultKind::Html { status } => {
                let status = status
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::OK);
                outcome.response = Some(GraphResponse::raw(
                    status,
                    "text/html; charset=utf-8",
                    "<html><head><title>Sign in</title></head><body>Please sign in to continue.</body></html>".into(),
                ))
            }
            FaultKind::Redirect { location } => {
                outcome.response = Some(
                    GraphResponse::raw(StatusCode::FOUND, "text/html", String::new())
                        .with_header("Location", location.clone()),
                )
            }
            FaultKind::LargeBody { bytes } => {
                let padding = usize::try_from(bytes.saturating_sub(12)).unwrap_or(usize::MAX);
                outcome.response = Some(GraphResponse::raw(
                    StatusCode::OK,
                    "application/json",
                    format!("{{\"value\":\"{}\"}}", "x".repeat(padding)),
                ))
            }
            FaultKind::Throttle { retry_after } => {
                outcome.response = Some(failure(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "Too many requests. Please retry after the time specified in the Retry-After header.",
                    *retry_after,
                ))
            }
            FaultKind::Unavailable { retry_after } => {
                outcome.response = Some(failure(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please try again later.",
                    *retry_after,
                ))
            }
            FaultKind::GatewayTimeout { retry_after } => {
                outcome.response = Some(failure(
                    StatusCode::GATEWAY_TIMEOUT,
                    "gatewayTimeout",
                    "The gateway did not receive a timely response from the upstream service.",
                    *retry_after,
                ))
            }
        }
        if let Some(n) = fault.times.as_mut() {
            *n = n.saturating_sub(1);
        }
    }
    faults.retain(|f| f.times != Some(0));
    outcome
}

fn failure(status: StatusCode, code: &str, message: &str, retry: Option<u64>) -> GraphResponse {
    let response = GraphResponse::error(status, code, message);
    match retry {
        Some(seconds) => response.with_header("Retry-After", seconds.to_string()),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_run_out_and_latency_adds_up() {
        let mut faults = vec![
            Fault::latency(5),
            Fault::latency(7).path_prefix("/v1.0/users"),
            Fault::throttle(Some(3)).method("patch").times(1),
        ];
        let first = apply(&mut faults, "PATCH", "/v1.0/users/x");
        assert_eq!(first.delay, Duration::from_millis(12));
        let response = first.response.unwrap();
        assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers, vec![("Retry-After".into(), "3".into())]);
        assert_eq!(faults.len(), 2);
        assert!(
            apply(&mut faults, "PATCH", "/v1.0/users/x")
                .response
                .is_none()
        );
        assert_eq!(
            apply(&mut faults, "GET", "/v1.0/groups").delay,
            Duration::from_millis(5)
        );
    }

    #[test]
    fn faults_parse_from_control_json() {
        let fault: Fault = serde_json::from_str(
            r#"{"kind":"throttle","retryAfter":7,"method":"POST","pathPrefix":"/v1.0/users","times":2}"#,
        )
        .unwrap();
        assert_eq!(
            fault,
            Fault::throttle(Some(7))
                .method("POST")
                .path_prefix("/v1.0/users")
                .times(2)
        );
        let expire: Fault = serde_json::from_str(r#"{"kind":"expireTokens"}"#).unwrap();
        assert_eq!(expire.normalized(), Fault::expire_tokens());
    }

    #[test]
    fn html_redirect_and_large_body_faults_answer_what_no_graph_would() {
        let mut faults: Vec<Fault> = serde_json::from_str(
            r#"[{"kind":"html","times":1},{"kind":"redirect","location":"https://proxy.example/login","times":1},{"kind":"largeBody","bytes":1000}]"#,
        )
        .unwrap();
        let html = apply(&mut faults, "POST", "/v1.0/users/x/revokeSignInSessions")
            .response
            .unwrap();
        assert_eq!(html.status, StatusCode::OK);
        assert!(html.raw.unwrap().0.starts_with("text/html"));
        let redirect = apply(&mut faults, "POST", "/v1.0/users/x")
            .response
            .unwrap();
        assert_eq!(redirect.status, StatusCode::FOUND);
        assert_eq!(
            redirect.headers,
            vec![("Location".into(), "https://proxy.example/login".into())]
        );
        let large = apply(&mut faults, "GET", "/v1.0/users").response.unwrap();
        assert_eq!(large.raw.unwrap().1.len(), 1000);
    }
}
