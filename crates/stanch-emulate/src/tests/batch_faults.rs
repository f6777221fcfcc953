//! `$batch` semantics and injected faults.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::{A, B, BREAKGLASS, CLIENT, Harness, SECRET};
use crate::Fault;

fn by_id(body: &Value, id: &str) -> Value {
    body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn batch_runs_items_with_their_own_statuses() {
    let h = Harness::start().await;
    h.emu.emulator.inject(
        Fault::throttle(Some(7))
            .path_prefix("/v1.0/identityProtection")
            .times(1),
    );
    let batch = json!({"requests": [
        {"id": "1", "method": "PATCH", "url": "/users/b.jones@contoso.com", "headers": {"Content-Type": "application/json"}, "body": {"accountEnabled": false}},
        {"id": "2", "method": "POST", "url": "/users/b.jones@contoso.com/revokeSignInSessions", "dependsOn": ["1"]},
        {"id": "3", "method": "PATCH", "url": format!("/users/{BREAKGLASS}"), "headers": {"Content-Type": "application/json"}, "body": {"accountEnabled": false}},
        {"id": "4", "method": "POST", "url": format!("/users/{BREAKGLASS}/revokeSignInSessions"), "dependsOn": ["3"]},
        {"id": "5", "method": "POST", "url": "/identityProtection/riskyUsers/confirmCompromised", "headers": {"Content-Type": "application/json"}, "body": {"userIds": [B]}},
        {"id": "6", "method": "GET", "url": "/auditLogs/signIns?$filter=ipAddress eq '203.0.113.77'&$top=5"},
    ]});
    let (status, body, _) = h.call(Method::POST, "/$batch", Some(batch)).await;
    assert_eq!(status, 200);
    assert_eq!(by_id(&body, "1")["status"], 204);
    assert_eq!(by_id(&body, "2")["status"], 200);
    assert_eq!(by_id(&body, "2")["body"]["value"], true);
    assert_eq!(by_id(&body, "3")["status"], 403);
    assert_eq!(by_id(&body, "4")["status"], 424);
    let throttled = by_id(&body, "5");
    assert_eq!(throttled["status"], 429);
    assert_eq!(throttled["headers"]["Retry-After"], "7");
    assert_eq!(throttled["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(
        by_id(&body, "6")["body"]["value"].as_array().unwrap().len(),
        2
    );
    assert_eq!(h.emu.emulator.state()["users"][1]["accountEnabled"], false);
    let items: Vec<_> = h
        .emu
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.batch_item_id.is_some())
        .collect();
    assert_eq!(items.len(), 6);
    assert_eq!(items[0].path, "/v1.0/users/b.jones@contoso.com");
}

#[tokio::test]
async fn malformed_batches_are_rejected_whole() {
    let h = Harness::start().await;
    let get = |id: String| json!({"id": id, "method": "GET", "url": format!("/users/{A}")});
    let too_many: Vec<Value> = (0..21).map(|i| get(i.to_string())).collect();
    let duplicate = vec![get("1".into()), get("1".into())];
    let no_type = vec![
        json!({"id": "1", "method": "PATCH", "url": format!("/users/{A}"), "body": {"accountEnabled": false}}),
    ];
    let absolute = vec![
        json!({"id": "1", "method": "GET", "url": format!("https://graph.microsoft.com/v1.0/users/{A}")}),
    ];
    let forward_dep = vec![
        json!({"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]}),
        get("2".into()),
    ];
    for requests in [too_many, duplicate, no_type, absolute, forward_dep] {
        let (status, body, _) = h
            .call(Method::POST, "/$batch", Some(json!({"requests": requests})))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "Request_BadRequest");
    }
    let twenty: Vec<Value> = (0..20).map(|i| get(i.to_string())).collect();
    let (status, ..) = h
        .call(Method::POST, "/$batch", Some(json!({"requests": twenty})))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn throttling_and_outages_with_and_without_retry_after() {
    let h = Harness::start().await;
    let path = format!("/users/{A}");
    for (fault, status, retry) in [
        (Fault::throttle(Some(3)), 429, Some("3")),
        (Fault::throttle(None), 429, None),
        (Fault::unavailable(Some(2)), 503, Some("2")),
        (Fault::unavailable(None), 503, None),
        (Fault::gateway_timeout(Some(1)), 504, Some("1")),
        (Fault::gateway_timeout(None), 504, None),
    ] {
        h.emu
            .emulator
            .inject(fault.method("GET").path_prefix("/v1.0/users").times(1));
        let (got, body, headers) = h.call(Method::GET, &path, None).await;
        assert_eq!(got, status);
        assert_eq!(
            headers.get("retry-after").map(|v| v.to_str().unwrap()),
            retry
        );
        assert!(body["error"]["code"].is_string());
        let (got, ..) = h.call(Method::GET, &path, None).await;
        assert_eq!(got, 200, "a counted fault fires only its count");
    }
    // The token endpoint can be throttled too.
    h.emu.emulator.inject(
        Fault::throttle(Some(4))
            .path_prefix("/")
            .method("POST")
            .times(1),
    );
    let response = h
        .token_request(super::TENANT, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "4");
    // A fault on another method or path leaves this call alone.
    h.emu.emulator.inject(Fault::throttle(None).method("PATCH"));
    h.emu
        .emulator
        .inject(Fault::throttle(None).path_prefix("/v1.0/groups"));
    assert_eq!(h.call(Method::GET, &path, None).await.0, 200);
    h.emu.emulator.clear_faults();
}

#[tokio::test]
async fn latency_and_token_expiry_faults_over_http() {
    let h = Harness::start().await;
    let faults = format!("{}/_emulator/faults", h.emu.url);
    let posted = h
        .http
        .post(&faults)
        .json(&json!({"kind": "latency", "ms": 150, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 204);
    let started = Instant::now();
    assert_eq!(
        h.call(Method::GET, &format!("/users/{A}"), None).await.0,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(150));

    h.http
        .post(&faults)
        .json(&json!({"kind": "expireTokens"}))
        .send()
        .await
        .unwrap();
    let (status, body, _) = h.call(Method::GET, &format!("/users/{A}"), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );
    assert_eq!(
        h.call(Method::GET, &format!("/users/{A}"), None).await.0,
        401
    );
    let mut fresh = Harness {
        emu: h.emu,
        http: h.http,
        token: String::new(),
    };
    fresh.token = fresh.fetch_token(CLIENT, SECRET).await;
    assert_eq!(
        fresh
            .call(Method::GET, &format!("/users/{A}"), None)
            .await
            .0,
        200
    );

    fresh
        .http
        .post(&faults)
        .json(&json!([{"kind": "throttle", "retryAfter": 5}]))
        .send()
        .await
        .unwrap();
    let listed: Value = fresh
        .http
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["value"][0]["kind"], "throttle");
    assert_eq!(
        fresh.http.delete(&faults).send().await.unwrap().status(),
        204
    );
    assert_eq!(
        fresh
            .call(Method::GET, &format!("/users/{A}"), None)
            .await
            .0,
        200
    );
    let Harness { emu, http, .. } = fresh;
    drop(http);
    emu.shutdown().await.unwrap();
}
