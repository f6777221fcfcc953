//! Answers that must not count as success: HTML, redirects, wrong statuses, endless bodies.

use serde_json::json;

use super::mock::{Mock, Reply};
use crate::graph::{Expect, GraphClient, GraphError, GraphPath, GraphRequest};

fn revoke() -> GraphRequest {
    let user = GraphPath::new(["users"]).id("u1@contoso.com").unwrap();
    GraphRequest::post(user.segment("revokeSignInSessions"), None)
}

fn html(status: u16) -> Reply {
    Reply {
        status,
        headers: vec![("content-type", "text/html; charset=utf-8".into())],
        body: "<html><body>Sign in to the proxy</body></html>".into(),
        delay: std::time::Duration::ZERO,
    }
}

#[tokio::test]
async fn a_200_html_answer_to_revoke_is_a_protocol_error_not_success() {
    let mock = Mock::graph(|_, _| html(200)).await;
    let err = mock.client().send(revoke()).await.unwrap_err();
    let GraphError::Protocol { reason, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        reason.contains("`text/html; charset=utf-8` body"),
        "{reason}"
    );
    assert!(reason.contains("Sign in to the proxy"), "{reason}");
    // A JSON body that says JSON is still fine (the contract's 200 quirk).
    let ok = Mock::graph(|_, _| Reply::json(200, json!({"value": true}))).await;
    assert_eq!(ok.client().send(revoke()).await.unwrap().status, 200);
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_says_where_it_pointed() {
    let mock = Mock::graph(|r, _| {
        if r.uri.starts_with("/elsewhere") {
            Reply::json(200, json!({"value": true}))
        } else {
            Reply::empty(302).header("location", "/elsewhere/login")
        }
    })
    .await;
    let err = mock.client().send(revoke()).await.unwrap_err();
    let GraphError::Redirected {
        status, location, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (*status, location.as_deref()),
        (302, Some("/elsewhere/login"))
    );
    assert!(
        err.to_string().contains("redirecting to /elsewhere/login"),
        "{err}"
    );
    // Nothing went to where it pointed: one request, the POST.
    let requests = mock.graph_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "POST");
}

#[tokio::test]
async fn a_call_gets_the_status_graph_documents_for_it() {
    let mock = Mock::graph(|r, _| match r.method.as_str() {
        "GET" => Reply::empty(204),
        "POST" => Reply::json(200, json!({"id": "loc-1"})),
        _ => Reply::json(200, json!({})),
    })
    .await;
    let client = mock.client();
    let read = client
        .send(GraphRequest::get(GraphPath::new(["users"])))
        .await
        .unwrap_err();
    assert!(
        read.to_string().contains("where Graph documents 200"),
        "{read}"
    );
    let locations = GraphPath::new(["identity", "conditionalAccess", "namedLocations"]);
    let create = GraphRequest::post(locations, Some(json!({}))).expecting(Expect::Created);
    let err = client.send(create).await.unwrap_err();
    assert!(
        err.to_string().contains("where Graph documents 201"),
        "{err}"
    );
    let disable = GraphRequest::patch(
        GraphPath::new(["users"]).id("u1@contoso.com").unwrap(),
        json!({"accountEnabled": false}),
    )
    .expecting(Expect::NoContent);
    assert!(matches!(
        client.send(disable).await.unwrap_err(),
        GraphError::Protocol { .. }
    ));
}

#[tokio::test]
async fn an_html_error_page_is_quoted_in_the_error() {
    let mock = Mock::graph(|_, _| html(502)).await;
    let err = mock.client().send(revoke()).await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert!(
        err.to_string().contains("not a Graph error body: <html>"),
        "{err}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_unread() {
    // Declared by Content-Length: refused before a byte of the body is read.
    let big = "x".repeat(64 * 1024);
    let mock = Mock::graph(move |_, _| Reply::json(200, json!({"value": big.clone()}))).await;
    let mut config = mock.config();
    config.max_response_bytes = 16 * 1024;
    let client = GraphClient::new(config).unwrap();
    let err = client
        .send(GraphRequest::get(GraphPath::new(["users"])))
        .await
        .unwrap_err();
    let GraphError::TooLarge { limit, status, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*limit, *status), (16 * 1024, 200));
    assert!(
        err.to_string().contains("graph.max_response_bytes"),
        "{err}"
    );
    // Not retried: one request.
    assert_eq!(mock.graph_requests().len(), 1);
}
