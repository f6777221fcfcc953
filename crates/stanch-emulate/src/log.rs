//! The request log: one entry per Graph call, token request and `$batch` item, read by tests
//! and `GET /_emulator/requests`.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    pub method: String,
    /// Full path as received (still percent-encoded); batch items get `/v1.0` + their url.
    pub path: String,
    pub query: String,
    pub has_authorization: bool,
    pub client_request_id: Option<String>,
    pub request_id: String,
    pub content_type: Option<String>,
    /// JSON when it parses, else the text; form bodies of token requests are logged with
    /// secrets and assertions redacted.
    pub body: Option<Value>,
    pub status: u16,
    pub time: String,
    /// The `id` of the `$batch` item this was, if any.
    pub batch_item_id: Option<String>,
}
