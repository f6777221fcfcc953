//! Latency from a detection entering `stanch run` to its first Graph write, against the local
//! Graph emulator (no injected latency), and Graph requests per contained account.
//!
//! ```text
//! cargo run --release --example latency_bench -- [DETECTIONS]
//! ```
//!
//! Detections are written one at a time into a live stream (a pipe), each after the previous
//! one's actions completed, as a detection tool would deliver them. The clock starts when a line
//! is written and stops when the emulator logs the first write (POST/PATCH/DELETE) for it.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use stanch::actions::GraphRunner;
use stanch::config::ContainmentSettings;
use stanch::emulate::Emulator;
use stanch::engine::Context;
use stanch::graph::{Credential, GraphClient, GraphConfig, Secret};
use stanch::pipeline::{Outcome, RunSummary, Sinks, run_jsonl};
use stanch::playbook::load_paths;
use stanch::store::Store;
use stanch::vocab::Mode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STORY_USERS: [&str; 5] = ["a.silva", "b.jones", "c.lee", "d.patel", "e.novak"];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(300);
    let playbooks = load_paths(&[Path::new("playbooks").to_path_buf()])
        .into_set()
        .map_err(|_| "playbooks/ has errors")?;
    let emulator = Emulator::from_file(Path::new("examples/tenant.json"))?
        .spawn("127.0.0.1:0")
        .await?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("stanch.db").display()
    ))
    .await?;
    let mut config = GraphConfig::new(
        "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d",
        "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51",
        Credential::Secret(Secret::new("emu-secret-stanch-responder")),
    );
    config.graph_url = Some(emulator.url.clone());
    config.login_url = Some(emulator.url.clone());
    let containment = ContainmentSettings {
        quarantine_group_id: Some("9e3b1c2d-7a4f-4b6e-8d5c-1a2b3c4d5e01".into()),
        ..Default::default()
    };
    let notify = BTreeMap::from([(
        "default".to_string(),
        stanch::config::SecretUrl::webhook(format!("{}/_emulator/webhook", emulator.url)),
    )]);
    let runner = GraphRunner::new(
        GraphClient::new(config)?,
        store.clone(),
        containment,
        notify,
        vec!["breakglass@contoso.com".into()],
    );
    let ctx = Context {
        default_mode: Mode::Active,
        protected_accounts: vec!["breakglass@contoso.com".into()],
        ..Context::default()
    };

    // A live stream: the benchmark writes, stanch reads.
    let (reader, mut writer) = std::io::pipe()?;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let feeder = std::thread::spawn(move || {
        let mut sent = Vec::new();
        for i in 0..count {
            let user = STORY_USERS[i % STORY_USERS.len()];
            let line = format!(
                r#"{{"id":"lat-{i}","source":"darktrace","name":"SaaS / Unusual Activity / Unusual External Source for SaaS Credential Use","severity":"high","observed_at":"2021-06-01T06:12:00Z","user":{{"upn":"{user}@contoso.com"}},"ip":"198.51.100.23","country":"NG"}}"#
            );
            sent.push(Utc::now());
            writeln!(writer, "{line}").unwrap();
            writer.flush().unwrap();
            done_rx.recv().unwrap();
        }
        drop(writer);
        sent
    });
    let mut on_outcome = |_: &Outcome<'_>| {
        let _ = done_tx.send(());
    };
    let mut on_progress = |_: u64, _: &RunSummary| {};
    let started = Instant::now();
    let sinks = Sinks {
        on_outcome: &mut on_outcome,
        progress: &mut on_progress,
    };
    let summary = run_jsonl(
        &store,
        &playbooks,
        &ctx,
        &Default::default(),
        Some(&runner),
        Box::new(BufReader::new(reader)),
        "latency",
        sinks,
    )
    .await?;
    let total = started.elapsed();
    let sent = feeder.join().map_err(|_| "feeder panicked")?;

    // The first write logged after each detection was sent.
    let writes: Vec<DateTime<Utc>> = emulator
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && r.path.starts_with("/v1.0"))
        .map(|r| DateTime::parse_from_rfc3339(&r.time).unwrap().to_utc())
        .collect();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|at| {
            writes
                .iter()
                .find(|w| *w >= at)
                .map(|w| (*w - *at).to_std().unwrap_or_default())
        })
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "{count} live detections, each revoking sessions through the emulator; {} actions executed in {total:.2?}",
        summary.executed.values().sum::<usize>()
    );
    println!(
        "detection in → first Graph write: p50 {:.2?}, p99 {:.2?}, max {:.2?} ({} samples)",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        latencies.len()
    );

    // Graph requests per contained account, over the attack story.
    emulator.emulator.reset();
    let story = std::fs::read_to_string("examples/attack-story.jsonl")?;
    let mut quiet = |_: &Outcome<'_>| {};
    let mut nothing = |_: u64, _: &RunSummary| {};
    let sinks = Sinks {
        on_outcome: &mut quiet,
        progress: &mut nothing,
    };
    run_jsonl(
        &store,
        &playbooks,
        &ctx,
        &Default::default(),
        Some(&runner),
        Box::new(std::io::Cursor::new(story.into_bytes())),
        "story",
        sinks,
    )
    .await?;
    let requests = emulator.emulator.requests();
    let graph: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/v1.0"))
        .collect();
    let state = emulator.emulator.state();
    let mut per_account = BTreeMap::new();
    for user in state["users"].as_array().unwrap() {
        let (id, upn) = (
            user["id"].as_str().unwrap(),
            user["userPrincipalName"].as_str().unwrap(),
        );
        let n = graph
            .iter()
            .filter(|r| {
                r.path.contains(id)
                    || r.path.contains(upn)
                    || r.body.as_ref().is_some_and(|b| b.to_string().contains(id))
            })
            .count();
        if n > 0 {
            per_account.insert(upn.to_string(), n);
        }
    }
    let writes = graph.iter().filter(|r| r.method != "GET").count();
    println!(
        "attack story: {} Graph requests ({writes} writes, {} reads), {} token requests",
        graph.len(),
        graph.len() - writes,
        requests.len() - graph.len()
    );
    for (upn, n) in &per_account {
        println!("  {upn:<26} {n} requests");
    }
    println!(
        "  mean per contained account: {:.1}",
        per_account.values().sum::<usize>() as f64 / per_account.len() as f64
    );
    Ok(())
}
