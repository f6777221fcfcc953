//! Token requests: shape for secrets and certificates, caching, refresh, errors.

use serde_json::json;

use super::mock::{Mock, Reply, tokens};
use crate::graph::assertion::tests::{TEST_X5T, testdata, verify};
use crate::graph::{Credential, GraphClient, GraphError, GraphPath, GraphRequest};

fn me() -> GraphRequest {
    GraphRequest::get(GraphPath::new(["users"]).id("u1@contoso.com").unwrap())
}

fn ok() -> impl Fn(&super::mock::Recorded, usize) -> Reply + Send + Sync + 'static {
    |_, _| Reply::json(200, json!({"id": "u1"}))
}

#[tokio::test]
async fn secret_token_request_has_the_contract_shape() {
    let mock = Mock::graph(ok()).await;
    mock.client().send(me()).await.unwrap();
    let requests = mock.token_requests();
    assert_eq!(requests.len(), 1);
    let t = &requests[0];
    assert_eq!(t.method, "POST");
    assert_eq!(t.uri, "/contoso-tenant/oauth2/v2.0/token");
    assert_eq!(
        t.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(t.field("grant_type").as_deref(), Some("client_credentials"));
    assert_eq!(t.field("client_id").as_deref(), Some("app-1"));
    assert_eq!(t.field("client_secret").as_deref(), Some("s3cr3t-value"));
    assert_eq!(t.field("scope"), Some(format!("{}/.default", mock.url)));
    assert_eq!(t.field("client_assertion"), None);
    let g = &mock.graph_requests()[0];
    assert_eq!(g.header("authorization"), Some("Bearer token-0"));
}

#[tokio::test]
async fn certificate_sends_a_fresh_signed_assertion_per_token_request() {
    // expires_in 300 is inside the refresh margin, so every call fetches a new token.
    let mock = Mock::start(tokens(300), ok()).await;
    let mut config = mock.config();
    let pem = testdata("combined.pem");
    config.credential = Credential::Certificate {
        cert_path: pem.clone(),
        key_path: pem,
    };
    let client = GraphClient::new(config).unwrap();
    client.send(me()).await.unwrap();
    client.send(me()).await.unwrap();
    let requests = mock.token_requests();
    assert_eq!(requests.len(), 2);
    let mut jtis = Vec::new();
    for t in &requests {
        assert_eq!(t.field("client_secret"), None);
        assert_eq!(
            t.field("client_assertion_type").as_deref(),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        let (header, claims) = verify(&t.field("client_assertion").unwrap());
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], TEST_X5T);
        assert_eq!(
            claims["aud"],
            format!("{}/contoso-tenant/oauth2/v2.0/token", mock.url)
        );
        assert_eq!(claims["iss"], "app-1");
        assert_eq!(claims["sub"], "app-1");
        let (nbf, exp) = (
            claims["nbf"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert!(exp > nbf && exp - nbf <= 600, "{nbf} {exp}");
        jtis.push(claims["jti"].as_str().unwrap().to_string());
    }
    assert_ne!(jtis[0], jtis[1]);
    let g = mock.graph_requests();
    assert_eq!(g[1].header("authorization"), Some("Bearer token-1"));
}

#[tokio::test]
async fn token_is_cached_across_calls_and_clones() {
    let mock = Mock::graph(ok()).await;
    let client = mock.client();
    let other = client.clone();
    let (a, b, c) = tokio::join!(client.send(me()), other.send(me()), client.send(me()));
    a.unwrap();
    b.unwrap();
    c.unwrap();
    client.send(me()).await.unwrap();
    assert_eq!(mock.token_requests().len(), 1);
    assert!(
        mock.graph_requests()
            .iter()
            .all(|g| g.header("authorization") == Some("Bearer token-0"))
    );
}

#[tokio::test]
async fn token_close_to_expiry_is_refreshed() {
    let mock = Mock::start(tokens(301), ok()).await;
    let client = mock.client();
    client.send(me()).await.unwrap();
    assert_eq!(mock.token_requests().len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    client.send(me()).await.unwrap();
    assert_eq!(mock.token_requests().len(), 2);
    assert_eq!(
        mock.graph_requests()[1].header("authorization"),
        Some("Bearer token-1")
    );
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let mock = Mock::graph(|r, _| {
        if r.header("authorization") == Some("Bearer token-0") {
            Reply::error(401, "InvalidAuthenticationToken")
        } else {
            Reply::json(200, json!({}))
        }
    })
    .await;
    let response = mock.client().send(me()).await.unwrap();
    assert_eq!(response.attempts, 2);
    assert_eq!(mock.token_requests().len(), 2);

    let always = Mock::graph(|_, _| Reply::error(401, "InvalidAuthenticationToken")).await;
    let err = always.client().send(me()).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some("InvalidAuthenticationToken"));
    assert_eq!(always.graph_requests().len(), 2);
    assert_eq!(always.token_requests().len(), 2);
}

#[tokio::test]
async fn token_errors_are_parsed_and_never_show_the_secret() {
    let mock = Mock::start(
        |_, _| {
            Reply::json(
                401,
                json!({"error":"invalid_client",
                       "error_description":"AADSTS7000215: Invalid client secret provided: s3cr3t-value",
                       "error_codes":[7000215],"trace_id":"t","correlation_id":"c"}),
            )
        },
        ok(),
    )
    .await;
    let err = mock.client().send(me()).await.unwrap_err();
    let GraphError::Token {
        status,
        error,
        codes,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*status, error.as_str()), (Some(401), "invalid_client"));
    assert_eq!(codes, &vec![7000215]);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    assert!(shown.contains("AADSTS7000215"), "{shown}");
    assert!(mock.graph_requests().is_empty());
}

#[tokio::test]
async fn token_service_failures_are_retried_but_verdicts_are_not() {
    let flaky = Mock::start(
        |r, n| match n {
            0 => Reply::empty(503),
            _ => tokens(3599)(r, n),
        },
        ok(),
    )
    .await;
    flaky.client().send(me()).await.unwrap();
    assert_eq!(flaky.token_requests().len(), 2);

    let refused = Mock::start(
        |_, _| {
            Reply::json(
                400,
                json!({"error":"unauthorized_client","error_codes":[700016]}),
            )
        },
        ok(),
    )
    .await;
    let err = refused.client().send(me()).await.unwrap_err();
    assert_eq!(err.code(), Some("unauthorized_client"));
    assert_eq!(refused.token_requests().len(), 1);
}
