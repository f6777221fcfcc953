//! Claims per second with 1, 2 and 4 replicas on one PostgreSQL database, with the audit chain
//! sealed inline (every write takes the chain head: the baseline, what every write did before)
//! and sequenced (the hot paths write pending records; a sequencer chains them).
//!
//! ```text
//! cargo run --release --example replicas_bench -- [ACTIONS] [ROUNDS] [REPLICAS...]
//! ```
//!
//! Each sample records ACTIONS automatic actions on ACTIONS accounts in a fresh database, starts
//! the replicas as separate processes and times them until the queue is empty. A replica does the
//! database work the worker does for each action, without Graph: reserve, claim (with a
//! cooldown), the records before and after one Graph call, the outcome and the final record, four
//! actions at a time as the worker's lanes do. Samples are interleaved (mode and replica count
//! rotate inside each round), so a noisy neighbour spreads over all of them. The database comes
//! from `STANCH_BENCH_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`); each sample
//! creates and drops its own.

#[path = "support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use stanch::audit::AuditEvent;
use stanch::engine::Plan;
use stanch::intake::{Detection, parse_generic};
use stanch::store::{ActionRow, Claim, ClaimGuard, Store, lane_of};
use stanch::vocab::{ActionKind, ActionStatus};
use tokio::io::{AsyncBufReadExt, BufReader};

type Error = Box<dyn std::error::Error + Send + Sync>;

const MODES: [&str; 2] = ["inline", "sequenced"];
const LANES: usize = 4;

fn detection(n: usize) -> Detection {
    parse_generic(&format!(
        r#"{{"id":"r-{n}","name":"Spray / Unusual login","observed_at":"2021-06-01T10:00:00Z",
            "severity":"high","user":{{"upn":"user{n}@contoso.com"}}}}"#
    ))
    .expect("a valid detection")
}

fn plan(d: &Detection) -> Plan {
    support::one_action_plan(d, "spray", "revoke", ActionKind::RevokeSessions)
}

async fn record(url: &str, count: usize) -> Result<(), Error> {
    let store = Store::open(url).await?;
    let detections: Vec<Detection> = (0..count).map(detection).collect();
    let plans: Vec<Plan> = detections.iter().map(plan).collect();
    support::record_run(&store, &detections, &plans).await?;
    store.close().await;
    Ok(())
}

/// What one replica does for one action, in the worker's order.
async fn carry_out(store: &Store, row: &ActionRow) -> Result<bool, Error> {
    let guard = ClaimGuard {
        cooldown_secs: 900,
        account: Some(lane_of(row)),
        ..ClaimGuard::default()
    };
    let claim = store
        .claim_action_guarded(row.detection_seq, &row.idempotency_key, &guard)
        .await?;
    if claim != Claim::Claimed {
        return Ok(false);
    }
    let subject = format!("action/{}", row.pk);
    let now = chrono::Utc::now;
    let target = lane_of(row);
    store
        .append_audit(&[AuditEvent::new(
            now(),
            "action.started",
            &subject,
            json!({"action": row.kind, "target": target}),
        )])
        .await?;
    let path = format!("/v1.0/users/{target}/revokeSignInSessions");
    store
        .append_audit(&[AuditEvent::new(
            now(),
            "graph.request",
            &subject,
            json!({"method": "POST", "path": path}),
        )])
        .await?;
    store
        .append_audit(&[AuditEvent::new(
            now(),
            "graph.response",
            &subject,
            json!({"status": 200, "path": path}),
        )])
        .await?;
    let result = json!({"revoked": true});
    let ended = [AuditEvent::new(
        now(),
        "action.succeeded",
        &subject,
        result.clone(),
    )];
    store
        .record_claimed_outcome(
            row.detection_seq,
            &row.idempotency_key,
            ActionStatus::Succeeded,
            &result,
            None,
            &ended,
        )
        .await?;
    Ok(true)
}

/// A replica: waits for `go` on stdin, drains the queue, prints how many it claimed.
async fn replica(url: &str) -> Result<(), Error> {
    let store = Store::open(url).await?;
    println!("ready");
    let mut line = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await?;
    let mut claimed = 0;
    loop {
        let rows = store.pending_actions(256).await?;
        if rows.is_empty() {
            break;
        }
        let mut lanes = tokio::task::JoinSet::new();
        for row in rows {
            if lanes.len() >= LANES
                && let Some(done) = lanes.join_next().await
            {
                claimed += done?? as usize;
            }
            if !store.reserve_action(row.pk, &lane_of(&row)).await? {
                continue;
            }
            let store = store.clone();
            lanes.spawn(async move { carry_out(&store, &row).await });
        }
        while let Some(done) = lanes.join_next().await {
            claimed += done?? as usize;
        }
    }
    store.close().await;
    println!("{claimed}");
    Ok(())
}

/// One sample: claims per second of `replicas` processes sealing as `mode`.
async fn sample(admin: &str, mode: &str, replicas: usize, count: usize) -> Result<f64, Error> {
    let name = format!("stanch_bench_{}_{mode}_{replicas}", std::process::id());
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => return Err(format!("{admin} names no database").into()),
    };
    let drop_sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(drop_sql.clone()))
        .execute(&mut conn)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    record(&url, count).await?;

    // Plain processes and blocking pipes: the parent only waits while the replicas work.
    let mut children = Vec::new();
    for _ in 0..replicas {
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["--replica", &url])
            .env("STANCH_AUDIT_SEALING", mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut out = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            return Err(format!("a replica did not start: {line:?}").into());
        }
        children.push((child, out));
    }
    let started = Instant::now();
    for (child, _) in &mut children {
        std::io::Write::write_all(child.stdin.as_mut().ok_or("no stdin")?, b"go\n")?;
    }
    let mut claimed = 0;
    for (child, out) in &mut children {
        let mut line = String::new();
        std::io::BufRead::read_line(out, &mut line)?;
        claimed += line.trim().parse::<usize>()?;
        child.wait()?;
    }
    let elapsed = started.elapsed();

    let store = Store::open(&url).await?;
    let report = store.verify_audit().await?;
    store.close().await;
    sqlx::query(sqlx::AssertSqlSafe(drop_sql))
        .execute(&mut conn)
        .await?;
    if claimed != count || !report.is_intact() {
        return Err(format!(
            "{mode} × {replicas}: claimed {claimed} of {count}, audit intact: {}",
            report.is_intact()
        )
        .into());
    }
    Ok(count as f64 / elapsed.as_secs_f64())
}

fn summary(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    format!(
        "{:>6.0} {:>6.0} {:>6.0}   (n = {})",
        values[0],
        median,
        values[values.len() - 1],
        values.len()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, url] = args.as_slice()
        && flag == "--replica"
    {
        return replica(url).await;
    }
    let count: usize = args
        .first()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2_000);
    let rounds: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(3);
    let counts: Vec<usize> = match args.get(2..) {
        Some(rest) if !rest.is_empty() => {
            rest.iter().map(|a| a.parse()).collect::<Result<_, _>>()?
        }
        _ => vec![1, 2, 4],
    };
    let admin = std::env::var("STANCH_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    println!("{count} actions on {count} accounts per sample, {rounds} rounds, PostgreSQL");
    let cells: Vec<(&str, usize)> = MODES
        .iter()
        .flat_map(|m| counts.iter().map(move |&n| (*m, n)))
        .collect();
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); cells.len()];
    for round in 0..rounds {
        for i in 0..cells.len() {
            // Rotate the order each round so no cell always runs first (or last).
            let at = (i + round) % cells.len();
            let (mode, replicas) = cells[at];
            let per_sec = sample(&admin, mode, replicas, count).await?;
            eprintln!("round {round}: {mode} × {replicas}: {per_sec:.0} claims/s");
            figures[at].push(per_sec);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("sealing    replicas   claims/s min median max");
    for ((mode, replicas), values) in cells.iter().zip(&mut figures) {
        println!("{mode:<10} {replicas:>8}   {}", summary(values));
    }
    Ok(())
}
