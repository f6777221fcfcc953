//! Single calls: request shape, status handling, retries, throttling, concurrency, ids on the wire.

use std::time::{Duration, Instant};

use serde_json::json;

use super::mock::{Mock, Reply};
use crate::graph::{GraphClient, GraphError, GraphPath, GraphRequest};

fn user(id: &str) -> GraphPath {
    GraphPath::new(["users"]).id(id).unwrap()
}

fn revoke() -> GraphRequest {
    GraphRequest::post(user("u1@contoso.com").segment("revokeSignInSessions"), None)
}

#[tokio::test]
async fn bodyless_post_and_patch_have_the_right_headers() {
    let mock = Mock::graph(|r, _| match r.method.as_str() {
        "POST" => Reply::json(200, json!({"value": true})).header("request-id", "req-1"),
        _ => Reply::empty(204).header("request-id", "req-2"),
    })
    .await;
    let client = mock.client();
    let revoked = client.send(revoke()).await.unwrap();
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.body, json!({"value": true}));
    assert_eq!(revoked.request_id.as_deref(), Some("req-1"));
    assert_eq!(revoked.attempts, 1);
    let disabled = client
        .send(GraphRequest::patch(
            user("u1@contoso.com"),
            json!({"accountEnabled": false}),
        ))
        .await
        .unwrap();
    assert_eq!(
        (disabled.status, disabled.body.clone()),
        (204, serde_json::Value::Null)
    );

    let requests = mock.graph_requests();
    let (post, patch) = (&requests[0], &requests[1]);
    assert_eq!(post.uri, "/v1.0/users/u1@contoso.com/revokeSignInSessions");
    assert_eq!(post.header("content-length"), Some("0"));
    assert_eq!(post.header("content-type"), None);
    assert_eq!(
        post.header("client-request-id"),
        Some(revoked.client_request_id.as_str())
    );
    assert!(uuid::Uuid::parse_str(&revoked.client_request_id).is_ok());
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.header("content-type"), Some("application/json"));
    assert_eq!(patch.json(), json!({"accountEnabled": false}));
    assert_ne!(
        patch.header("client-request-id"),
        post.header("client-request-id")
    );
}

#[tokio::test]
async fn guest_and_dollar_upns_reach_graph_encoded() {
    let mock = Mock::graph(|r, _| match r.method.as_str() {
        "GET" => Reply::json(200, json!({})),
        _ => Reply::empty(204),
    })
    .await;
    let client = mock.client();
    let guest = user("alice_contoso.com#EXT#@fabrikam.onmicrosoft.com");
    client.send(GraphRequest::get(guest)).await.unwrap();
    let dollar = user("$svc@contoso.com").segment("revokeSignInSessions");
    client.send(GraphRequest::post(dollar, None)).await.unwrap();
    let rule = user("u1@contoso.com")
        .segment("messageRules")
        .opaque("AQ/x+1=")
        .unwrap();
    client.send(GraphRequest::delete(rule)).await.unwrap();
    let uris: Vec<String> = mock.graph_requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(
        uris,
        [
            "/v1.0/users/alice_contoso.com%23EXT%23@fabrikam.onmicrosoft.com",
            "/v1.0/users('$svc@contoso.com')/revokeSignInSessions",
            "/v1.0/users/u1@contoso.com/messageRules/AQ%2Fx%2B1%3D",
        ]
    );
}

#[tokio::test]
async fn injected_user_id_is_rejected_before_sending() {
    let mock = Mock::graph(|_, _| Reply::empty(204)).await;
    let client = mock.client();
    async fn disable(client: &GraphClient, user: &str) -> Result<(), GraphError> {
        let path = GraphPath::new(["users"]).id(user)?;
        client
            .send(GraphRequest::patch(path, json!({"accountEnabled": false})))
            .await?;
        Ok(())
    }
    let err = disable(&client, "x/../../groups/g1").await.unwrap_err();
    assert!(matches!(err, GraphError::InvalidId { .. }), "{err}");
    assert!(mock.graph_requests().is_empty() && mock.token_requests().is_empty());
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let mock = Mock::graph(|_, n| match n {
        0 => Reply::error(429, "TooManyRequests").header("Retry-After", "1"),
        _ => Reply::json(200, json!({})),
    })
    .await;
    let mut config = mock.config();
    config.max_retry_wait = Duration::from_secs(2);
    let response = GraphClient::new(config)
        .unwrap()
        .send(revoke())
        .await
        .unwrap();
    assert_eq!(response.attempts, 2);
    let g = mock.graph_requests();
    let gap = g[1].at - g[0].at;
    assert!(gap >= Duration::from_millis(950), "{gap:?}");
    // Same call, same client-request-id on every attempt, so both log lines correlate.
    assert_eq!(
        g[0].header("client-request-id"),
        g[1].header("client-request-id")
    );
}

#[tokio::test]
async fn throttling_and_unavailability_are_retried_with_backoff() {
    let mock = Mock::graph(|_, n| match n {
        0 => Reply::error(429, "ApplicationThrottled"),
        1 => Reply::empty(503),
        2 => Reply::empty(504),
        3 => Reply::empty(503).header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
        _ => Reply::json(200, json!({"ok": true})),
    })
    .await;
    let response = mock.client().send(revoke()).await.unwrap();
    assert_eq!(response.attempts, 5);
    assert_eq!(response.body, json!({"ok": true}));
}

#[tokio::test]
async fn http_date_retry_after_is_honoured() {
    let mock = Mock::graph(|_, n| match n {
        0 => {
            let at = chrono::Utc::now() + chrono::Duration::seconds(2);
            Reply::empty(429).header(
                "Retry-After",
                at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            )
        }
        _ => Reply::empty(204),
    })
    .await;
    let mut config = mock.config();
    config.max_retry_wait = Duration::from_secs(3);
    GraphClient::new(config)
        .unwrap()
        .send(revoke())
        .await
        .unwrap();
    let g = mock.graph_requests();
    // Whole-second dates: the wait is between 1 and 2 seconds.
    let gap = g[1].at - g[0].at;
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_millis(2500),
        "{gap:?}"
    );
}

#[tokio::test]
async fn always_throttled_gives_up_after_max_attempts() {
    let mock = Mock::graph(|_, _| {
        Reply::error(429, "TooManyRequests")
            .header("Retry-After", "30")
            .header("request-id", "r-last")
    })
    .await;
    let mut config = mock.config();
    config.max_attempts = 3;
    let started = Instant::now();
    let err = GraphClient::new(config)
        .unwrap()
        .send(revoke())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let GraphError::Throttled {
        attempts,
        last_status,
        request_id,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*attempts, *last_status), (3, 429));
    assert_eq!(request_id.as_deref(), Some("r-last"));
    assert!(err.is_throttled());
    assert_eq!(mock.graph_requests().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let mock = Mock::graph(|r, _| {
        if r.uri.contains("missing") {
            Reply::error(404, "Request_ResourceNotFound").header("request-id", "r404")
        } else if r.uri.contains("admin") {
            Reply::error(403, "Authorization_RequestDenied")
        } else {
            Reply::error(500, "generalException")
        }
    })
    .await;
    let client = mock.client();
    let missing = client
        .send(GraphRequest::get(user("missing@contoso.com")))
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
    assert_eq!(missing.code(), Some("Request_ResourceNotFound"));
    assert_eq!(missing.request_id(), Some("r404"));
    assert!(missing.client_request_id().is_some());
    let denied = client
        .send(GraphRequest::get(user("admin@contoso.com")))
        .await
        .unwrap_err();
    assert!(denied.is_forbidden());
    assert_eq!(denied.code(), Some("Authorization_RequestDenied"));
    let broken = client
        .send(GraphRequest::get(user("x@contoso.com")))
        .await
        .unwrap_err();
    assert_eq!(broken.status(), Some(500));
    assert_eq!(mock.graph_requests().len(), 3);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_transport_errors() {
    let mock = Mock::graph(|_, n| match n {
        0 => Reply::empty(204).delayed(Duration::from_millis(400)),
        _ => Reply::empty(204),
    })
    .await;
    let mut config = mock.config();
    config.timeout = Duration::from_millis(150);
    let response = GraphClient::new(config.clone())
        .unwrap()
        .send(revoke())
        .await
        .unwrap();
    assert_eq!(response.attempts, 2);

    // Nothing listens on the discard port; the token still comes from the mock.
    config.graph_url = Some("http://127.0.0.1:9".into());
    config.max_attempts = 2;
    let err = GraphClient::new(config)
        .unwrap()
        .send(revoke())
        .await
        .unwrap_err();
    let GraphError::Transport { attempts, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*attempts, 2);
}

#[tokio::test]
async fn mailbox_concurrency_is_limited_per_mailbox() {
    let mock = Mock::graph(|_, _| {
        Reply::json(200, json!({"value": []})).delayed(Duration::from_millis(100))
    })
    .await;
    let mut config = mock.config();
    config.mailbox_concurrency = 2;
    let client = GraphClient::new(config).unwrap();
    let rules = |mailbox: &str| {
        GraphRequest::get(user(mailbox).segment("messageRules")).with_mailbox(mailbox)
    };
    let started = Instant::now();
    send_all(&client, (0..6).map(|_| rules("a@contoso.com")).collect()).await;
    let serialised = started.elapsed();
    assert!(serialised >= Duration::from_millis(290), "{serialised:?}");

    let started = Instant::now();
    let spread = (0..6)
        .map(|i| rules(&format!("u{i}@contoso.com")))
        .collect();
    send_all(&client, spread).await;
    assert!(started.elapsed() < serialised, "{:?}", started.elapsed());
}

/// Sends every request on its own task and waits for all of them.
async fn send_all(client: &GraphClient, requests: Vec<GraphRequest>) {
    let handles: Vec<_> = requests
        .into_iter()
        .map(|r| {
            let client = client.clone();
            tokio::spawn(async move { client.send(r).await })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap().unwrap();
    }
}

#[test]
fn client_debug_shows_no_secret() {
    let mut config = crate::graph::GraphConfig::new(
        "t",
        "c",
        crate::graph::Credential::Secret(crate::graph::Secret::new("s3cr3t-value")),
    );
    config.graph_url = Some("http://127.0.0.1:9".into());
    let client = GraphClient::new(config).unwrap();
    let shown = format!("{client:?} {:?}", client.config());
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
}

#[tokio::test]
async fn pages_are_followed_within_the_graph_root_only() {
    let mock = Mock::graph(|r, n| {
        let base = format!("http://{}/v1.0", r.header("host").unwrap());
        match n {
            0 => Reply::json(200, json!({"value":[1,2],"@odata.nextLink": format!("{base}/auditLogs/signIns?$skiptoken=a")})),
            1 => Reply::json(200, json!({"value":[3],"@odata.nextLink": format!("{base}/auditLogs/signIns?$skiptoken=b")})),
            2 => Reply::json(200, json!({"value":[4]})),
            _ => Reply::json(200, json!({"value":[5],"@odata.nextLink":"https://evil.example/v1.0/x"})),
        }
    })
    .await;
    let client = mock.client();
    let path = GraphPath::new(["auditLogs", "signIns"]).query("$top", "2");
    let all = client.get_pages(path.clone(), 10).await.unwrap();
    assert_eq!(
        (all.items, all.truncated),
        (vec![json!(1), json!(2), json!(3), json!(4)], false)
    );
    let uris: Vec<String> = mock.graph_requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(uris[1], "/v1.0/auditLogs/signIns?$skiptoken=a");

    let err = client.get_pages(path.clone(), 10).await.unwrap_err();
    assert!(matches!(err, GraphError::Protocol { .. }), "{err}");
    assert_eq!(mock.graph_requests().len(), 4);
}

#[tokio::test]
async fn page_limit_reports_truncation() {
    let mock = Mock::graph(|r, _| {
        let next = format!(
            "http://{}/v1.0/users?$skiptoken=x",
            r.header("host").unwrap()
        );
        Reply::json(200, json!({"value":[1],"@odata.nextLink": next}))
    })
    .await;
    let paged = mock
        .client()
        .get_pages(GraphPath::new(["users"]), 3)
        .await
        .unwrap();
    assert_eq!((paged.items.len(), paged.truncated), (3, true));
}
