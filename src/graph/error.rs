//! What can go wrong calling Graph, decided on status and `error.code`, never on the message.

use serde_json::Value;

/// A failed Graph call. Cloneable so one failed `$batch` POST can fail each of its items.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with a non-2xx status that is not retried (or no longer retried).
    #[error(
        "graph {call} returned {status} {code}: {message} (request-id {}, \
         client-request-id {client_request_id})",
        request_id.as_deref().unwrap_or("none")
    )]
    Http {
        /// Method and path, e.g. `PATCH /users/u1@contoso.com` (boxed to keep the error small).
        call: Box<str>,
        status: u16,
        /// `error.code` from the body, or `unknown` when the body has none.
        code: String,
        message: String,
        request_id: Option<String>,
        client_request_id: String,
    },
    /// Still throttled (429) or unavailable (503/504) after every allowed attempt.
    #[error(
        "graph {call} still failing with {last_status} after {attempts} attempts \
         (request-id {}, client-request-id {client_request_id})",
        request_id.as_deref().unwrap_or("none")
    )]
    Throttled {
        /// Method and path, e.g. `PATCH /users/u1@contoso.com` (boxed to keep the error small).
        call: Box<str>,
        attempts: u32,
        last_status: u16,
        request_id: Option<String>,
        client_request_id: String,
    },
    /// Connection failure, timeout or unreadable response, after every allowed attempt.
    #[error(
        "cannot reach graph for {call} after {attempts} attempts \
         (client-request-id {client_request_id}): {reason}"
    )]
    Transport {
        /// Method and path, e.g. `PATCH /users/u1@contoso.com` (boxed to keep the error small).
        call: Box<str>,
        attempts: u32,
        timed_out: bool,
        reason: String,
        client_request_id: String,
    },
    /// The token service refused or could not be reached. Never contains the secret.
    #[error(
        "cannot get a graph token from {url}: {error}{}: {description}",
        codes_text(codes)
    )]
    Token {
        url: String,
        status: Option<u16>,
        /// The OAuth `error` (`invalid_client`, ...), or `unreachable`/`invalid_response`.
        error: String,
        description: String,
        /// AADSTS codes from `error_codes`.
        codes: Vec<u64>,
    },
    /// A 3xx: never followed, since a redirect would either drop the bearer token (and turn a
    /// POST into a GET) or hand it to another host.
    #[error(
        "graph {call} answered {status} redirecting to {}; redirects are not followed, so the \
         call did not reach Graph as sent (client-request-id {client_request_id})",
        location.as_deref().unwrap_or("nowhere (no Location header)")
    )]
    Redirected {
        call: Box<str>,
        status: u16,
        location: Option<String>,
        client_request_id: String,
    },
    /// The answer's body passed `graph.max_response_bytes` and was refused unread.
    #[error(
        "graph {call} answered {status} with a body over {limit} bytes (graph.max_response_bytes); \
         it was refused, not read (client-request-id {client_request_id})"
    )]
    TooLarge {
        call: Box<str>,
        status: u16,
        limit: usize,
        client_request_id: String,
    },
    /// The action's total time (`graph.action_deadline`) ran out before this call finished.
    #[error(
        "graph {call} was cut off: the action's deadline of {}s (graph.action_deadline) passed{}",
        deadline.as_secs_f64(),
        if *sent { " while it was in flight or being retried" } else { " before it was sent" }
    )]
    Deadline {
        call: Box<str>,
        deadline: std::time::Duration,
        /// Whether the call had started (it may have reached Graph) or was never made.
        sent: bool,
    },
    /// An identifier from a detection or playbook that is unsafe to put in a URL.
    #[error("invalid graph identifier `{id}`: {reason}")]
    InvalidId { id: String, reason: String },
    /// Graph answered in a shape the client does not understand (e.g. a `$batch` item missing).
    #[error("unexpected graph response for {what}: {reason}")]
    Protocol { what: String, reason: String },
    #[error("invalid graph configuration: {0}")]
    Config(String),
    /// The call was never sent because something it depends on failed first (its audit record
    /// could not be written). `retry`: that failure was transient (the database was away).
    #[error("the graph call was not sent: {reason}")]
    NotSent { reason: String, retry: bool },
}

fn codes_text(codes: &[u64]) -> String {
    if codes.is_empty() {
        return String::new();
    }
    let list: Vec<String> = codes.iter().map(|c| format!("AADSTS{c}")).collect();
    format!(" ({})", list.join(", "))
}

impl GraphError {
    /// The HTTP status Graph answered with, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Http { status, .. } => Some(*status),
            GraphError::Throttled { last_status, .. } => Some(*last_status),
            GraphError::Token { status, .. } => *status,
            GraphError::Redirected { status, .. } | GraphError::TooLarge { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The Graph `error.code` (or the OAuth `error` for token failures).
    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Http { code, .. } => Some(code),
            GraphError::Token { error, .. } => Some(error),
            _ => None,
        }
    }

    /// 404, or a not-found code on another status (Exchange sometimes uses 400 for bad ids).
    pub fn is_not_found(&self) -> bool {
        matches!(self, GraphError::Http { status: 404, .. })
            || matches!(
                self.code(),
                Some("Request_ResourceNotFound" | "ErrorItemNotFound" | "ResourceNotFound")
            )
    }

    /// 403: the app lacks a permission or an Entra role ranking above the target.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, GraphError::Http { status: 403, .. })
    }

    pub fn is_throttled(&self) -> bool {
        matches!(self, GraphError::Throttled { .. })
    }

    /// Worth trying again later: still throttled, Graph unreachable or failing on its side, the
    /// action's deadline, or a call not sent for a transient reason. A 4xx verdict is final.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Throttled { .. }
            | GraphError::Transport { .. }
            | GraphError::Deadline { .. } => true,
            GraphError::NotSent { retry, .. } => *retry,
            _ => self.status().is_some_and(|s| s >= 500),
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            GraphError::Http { request_id, .. } | GraphError::Throttled { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    pub fn client_request_id(&self) -> Option<&str> {
        match self {
            GraphError::Http {
                client_request_id, ..
            }
            | GraphError::Throttled {
                client_request_id, ..
            }
            | GraphError::Transport {
                client_request_id, ..
            }
            | GraphError::Redirected {
                client_request_id, ..
            }
            | GraphError::TooLarge {
                client_request_id, ..
            } => Some(client_request_id),
            _ => None,
        }
    }
}

/// `error.code` and `error.message` from a Graph error body, when it has that shape; both cut
/// short, as an error message ends up in the audit trail and the action's result.
pub(crate) fn parse_error_body(body: &Value) -> (String, String) {
    let error = body.get("error");
    let text = |key: &str| {
        error
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(|t| super::response::snippet(t.as_bytes()))
    };
    (
        text("code").unwrap_or_else(|| "unknown".into()),
        text("message").unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn http_error_reads_code_and_helpers() {
        let body = json!({"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist",
            "innerError":{"request-id":"r1"}}});
        let (code, message) = parse_error_body(&body);
        let err = GraphError::Http {
            call: "GET /users/x".into(),
            status: 404,
            code,
            message,
            request_id: Some("r1".into()),
            client_request_id: "c1".into(),
        };
        assert!(err.is_not_found());
        assert!(!err.is_forbidden());
        assert_eq!(err.code(), Some("Request_ResourceNotFound"));
        assert_eq!(
            err.to_string(),
            "graph GET /users/x returned 404 Request_ResourceNotFound: Resource 'x' does not \
             exist (request-id r1, client-request-id c1)"
        );
    }

    #[test]
    fn error_body_without_shape_is_unknown() {
        assert_eq!(
            parse_error_body(&Value::String("oops".into())),
            ("unknown".into(), String::new())
        );
    }

    #[test]
    fn a_long_error_message_is_cut_short() {
        let huge = serde_json::json!({"error": {"code": "x", "message": "m".repeat(1_000_000)}});
        assert!(parse_error_body(&huge).1.len() < 1000);
    }

    #[test]
    fn token_error_lists_codes() {
        let err = GraphError::Token {
            url: "https://login/t/oauth2/v2.0/token".into(),
            status: Some(401),
            error: "invalid_client".into(),
            description: "AADSTS7000215: Invalid client secret provided.".into(),
            codes: vec![7000215],
        };
        assert_eq!(
            err.to_string(),
            "cannot get a graph token from https://login/t/oauth2/v2.0/token: invalid_client \
             (AADSTS7000215): AADSTS7000215: Invalid client secret provided."
        );
    }
}
