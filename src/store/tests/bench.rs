//! Throughput check, ignored by default. Run with
//! `cargo test --release --lib store::tests::bench -- --ignored --nocapture`.

use std::time::Instant;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::fixtures::{at, batch};
use crate::engine::Mode;
use crate::store::{Evaluation, Store};

const DETECTIONS: usize = 10_000;
const BATCH: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_record_batch_vs_raw_sqlite() {
    let (detections, plans) = batch(1, DETECTIONS, Mode::Passive);
    let dir = tempfile::tempdir().unwrap();

    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::open(&url).await.unwrap();
    let run = store.start_run(Mode::Passive, "-", at()).await.unwrap();
    let started = Instant::now();
    for (ds, ps) in detections.chunks(BATCH).zip(plans.chunks(BATCH)) {
        let items: Vec<Evaluation<'_>> = ds
            .iter()
            .zip(ps)
            .map(|(detection, plan)| Evaluation::Accepted {
                line: None,
                detection,
                plan,
            })
            .collect();
        store.record_batch(run, &items).await.unwrap();
    }
    let store_secs = started.elapsed().as_secs_f64();
    assert!(store.verify_audit().await.unwrap().is_intact());
    let records = store.audit_records().await.unwrap();

    // The same rows (detections, actions, audit records) through the native SQLite driver, one
    // prepared single-row INSERT each, one transaction per batch: what a plain loader would do.
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    sqlx::migrate!("migrations/sqlite")
        .run(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO runs (started_at, mode, input) VALUES ('x', 'passive', '-')")
        .execute(&pool)
        .await
        .unwrap();
    let started = Instant::now();
    let mut audit = records.iter().skip(1);
    for (ds, ps) in detections.chunks(BATCH).zip(plans.chunks(BATCH)) {
        let mut tx = pool.begin().await.unwrap();
        for (d, p) in ds.iter().zip(ps) {
            let body = serde_json::to_string(d).unwrap();
            let row = sqlx::query(
                "INSERT INTO detections (run_id, source, detection_id, name, severity, \
                 observed_at, user_upn, user_id, line, body, received_at, audit_seq) \
                 VALUES (1, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, 0) RETURNING pk",
            )
            .bind(&d.source)
            .bind(&d.id)
            .bind(&d.name)
            .bind(d.severity.map(|s| s.as_str()))
            .bind(d.observed_at.to_rfc3339())
            .bind(d.user.as_ref().and_then(|u| u.upn.as_deref()))
            .bind(body)
            .bind("2021-06-01T00:00:00Z")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            let pk: i64 = sqlx::Row::get(&row, 0);
            for a in &p.actions {
                sqlx::query(
                    "INSERT INTO actions (run_id, detection_pk, idempotency_key, playbook, step, \
                     kind, target_upn, target_id, params, mode, gate, status, reason, \
                     expires_after_secs, created_at, updated_at, result) \
                     VALUES (1, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                )
                .bind(pk)
                .bind(&a.key)
                .bind(&a.playbook)
                .bind(&a.step)
                .bind(a.action.name())
                .bind(a.target.as_ref().and_then(|t| t.upn.as_deref()))
                .bind(serde_json::to_string(&a.params).unwrap())
                .bind(a.mode.as_str())
                .bind(serde_json::to_string(&a.gate).unwrap())
                .bind("would_execute")
                .bind(&a.reason)
                .bind(a.expires_after_secs.map(|s| s as i64))
                .bind("2021-06-01T00:00:00Z")
                .bind("2021-06-01T00:00:00Z")
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            for r in audit.by_ref().take(2) {
                sqlx::query(
                    "INSERT INTO audit_log (seq, at, kind, subject, payload, prev_hash, hash) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(r.seq)
                .bind(&r.at)
                .bind(&r.kind)
                .bind(&r.subject)
                .bind(&r.payload)
                .bind(&r.prev_hash)
                .bind(&r.hash)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
    let raw_secs = started.elapsed().as_secs_f64();

    let rate = |secs: f64| DETECTIONS as f64 / secs;
    eprintln!(
        "record_batch: {DETECTIONS} detections (2 actions, 2 audit records each) in {store_secs:.3}s \
         = {:.0} detections/s; raw native SQLite single-row inserts of the same rows: {raw_secs:.3}s \
         = {:.0} detections/s; ratio {:.2}",
        rate(store_secs),
        rate(raw_secs),
        raw_secs / store_secs
    );
}
