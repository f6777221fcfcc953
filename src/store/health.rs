//! Whether the database can take a write now: what `/readyz` reports.

use super::error::{StoreError, query_err};
use super::{Backend, Store};

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
}
