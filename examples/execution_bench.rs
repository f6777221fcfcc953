//! Containment throughput of `stanch run`: ACCOUNTS detections for ACCOUNTS distinct accounts,
//! one automatic, active `revoke_sessions` each, against `stanch emulate` in its own process, with
//! the emulator's own request rate for the same calls measured in the same round as the baseline.
//!
//! ```text
//! cargo build --release --bins --example execution_bench
//! cargo run --release --example execution_bench -- [ACCOUNTS] [ROUNDS] [CONCURRENCY...]
//! ```
//!
//! Each sample starts a fresh emulator holding the built-in tenant plus ACCOUNTS generated users,
//! runs `stanch run` (a fresh SQLite database, `graph.concurrency` set to the sample's value)
//! and times it as a whole process. It then checks that every account was revoked exactly once
//! (the emulator's request log has one `revokeSignInSessions` per account and every user's
//! `signInSessionsValidFromDateTime` moved) and that the run reported ACCOUNTS succeeded actions.
//! The baseline sends the same requests stanch sent (read from that sample's request log) straight
//! to a second fresh emulator, as many at once as the sample's concurrency, with one token.
//! Cells rotate inside each round, so a noisy neighbour spreads over all of them. With
//! `STANCH_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432` each sample gets a new PostgreSQL
//! database on that server instead of a SQLite file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};

type Error = Box<dyn std::error::Error + Send + Sync>;

const TENANT: &str = "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d";
const CLIENT: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51";
const SECRET: &str = "emu-secret-stanch-responder";

const PLAYBOOK: &str = r#"version: 1
id: bench-revoke
match: { name: "Bench / Spray" }
steps:
  - { id: revoke, action: revoke_sessions }
tests: []
"#;

fn user_id(n: usize) -> String {
    format!("7b000000-0000-4000-8000-{n:012}")
}

fn upn(n: usize) -> String {
    format!("bench{n}@contoso.com")
}

/// The built-in tenant with `accounts` more users.
fn fixture(root: &Path, accounts: usize) -> Result<Value, Error> {
    let mut tenant: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("examples/tenant.json"))?)?;
    let users = tenant["users"]
        .as_array_mut()
        .ok_or("tenant.json has no users")?;
    for n in 0..accounts {
        users.push(json!({
            "id": user_id(n), "userPrincipalName": upn(n), "displayName": format!("Bench {n}"),
            "accountEnabled": true, "privileged": false, "onPremisesSyncEnabled": false,
            "signInSessionsValidFromDateTime": "2021-05-01T08:00:00Z", "mail": upn(n),
        }));
    }
    Ok(tenant)
}

fn detections(accounts: usize) -> String {
    (0..accounts)
        .map(|n| {
            format!(
                "{{\"id\":\"spray-{n}\",\"name\":\"Bench / Spray\",\"severity\":\"high\",\
                 \"observed_at\":\"2021-06-01T10:00:00Z\",\"user\":{{\"upn\":\"{}\"}}}}\n",
                upn(n)
            )
        })
        .collect()
}

struct Emulator {
    child: std::process::Child,
    url: String,
}

impl Emulator {
    async fn start(binary: &Path, fixture: &Path) -> Result<Emulator, Error> {
        let mut child = Command::new(binary)
            .args(["emulate", "--listen", "127.0.0.1:0", "--fixture"])
            .arg(fixture)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().ok_or("the emulator printed nothing")??;
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .ok_or("the emulator printed no address")?
            .to_string();
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Emulator { child, url })
    }

    async fn requests(&self) -> Result<Vec<Value>, Error> {
        let log: Value = reqwest::get(format!("{}/_emulator/requests", self.url))
            .await?
            .json()
            .await?;
        Ok(log["value"].as_array().cloned().unwrap_or_default())
    }

    async fn state(&self) -> Result<Value, Error> {
        Ok(reqwest::get(format!("{}/_emulator/state", self.url))
            .await?
            .json()
            .await?)
    }
}

struct Sample {
    actions_per_sec: f64,
    baseline_requests_per_sec: f64,
    requests_per_action: f64,
}

async fn sample(
    binary: &Path,
    dir: &Path,
    accounts: usize,
    concurrency: usize,
) -> Result<Sample, Error> {
    let work = dir.join(format!("c{concurrency}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("playbooks"))?;
    std::fs::write(work.join("playbooks/bench.yaml"), PLAYBOOK)?;
    let emulator = Emulator::start(binary, &dir.join("tenant.json")).await?;
    let database = match std::env::var("STANCH_BENCH_POSTGRES") {
        Ok(server) => fresh_postgres(&server, concurrency)?,
        Err(_) => format!("sqlite://{}", work.join("stanch.db").display()),
    };
    let config = format!(
        "mode: active\ndatabase_url: {database}\nplaybooks: [{}]\n\
         graph: {{ tenant_id: {TENANT}, client_id: {CLIENT}, client_secret: {SECRET}, \
         graph_url: \"{url}\", login_url: \"{url}\", concurrency: {concurrency} }}\n",
        work.join("playbooks").display(),
        url = emulator.url,
    );
    std::fs::write(work.join("stanch.yaml"), config)?;
    let started = Instant::now();
    let out = Command::new(binary)
        .arg("--config")
        .arg(work.join("stanch.yaml"))
        .args(["run", "--json", "--input"])
        .arg(dir.join("detections.jsonl"))
        .output()?;
    let elapsed = started.elapsed();
    let requests = emulator.requests().await?;
    check(&out, &requests, &emulator.state().await?, accounts)?;
    drop(emulator);
    let baseline_rate = baseline(binary, dir, &requests, concurrency).await?;
    if std::env::var_os("STANCH_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
        if let Ok(server) = std::env::var("STANCH_BENCH_POSTGRES") {
            let name = format!("stanch_bench_{}_{concurrency}", std::process::id());
            let _ = Command::new("psql")
                .arg(format!("{}/postgres", server.trim_end_matches('/')))
                .args(["-q", "-c", &format!("DROP DATABASE IF EXISTS {name}")])
                .status();
        }
    }
    Ok(Sample {
        actions_per_sec: accounts as f64 / elapsed.as_secs_f64(),
        baseline_requests_per_sec: baseline_rate,
        requests_per_action: graph_calls(&requests).len() as f64 / accounts as f64,
    })
}

/// A new, empty PostgreSQL database on `server` (`postgres://USER@HOST:PORT`, trust auth, as
/// on the project's machines), made with `psql`; its URL.
fn fresh_postgres(server: &str, concurrency: usize) -> Result<String, Error> {
    let name = format!("stanch_bench_{}_{concurrency}", std::process::id());
    let server = server.trim_end_matches('/');
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        let done = Command::new("psql")
            .arg(format!("{server}/postgres"))
            .args(["-q", "-c", &sql])
            .status()?;
        if !done.success() {
            return Err(format!("psql could not run `{sql}` on {server}").into());
        }
    }
    Ok(format!("{server}/{name}"))
}

/// The Graph requests of a request log (not the token requests).
fn graph_calls(requests: &[Value]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter_map(|r| {
            let method = r["method"].as_str()?.to_string();
            let path = r["path"].as_str()?.to_string();
            (path.starts_with("/v1.0") || path.starts_with("/beta")).then_some((method, path))
        })
        .collect()
}

/// Nothing lost, nothing repeated: one revoke per account, every account's sessions revoked.
fn check(
    out: &std::process::Output,
    requests: &[Value],
    state: &Value,
    accounts: usize,
) -> Result<(), Error> {
    let revokes = graph_calls(requests)
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with("/revokeSignInSessions"))
        .count();
    if revokes != accounts {
        return Err(format!(
            "{revokes} revokes for {accounts} accounts; stanch said: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let moved = state["users"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .filter(|u| {
                    u["displayName"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("Bench "))
                })
                .filter(|u| u["signInSessionsValidFromDateTime"] != "2021-05-01T08:00:00Z")
                .count()
        })
        .unwrap_or(0);
    if moved != accounts {
        return Err(format!("{moved} of {accounts} accounts revoked in the tenant").into());
    }
    let succeeded = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .and_then(|v| v["summary"]["executed"]["succeeded"].as_u64())
        .unwrap_or(0) as usize;
    if succeeded != accounts {
        return Err(format!(
            "the run reported {succeeded} succeeded actions for {accounts} accounts (exit {:?})",
            out.status.code()
        )
        .into());
    }
    Ok(())
}

/// The emulator's own rate for the requests stanch sent, `concurrency` at a time.
async fn baseline(
    binary: &Path,
    dir: &Path,
    requests: &[Value],
    concurrency: usize,
) -> Result<f64, Error> {
    let emulator = Emulator::start(binary, &dir.join("tenant.json")).await?;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emulator.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .ok_or("no token")?
        .to_string();
    let calls = graph_calls(requests);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(calls.clone()));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (queue, http, token, url) = (
            queue.clone(),
            http.clone(),
            token.clone(),
            emulator.url.clone(),
        );
        workers.spawn(async move {
            loop {
                let Some((method, path)) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                    return Ok::<(), reqwest::Error>(());
                };
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_default();
                let mut request = http
                    .request(method.clone(), format!("{url}{path}"))
                    .bearer_auth(&token);
                if method == reqwest::Method::POST {
                    request = request.json(&json!({}));
                }
                request.send().await?.bytes().await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(calls.len() as f64 / started.elapsed().as_secs_f64())
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    )
}

fn binary() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?;
    let binary = release.join("stanch");
    if !binary.exists() {
        return Err(format!(
            "{} is missing: run `cargo build --release --bins` first",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let accounts: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let rounds: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(3);
    let mut levels: Vec<usize> = args[2.min(args.len())..]
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    if levels.is_empty() {
        levels = vec![1, 16];
    }
    let binary = binary()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("stanch-execution-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("tenant.json"),
        serde_json::to_vec(&fixture(&root, accounts)?)?,
    )?;
    std::fs::write(dir.join("detections.jsonl"), detections(accounts))?;
    let mut results: Vec<Vec<Sample>> = levels.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for i in 0..levels.len() {
            // Rotate the cells inside each round.
            let cell = (i + round) % levels.len();
            let s = sample(&binary, &dir, accounts, levels[cell]).await?;
            println!(
                "round {} concurrency {:>3}: {:>7.0} actions/s, {:.1} Graph requests per action; emulator alone {:>7.0} requests/s",
                round + 1,
                levels[cell],
                s.actions_per_sec,
                s.requests_per_action,
                s.baseline_requests_per_sec
            );
            results[cell].push(s);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!("\n{accounts} accounts, {rounds} round(s); samples measured per cell in parentheses");
    println!(
        "| concurrency | actions/s min / median / max | Graph requests per action | emulator alone, requests/s min / median / max | as actions/s (median) |"
    );
    println!("|---|---|---|---|---|");
    for (level, samples) in levels.iter().zip(&mut results) {
        let (a0, a1, a2) = stats(
            &mut samples
                .iter()
                .map(|s| s.actions_per_sec)
                .collect::<Vec<_>>(),
        );
        let (b0, b1, b2) = stats(
            &mut samples
                .iter()
                .map(|s| s.baseline_requests_per_sec)
                .collect::<Vec<_>>(),
        );
        let per_action =
            samples.iter().map(|s| s.requests_per_action).sum::<f64>() / samples.len() as f64;
        println!(
            "| {level} ({}) | {a0:.0} / {a1:.0} / {a2:.0} | {per_action:.1} | {b0:.0} / {b1:.0} / {b2:.0} | {:.0} |",
            samples.len(),
            b1 / per_action
        );
    }
    if std::env::var_os("STANCH_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
