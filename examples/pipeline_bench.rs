//! Throughput and latency of the passive pipeline behind `stanch run`, next to raw SQLite inserts
//! of the same rows measured in the same run.
//!
//! ```text
//! cargo run --release --example pipeline_bench -- [DETECTIONS] [ACCOUNTS]
//! ```
//!
//! The pipeline parses JSONL, plans every detection against the shipped playbooks, and persists
//! detections, planned actions and the hash-chained audit trail in a SQLite file (WAL,
//! synchronous=NORMAL, one transaction per batch). The baseline writes the same number of rows,
//! with the same JSON bodies, into one plain table of a SQLite file with the same settings, as
//! fast as sqlx allows: prepared single-row inserts, and multi-row inserts, one transaction per
//! batch. Its bodies are serialized before the clock starts; the pipeline's are not.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use stanch::campaign::{Settings, Tracker};
use stanch::engine::Context;
use stanch::intake::{JsonlReader, UserRef};
use stanch::pipeline::{BATCH_SIZE, Sinks, run_jsonl};
use stanch::playbook::load_paths;
use stanch::store::Store;

// The same allocator as the `stanch` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args
        .get(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50_000);
    let accounts: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(2_000);
    let playbooks = load_paths(&[PathBuf::from("playbooks")])
        .into_set()
        .map_err(|_| "playbooks/ has errors; run `stanch validate`")?;
    let input = synthetic_jsonl(count, accounts);
    let dir = tempfile::tempdir()?;
    println!(
        "{count} detections over {accounts} accounts ({:.1} MB of JSONL), {} playbooks, batches of {BATCH_SIZE}",
        input.len() as f64 / 1e6,
        playbooks.playbooks.len()
    );

    // Parse + group + plan only, to show where the time goes.
    let started = Instant::now();
    let mut planned = 0;
    let mut tracker = Tracker::new(Settings::default());
    for item in JsonlReader::new(input.as_bytes()) {
        let detection = item?.result?;
        planned += stanch::pipeline::evaluate(
            &mut tracker,
            &detection,
            None,
            &playbooks,
            &Context::default(),
        )
        .plan
        .actions
        .len();
    }
    let plan_only = started.elapsed();

    // The pipeline.
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("stanch.db").display()
    ))
    .await?;
    let mut batch_latencies = Vec::new();
    let reader: Box<dyn std::io::BufRead + Send> =
        Box::new(std::io::Cursor::new(input.clone().into_bytes()));
    let mut last = Instant::now();
    let mut on_outcome = |_: &stanch::pipeline::Outcome<'_>| {};
    let mut on_progress = |_: u64, _: &stanch::pipeline::RunSummary| {
        batch_latencies.push(last.elapsed());
        last = Instant::now();
    };
    let started = Instant::now();
    let sinks = Sinks {
        on_outcome: &mut on_outcome,
        progress: &mut on_progress,
    };
    let summary = run_jsonl(
        &store,
        &playbooks,
        &Context::default(),
        &Default::default(),
        None,
        reader,
        "bench",
        sinks,
    )
    .await?;
    let pipeline = started.elapsed();
    let audit_rows = store.audit_head().await?.map(|h| h.seq).unwrap_or(0) as usize;
    let rows = summary.detections + summary.actions + audit_rows;
    assert_eq!(summary.actions, planned);
    let campaign_rows = campaign_rows(&dir.path().join("stanch.db")).await?;
    if std::env::var_os("PIPELINE_ONLY").is_some() {
        println!(
            "pipeline (stanch run) {:.0} detections/s ({:.2?})",
            count as f64 / pipeline.as_secs_f64(),
            pipeline
        );
        return Ok(());
    }

    // The baseline: the same number of rows with the same bodies.
    let bodies = baseline_bodies(&input, &playbooks);
    assert_eq!(
        bodies.len() + 2,
        rows,
        "baseline rows must match the pipeline's rows (+ run.started/finished)"
    );
    let single = raw_inserts(&dir.path().join("raw-single.db"), &bodies, count, false).await?;
    let multi = raw_inserts(&dir.path().join("raw-multi.db"), &bodies, count, true).await?;

    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    let row_rate = |d: Duration| rows as f64 / d.as_secs_f64();
    batch_latencies.sort();
    let pct = |p: f64| batch_latencies[((batch_latencies.len() - 1) as f64 * p) as usize];
    println!(
        "rows written by the pipeline: {rows} ({} detections, {} actions, {audit_rows} audit records), \
         plus campaign rows (now in the store: {campaign_rows})",
        summary.detections, summary.actions
    );
    println!(
        "parse + plan only          {:>9.0} detections/s  ({:.2?})",
        rate(plan_only),
        plan_only
    );
    println!(
        "pipeline (stanch run)      {:>9.0} detections/s  {:>9.0} rows/s  ({:.2?})",
        rate(pipeline),
        row_rate(pipeline),
        pipeline
    );
    println!(
        "raw SQLite, 1 row/INSERT   {:>9.0} detections/s  {:>9.0} rows/s  ({:.2?})  pipeline = {:.0}% of it",
        rate(single),
        row_rate(single),
        single,
        100.0 * single.as_secs_f64() / pipeline.as_secs_f64()
    );
    println!(
        "raw SQLite, multi-row      {:>9.0} detections/s  {:>9.0} rows/s  ({:.2?})  pipeline = {:.0}% of it",
        rate(multi),
        row_rate(multi),
        multi,
        100.0 * multi.as_secs_f64() / pipeline.as_secs_f64()
    );
    println!(
        "batch of {BATCH_SIZE} (read, plan, commit): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}

/// The attack story's detections, cycled over many accounts and attacker addresses.
fn synthetic_jsonl(count: usize, accounts: usize) -> String {
    let story = include_str!("attack-story.jsonl");
    let templates: Vec<_> = JsonlReader::new(story.as_bytes())
        .map(|i| i.unwrap().result.unwrap())
        .collect();
    let mut out = String::with_capacity(count * 600);
    for i in 0..count {
        let mut d = templates[i % templates.len()].clone();
        d.id = format!("bench-{i}");
        d.user = Some(UserRef {
            upn: Some(format!("user{}@contoso.com", i % accounts)),
            id: None,
        });
        d.ip = Some(
            format!("198.51.{}.{}", (i / 250) % 250, i % 250)
                .parse()
                .unwrap(),
        );
        d.observed_at += chrono::Duration::seconds(i as i64);
        out.push_str(&serde_json::to_string(&d).unwrap());
        out.push('\n');
    }
    out
}

/// Rows in the campaign tables after the run (upserts rewrite rows, so more were written).
async fn campaign_rows(path: &std::path::Path) -> Result<i64, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(path))
        .await?;
    let mut total = 0;
    for table in [
        "campaigns",
        "campaign_members",
        "campaign_indicators",
        "campaign_detections",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&pool)
                .await?;
        total += n;
    }
    pool.close().await;
    Ok(total)
}

/// One body per row the pipeline writes: the detection, each action, and the audit payloads (two,
/// and one per campaign event). Campaign table rows are counted apart.
fn baseline_bodies(input: &str, playbooks: &stanch::playbook::PlaybookSet) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut tracker = Tracker::new(Settings::default());
    for item in JsonlReader::new(input.as_bytes()) {
        let detection = item.unwrap().result.unwrap();
        let evaluated = stanch::pipeline::evaluate(
            &mut tracker,
            &detection,
            None,
            playbooks,
            &Context::default(),
        );
        let plan = evaluated.plan;
        for event in evaluated.note.iter().flat_map(|n| &n.events) {
            bodies.push(serde_json::to_string(event).unwrap());
        }
        let body = serde_json::to_string(&detection).unwrap();
        bodies.push(body.clone());
        bodies.extend(
            plan.actions
                .iter()
                .map(|a| serde_json::to_string(a).unwrap()),
        );
        bodies.push(body);
        bodies.push(serde_json::to_string(&plan).unwrap());
    }
    bodies
}

async fn raw_inserts(
    path: &std::path::Path,
    bodies: &[String],
    detections: usize,
    multi_row: bool,
) -> Result<Duration, sqlx::Error> {
    // The same settings as stanch's own SQLite connections.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .page_size(16384)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "MEMORY")
        .pragma("wal_autocheckpoint", "16384");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query("CREATE TABLE rows (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL)").execute(&pool).await?;
    // The same number of transactions as the pipeline: one per batch of detections.
    let per_tx = bodies.len().div_ceil(detections.div_ceil(BATCH_SIZE));
    let started = Instant::now();
    for chunk in bodies.chunks(per_tx) {
        let mut tx = pool.begin().await?;
        if multi_row {
            for rows in chunk.chunks(500) {
                let placeholders = vec!["('row', ?)"; rows.len()].join(",");
                let sql = format!("INSERT INTO rows (kind, body) VALUES {placeholders}");
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for body in rows {
                    query = query.bind(body);
                }
                query.execute(&mut *tx).await?;
            }
        } else {
            for body in chunk {
                sqlx::query("INSERT INTO rows (kind, body) VALUES ('row', ?)")
                    .bind(body)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
    }
    Ok(started.elapsed())
}
