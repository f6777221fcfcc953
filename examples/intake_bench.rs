//! Load on `stanch serve`'s intake: accepted detections per second and acknowledgement latency,
//! with durable storage (SQLite, WAL), from a bounded loopback load generator.
//!
//! ```text
//! cargo run --release --example intake_bench -- [SECONDS] [CONNECTIONS] [DETECTIONS_PER_REQUEST]
//! ```
//!
//! The server is the real router (`stanch::http::app`) on a loopback port; each connection posts
//! as fast as it is answered (closed loop, so the load is bounded by the server). Latency is from
//! sending a request to its 202, i.e. until the detections are committed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stanch::config::{IntakeSettings, SecretString};
use stanch::engine::Context;
use stanch::http::{AppState, app};
use stanch::pipeline::{Recorder, Service};
use stanch::playbook::load_paths;
use stanch::store::Store;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(10);
    let connections: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(16);
    let per_request: usize = args.get(3).map(|a| a.parse()).transpose()?.unwrap_or(10);
    let playbooks = load_paths(&[PathBuf::from("playbooks")])
        .into_set()
        .map_err(|_| "playbooks/ has errors")?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("stanch.db").display()
    ))
    .await?;
    let run_id = store
        .start_run(stanch::vocab::Mode::Passive, "bench", chrono::Utc::now())
        .await?;
    let recorder = Recorder::new(
        store.clone(),
        Arc::new(playbooks),
        Arc::new(Context::default()),
        Default::default(),
        run_id,
    );
    let state = AppState::new(
        Service::new(
            store,
            recorder,
            None,
            Default::default(),
            Default::default(),
        ),
        IntakeSettings {
            bearer_tokens: vec![SecretString::new("bench")],
            ..IntakeSettings::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/detections", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app(state)).await });

    let story: Vec<String> = std::fs::read_to_string("examples/attack-story.jsonl")?
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(str::to_string)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (url, story) = (url.clone(), story.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let body: String = (0..per_request)
                    .map(|i| {
                        story[(n + i) % story.len()].replacen(
                            "\"id\":\"",
                            &format!("\"id\":\"c{c}-{n}-{i}-"),
                            1,
                        ) + "\n"
                    })
                    .collect();
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth("bench")
                    .body(body)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(
                    response.status().as_u16(),
                    202,
                    "{}",
                    response.text().await.unwrap_or_default()
                );
                latencies.push(sent.elapsed());
                n += per_request;
            }
            (n, latencies)
        }));
    }
    let mut accepted = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (n, l) = task.await?;
        accepted += n;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "{connections} connections × {per_request} detection(s) per request for {elapsed:.1?}"
    );
    println!(
        "accepted {accepted} detections: {:.0} detections/s, {:.0} requests/s",
        accepted as f64 / elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "acknowledgement (202 after commit): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
