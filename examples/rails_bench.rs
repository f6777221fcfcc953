//! What the safety rails cost at claim time: claims per second and per-claim latency for the
//! same recorded actions claimed plainly (the baseline) and through a guard with a cooldown and
//! two budgets, in one run, on SQLite.
//!
//! ```text
//! cargo run --release --example rails_bench -- [ACTIONS] [ACCOUNTS]
//! ```
//!
//! The guarded run sees a flood: ACTIONS detections over ACCOUNTS accounts, so most claims are
//! suppressed by the cooldown or held by a budget, as in the flood test.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use stanch::engine::Plan;
use stanch::intake::{Detection, parse_generic};
use stanch::store::{ActionRow, BudgetLimit, ClaimGuard, Store};
use stanch::vocab::ActionKind;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn detection(n: usize, accounts: usize) -> Detection {
    parse_generic(&format!(
        r#"{{"id":"b-{n}","name":"Flood / Unusual login","observed_at":"2021-06-01T10:00:00Z",
            "severity":"high","user":{{"upn":"user{}@contoso.com"}}}}"#,
        n % accounts
    ))
    .expect("a valid detection")
}

fn plan(d: &Detection) -> Plan {
    support::one_action_plan(d, "flood", "disable", ActionKind::DisableAccount)
}

async fn recorded(
    count: usize,
    accounts: usize,
) -> Result<(Store, Vec<ActionRow>), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    std::mem::forget(dir);
    let store = Store::open(&url).await?;
    let detections: Vec<Detection> = (0..count).map(|n| detection(n, accounts)).collect();
    let plans: Vec<Plan> = detections.iter().map(plan).collect();
    let run = support::record_run(&store, &detections, &plans).await?;
    let rows = store.actions(Some(run)).await?;
    Ok((store, rows))
}

async fn claim_all(
    store: &Store,
    rows: &[ActionRow],
    guard: &ClaimGuard,
) -> Result<(Duration, Vec<Duration>), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut each = Vec::with_capacity(rows.len());
    for row in rows {
        let t = Instant::now();
        store
            .claim_action_guarded(row.detection_seq, &row.idempotency_key, guard)
            .await?;
        each.push(t.elapsed());
    }
    each.sort();
    Ok((started.elapsed(), each))
}

fn line(name: &str, count: usize, total: Duration, each: &[Duration]) {
    let pct = |p: f64| each[((each.len() as f64 * p) as usize).min(each.len() - 1)];
    println!(
        "{name:<34} {:>8.0} claims/s   p50 {:>6.3} ms   p99 {:>6.3} ms",
        count as f64 / total.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let count = args.next().transpose()?.unwrap_or(10_000);
    let accounts = args.next().transpose()?.unwrap_or(2_000);
    println!("{count} actions on {accounts} accounts, SQLite, one claim at a time");

    let (store, rows) = recorded(count, accounts).await?;
    let (total, each) = claim_all(&store, &rows, &ClaimGuard::default()).await?;
    line("baseline: plain claim", count, total, &each);

    let (store, rows) = recorded(count, accounts).await?;
    let guard = ClaimGuard {
        cooldown_secs: 900,
        budgets: vec![
            BudgetLimit {
                name: "disables".into(),
                max: 5,
                per_secs: 3600,
            },
            BudgetLimit {
                name: "everything".into(),
                max: 50,
                per_secs: 3600,
            },
        ],
        human_approved: false,
        protected: None,
        account: None,
        started: None,
    };
    let (total, each) = claim_all(&store, &rows, &guard).await?;
    line("rails: cooldown + 2 budgets", count, total, &each);
    let statuses = store.actions(None).await?;
    let count_of = |s: &str| statuses.iter().filter(|a| a.status == s).count();
    println!(
        "  outcome: {} claimed, {} held for approval, {} suppressed",
        count_of("executing"),
        count_of("awaiting_approval"),
        count_of("suppressed")
    );
    Ok(())
}
