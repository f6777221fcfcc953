//! Signed intake requests already received, shared by every replica of one PostgreSQL database:
//! a captured request replayed to another replica within its window is refused as it would be by
//! the replica that took it first. On SQLite one file is one process, whose memory suffices.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::query_err;
use super::{Backend, Store, StoreError};

/// Expired signatures are swept once in this many first uses.
const SWEEP_EVERY: u64 = 256;

static FIRST_USES: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// Records a signature (`key`, valid until `expires`, unix seconds) as used by every replica;
    /// false if one already took it. A signature whose window has passed counts as new here:
    /// the window check refuses it anyway.
    pub async fn first_use_of_signature(
        &self,
        key: &str,
        expires: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(true);
        }
        if FIRST_USES
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            self.execute_write(
                sqlx::query("DELETE FROM seen_signatures WHERE expires_at < $1").bind(now),
            )
            .await
            .map_err(query_err("sweeping expired signatures"))?;
        }
        let taken = self
            .execute_write(
                sqlx::query(
                    "INSERT INTO seen_signatures (key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE seen_signatures.expires_at < $3",
                )
                .bind(key)
                .bind(expires)
                .bind(now),
            )
            .await
            .map_err(query_err("recording a signed request"))?;
        Ok(taken.rows_affected() == 1)
    }

    /// Forgets a signature whose request stored nothing, so sending it again is no replay.
    pub async fn forget_signature(&self, key: &str) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        self.execute_write(sqlx::query("DELETE FROM seen_signatures WHERE key = $1").bind(key))
            .await
            .map_err(query_err("forgetting a signed request"))?;
        Ok(())
    }
}
