//! Scheduler bookkeeping: poller watermarks (`watermarks`) and the log of scheduled job runs
//! (`schedule_runs`). Timestamps are RFC 3339 UTC text with microseconds, so text order is time
//! order and `MAX(started_at)` is the latest run.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use super::Store;
use super::WriteTx;
use super::error::{StoreError, query_err};
use super::sql::timestamp;
use stanch_core::vocab::JobOutcome;

/// One recorded run of a scheduled job.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRunRow {
    pub pk: i64,
    pub schedule: String,
    pub job: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: JobOutcome,
    pub summary: Option<Value>,
}

fn parse_time(text: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Inconsistent(format!("{what} `{text}` is not RFC 3339: {e}")))
}

/// Upserts a watermark inside a caller's transaction, so a poller's cursor can move in the same
/// transaction that stores what it fetched.
pub(crate) async fn write_watermark(
    tx: &mut WriteTx,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO watermarks (name, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(name.to_string())
    .bind(value.to_string())
    .bind(timestamp(Utc::now()))
    .execute(&mut **tx)
    .await
    .map_err(query_err("writing a watermark"))?;
    Ok(())
}

impl Store {
    /// The value of watermark `name`, if one was ever set.
    pub async fn watermark(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM watermarks WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("reading a watermark"))?;
        row.map(|r| r.try_get("value"))
            .transpose()
            .map_err(query_err("reading a watermark"))
    }

    /// Sets watermark `name` to `value`, replacing any earlier value.
    pub async fn set_watermark(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        write_watermark(&mut tx, name, value).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a watermark"))
    }

    /// Records that `schedule` started running `job`; returns the run's pk.
    pub async fn start_schedule_run(
        &self,
        schedule: &str,
        job: &str,
        started_at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let row = sqlx::query(
            "INSERT INTO schedule_runs (schedule, job, started_at, outcome) \
             VALUES ($1, $2, $3, $4) RETURNING pk",
        )
        .bind(schedule.to_string())
        .bind(job.to_string())
        .bind(timestamp(started_at))
        .bind(JobOutcome::Running.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(query_err("recording a schedule run"))?;
        let pk: i64 = row
            .try_get("pk")
            .map_err(query_err("recording a schedule run"))?;
        tx.commit()
            .await
            .map_err(query_err("committing a schedule run"))?;
        Ok(pk)
    }

    /// Records how run `pk` ended: `succeeded` or `failed`, with a JSON summary.
    pub async fn finish_schedule_run(
        &self,
        pk: i64,
        finished_at: DateTime<Utc>,
        outcome: JobOutcome,
        summary: &Value,
    ) -> Result<(), StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        sqlx::query(
            "UPDATE schedule_runs SET finished_at = $1, outcome = $2, summary = $3 WHERE pk = $4",
        )
        .bind(timestamp(finished_at))
        .bind(outcome.as_str())
        .bind(summary.to_string())
        .bind(pk)
        .execute(&mut *tx)
        .await
        .map_err(query_err("finishing a schedule run"))?;
        tx.commit()
            .await
            .map_err(query_err("committing a schedule run"))
    }

    /// When each schedule last started a run (whatever its outcome).
    pub async fn last_schedule_runs(&self) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let rows = sqlx::query(
            "SELECT schedule, MAX(started_at) AS last FROM schedule_runs GROUP BY schedule",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading the last schedule runs"))?;
        let mut last = HashMap::new();
        for row in rows {
            let schedule: String = row
                .try_get("schedule")
                .map_err(query_err("reading the last schedule runs"))?;
            let at: String = row
                .try_get("last")
                .map_err(query_err("reading the last schedule runs"))?;
            last.insert(schedule, parse_time(&at, "schedule_runs.started_at")?);
        }
        Ok(last)
    }

    /// The most recent `limit` schedule runs, newest first.
    pub async fn schedule_runs(&self, limit: i64) -> Result<Vec<ScheduleRunRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT pk, schedule, job, started_at, finished_at, outcome, summary \
             FROM schedule_runs ORDER BY pk DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("listing schedule runs"))?;
        rows.iter().map(run_row).collect()
    }
}

fn run_row(row: &sqlx::any::AnyRow) -> Result<ScheduleRunRow, StoreError> {
    let err = || query_err("listing schedule runs");
    let started: String = row.try_get("started_at").map_err(err())?;
    let finished: Option<String> = row.try_get("finished_at").map_err(err())?;
    let summary: Option<String> = row.try_get("summary").map_err(err())?;
    Ok(ScheduleRunRow {
        pk: row.try_get("pk").map_err(err())?,
        schedule: row.try_get("schedule").map_err(err())?,
        job: row.try_get("job").map_err(err())?,
        started_at: parse_time(&started, "schedule_runs.started_at")?,
        finished_at: finished
            .map(|f| parse_time(&f, "schedule_runs.finished_at"))
            .transpose()?,
        outcome: {
            let outcome: String = row.try_get("outcome").map_err(err())?;
            outcome
                .parse()
                .map_err(|e| StoreError::Inconsistent(format!("schedule_runs.outcome: {e}")))?
        },
        summary: summary
            .map(|s| {
                serde_json::from_str(&s).map_err(|e| {
                    StoreError::Inconsistent(format!("schedule_runs.summary is not JSON: {e}"))
                })
            })
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn memory() -> Store {
        Store::open("sqlite::memory:").await.unwrap()
    }

    async fn round_trip(store: &Store) {
        assert_eq!(store.watermark("graph-alerts").await.unwrap(), None);
        store.set_watermark("graph-alerts", "one").await.unwrap();
        store.set_watermark("graph-alerts", "two").await.unwrap();
        store.set_watermark("other", "x").await.unwrap();
        assert_eq!(
            store.watermark("graph-alerts").await.unwrap().as_deref(),
            Some("two")
        );

        let t0: DateTime<Utc> = "2026-03-27T10:00:00Z".parse().unwrap();
        let t1: DateTime<Utc> = "2026-03-27T10:05:00.123456Z".parse().unwrap();
        let a = store
            .start_schedule_run("poll", "poll-alerts", t0)
            .await
            .unwrap();
        store
            .finish_schedule_run(a, t0, JobOutcome::Succeeded, &json!({"detections": 2}))
            .await
            .unwrap();
        let b = store
            .start_schedule_run("poll", "poll-alerts", t1)
            .await
            .unwrap();
        store
            .start_schedule_run("verify", "verify-audit", t0)
            .await
            .unwrap();
        let last = store.last_schedule_runs().await.unwrap();
        assert_eq!(last["poll"], t1);
        assert_eq!(last["verify"], t0);
        let runs = store.schedule_runs(10).await.unwrap();
        assert_eq!(runs.len(), 3);
        let first = runs.iter().find(|r| r.pk == a).unwrap();
        assert_eq!(first.outcome, "succeeded");
        assert_eq!(first.finished_at, Some(t0));
        assert_eq!(first.summary, Some(json!({"detections": 2})));
        let running = runs.iter().find(|r| r.pk == b).unwrap();
        assert_eq!(
            (running.outcome.as_str(), running.finished_at),
            ("running", None)
        );
    }

    #[tokio::test]
    async fn sqlite_memory_round_trip() {
        round_trip(&memory().await).await;
    }

    #[tokio::test]
    async fn sqlite_file_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::open(&url).await.unwrap();
        round_trip(&store).await;
        store.close().await;
        let store = Store::open(&url).await.unwrap();
        assert_eq!(
            store.watermark("other").await.unwrap().as_deref(),
            Some("x")
        );
        assert_eq!(store.last_schedule_runs().await.unwrap().len(), 2);
    }

    /// Same round trip on PostgreSQL, in a throwaway database; skipped (passing) when no server
    /// answers at `STANCH_TEST_POSTGRES`, unless `STANCH_REQUIRE_POSTGRES` is set.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_round_trip() {
        use sqlx::{Connection, Executor};
        let admin_url = std::env::var("STANCH_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(e) if std::env::var_os("STANCH_REQUIRE_POSTGRES").is_some() => {
                panic!(
                    "STANCH_REQUIRE_POSTGRES is set but PostgreSQL at {admin_url} is unreachable: {e}"
                )
            }
            Err(_) => {
                eprintln!("skipping: no PostgreSQL at {admin_url}");
                return;
            }
        };
        let name = format!(
            "stanch_test_sched_{}_{}",
            std::process::id(),
            Utc::now().timestamp_subsec_nanos()
        );
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let store = Store::open(&format!("{base}/{name}")).await.unwrap();
        assert_eq!(store.backend(), crate::store::Backend::Postgres);
        round_trip(&store).await;
        store.close().await;
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {name} WITH (FORCE)"
            )))
            .await
            .unwrap();
    }
}
