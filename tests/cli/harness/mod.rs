//! The one harness every integration test uses: a [`TestApp`] owns a scratch directory with its
//! own SQLite database, the config file, and whatever the test asks for: the Graph emulator
//! ([`Tenant`]), fakes of the chat channels, and a running `stanch serve`.
//!
//! # Writing a test
//!
//! ```ignore
//! #[test]
//! fn an_approved_disable_runs() {
//!     // Pieces of config: the tenant's `graph:` section, intake (port 0 and a bearer token),
//!     // a playbook of the test's own, extra YAML. `serve()` starts `stanch serve` on port 0.
//!     let app = TestApp::builder()
//!         .tenant()
//!         .intake()
//!         .playbook("mine.yaml", PLAYBOOK)
//!         .yaml("safety:\n  cooldown: { default: 0s }\n")
//!         .serve()
//!         .build();
//!     let (status, body) = app.post_detections(detection::surge("d-1", "b.jones@contoso.com", None));
//!     assert_eq!(status, 202, "{body}");
//!     // The CLI against the same database and config (`--config` is added unless given).
//!     let id = app.approvals()[0]["id"].to_string();
//!     app.stanch(&["approvals", "approve", &id, "--as", "f.okafor@contoso.com", "--reason", "ok"]);
//!     // Wait for the server by polling, never by sleeping.
//!     wait_until(20, "the disable ran", || {
//!         app.tenant().user("b.jones@contoso.com")["accountEnabled"] == false
//!     });
//!     // Deadlines: move the app's clock; `job` runs `stanch job run NAME --now <the clock>`.
//!     app.clock.advance(Duration::from_secs(3600));
//!     let (out, summary) = app.job("approval-timeouts");
//! }
//! ```
//!
//! Without `.tenant()` there is no emulator and no `graph:` section; without any config piece,
//! no config file (commands run on the defaults). Everything stops when the app is dropped: the
//! server first (SIGTERM), then the fakes and the emulator, and last the directory.
//!
//! Nothing here picks a port for someone else: the fakes bind port 0 and keep the listener, the
//! server binds `listen: 127.0.0.1:0` itself and links to the address it got.

pub mod cli;
pub mod detection;
pub mod fakes;
pub mod idp;
pub mod netsplit;
pub mod postgres;
pub mod server;
pub mod slack;
pub mod syslog;
pub mod tenant;
pub mod webdriver;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use cli::{Output, attack_story, project_root, wait_until};
pub use fakes::{ApprovalHook, TeamsWebhook};
pub use server::Server;
pub use slack::FakeSlack;
pub use tenant::Tenant;

/// The bearer token the intake accepts (`.intake()`).
pub const TOKEN: &str = "test-intake-token";
/// The approval-link secret of `.teams()` (and of `.link_secret(..)` callers who want it).
pub const LINK_SECRET: &str = "t3ams-l1nk-s3cr3t";

/// The test's clock: wall time plus an offset that only grows. `stanch job run` is told its
/// time (`--now`), so a test waits for a deadline by moving the clock, not by sleeping.
#[derive(Default)]
pub struct Clock {
    offset: Cell<chrono::Duration>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset.get()
    }

    /// Moves the clock `by` ahead.
    pub fn advance(&self, by: Duration) {
        self.offset
            .set(self.offset.get() + chrono::Duration::from_std(by).unwrap());
    }

    /// Moves the clock just past `deadline` (if it is not already).
    pub fn advance_past(&self, deadline: DateTime<Utc>) {
        let behind = deadline + chrono::Duration::milliseconds(50) - self.now();
        if behind > chrono::Duration::zero() {
            self.offset.set(self.offset.get() + behind);
        }
    }
}

/// What the intake accepts (`.intake()` gives the defaults: the bearer token [`TOKEN`]).
#[derive(Default)]
struct Intake {
    hmac_secrets: Option<String>,
    max_body_bytes: Option<u64>,
}

/// Builds a [`TestApp`]: each call adds a piece of config or a running part.
pub struct Builder {
    dir: tempfile::TempDir,
    fixture: Option<PathBuf>,
    intake: Option<Intake>,
    playbooks: Vec<(String, String)>,
    link_secret: Option<String>,
    public_url: Option<String>,
    pin_public_url: bool,
    webhook_secret: Option<String>,
    teams: bool,
    slack: bool,
    yaml: String,
    /// More keys of the tenant's `graph:` section, as indented lines.
    graph: String,
    serve: bool,
    log_level: Option<String>,
}

impl Builder {
    /// A file in the app's directory (to write fixtures before the app starts).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The Graph emulator with the story's tenant, and the config's `graph:` section for it
    /// (active mode, break-glass protected, quarantine group, notify sink).
    pub fn tenant(self) -> Builder {
        self.tenant_from(&project_root().join("examples/tenant.json"))
    }

    /// The same with another fixture (e.g. the story's tenant grown to thousands of users).
    pub fn tenant_from(mut self, fixture: &Path) -> Builder {
        self.fixture = Some(fixture.to_path_buf());
        self
    }

    /// `listen: 127.0.0.1:0` and an intake that takes the bearer token [`TOKEN`].
    pub fn intake(mut self) -> Builder {
        self.intake.get_or_insert_with(Intake::default);
        self
    }

    /// Also accept HMAC-signed posts (`intake.hmac_secrets`, YAML flow map).
    pub fn hmac_secrets(mut self, map: &str) -> Builder {
        self.intake.get_or_insert_with(Intake::default).hmac_secrets = Some(map.to_string());
        self
    }

    pub fn max_body_bytes(mut self, bytes: u64) -> Builder {
        self.intake
            .get_or_insert_with(Intake::default)
            .max_body_bytes = Some(bytes);
        self
    }

    /// A playbook of the test's own, in a directory that replaces the shipped library.
    pub fn playbook(mut self, file: &str, text: &str) -> Builder {
        self.playbooks.push((file.to_string(), text.to_string()));
        self
    }

    pub fn link_secret(mut self, secret: &str) -> Builder {
        self.link_secret = Some(secret.to_string());
        self
    }

    pub fn public_url(mut self, url: &str) -> Builder {
        self.public_url = Some(url.to_string());
        self
    }

    /// Once the server is up, set `approvals.public_url` in the config file to its address, so
    /// that CLI commands sending approval requests (`stanch job run approval-timeouts`) link to
    /// the server as it does itself (it links to the address it bound when `public_url` is not
    /// set; a CLI process cannot know that address).
    pub fn pin_public_url(mut self) -> Builder {
        self.pin_public_url = true;
        self
    }

    /// The generic approval webhook, delivered to an [`ApprovalHook`] signing with `secret`.
    pub fn approval_webhook(mut self, secret: &str) -> Builder {
        self.webhook_secret = Some(secret.to_string());
        self
    }

    /// The Teams channel, posting to a [`TeamsWebhook`]; links signed with [`LINK_SECRET`].
    pub fn teams(mut self) -> Builder {
        self.teams = true;
        self.link_secret
            .get_or_insert_with(|| LINK_SECRET.to_string());
        self
    }

    /// The Slack channel, talking to a [`FakeSlack`].
    pub fn slack(mut self) -> Builder {
        self.slack = true;
        self
    }

    /// YAML appended to the config as it is.
    pub fn yaml(mut self, text: &str) -> Builder {
        self.yaml.push_str(text);
        self
    }

    /// One more `key: value` of the tenant's `graph:` section (needs `.tenant()`).
    pub fn graph(mut self, line: &str) -> Builder {
        self.graph.push_str(&format!("  {line}\n"));
        self
    }

    /// Start `stanch serve` once everything else is up.
    pub fn serve(mut self) -> Builder {
        self.serve = true;
        self
    }

    /// The server's `STANCH_LOG` (its log is `serve.log` in the app's directory).
    pub fn log_level(mut self, level: &str) -> Builder {
        self.log_level = Some(level.to_string());
        self
    }

    pub fn build(self) -> TestApp {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let tenant = self.fixture.as_deref().map(|f| Tenant::start(&runtime, f));
        let hook = self
            .webhook_secret
            .as_deref()
            .map(|secret| ApprovalHook::start(&runtime, secret));
        let teams = self.teams.then(|| TeamsWebhook::start(&runtime));
        let slack = self.slack.then(|| FakeSlack::start(&runtime));

        let mut text = tenant.as_ref().map(Tenant::config).unwrap_or_default();
        if !self.graph.is_empty() {
            text = text.replacen(
                "\ncontainment:",
                &format!("\n{}containment:", self.graph),
                1,
            );
        }
        if !self.playbooks.is_empty() {
            let dir = self.path("playbooks");
            std::fs::create_dir_all(&dir).unwrap();
            for (file, playbook) in &self.playbooks {
                std::fs::write(dir.join(file), playbook).unwrap();
            }
            text.push_str(&format!("playbooks: [{}]\n", dir.display()));
        }
        if let Some(intake) = &self.intake {
            text.push_str(&format!(
                "listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\n"
            ));
            if let Some(map) = &intake.hmac_secrets {
                text.push_str(&format!("  hmac_secrets: {map}\n"));
            }
            if let Some(bytes) = intake.max_body_bytes {
                text.push_str(&format!("  max_body_bytes: {bytes}\n"));
            }
        }
        let mut approvals = String::new();
        if let Some(secret) = &self.link_secret {
            approvals.push_str(&format!("  link_secret: {secret}\n"));
        }
        if let Some(url) = &self.public_url {
            approvals.push_str(&format!("  public_url: {url}\n"));
        }
        if let Some(hook) = &hook {
            approvals.push_str(&format!(
                "  webhook:\n    url: {}\n    secret: {}\n",
                hook.url, hook.secret
            ));
        }
        if let Some(teams) = &teams {
            approvals.push_str(&format!(
                "  teams:\n    webhook_url: \"{}\"\n    personal_webhook_url: \"{}\"\n",
                teams.url, teams.personal_url
            ));
        }
        if let Some(slack) = &slack {
            approvals.push_str(&slack.config());
        }
        if !approvals.is_empty() {
            text.push_str(&format!("approvals:\n{approvals}"));
        }
        text.push_str(&self.yaml);
        let config = (!text.is_empty()).then(|| write(self.dir.path(), "config.yaml", &text));

        let app = TestApp {
            server: RefCell::default(),
            hook,
            teams,
            slack,
            tenant,
            runtime,
            clock: Clock::default(),
            config,
            config_text: text,
            pin_public_url: self.pin_public_url && self.public_url.is_none(),
            log_level: self.log_level,
            dir: self.dir,
        };
        if self.serve {
            app.start_server();
        }
        app
    }
}

/// A scratch stanch installation; see the module doc. Fields drop in order: the server first,
/// the directory last.
pub struct TestApp {
    server: RefCell<Option<Server>>,
    hook: Option<ApprovalHook>,
    teams: Option<TeamsWebhook>,
    slack: Option<FakeSlack>,
    tenant: Option<Tenant>,
    /// Serves the emulator and the fakes; tests also run their HTTP clients on it.
    pub runtime: tokio::runtime::Runtime,
    pub clock: Clock,
    config: Option<PathBuf>,
    config_text: String,
    pin_public_url: bool,
    log_level: Option<String>,
    dir: tempfile::TempDir,
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder {
            dir: tempfile::tempdir().expect("temp dir"),
            fixture: None,
            intake: None,
            playbooks: Vec::new(),
            link_secret: None,
            public_url: None,
            pin_public_url: false,
            webhook_secret: None,
            teams: false,
            slack: false,
            yaml: String::new(),
            graph: String::new(),
            serve: false,
            log_level: None,
        }
    }

    /// An app with a database and nothing else: no config, no emulator.
    pub fn new() -> TestApp {
        TestApp::builder().build()
    }

    // --- the parts -------------------------------------------------------------------------

    pub fn tenant(&self) -> &Tenant {
        self.tenant.as_ref().expect("built without .tenant()")
    }

    pub fn teams(&self) -> &TeamsWebhook {
        self.teams.as_ref().expect("built without .teams()")
    }

    pub fn slack(&self) -> &FakeSlack {
        self.slack.as_ref().expect("built without .slack()")
    }

    pub fn hook(&self) -> &ApprovalHook {
        self.hook
            .as_ref()
            .expect("built without .approval_webhook()")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        write(self.dir.path(), name, text)
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.path("stanch.db").display())
    }

    /// The config file's path.
    pub fn config(&self) -> String {
        self.config
            .as_ref()
            .expect("built without any config")
            .display()
            .to_string()
    }

    // --- the command line ------------------------------------------------------------------

    /// `stanch ARGS` against this app's database, with `--config` (the app's) unless `args`
    /// name one or the app has none.
    pub fn stanch(&self, args: &[&str]) -> Output {
        self.stanch_with_input(args, None)
    }

    pub fn stanch_with_input(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let config = self.config.as_ref().map(|p| p.display().to_string());
        let mut all = args.to_vec();
        if let Some(config) = &config
            && !args.contains(&"--config")
        {
            all.extend(["--config", config]);
        }
        cli::run(&self.database_url(), &all, stdin)
    }

    /// `stanch run --input -` with `detections` on its standard input.
    pub fn run_input(&self, detections: &str) -> Output {
        self.stanch_with_input(&["run", "--input", "-"], Some(detections))
    }

    /// `stanch ARGS` with a copy of the app's config in which `from` reads `to` (a config gone
    /// wrong in one place).
    pub fn stanch_with_changed_config(&self, from: &str, to: &str, args: &[&str]) -> Output {
        assert!(
            self.config_text.contains(from),
            "the config has no `{from}`"
        );
        let changed = self.write("changed.yaml", &self.config_text.replace(from, to));
        let changed = changed.display().to_string();
        let mut all = vec!["--config", changed.as_str()];
        all.extend(args);
        self.stanch(&all)
    }

    /// `stanch job run NAME --now T`, T being the app's clock: its output and JSON summary.
    pub fn job(&self, name: &str) -> (Output, Value) {
        let now = self.clock.now().to_rfc3339();
        let out = self.stanch(&["job", "run", name, "--now", &now]);
        let summary = serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null);
        (out, summary)
    }

    /// Runs `stanch ARGS` and parses its standard output as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.stanch(args);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("`stanch {}` is not JSON ({e}): {out:?}", args.join(" ")))
    }

    /// `stanch actions rollback ID` or `retry ID` (`verb`), asked by a named operator with a
    /// reason (both required).
    pub fn operate(&self, verb: &str, id: &str) -> Output {
        let who = ["--as", "ops@contoso.com", "--reason", "test"];
        self.stanch(&[&["actions", verb, id][..], &who[..]].concat())
    }

    pub fn rollback(&self, id: &str) -> Output {
        self.operate("rollback", id)
    }

    pub fn retry(&self, id: &str) -> Output {
        self.operate("retry", id)
    }

    /// `stanch actions list --json`.
    pub fn actions(&self) -> Vec<Value> {
        array(self.json(&["actions", "list", "--json"]))
    }

    /// `stanch approvals list --json`.
    pub fn approvals(&self) -> Vec<Value> {
        array(self.json(&["approvals", "list", "--json"]))
    }

    /// `stanch approvals show ID --json`.
    pub fn approval(&self, id: i64) -> Value {
        self.json(&["approvals", "show", &id.to_string(), "--json"])
    }

    /// The id of the first action waiting for approval.
    pub fn pending_approval_id(&self) -> i64 {
        let list = self.approvals();
        list.iter()
            .find(|a| a["state"] == "pending")
            .unwrap_or_else(|| panic!("nothing pending: {list:?}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// The deadline of action `id`'s approval request (its current round).
    pub fn approval_deadline(&self, id: i64) -> DateTime<Utc> {
        let shown = self.approval(id);
        shown["deadline"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("no deadline: {shown}"))
    }

    /// `stanch approvals approve|deny ID --as WHO --reason WHY`.
    pub fn decide(&self, verb: &str, id: &str, who: &str, reason: &str) -> Output {
        self.stanch(&["approvals", verb, id, "--as", who, "--reason", reason])
    }

    /// The payloads of the audit records of `kind`, in order.
    pub fn audit_of(&self, kind: &str) -> Vec<Value> {
        self.audit_trail()
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, payload)| payload)
            .collect()
    }

    /// The audit trail as (kind, payload) pairs.
    pub fn audit_trail(&self) -> Vec<(String, Value)> {
        self.stanch(&["audit", "export"])
            .stdout
            .lines()
            .map(|l| {
                let record: Value = serde_json::from_str(l).unwrap();
                let payload = match &record["payload"] {
                    Value::String(text) => serde_json::from_str(text).unwrap(),
                    other => other.clone(),
                };
                (record["kind"].as_str().unwrap().to_string(), payload)
            })
            .collect()
    }

    /// Neither the audit trail nor the server's log may show the Teams webhook URL's secret.
    pub fn assert_teams_webhook_url_never_shown(&self) {
        let audit = self.stanch(&["audit", "export"]).stdout;
        let log = self.server_log();
        assert!(audit.contains("approval.requested"));
        for (name, text) in [("audit trail", &audit), ("log", &log)] {
            assert!(
                !text.contains(fakes::TEAMS_SIG),
                "the webhook URL is in the {name}"
            );
        }
    }

    // --- the database ----------------------------------------------------------------------

    /// Opens the SQLite database directly, bypassing stanch (to tamper with it).
    pub async fn raw_sqlite(&self) -> sqlx::SqlitePool {
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("{}?mode=rw", self.database_url()))
            .await
            .expect("open sqlite")
    }

    /// Runs SQL statements on the database directly.
    pub fn sql(&self, statements: &[&str]) {
        self.runtime.block_on(async {
            let pool = self.raw_sqlite().await;
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
                    .execute(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
            pool.close().await;
        })
    }

    // --- the server ------------------------------------------------------------------------

    /// Starts `stanch serve` (stopping one already running first).
    pub fn start_server(&self) {
        self.server.replace(None);
        let config = self.config();
        if self.pin_public_url {
            std::fs::write(&config, &self.config_text).unwrap();
        }
        let server = Server::start(
            &self.database_url(),
            Path::new(&config),
            &self.path("serve.log"),
            self.log_level.as_deref(),
        );
        if self.pin_public_url {
            let pinned = self.config_text.replacen(
                "\napprovals:\n",
                &format!("\napprovals:\n  public_url: {}\n", server.url),
                1,
            );
            assert_ne!(
                pinned, self.config_text,
                "no `approvals:` to pin the URL in"
            );
            std::fs::write(&config, pinned).unwrap();
        }
        self.server.replace(Some(server));
    }

    /// SIGTERM; the exit code (0: a clean shutdown).
    pub fn stop_server(&self) -> i32 {
        self.server.take().expect("no server running").stop()
    }

    /// SIGKILL: the server gets no chance to finish anything.
    pub fn kill_server(&self) {
        self.server.take().expect("no server running").kill()
    }

    /// The server's URL for `path` (`/v1/detections`...).
    pub fn url(&self, path: &str) -> String {
        let server = self.server.borrow();
        let server = server.as_ref().expect("no server running");
        format!("{}{path}", server.url)
    }

    /// The running server's process id.
    pub fn server_pid(&self) -> u32 {
        self.server
            .borrow()
            .as_ref()
            .expect("no server running")
            .child
            .id()
    }

    /// What the server logged so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.path("serve.log")).unwrap_or_default()
    }

    // --- HTTP ------------------------------------------------------------------------------

    /// POSTs `body` to `url`; the status and the answer as JSON (`Null` if it is not).
    pub fn post(&self, url: &str, body: String, headers: &[(&str, String)]) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = reqwest::Client::new().post(url).body(body);
            for (k, v) in headers {
                request = request.header(*k, v);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    }

    /// POSTs detections to the server's `/v1/detections` with the bearer token.
    pub fn post_detections(&self, body: String) -> (u16, Value) {
        self.post(&self.url("/v1/detections"), body, &bearer())
    }

    pub fn get(&self, url: &str) -> (u16, String) {
        self.runtime.block_on(async {
            let response = reqwest::get(url).await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    }

    /// Submits a form to `url` (an approval page); the status and the page.
    pub fn submit_form(&self, url: &str, form: &[(&str, &str)]) -> (u16, String) {
        self.runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(url)
                .form(form)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    }
}

/// The intake's bearer-token header.
pub fn bearer() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {TOKEN}"))]
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => panic!("not a JSON array: {other}"),
    }
}
