//! Durable state: runs, detections, planned actions and the hash-chained audit trail, in SQLite
//! (the embedded default) or PostgreSQL, through one code path on sqlx's Any driver.
//!
//! Everything is written with `$n` placeholders and stored as the types every backend shares
//! (integers, text): timestamps are RFC 3339 UTC text and JSON is text.

mod anchor;
mod approval_requests;
mod approvals;
mod audit;
mod batch;
mod campaigns;
mod campaigns_load;
mod campaigns_read;
mod chain;
mod claim;
mod error;
mod execution;
mod expiry;
mod forward;
mod group_commit;
mod guard;
mod health;
mod lease;
mod open;
mod operator;
mod outcome;
mod prepared;
mod recovery;
mod repeats;
mod report;
mod rows;
mod schedule;
mod signatures;
mod sql;
mod write_tx;

#[cfg(test)]
pub(crate) mod tests;

pub use approval_requests::{Delivery, WaitingApproval};
pub use approvals::{DecisionEffect, DecisionError, DecisionRow, NewDecision};
pub use campaigns_read::{CampaignDetail, CampaignSummary, TimelineEntry};
pub use chain::Sealing;
pub use claim::Claim;
pub use error::StoreError;
pub use execution::{lane_named, lane_of};
pub use expiry::{ExpiryChange, ExpiryChanged, ExpiryError, ExpiryOperator};
pub use guard::{BudgetLimit, ClaimGuard};
pub use health::LeaseSummary;
pub use lease::{LEADER, LeaseSettings, Replica};
pub use operator::{ActionFilter, AuditFilter, DetectionSummary};
pub use prepared::PreparedBatch;
pub use prepared::{Evaluation, action_status};
pub use recovery::Recovered;
pub use rows::{ActionRow, RunRow};
pub use schedule::ScheduleRunRow;
pub(crate) use sql::timestamp;
pub(crate) use write_tx::WriteTx;

/// The database handle. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: sqlx::AnyPool,
    /// Where write transactions run: one connection of its own on SQLite (see `open`), the
    /// shared pool on PostgreSQL.
    write_pool: sqlx::AnyPool,
    backend: Backend,
    /// Every write transaction locks the audit chain head, so writers queue anyway; queueing
    /// here, in order, avoids SQLite's busy-handler sleeps (up to 100 ms each) that made the
    /// tail latency of concurrent intake requests reach seconds.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The SQLite file opened, checked before each commit (see `anchor`).
    file: Option<std::sync::Arc<anchor::OpenedFile>>,
    /// The chain head last written to the anchor.
    anchored: std::sync::Arc<tokio::sync::Mutex<i64>>,
    /// This process as one of the replicas sharing the database (see `lease`).
    replica: std::sync::Arc<Replica>,
    /// Where audit records are chained (see `chain`).
    sealing: chain::Sealing,
    /// Wakes this replica's sequencer when pending audit records were committed.
    sealer: std::sync::Arc<tokio::sync::Notify>,
    /// Audit appends waiting to be committed together (see `group_commit`).
    audit_queue: std::sync::Arc<group_commit::AuditQueue>,
}

/// Which database is behind the pool, for the few places where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Now, in the text form every stored timestamp has.
pub fn timestamp_now() -> String {
    sql::timestamp(chrono::Utc::now())
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction, in turn with this process's other writers.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<(tokio::sync::OwnedMutexGuard<()>, WriteTx), StoreError> {
        let guard = self.writer.clone().lock_owned().await;
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let mut tx = WriteTx::begin_with(&self.write_pool, self.file.clone(), begin)
            .await
            .map_err(error::query_err("starting a transaction"))?;
        if self.sealing == chain::Sealing::Sequenced {
            tx.drains_pending = Some(self.backend);
        }
        Ok((guard, tx))
    }

    /// A write transaction for the hot paths that lock only what they touch (see
    /// [`Store::join_chain`]): where records are sequenced, it does not queue behind this
    /// process's other writers.
    pub(crate) async fn hot_tx(
        &self,
    ) -> Result<(Option<tokio::sync::OwnedMutexGuard<()>>, WriteTx), StoreError> {
        if self.sealing == chain::Sealing::Inline {
            let (guard, tx) = self.write_tx().await?;
            return Ok((Some(guard), tx));
        }
        let tx = WriteTx::begin(&self.pool, self.file.clone())
            .await
            .map_err(error::query_err("starting a transaction"))?;
        Ok((None, tx))
    }

    /// Runs one write statement on its own (autocommit), in turn with this process's other
    /// writers on SQLite: left to SQLite's busy handler, a write that met another connection's
    /// transaction slept in steps of up to 100 ms (10 ms on average for every action's outcome
    /// with 16 accounts contained at once).
    pub(crate) async fn execute_write<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let _writer = self.writer.lock().await;
                if let Some(file) = &self.file {
                    file.check()?;
                }
                query.execute(&self.write_pool).await
            }
            Backend::Postgres => query.execute(&self.pool).await,
        }
    }

    /// Where this store chains audit records.
    pub fn sealing(&self) -> chain::Sealing {
        self.sealing
    }

    /// Closes the pool, waiting for connections to be returned (flushes SQLite's WAL on exit).
    pub async fn close(&self) {
        // What this process wrote is chained before it goes, not left to another replica.
        if let Err(e) = self.seal_pending().await {
            tracing::warn!(error = %e, "cannot seal pending audit records before closing");
        }
        self.write_pool.close().await;
        self.pool.close().await;
    }
}
