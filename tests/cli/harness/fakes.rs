//! Fakes of the chat channels stanch posts approval requests to, served on the app's runtime:
//! a Teams Workflows trigger, the generic signed webhook, and Slack's Web API (see `slack.rs`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::cli::wait_until;

/// Serves `app` on a port of its own, bound here and kept (no port is handed over).
pub fn serve_router(runtime: &tokio::runtime::Runtime, app: axum::Router) -> SocketAddr {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    })
}

/// The `sig` of the fake Workflows URL: a secret that must never leave the config.
pub const TEAMS_SIG: &str = "w0rkfl0w-s1g-s3cr3t";

/// A body posted to the Teams fake, with what came along with it.
#[derive(Debug, Clone)]
pub struct Post {
    /// The flow's id in the URL: [`SHARED_FLOW`] or [`PERSONAL_FLOW`].
    pub flow: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

type Posts = Arc<Mutex<Vec<Post>>>;

/// The flow that posts in the shared channel, and the one that posts in a person's chat.
pub const SHARED_FLOW: &str = "4f1c";
pub const PERSONAL_FLOW: &str = "9e2d";

/// A fake Workflows trigger: records every POST and answers 202, as Workflows does. It serves
/// two flows: the shared channel's (`url`) and the personal one (`personal_url`).
pub struct TeamsWebhook {
    pub url: String,
    pub personal_url: String,
    posts: Posts,
}

impl TeamsWebhook {
    pub fn start(runtime: &tokio::runtime::Runtime) -> TeamsWebhook {
        async fn record(
            State(posts): State<Posts>,
            axum::extract::Path(flow): axum::extract::Path<String>,
            RawQuery(query): RawQuery,
            headers: HeaderMap,
            body: String,
        ) -> StatusCode {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            posts.lock().unwrap().push(Post {
                flow,
                query: query.unwrap_or_default(),
                content_type,
                body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            });
            StatusCode::ACCEPTED
        }
        let posts = Posts::default();
        let app = axum::Router::new()
            .route(
                "/workflows/{id}/triggers/manual/paths/invoke",
                axum::routing::post(record),
            )
            .with_state(posts.clone());
        let addr = serve_router(runtime, app);
        let url = |flow: &str| {
            format!(
                "http://{addr}/workflows/{flow}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"
            )
        };
        TeamsWebhook {
            url: url(SHARED_FLOW),
            personal_url: url(PERSONAL_FLOW),
            posts,
        }
    }

    /// What was posted in the shared channel.
    pub fn posts(&self) -> Vec<Post> {
        self.flow(SHARED_FLOW)
    }

    fn flow(&self, flow: &str) -> Vec<Post> {
        let posts = self.posts.lock().unwrap();
        posts.iter().filter(|p| p.flow == flow).cloned().collect()
    }

    /// The personal links sent so far, each alone on its own card: (recipient, title, url).
    pub fn personal_links(&self) -> Vec<(String, String, String)> {
        self.flow(PERSONAL_FLOW)
            .iter()
            .map(|post| {
                let links = open_urls(&post.body["attachments"][0]["content"]);
                assert_eq!(
                    links.len(),
                    1,
                    "one link per personal card: {:?}",
                    post.body
                );
                let recipient = post.body["recipient"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let (title, url) = links.into_iter().next().unwrap();
                (recipient, title, url)
            })
            .collect()
    }

    /// Waits until `n` personal links have been sent; returns them all.
    pub fn wait_for_personal_links(&self, n: usize) -> Vec<(String, String, String)> {
        wait_until(20, &format!("{n} personal link(s) sent"), || {
            self.flow(PERSONAL_FLOW).len() >= n
        });
        self.personal_links()
    }

    /// The Adaptive Cards received so far.
    pub fn cards(&self) -> Vec<Value> {
        self.posts()
            .into_iter()
            .map(|p| p.body["attachments"][0]["content"].clone())
            .collect()
    }

    /// Waits until `n` cards have arrived; returns all of them.
    pub fn wait_for_cards(&self, n: usize) -> Vec<Value> {
        wait_until(20, &format!("{n} card(s) posted to Teams"), || {
            self.posts().len() >= n
        });
        self.cards()
    }
}

/// A card's facts as (title, value) pairs.
pub fn facts(card: &Value) -> Vec<(String, String)> {
    card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "FactSet")
        .unwrap_or_else(|| panic!("no FactSet: {card}"))["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["title"].as_str().unwrap().to_string(),
                f["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A card's `Action.OpenUrl` buttons as (title, url).
pub fn open_urls(card: &Value) -> Vec<(String, String)> {
    let actions = card["actions"].as_array().cloned().unwrap_or_default();
    assert!(
        actions.iter().all(|a| a["type"] == "Action.OpenUrl"),
        "only OpenUrl reaches us from a webhook card: {card}"
    );
    actions
        .iter()
        .map(|a| {
            (
                a["title"].as_str().unwrap().to_string(),
                a["url"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A receiver for the generic approval webhook: keeps every request's signature header and raw
/// body, and checks the signatures when read.
pub struct ApprovalHook {
    pub url: String,
    pub secret: String,
    received: Arc<Mutex<Vec<(String, Bytes)>>>,
}

impl ApprovalHook {
    pub fn start(runtime: &tokio::runtime::Runtime, secret: &str) -> ApprovalHook {
        let received: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
        let sink = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let sink = sink.clone();
                async move {
                    let signature = headers
                        .get("x-stanch-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    sink.lock().unwrap().push((signature, body));
                    "ok"
                }
            }),
        );
        let addr = serve_router(runtime, app);
        ApprovalHook {
            url: format!("http://{addr}/hook"),
            secret: secret.to_string(),
            received,
        }
    }

    /// The bodies received so far, after checking each one's signature.
    pub fn verified(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(signature, body)| {
                let t: i64 = signature
                    .split(',')
                    .find_map(|p| p.strip_prefix("t="))
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| panic!("no timestamp in {signature:?}"));
                assert_eq!(
                    signature,
                    &stanch::http::sign(self.secret.as_bytes(), t, body),
                    "every webhook delivery is signed over its exact body"
                );
                serde_json::from_slice(body).unwrap()
            })
            .collect()
    }
}
