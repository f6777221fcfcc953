//! Running the real `stanch` binary: from the project root (so `playbooks/` is the shipped
//! library), against a given database, with the environment scrubbed of `STANCH_*` settings.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What one run of the binary did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The project root: `playbooks/`, `examples/` and the binary's working directory.
pub fn project_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped attack story, `examples/attack-story.jsonl`.
pub fn attack_story() -> String {
    project_root()
        .join("examples/attack-story.jsonl")
        .display()
        .to_string()
}

/// A `stanch` command with the settings every test run shares: the working directory, the
/// database, and none of the caller's `STANCH_*` variables.
pub fn command(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stanch"));
    command
        .current_dir(project_root())
        .arg("--database-url")
        .arg(database_url);
    for name in [
        "STANCH_MODE",
        "STANCH_DATABASE_URL",
        "STANCH_PROTECTED_ACCOUNTS",
        "STANCH_PLAYBOOKS",
        "STANCH_TEAMS_WEBHOOK_URL",
        "STANCH_LOG",
        "STANCH_LEASE_SECS",
    ] {
        command.env_remove(name);
    }
    command
}

/// Runs `stanch ARGS` to completion, feeding it `stdin` if given.
pub fn run(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = command(database_url);
    command
        .args(args)
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

/// Polls `done` until it holds, failing with `what` after `seconds`. For waiting on the server
/// (its worker, its deliveries); never for waiting on a deadline: move the app's clock instead.
pub fn wait_until(seconds: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
