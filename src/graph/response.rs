//! What an answer must look like before it counts: the status Graph documents for the call, a
//! JSON body (with `Content-Type: application/json`) where one is expected, and no more of the
//! body than the configured limit. A captive portal's `200 text/html`, a proxy's redirect or an
//! endless body is a protocol error, never a success.

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;

/// Longest excerpt of a body that an error message quotes.
const SNIPPET_CHARS: usize = 200;

/// What a successful answer to a call looks like (the Graph contract, per call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `200` with a JSON body: reads (the default for GET), and writes answering with the
    /// resource (`PATCH …/messageRules/{id}`, `$batch`).
    Json,
    /// `201` with a JSON body: a creation (named location, Conditional Access policy, group).
    Created,
    /// `204` and no body: `PATCH /users/{id}`, `DELETE`, `POST …/members/$ref`,
    /// `confirmCompromised`.
    NoContent,
    /// `202`, a body (if any) JSON: an action Graph carries out later (Defender's
    /// `analyzedEmails/remediate`).
    Accepted,
    /// Any 2xx; a body, if there is one, is JSON. `revokeSignInSessions` is documented as 204
    /// but answers `200` with JSON (the default for POST, PATCH and DELETE).
    AnySuccess,
}

impl Expect {
    /// The answer as a value if a 2xx answer fits this call, else why it does not.
    pub(crate) fn accept(
        self,
        status: u16,
        headers: &HeaderMap,
        bytes: &[u8],
    ) -> Result<Value, String> {
        let body = json_body(headers, bytes)?;
        self.accept_value(status, body)
    }

    /// [`accept`](Self::accept) for an already decoded body (a `$batch` item).
    pub(crate) fn accept_value(self, status: u16, body: Value) -> Result<Value, String> {
        let (wanted, needs_body) = match self {
            Expect::Json => (Some(200), true),
            Expect::Created => (Some(201), true),
            Expect::NoContent => (Some(204), false),
            Expect::Accepted => (Some(202), false),
            Expect::AnySuccess => (None, false),
        };
        if let Some(wanted) = wanted
            && status != wanted
        {
            return Err(format!(
                "answered {status} where Graph documents {wanted} for this call"
            ));
        }
        if needs_body && !(body.is_object() || body.is_array()) {
            return Err(format!(
                "answered {status} without the JSON body this call returns"
            ));
        }
        if let Value::String(text) = &body {
            return Err(format!("answered {status} with a non-JSON body: {text}"));
        }
        Ok(body)
    }
}

/// The body as JSON: `Null` when empty; an error when it is not JSON or not labelled so.
fn json_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let content_type = content_type(headers);
    if !is_json_type(content_type) {
        return Err(format!(
            "answered with a `{}` body where JSON was expected: {}",
            content_type.unwrap_or("(no content type)"),
            snippet(bytes)
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| format!("answered with invalid JSON ({e}): {}", snippet(bytes)))
}

/// The body of an error answer, leniently: JSON when it is JSON, else an excerpt of the text.
pub(crate) fn error_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(snippet(bytes)))
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// `application/json`, with or without parameters (`;odata.metadata=minimal;charset=utf-8`).
fn is_json_type(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The first characters of a body, for an error message.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SNIPPET_CHARS * 4)]);
    let text = text.trim();
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Why a body was not read to its end.
pub(crate) enum ReadError {
    /// Longer than `limit` bytes (said so by `Content-Length`, or found while reading).
    TooLarge {
        limit: usize,
    },
    Transport(reqwest::Error),
}

/// Reads the body, refusing it as soon as it passes `limit` bytes: nothing larger is buffered.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Err(ReadError::TooLarge { limit });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if bytes.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    #[test]
    fn a_json_body_must_be_labelled_json_and_parse() {
        let odata = typed("application/json;odata.metadata=minimal;charset=utf-8");
        assert_eq!(
            Expect::Json.accept(200, &odata, br#"{"value":[]}"#),
            Ok(json!({"value": []}))
        );
        let html = Expect::AnySuccess
            .accept(200, &typed("text/html"), b"<html>sign in</html>")
            .unwrap_err();
        assert!(
            html.contains("`text/html` body") && html.contains("<html>"),
            "{html}"
        );
        let broken = Expect::Json
            .accept(200, &typed("application/json"), b"{nope")
            .unwrap_err();
        assert!(broken.contains("invalid JSON"), "{broken}");
        assert!(
            Expect::Json
                .accept(200, &HeaderMap::new(), b"{}")
                .unwrap_err()
                .contains("(no content type)")
        );
    }

    #[test]
    fn each_call_gets_its_documented_status() {
        let json = typed("application/json");
        assert_eq!(
            Expect::NoContent.accept(204, &HeaderMap::new(), b""),
            Ok(Value::Null)
        );
        assert!(Expect::NoContent.accept(200, &json, b"{}").is_err());
        assert!(
            Expect::Created
                .accept(200, &json, br#"{"id":"x"}"#)
                .is_err()
        );
        assert!(Expect::Created.accept(201, &json, br#"{"id":"x"}"#).is_ok());
        // A read must carry its body.
        assert!(Expect::Json.accept(200, &HeaderMap::new(), b"").is_err());
        assert!(Expect::Json.accept(204, &HeaderMap::new(), b"").is_err());
        // revokeSignInSessions: any 2xx, empty or JSON.
        assert!(
            Expect::AnySuccess
                .accept(204, &HeaderMap::new(), b"")
                .is_ok()
        );
        assert!(
            Expect::AnySuccess
                .accept(200, &json, br#"{"value":true}"#)
                .is_ok()
        );
    }

    #[test]
    fn snippets_are_short() {
        let long = "é".repeat(1000);
        let cut = snippet(long.as_bytes());
        assert_eq!(cut.chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(error_body(b"<html/>"), json!("<html/>"));
        assert_eq!(error_body(br#"{"error":{}}"#), json!({"error": {}}));
    }
}
