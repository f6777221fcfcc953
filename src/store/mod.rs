//! Durable state: runs, detections, planned actions and the hash-chained audit trail, in SQLite
//! (the embedded default) or PostgreSQL, through one code path on sqlx's Any driver.
//!
//! Everything is written with `$n` placeholders and stored as the types every backend shares
//! (integers, text): timestamps are RFC 3339 UTC text and JSON is text.

mod audit;
mod batch;
mod error;
mod execution;
mod open;
mod prepared;
mod rows;
mod sql;

#[cfg(test)]
mod tests;

pub use batch::{Evaluation, action_status};
pub use error::StoreError;
pub use execution::Claim;
pub use prepared::PreparedBatch;
pub use rows::{ActionRow, RunRow};

/// The database handle. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: sqlx::AnyPool,
    backend: Backend,
}

/// Which database is behind the pool, for the few places where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections to be returned (flushes SQLite's WAL on exit).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
