//! A tiny scripted HTTP server on 127.0.0.1:0 playing both the token service and Graph.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::graph::{Credential, GraphClient, GraphConfig, Secret};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    /// Path and query, as sent on the wire.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// The form fields of a token request.
    pub fn form(&self) -> Vec<(String, String)> {
        let text = String::from_utf8(self.body.clone()).unwrap();
        text.split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_form(k), decode_form(v))
            })
            .collect()
    }

    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn decode_form(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// What the script answers.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn error(status: u16, code: &str) -> Reply {
        Reply::json(
            status,
            serde_json::json!({"error":{"code":code,"message":format!("{code} message")}}),
        )
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// `(request, how many requests of this kind came before it)`.
type Script = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Recorded>>>,
    token: Script,
    graph: Script,
}

pub(crate) struct Mock {
    pub url: String,
    log: Arc<Mutex<Vec<Recorded>>>,
}

/// A token script handing out `token-N` valid for `expires_in` seconds.
pub(crate) fn tokens(expires_in: u64) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync {
    move |_, n| {
        Reply::json(
            200,
            serde_json::json!({"token_type":"Bearer","expires_in":expires_in,
                               "ext_expires_in":expires_in,"access_token":format!("token-{n}")}),
        )
    }
}

impl Mock {
    pub async fn start(
        token: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
        graph: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Mock {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            log: log.clone(),
            token: Arc::new(token),
            graph: Arc::new(graph),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Mock { url, log }
    }

    /// A mock whose token service always succeeds with a long-lived token.
    pub async fn graph(graph: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Mock {
        Mock::start(tokens(3599), graph).await
    }

    pub fn token_requests(&self) -> Vec<Recorded> {
        self.requests(true)
    }

    pub fn graph_requests(&self) -> Vec<Recorded> {
        self.requests(false)
    }

    fn requests(&self, token: bool) -> Vec<Recorded> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|r| is_token(r) == token)
            .cloned()
            .collect()
    }

    /// A secret-credential config pointing both URLs here, with short waits.
    pub fn config(&self) -> GraphConfig {
        let mut config = GraphConfig::new(
            "contoso-tenant",
            "app-1",
            Credential::Secret(Secret::new("s3cr3t-value")),
        );
        config.graph_url = Some(format!("{}/", self.url));
        config.login_url = Some(self.url.clone());
        config.max_retry_wait = Duration::from_millis(20);
        config.timeout = Duration::from_secs(5);
        config
    }

    pub fn client(&self) -> GraphClient {
        GraphClient::new(self.config()).unwrap()
    }
}

fn is_token(r: &Recorded) -> bool {
    r.uri.ends_with("/oauth2/v2.0/token")
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let recorded = Recorded {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers,
        body: to_bytes(body, usize::MAX).await.unwrap().to_vec(),
        at: Instant::now(),
    };
    let reply = {
        let mut log = shared.log.lock().unwrap();
        let token = is_token(&recorded);
        let n = log.iter().filter(|r| is_token(r) == token).count();
        log.push(recorded.clone());
        let script = if token { &shared.token } else { &shared.graph };
        script(&recorded, n)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}
