//! JSON batching: up to 20 requests per `$batch` POST, per-item results, per-item retries.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::client::call;
use super::error::parse_error_body;
use super::retry::{is_retryable_status, parse_retry_after, wait_before_retry};
use super::{GraphClient, GraphError, GraphPath, GraphRequest, GraphResponse};

/// Graph rejects a batch with more than 20 requests.
pub const BATCH_LIMIT: usize = 20;

type Slot = Option<Result<GraphResponse, GraphError>>;

impl GraphClient {
    /// Sends `requests` as `$batch` POSTs of at most 20 and returns one result per request, in
    /// input order. Items answered 429/503/504 are resent (alone) after their `Retry-After`.
    ///
    /// The requests are independent (no `dependsOn`): Graph may run them in any order.
    pub async fn batch(
        &self,
        requests: Vec<GraphRequest>,
    ) -> Vec<Result<GraphResponse, GraphError>> {
        let mut results: Vec<Slot> = vec![None; requests.len()];
        let indices: Vec<usize> = (0..requests.len()).collect();
        for chunk in indices.chunks(BATCH_LIMIT) {
            self.run_chunk(&requests, chunk.to_vec(), &mut results)
                .await;
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, slot)| {
                slot.unwrap_or_else(|| {
                    Err(GraphError::Protocol {
                        what: format!("$batch item {i}"),
                        reason: "no result was recorded".into(),
                    })
                })
            })
            .collect()
    }

    async fn run_chunk(
        &self,
        requests: &[GraphRequest],
        mut pending: Vec<usize>,
        results: &mut [Slot],
    ) {
        let started = Instant::now();
        let config = &self.inner.config;
        let client_request_ids: HashMap<usize, String> = pending
            .iter()
            .map(|&i| (i, uuid::Uuid::new_v4().to_string()))
            .collect();
        let mut round = 0;
        while !pending.is_empty() {
            round += 1;
            let items: Vec<Value> = pending
                .iter()
                .map(|&i| item_json(i, &requests[i], &client_request_ids[&i]))
                .collect();
            let post =
                GraphRequest::post(GraphPath::new(["$batch"]), Some(json!({"requests": items})))
                    .expecting(super::Expect::Json);
            let response = match self.send(post).await {
                Ok(response) => response,
                Err(error) => {
                    for &i in &pending {
                        results[i] = Some(Err(error.clone()));
                    }
                    return;
                }
            };
            let answers = index_answers(&response.body);
            let mut retry = Vec::new();
            let mut retry_after: Option<Duration> = None;
            for &i in &pending {
                let request = &requests[i];
                let client_request_id = client_request_ids[&i].clone();
                let Some(answer) = answers.get(i.to_string().as_str()) else {
                    results[i] = Some(Err(GraphError::Protocol {
                        what: format!("$batch item {i} ({} {})", request.method, request.path),
                        reason: "missing from the batch response".into(),
                    }));
                    continue;
                };
                let status = answer
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(0);
                let request_id = item_header(answer, "request-id").or(response.request_id.clone());
                let body = answer.get("body").cloned().unwrap_or(Value::Null);
                tracing::debug!(method = %request.method, path = %request.path, status, attempt = round, %client_request_id, "graph batch item");
                let result = if (200..300).contains(&status) {
                    match request.expect.accept_value(status, body) {
                        Ok(body) => Ok(GraphResponse {
                            status,
                            body,
                            request_id,
                            client_request_id,
                            attempts: round,
                            elapsed: started.elapsed(),
                        }),
                        Err(reason) => Err(GraphError::Protocol {
                            what: format!("$batch item {i} ({} {})", request.method, request.path),
                            reason,
                        }),
                    }
                } else if is_retryable_status(status) && round < config.max_attempts {
                    let wait = item_header(answer, "retry-after")
                        .and_then(|v| parse_retry_after(&v, chrono::Utc::now()));
                    retry_after = retry_after.max(wait);
                    retry.push(i);
                    continue;
                } else if is_retryable_status(status) {
                    Err(GraphError::Throttled {
                        call: call(&request.method, &request.path.to_string()),
                        attempts: round,
                        last_status: status,
                        request_id,
                        client_request_id,
                    })
                } else {
                    let (code, message) = parse_error_body(&body);
                    Err(GraphError::Http {
                        call: call(&request.method, &request.path.to_string()),
                        status,
                        code,
                        message,
                        request_id,
                        client_request_id,
                    })
                };
                results[i] = Some(result);
            }
            if !retry.is_empty() {
                let wait = wait_before_retry(retry_after, round, config.max_retry_wait);
                tracing::debug!(
                    items = retry.len(),
                    wait_ms = wait.as_millis() as u64,
                    "graph batch retry scheduled"
                );
                tokio::time::sleep(wait).await;
            }
            pending = retry;
        }
    }
}

fn item_json(index: usize, request: &GraphRequest, client_request_id: &str) -> Value {
    let mut headers = Map::new();
    headers.insert("client-request-id".into(), client_request_id.into());
    let mut item = Map::new();
    item.insert("id".into(), index.to_string().into());
    item.insert("method".into(), request.method.as_str().into());
    item.insert("url".into(), request.path.as_relative().into());
    if let Some(body) = &request.body {
        headers.insert("Content-Type".into(), "application/json".into());
        item.insert("body".into(), body.clone());
    }
    item.insert("headers".into(), Value::Object(headers));
    Value::Object(item)
}

/// The `responses` array keyed by id; Graph answers in any order.
fn index_answers(body: &Value) -> HashMap<&str, &Value> {
    body.get("responses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|answer| Some((answer.get("id")?.as_str()?, answer)))
        .collect()
}

/// A header of a batch item; names are matched without regard to case.
fn item_header(answer: &Value, name: &str) -> Option<String> {
    answer
        .get("headers")?
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_carry_content_type_only_with_a_body() {
        let path = GraphPath::new(["users"]).id("u1@contoso.com").unwrap();
        let patch = item_json(
            3,
            &GraphRequest::patch(path.clone(), json!({"accountEnabled": false})),
            "c",
        );
        assert_eq!(
            patch,
            json!({"id":"3","method":"PATCH","url":"/users/u1@contoso.com",
                   "body":{"accountEnabled":false},
                   "headers":{"client-request-id":"c","Content-Type":"application/json"}})
        );
        let revoke = item_json(
            4,
            &GraphRequest::post(path.segment("revokeSignInSessions"), None),
            "c",
        );
        assert_eq!(revoke["headers"], json!({"client-request-id":"c"}));
        assert!(revoke.get("body").is_none());
    }

    #[test]
    fn answers_are_indexed_and_headers_case_insensitive() {
        let body = json!({"responses":[{"id":"2","status":429,"headers":{"Retry-After":"7"}},
                                       {"id":"1","status":204,"headers":{}}]});
        let answers = index_answers(&body);
        assert_eq!(answers["1"]["status"], 204);
        assert_eq!(
            item_header(answers["2"], "retry-after").as_deref(),
            Some("7")
        );
        assert!(index_answers(&json!({})).is_empty());
    }
}
