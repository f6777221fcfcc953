//! The transport-neutral request and response that both plain HTTP calls and `$batch` items
//! are turned into, so every route, fault and check applies the same way to both.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// One Graph call after the version prefix is stripped.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: Method,
    /// Raw (still percent-encoded) path below the version, starting with `/`.
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Client id behind the bearer token, once authenticated.
    pub client: Option<String>,
    /// Scheme and host the caller used, for `@odata.nextLink`.
    pub base: String,
}

#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A body that is not Graph's JSON, with its content type (injected faults only).
    pub raw: Option<Box<(String, String)>>,
}

impl GraphResponse {
    pub fn json(status: StatusCode, body: Value) -> GraphResponse {
        GraphResponse {
            status,
            headers: Vec::new(),
            body: Some(body),
            raw: None,
        }
    }

    pub fn ok(body: Value) -> GraphResponse {
        GraphResponse::json(StatusCode::OK, body)
    }

    pub fn no_content() -> GraphResponse {
        GraphResponse {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
            body: None,
            raw: None,
        }
    }

    /// An answer that is not Graph's JSON: an HTML page, a redirect, a padded body.
    pub fn raw(status: StatusCode, content_type: &str, text: String) -> GraphResponse {
        GraphResponse {
            status,
            headers: Vec::new(),
            body: None,
            raw: Some(Box::new((content_type.to_string(), text))),
        }
    }

    /// A Graph error; `innerError` is filled in by whoever knows the request ids.
    pub fn error(status: StatusCode, code: &str, message: &str) -> GraphResponse {
        GraphResponse::json(status, json!({"error": {"code": code, "message": message}}))
    }

    pub fn with_header(mut self, name: &str, value: String) -> GraphResponse {
        self.headers.push((name.to_string(), value));
        self
    }

    /// Adds `innerError` the way Graph does: date without zone, both request ids.
    pub fn stamp(&mut self, request_id: &str, client_request_id: &str) {
        if let Some(Value::Object(error)) = self.body.as_mut().and_then(|b| b.get_mut("error")) {
            error.insert(
                "innerError".into(),
                json!({
                    "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                }),
            );
        }
    }
}

pub fn not_found(what: &str) -> GraphResponse {
    GraphResponse::error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub fn unknown_segment(segment: &str) -> GraphResponse {
    GraphResponse::error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!("Resource not found for the segment '{segment}'."),
    )
}

/// The `@odata.context` of an entity set or entity, e.g. `users` or `users/$entity`.
pub fn metadata(entity: &str) -> String {
    format!("https://graph.microsoft.com/v1.0/$metadata#{entity}")
}

pub fn bad_request(message: &str) -> GraphResponse {
    GraphResponse::error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

pub fn forbidden() -> GraphResponse {
    GraphResponse::error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// Exchange's answer for a user without an Exchange Online mailbox.
pub fn mailbox_not_enabled() -> GraphResponse {
    GraphResponse::error(
        StatusCode::NOT_FOUND,
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )
}

pub fn method_not_allowed() -> GraphResponse {
    GraphResponse::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request uri.",
    )
}

/// Parses a JSON object body with Graph's own checks and messages.
pub fn json_body(req: &GraphRequest) -> Result<Map<String, Value>, GraphResponse> {
    let is_json = req
        .content_type
        .as_deref()
        .map(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
        .unwrap_or(false);
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_request("Empty Payload. JSON content expected."));
    }
    if !is_json {
        return Err(GraphResponse::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Request_BadRequest",
            "The request body must be sent with Content-Type: application/json.",
        ));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

/// Percent-decodes one path segment; `+` stays literal because it is a path, not a form.
pub fn decode_segment(raw: &str) -> String {
    decode(raw, false)
}

/// Splits a query string into decoded pairs; here `+` means a space.
/// One query parameter by name (OData names are case-insensitive).
pub fn query_param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

fn decode(raw: &str, plus_is_space: bool) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a raw path into decoded segments, so an encoded `/` inside an id stays in its segment.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect()
}

/// The clauses of an OData `$filter` joined by ` and ` (outside quoted strings).
pub fn split_conjunction(filter: &str) -> Vec<&str> {
    let lowered = filter.to_ascii_lowercase();
    let mut parts = Vec::new();
    let (mut start, mut i, mut in_quote) = (0, 0, false);
    let bytes = filter.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            in_quote = !in_quote;
        } else if !in_quote && lowered[i..].starts_with(" and ") {
            parts.push(&filter[start..i]);
            i += 5;
            start = i;
            continue;
        }
        i += 1;
    }
    parts.push(&filter[start..]);
    parts
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Request-log timestamps, to the microsecond so latencies can be measured from the log.
pub fn log_time() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `field eq 'x'` for one of `fields` (quotes doubled inside the literal), the one filter shape
/// the emulator evaluates.
pub fn parse_eq(filter: &str, fields: &[&str]) -> Option<(String, String)> {
    let (field, literal) = filter.trim().split_once(" eq ")?;
    let field = field.trim();
    if !fields.contains(&field) {
        return None;
    }
    let literal = literal.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some((field.to_string(), literal.replace("''", "'")))
}

/// Graph's answer to a filter it cannot evaluate.
pub fn unsupported_query(filter: &str) -> GraphResponse {
    GraphResponse::error(
        axum::http::StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        &format!("Unsupported Query: {filter}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_ids_with_reserved_characters() {
        assert_eq!(
            segments("/users/a/messageRules/AQ%2FAA%2BB%3D"),
            vec!["users", "a", "messageRules", "AQ/AA+B="]
        );
        assert_eq!(decode_segment("a+b%"), "a+b%");
        assert_eq!(
            query_pairs("%24filter=ipAddress+eq+%271.2.3.4%27&$top=5"),
            vec![
                ("$filter".to_string(), "ipAddress eq '1.2.3.4'".to_string()),
                ("$top".to_string(), "5".to_string())
            ]
        );
    }
}
