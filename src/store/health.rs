//! Whether the database can take a write now, and what this replica holds: what `/readyz` and
//! `/metrics` report.

use sqlx::Row;

use super::error::{StoreError, query_err};
use super::sql::timestamp;
use super::{Backend, Store};

/// This replica's share of the work, as the database sees it.
#[derive(Debug, Clone, Default)]
pub struct LeaseSummary {
    /// Whether this replica holds the leader lease (it runs the scheduled jobs).
    pub leader: bool,
    /// Actions whose live lease this replica holds.
    pub held: i64,
    /// Actions whose lease lapsed and that no replica has rescued yet.
    pub lapsed: i64,
    /// Audit records written and not yet sealed onto the chain (sequenced sealing).
    pub audit_pending: i64,
}

impl Store {
    /// Takes the write lock the way an append would (an update of the chain head that changes
    /// nothing, rolled back), waiting at most `wait_ms` for whoever holds it. Reads alone would
    /// answer while another process holds the database exclusively locked.
    pub async fn check_writable(&self, wait_ms: u64) -> Result<(), StoreError> {
        if let Some(file) = &self.file {
            file.check()
                .map_err(|e| StoreError::Replaced(e.to_string()))?;
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting a readiness check"))?;
        let wait = match self.backend {
            Backend::Sqlite => format!("PRAGMA busy_timeout = {wait_ms}"),
            Backend::Postgres => format!("SET LOCAL lock_timeout = '{wait_ms}ms'"),
        };
        sqlx::query(sqlx::AssertSqlSafe(wait))
            .execute(&mut *tx)
            .await
            .map_err(query_err("setting the readiness check's wait"))?;
        let probe = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 0")
            .execute(&mut *tx)
            .await
            .map_err(query_err("taking the write lock"));
        if self.backend == Backend::Sqlite {
            // The connection goes back to the pool with the store's usual wait.
            let _ = sqlx::query("PRAGMA busy_timeout = 30000")
                .execute(&mut *tx)
                .await;
        }
        let _ = tx.rollback().await;
        probe.map(|_| ())
    }

    /// The migrations applied successfully to this database, and those this binary carries
    /// (equal once it is migrated; `stanch doctor` reports both).
    pub async fn migrations(&self) -> Result<(i64, i64), StoreError> {
        let known = super::open::migrator(self.backend).iter().count() as i64;
        let applied: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(query_err("reading the applied migrations"))?
            .try_get(0)
            .map_err(query_err("reading the applied migrations"))?;
        Ok((applied, known))
    }

    /// What this replica holds now (see [`LeaseSummary`]).
    pub async fn lease_summary(&self) -> Result<LeaseSummary, StoreError> {
        let what = "reading this replica's leases";
        let now = timestamp(chrono::Utc::now());
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN lease_owner = $1 AND lease_until >= $2 THEN 1 ELSE 0 END), 0) AS held, \
               COALESCE(SUM(CASE WHEN status = 'executing' AND (lease_until IS NULL OR lease_until < $2) \
                 THEN 1 ELSE 0 END), 0) AS lapsed \
             FROM actions WHERE status IN ('pending', 'executing', 'rolling_back') \
             AND lease_owner IS NOT NULL OR status = 'executing'",
        )
        .bind(self.replica.id.clone())
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(query_err(what))?;
        let leader = self.lease_holder(super::LEADER).await?.as_deref() == Some(&self.replica.id);
        let audit_pending = match self.backend {
            Backend::Postgres => sqlx::query("SELECT COUNT(*) AS n FROM audit_pending")
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get::<i64, _>("n"))
                .map_err(query_err(what))?,
            Backend::Sqlite => 0,
        };
        Ok(LeaseSummary {
            leader,
            held: row.try_get("held").map_err(query_err(what))?,
            lapsed: row.try_get("lapsed").map_err(query_err(what))?,
            audit_pending,
        })
    }
}
