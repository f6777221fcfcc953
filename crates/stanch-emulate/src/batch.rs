//! JSON batching: each item runs through the same faults, auth and routing as a plain call.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

use crate::emulator::Emulator;
use crate::log::LoggedRequest;
use crate::wire::{GraphRequest, GraphResponse, bad_request, json_body};

const MAX_REQUESTS: usize = 20;

pub fn is_batch(req: &GraphRequest) -> bool {
    req.method == Method::POST
        && crate::wire::segments(&req.path)
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("$batch"))
}

struct Item {
    id: String,
    method: Method,
    url: String,
    content_type: Option<String>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn parse(req: &GraphRequest) -> Result<Vec<Item>, GraphResponse> {
    let body = json_body(req)?;
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return Err(bad_request(
            "Invalid batch payload format: 'requests' is required.",
        ));
    };
    if requests.is_empty() {
        return Err(bad_request(
            "Invalid batch payload format: at least one request is required.",
        ));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(bad_request(&format!(
            "Too many requests in the batch: {} (the limit is {MAX_REQUESTS}).",
            requests.len()
        )));
    }
    let mut items: Vec<Item> = Vec::new();
    for raw in requests {
        let Some(id) = raw
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return Err(bad_request("Every batch request needs a string 'id'."));
        };
        if items.iter().any(|i| i.id == id) {
            return Err(bad_request(&format!(
                "Request ids must be unique: '{id}' is repeated."
            )));
        }
        let method = raw
            .get("method")
            .and_then(Value::as_str)
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
            .ok_or_else(|| bad_request(&format!("Request '{id}' has no valid 'method'.")))?;
        let Some(url) = raw.get("url").and_then(Value::as_str) else {
            return Err(bad_request(&format!("Request '{id}' has no 'url'.")));
        };
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("http:")
            || lower.starts_with("https:")
            || lower.starts_with("/v1.0/")
            || lower.starts_with("/beta/")
        {
            return Err(bad_request(&format!(
                "Request '{id}': the url must be relative and leave out the version."
            )));
        }
        let headers: Map<String, Value> = raw
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let content_type = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .and_then(|(_, v)| v.as_str().map(str::to_string));
        let body = raw.get("body").filter(|b| !b.is_null()).cloned();
        if body.is_some() && content_type.is_none() {
            return Err(bad_request(&format!(
                "Request '{id}' has a body but no Content-Type header."
            )));
        }
        let depends_on: Vec<String> = match raw.get("dependsOn") {
            None => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(_) => {
                return Err(bad_request(&format!(
                    "Request '{id}': 'dependsOn' must be an array."
                )));
            }
        };
        // Items run in order, so a dependency must come earlier; this also rules out cycles.
        if let Some(unknown) = depends_on
            .iter()
            .find(|d| !items.iter().any(|i| &i.id == *d))
        {
            return Err(bad_request(&format!(
                "Request '{id}' depends on '{unknown}', which is not an earlier request in the batch."
            )));
        }
        items.push(Item {
            id: id.to_string(),
            method,
            url: url.to_string(),
            content_type,
            body,
            depends_on,
        });
    }
    Ok(items)
}

pub async fn run(
    emulator: &Emulator,
    req: &GraphRequest,
    bearer: Option<&str>,
    client_request_id: &str,
) -> GraphResponse {
    let items = match parse(req) {
        Ok(items) => items,
        Err(e) => return e,
    };
    let mut statuses: HashMap<String, StatusCode> = HashMap::new();
    let mut responses = Vec::new();
    for item in items {
        let request_id = uuid::Uuid::new_v4().to_string();
        let failed_dependency = item
            .depends_on
            .iter()
            .any(|d| statuses.get(d).is_none_or(|s| !s.is_success()));
        let url = if item.url.starts_with('/') {
            item.url.clone()
        } else {
            format!("/{}", item.url)
        };
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let full_path = format!("/v1.0{path}");
        let body_bytes = item.body.as_ref().map(|b| match b {
            // A string body is sent as is (e.g. base64 content); JSON otherwise.
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        });
        let mut response = if failed_dependency {
            GraphResponse::error(
                StatusCode::FAILED_DEPENDENCY,
                "FailedDependency",
                "A request this one depends on failed.",
            )
        } else {
            match emulator.gate(&item.method, &full_path, bearer).await {
                Err(refused) => refused,
                Ok(client) => {
                    let inner = GraphRequest {
                        method: item.method.clone(),
                        path: path.to_string(),
                        query: query.to_string(),
                        content_type: item.content_type.clone(),
                        body: body_bytes.clone().unwrap_or_default(),
                        client: Some(client),
                        base: req.base.clone(),
                    };
                    if is_batch(&inner) {
                        bad_request("A batch cannot contain another batch.")
                    } else {
                        emulator.route(&inner)
                    }
                }
            }
        };
        response.stamp(&request_id, client_request_id);
        emulator.log(LoggedRequest {
            method: item.method.to_string(),
            path: full_path,
            query: query.to_string(),
            has_authorization: bearer.is_some(),
            client_request_id: Some(client_request_id.to_string()),
            request_id,
            content_type: item.content_type.clone(),
            body: item.body.clone(),
            status: response.status.as_u16(),
            time: crate::wire::log_time(),
            batch_item_id: Some(item.id.clone()),
        });
        statuses.insert(item.id.clone(), response.status);
        let mut headers = Map::new();
        if response.body.is_some() {
            headers.insert("Content-Type".into(), json!("application/json"));
        }
        for (k, v) in &response.headers {
            headers.insert(k.clone(), json!(v));
        }
        let mut out =
            json!({"id": item.id, "status": response.status.as_u16(), "headers": headers});
        if let Some(body) = response.body {
            out["body"] = body;
        }
        responses.push(out);
    }
    GraphResponse::ok(json!({"responses": responses}))
}
