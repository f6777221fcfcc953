//! Where each audit forwarder stands: the seq of the last record its receiver acknowledged
//! (`audit_forward`, see `src/forward`). Forwarding resumes after it.

use sqlx::Row;

use super::Store;
use super::error::{StoreError, query_err};

impl Store {
    /// The last seq the forwarder `name` delivered; 0 before its first delivery.
    pub async fn forward_cursor(&self, name: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT seq FROM audit_forward WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("reading a forwarding cursor"))?;
        row.map_or(Ok(0), |r| {
            r.try_get::<i64, _>(0)
                .map_err(query_err("reading a forwarding cursor"))
        })
    }

    /// Every forwarder's cursor, by name.
    pub async fn forward_cursors(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT name, seq FROM audit_forward ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading the forwarding cursors"))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(query_err("reading the forwarding cursors"))
    }

    /// Records that the forwarder `name` delivered everything up to `seq`; never moves back.
    pub async fn set_forward_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "INSERT INTO audit_forward (name, seq, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at \
                 WHERE audit_forward.seq < excluded.seq",
            )
            .bind(name.to_string())
            .bind(seq)
            .bind(super::timestamp_now()),
        )
        .await
        .map_err(query_err("moving a forwarding cursor"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[tokio::test]
    async fn a_cursor_starts_at_zero_survives_a_reopen_and_never_moves_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.forward_cursor("syslog").await.unwrap(), 0);
        store.set_forward_cursor("syslog", 7).await.unwrap();
        store.set_forward_cursor("syslog", 5).await.unwrap();
        store.set_forward_cursor("hec", 2).await.unwrap();
        drop(store);
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.forward_cursor("syslog").await.unwrap(), 7);
        assert_eq!(store.forward_cursor("hec").await.unwrap(), 2);
    }
}
