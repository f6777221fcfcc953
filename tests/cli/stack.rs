//! What the Teams and browser tests share: the real `stanch serve` in active mode on a port
//! known in advance (so the links in its cards point at it), the Graph emulator, and a fake
//! Workflows webhook that records what Teams would receive.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::active::Tenant;
use crate::helpers::{Env, project_root, wait_until};

const TOKEN: &str = "test-intake-token";
pub const LINK_SECRET: &str = "t3ams-l1nk-s3cr3t";
/// The `sig` of the fake Workflows URL: a secret that must never leave the config.
pub const SIG: &str = "w0rkfl0w-s1g-s3cr3t";

/// A posted body, with what came along with it.
#[derive(Debug, Clone)]
pub struct Post {
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

type Posts = Arc<Mutex<Vec<Post>>>;

/// A fake Workflows trigger: records every POST and answers 202, as Workflows does.
pub struct FakeWebhook {
    pub url: String,
    posts: Posts,
}

impl FakeWebhook {
    fn start(tenant: &Tenant) -> FakeWebhook {
        async fn record(
            State(posts): State<Posts>,
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
        let addr = tenant.runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            addr
        });
        FakeWebhook {
            url: format!(
                "http://{addr}/workflows/4f1c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
            ),
            posts,
        }
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// The Adaptive Cards received so far.
    pub fn cards(&self) -> Vec<Value> {
        self.posts()
            .into_iter()
            .map(|p| p.body["attachments"][0]["content"].clone())
            .collect()
    }
}

/// `stanch serve` on a port chosen beforehand, so `approvals.public_url` (and with it every link
/// in the cards) points at it; its log goes to a file. Stopped on drop.
pub struct Serve {
    child: Child,
    pub url: String,
    pub log: std::path::PathBuf,
}

impl Serve {
    fn start(env: &Env, config: &str, url: String) -> Serve {
        let log = env.path("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stanch"))
            .current_dir(project_root())
            .args(["serve", "--config", config, "--database-url"])
            .arg(env.database_url())
            // The most talkative level: even debug logs must not show the webhook URL.
            .env("STANCH_LOG", "debug")
            .env_remove("STANCH_TEAMS_WEBHOOK_URL")
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("spawn stanch serve");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert!(line.starts_with("listening on "), "{line:?}");
        Serve { child, url, log }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Everything a Teams approval needs, wired together. Fields drop in order: the server first.
pub struct Stack {
    pub server: Serve,
    pub hook: FakeWebhook,
    pub config: String,
    pub env: Env,
    pub tenant: Tenant,
}

impl Stack {
    pub fn start() -> Stack {
        let tenant = Tenant::start();
        let env = Env::new();
        let hook = FakeWebhook::start(&tenant);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let config = tenant.config(
            &env,
            &format!(
                "listen: 127.0.0.1:{port}\nintake:\n  bearer_tokens: [{TOKEN}]\napprovals:\n  public_url: {url}\n  link_secret: {LINK_SECRET}\n  teams:\n    webhook_url: \"{}\"\n",
                hook.url
            ),
        );
        let server = Serve::start(&env, &config, url);
        Stack {
            server,
            hook,
            config,
            env,
            tenant,
        }
    }

    /// A sender surge from `upn` (no IP, so only disabling the account waits for approval).
    pub fn post_surge(&self, id: &str, upn: &str) {
        let body = format!(
            "{{\"id\":\"{id}\",\"source\":\"darktrace\",\"name\":\"Antigena Email: Unusual Login Location + Sender Surge\",\"severity\":\"critical\",\"observed_at\":\"2021-06-01T10:05:00Z\",\"user\":{{\"upn\":\"{upn}\"}}}}"
        );
        let status = self.tenant.runtime.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/v1/detections", self.server.url))
                .bearer_auth(TOKEN)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, 202);
    }

    pub fn wait_for_cards(&self, n: usize) -> Vec<Value> {
        wait_until(20, &format!("{n} card(s) posted to Teams"), || {
            self.hook.posts().len() >= n
        });
        self.hook.cards()
    }

    /// `stanch approvals show ID --json`.
    pub fn show(&self, id: i64) -> Value {
        let out = self.env.stanch(&[
            "approvals",
            "show",
            &id.to_string(),
            "--json",
            "--config",
            &self.config,
        ]);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
    }

    /// The id of the first action waiting for approval.
    pub fn pending_id(&self) -> i64 {
        let out = self
            .env
            .stanch(&["approvals", "list", "--json", "--config", &self.config]);
        let list: Vec<Value> =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        list.iter()
            .find(|a| a["state"] == "pending")
            .unwrap_or_else(|| panic!("nothing pending: {list:?}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// What the log and the audit trail say; neither may contain the webhook's secret.
    pub fn assert_webhook_url_never_shown(&self) {
        let audit = self
            .env
            .stanch(&["audit", "export", "--config", &self.config])
            .stdout;
        let log = std::fs::read_to_string(&self.server.log).unwrap();
        assert!(audit.contains("approval.requested"));
        for (name, text) in [("audit trail", &audit), ("log", &log)] {
            assert!(!text.contains(SIG), "the webhook URL is in the {name}");
        }
    }
}

/// The card's facts as (title, value) pairs.
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

/// The card's `Action.OpenUrl` buttons as (title, url).
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
