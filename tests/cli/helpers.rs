use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::io::Write;

/// A scratch directory with its own database, and a way to run the binary against it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.path("stanch.db").display())
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Runs `stanch` from the project root (so `playbooks/` is the shipped library) with this
    /// environment's database.
    pub fn stanch(&self, args: &[&str]) -> Output {
        self.stanch_with_input(args, None)
    }

    pub fn stanch_with_input(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stanch"));
        command
            .current_dir(project_root())
            .args(args)
            .arg("--database-url")
            .arg(self.database_url())
            .env_remove("STANCH_MODE")
            .env_remove("STANCH_DATABASE_URL")
            .env_remove("STANCH_PROTECTED_ACCOUNTS")
            .env_remove("STANCH_PLAYBOOKS")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn stanch");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        let output = child.wait_with_output().expect("wait for stanch");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

pub fn project_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn attack_story() -> String {
    project_root()
        .join("examples/attack-story.jsonl")
        .display()
        .to_string()
}

/// Opens the environment's SQLite database directly, bypassing stanch (to tamper with it).
pub async fn raw_sqlite(env: &Env) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("{}?mode=rw", env.database_url()))
        .await
        .expect("open sqlite")
}

/// Polls `done` until it holds, failing with `what` after `seconds`.
pub fn wait_until(seconds: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `stanch actions list --json` for this environment and config.
pub fn actions(env: &Env, config: &str) -> Vec<serde_json::Value> {
    let list = env.stanch(&["actions", "list", "--json", "--config", config]);
    serde_json::from_str(&list.stdout)
        .unwrap_or_else(|e| panic!("actions list is not JSON ({e}): {list:?}"))
}
