//! `$batch`: chunking, per-item results in input order, per-item retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use super::mock::{Mock, Recorded, Reply};
use crate::graph::{GraphError, GraphPath, GraphRequest};

fn request(i: usize) -> GraphRequest {
    let path = GraphPath::new(["users"])
        .id(&format!("u{i}@contoso.com"))
        .unwrap();
    if i.is_multiple_of(2) {
        GraphRequest::patch(path, json!({"accountEnabled": false}))
    } else {
        GraphRequest::post(path.segment("revokeSignInSessions"), None)
    }
}

/// Answers every item, in reverse order, through `answer(item)`.
fn batch_script(
    answer: impl Fn(&Value) -> Value + Send + Sync + 'static,
) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    move |r, _| {
        assert_eq!(r.uri, "/v1.0/$batch");
        let body = r.json();
        let mut responses: Vec<Value> = body["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let mut a = answer(item);
                a["id"] = item["id"].clone();
                a
            })
            .collect();
        responses.reverse();
        Reply::json(200, json!({ "responses": responses })).header("request-id", "outer")
    }
}

#[tokio::test]
async fn forty_five_requests_take_three_posts_and_keep_their_order() {
    let throttled_once = Arc::new(AtomicBool::new(false));
    let flag = throttled_once.clone();
    let mock = Mock::graph(batch_script(move |item| {
        if item["url"] == "/users/u7@contoso.com/revokeSignInSessions"
            && !flag.swap(true, Ordering::SeqCst)
        {
            return json!({"status":429,"headers":{"Retry-After":"0"},
                          "body":{"error":{"code":"TooManyRequests","message":"slow down"}}});
        }
        json!({"status":200,"headers":{},"body":{"url": item["url"]}})
    }))
    .await;
    let requests: Vec<GraphRequest> = (0..45).map(request).collect();
    let expected: Vec<String> = requests.iter().map(|r| r.path.to_string()).collect();
    let results = mock.client().batch(requests).await;

    assert_eq!(results.len(), 45);
    for (i, result) in results.iter().enumerate() {
        let response = result.as_ref().unwrap();
        assert_eq!(response.body["url"], expected[i], "item {i}");
        assert_eq!(response.attempts, if i == 7 { 2 } else { 1 }, "item {i}");
        assert_eq!(response.request_id.as_deref(), Some("outer"));
    }
    let posts = mock.graph_requests();
    let sizes: Vec<usize> = posts
        .iter()
        .map(|p| p.json()["requests"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [20, 1, 20, 5]);
    assert_eq!(posts[1].json()["requests"][0]["id"], "7");

    let first = posts[0].json();
    let items = first["requests"].as_array().unwrap();
    let ids: std::collections::HashSet<&str> =
        items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(items[0]["method"], "PATCH");
    assert_eq!(items[0]["url"], "/users/u0@contoso.com");
    assert_eq!(items[0]["headers"]["Content-Type"], "application/json");
    assert_eq!(items[0]["body"], json!({"accountEnabled": false}));
    assert_eq!(items[1]["method"], "POST");
    assert!(items[1].get("body").is_none());
    assert_eq!(posts[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn item_errors_are_typed_and_throttling_is_capped() {
    let mock = Mock::graph(batch_script(|item| match item["id"].as_str().unwrap() {
        "0" => json!({"status":204,"headers":{}}),
        "1" => json!({"status":404,"headers":{},
                      "body":{"error":{"code":"Request_ResourceNotFound","message":"gone"}}}),
        _ => json!({"status":429,"headers":{"Retry-After":"1"}}),
    }))
    .await;
    let mut config = mock.config();
    config.max_attempts = 2;
    let client = crate::graph::GraphClient::new(config).unwrap();
    let results = client.batch((0..3).map(request).collect()).await;
    let ok = results[0].as_ref().unwrap();
    assert_eq!((ok.status, ok.body.clone()), (204, Value::Null));
    let missing = results[1].as_ref().unwrap_err();
    assert!(missing.is_not_found());
    assert_eq!(missing.code(), Some("Request_ResourceNotFound"));
    let throttled = results[2].as_ref().unwrap_err();
    assert!(
        matches!(
            throttled,
            GraphError::Throttled {
                attempts: 2,
                last_status: 429,
                ..
            }
        ),
        "{throttled}"
    );
    assert_eq!(mock.graph_requests().len(), 2);
}

#[tokio::test]
async fn a_rejected_batch_fails_every_item() {
    let mock = Mock::graph(|_, _| Reply::error(400, "BadRequest")).await;
    let results = mock.client().batch((0..3).map(request).collect()).await;
    assert_eq!(results.len(), 3);
    for result in results {
        assert_eq!(result.unwrap_err().status(), Some(400));
    }
    assert!(mock.client().batch(Vec::new()).await.is_empty());
}

#[tokio::test]
async fn a_missing_item_is_a_protocol_error() {
    let mock = Mock::graph(|_, _| {
        Reply::json(
            200,
            json!({"responses":[{"id":"0","status":204,"headers":{}}]}),
        )
    })
    .await;
    let results = mock.client().batch((0..2).map(request).collect()).await;
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(GraphError::Protocol { .. })));
}
