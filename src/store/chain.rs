//! How a write joins the audit chain without every replica queueing on one row, and the chain
//! head itself: its lock, and writing sealed records under it.
//!
//! On SQLite (one writer at a time anyway) every write transaction seals its records inline,
//! under the chain head. On PostgreSQL, where replicas write side by side, the hot paths (a
//! claim, the audit record around each Graph call) write their records to `audit_pending` inside
//! their own transaction, so a record is durable before what it describes happens, and take only
//! the locks their rails need (the idempotency key, the account, the budgets). A sequencer in
//! every replica chains pending records in id order in short transactions, as a transparency
//! log's sequencer does. Writes that still seal inline (intake, approvals, campaigns, rescue)
//! first seal whatever is pending, so the chain never places a record before one that committed
//! ahead of it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::WriteTx;
use super::error::{StoreError, query_err};
use super::sql::{multi_row_insert, rows_per_statement, statement_rows};
use super::{Backend, Store};
use sqlx::any::AnyRow;
use stanch_core::audit::{self, AuditEvent, AuditRecord, ChainHead};

const PENDING_COLUMNS: usize = 4;
const AUDIT_COLUMNS: usize = 7;

/// How many pending records one sealing transaction chains.
const SEAL_BATCH: i64 = 2_000;

/// Where audit records are chained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// In the writing transaction, under the chain head: SQLite, or PostgreSQL with
    /// `STANCH_AUDIT_SEALING=inline` (one replica's throughput; what every write did before).
    Inline,
    /// Written as pending by the hot paths and chained by the sequencer: PostgreSQL's default.
    Sequenced,
}

impl Sealing {
    pub(super) fn for_backend(backend: Backend) -> Sealing {
        match (backend, std::env::var("STANCH_AUDIT_SEALING").as_deref()) {
            (Backend::Sqlite, _) | (Backend::Postgres, Ok("inline")) => Sealing::Inline,
            (Backend::Postgres, Ok(other)) if other != "sequenced" => {
                tracing::warn!(
                    value = other,
                    "STANCH_AUDIT_SEALING is neither `inline` nor `sequenced`; sequenced it is"
                );
                Sealing::Sequenced
            }
            (Backend::Postgres, _) => Sealing::Sequenced,
        }
    }
}

/// A hot-path transaction's place on the chain: the locked head when sealing inline, or the
/// pending table.
pub(crate) enum ChainSlot {
    Head(ChainHead),
    /// Sealed as they come and written together by [`ChainSlot::flush`]: a group of writes
    /// sharing one transaction (see `group_commit`).
    Collect {
        head: ChainHead,
        records: Vec<AuditRecord>,
    },
    Pending,
}

impl ChainSlot {
    /// Appends `events` in order: sealed now, or pending for the sequencer.
    pub(crate) async fn append<'a>(
        &mut self,
        tx: &mut WriteTx,
        backend: Backend,
        events: impl IntoIterator<Item = &'a AuditEvent>,
    ) -> Result<(), StoreError> {
        match self {
            ChainSlot::Head(head) => {
                let (records, next) = audit::seal_all(head, events);
                write_records(tx, backend, records, &next).await?;
                *head = next;
                Ok(())
            }
            ChainSlot::Collect { head, records } => {
                let (sealed, next) = audit::seal_all(head, events);
                records.extend(sealed);
                *head = next;
                Ok(())
            }
            ChainSlot::Pending => {
                let events: Vec<&AuditEvent> = events.into_iter().collect();
                enqueue(tx, backend, &events).await
            }
        }
    }
    /// Writes what was collected, and moves the head past it.
    pub(crate) async fn flush(
        &mut self,
        tx: &mut WriteTx,
        backend: Backend,
    ) -> Result<(), StoreError> {
        if let ChainSlot::Collect { head, records } = self {
            write_records(tx, backend, std::mem::take(records), head).await?;
        }
        Ok(())
    }
}

impl Store {
    /// Joins the chain for a hot-path write that must exclude only the writers sharing one of
    /// `keys` (an idempotency key, an account, a budget): inline, that is everyone (the head
    /// lock); sequenced, a transaction-scoped advisory lock per key, taken in sorted order so
    /// two claims never wait on each other in a circle.
    pub(crate) async fn join_chain(
        &self,
        tx: &mut WriteTx,
        mut keys: Vec<String>,
    ) -> Result<ChainSlot, StoreError> {
        if self.sealing == Sealing::Inline {
            return Ok(ChainSlot::Head(super::chain::lock_head(tx).await?));
        }
        keys.sort();
        keys.dedup();
        if !keys.is_empty() {
            let values: Vec<String> = (1..=keys.len()).map(|n| format!("(${n})")).collect();
            let sql = format!(
                "SELECT pg_advisory_xact_lock(hashtext(k)) IS NULL AS locked FROM (VALUES {}) AS t(k)",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for key in keys {
                query = query.bind(format!("stanch-claim:{key}"));
            }
            query
                .fetch_all(&mut **tx)
                .await
                .map_err(query_err("taking a claim's locks"))?;
        }
        Ok(ChainSlot::Pending)
    }

    /// Tells this replica's sequencer that pending records were committed.
    pub(crate) fn pending_committed(&self) {
        if self.sealing == Sealing::Sequenced {
            self.sealer.notify_one();
        }
    }

    /// Chains every committed pending record; returns how many. Readers of the trail call it
    /// first, so what they read is everything written so far.
    pub async fn seal_pending(&self) -> Result<usize, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(0);
        }
        let mut sealed = 0;
        loop {
            let mut tx = WriteTx::begin(&self.pool, None)
                .await
                .map_err(query_err("starting a transaction"))?;
            let head = lock_head_only(&mut tx).await?;
            let (n, _) = seal_batch(&mut tx, self.backend, head).await?;
            tx.commit()
                .await
                .map_err(query_err("committing sealed audit records"))?;
            sealed += n;
            if (n as i64) < SEAL_BATCH {
                return Ok(sealed);
            }
        }
    }
}

/// Chains every pending record after `head`, inside a transaction that holds the head lock;
/// returns the new head. What an inline write on PostgreSQL does before sealing its own.
pub(crate) async fn seal_all_pending(
    tx: &mut WriteTx,
    backend: Backend,
    mut head: ChainHead,
) -> Result<ChainHead, StoreError> {
    loop {
        let (n, next) = seal_batch(tx, backend, head).await?;
        head = next;
        if (n as i64) < SEAL_BATCH {
            return Ok(head);
        }
    }
}

/// Takes up to [`SEAL_BATCH`] pending records (deleting them: the transaction's rollback puts
/// them back) and chains them in id order.
async fn seal_batch(
    tx: &mut WriteTx,
    backend: Backend,
    head: ChainHead,
) -> Result<(usize, ChainHead), StoreError> {
    let what = "taking pending audit records";
    let rows = sqlx::query(
        "DELETE FROM audit_pending WHERE id IN \
         (SELECT id FROM audit_pending ORDER BY id LIMIT $1) \
         RETURNING id, at, kind, subject, payload",
    )
    .bind(SEAL_BATCH)
    .fetch_all(&mut **tx)
    .await
    .map_err(query_err(what))?;
    if rows.is_empty() {
        return Ok((0, head));
    }
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id").map_err(query_err(what))?;
        let at: String = row.try_get("at").map_err(query_err(what))?;
        let at = DateTime::parse_from_rfc3339(&at)
            .map_err(|e| StoreError::Inconsistent(format!("pending audit record {id}: {e}")))?
            .with_timezone(&Utc);
        let event = AuditEvent::with_json(
            at,
            row.try_get::<String, _>("kind").map_err(query_err(what))?,
            row.try_get::<String, _>("subject")
                .map_err(query_err(what))?,
            row.try_get::<String, _>("payload")
                .map_err(query_err(what))?,
        );
        events.push((id, event));
    }
    events.sort_by_key(|(id, _)| *id);
    let (records, next) = audit::seal_all(&head, events.iter().map(|(_, e)| e));
    let n = records.len();
    write_records(tx, backend, records, &next).await?;
    Ok((n, next))
}

async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    events: &[&AuditEvent],
) -> Result<(), StoreError> {
    for chunk in events.chunks(rows_per_statement(PENDING_COLUMNS)) {
        let sql = multi_row_insert(
            backend,
            "INSERT INTO audit_pending (at, kind, subject, payload)",
            PENDING_COLUMNS,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for event in chunk {
            query = query
                .bind(
                    event
                        .at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                )
                .bind(event.kind.clone())
                .bind(event.subject.clone())
                .bind(event.payload.clone());
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(query_err("writing pending audit records"))?;
    }
    Ok(())
}

impl Store {
    /// Appends `events` as pending records outside any transaction (sequenced sealing only).
    pub(super) async fn enqueue_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let events: Vec<&AuditEvent> = events.iter().collect();
        if events.len() <= rows_per_statement(PENDING_COLUMNS) {
            // One statement commits on its own.
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(query_err("writing pending audit records"))?;
            enqueue(&mut conn, self.backend, &events).await?;
        } else {
            let mut tx = WriteTx::begin(&self.pool, None)
                .await
                .map_err(query_err("starting a transaction"))?;
            enqueue(&mut tx, self.backend, &events).await?;
            tx.commit()
                .await
                .map_err(query_err("committing pending audit records"))?;
        }
        self.pending_committed();
        Ok(())
    }
}

/// The sequencer: chains pending records soon after they are committed, and at least every
/// `idle` (records a dead replica's sequencer did not get to).
pub(super) fn spawn_sealer(store: Store, idle: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = store.sealer.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
            if store.pool.is_closed() {
                break;
            }
            if let Err(e) = store.seal_pending().await {
                if store.pool.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "cannot seal pending audit records; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
}

/// Takes the write lock on the chain head, then reads it. Writing before reading is what makes
/// this safe: on PostgreSQL the row lock serializes appenders across processes and replicas, and
/// on SQLite the write takes the database's write lock up front, so two transactions never both
/// read and then deadlock trying to upgrade to writing.
///
/// Where records are sequenced (PostgreSQL), what is pending is sealed first, so a record
/// sealed inline never precedes one committed before it.
pub(crate) async fn lock_head(tx: &mut WriteTx) -> Result<ChainHead, StoreError> {
    let head = lock_head_only(tx).await?;
    match tx.drains_pending {
        Some(backend) => seal_all_pending(tx, backend, head).await,
        None => Ok(head),
    }
}

/// Takes the head lock and reads the head, nothing else.
pub(crate) async fn lock_head_only(tx: &mut WriteTx) -> Result<ChainHead, StoreError> {
    // SQLite's `BEGIN IMMEDIATE` locked the whole database already; elsewhere the row is locked.
    if !tx.holds_write_lock {
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut **tx)
            .await
            .map_err(query_err("locking the audit chain head"))?;
    }
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await
        .map_err(query_err("reading the audit chain head"))?;
    head_from_row(row)
}

/// Inserts sealed records and moves the head to `head`. The caller holds the head lock.
pub(crate) async fn write_records(
    tx: &mut WriteTx,
    backend: Backend,
    records: Vec<AuditRecord>,
    head: &ChainHead,
) -> Result<(), StoreError> {
    let any = !records.is_empty();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let size = statement_rows(records.len(), AUDIT_COLUMNS);
        let chunk: Vec<AuditRecord> = records.by_ref().take(size).collect();
        let sql = multi_row_insert(
            backend,
            "INSERT INTO audit_log (seq, at, kind, subject, payload, prev_hash, hash)",
            AUDIT_COLUMNS,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for record in chunk {
            query = query
                .bind(record.seq)
                .bind(record.at)
                .bind(record.kind)
                .bind(record.subject)
                .bind(record.payload)
                .bind(record.prev_hash)
                .bind(record.hash);
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(query_err("writing audit records"))?;
    }
    if any {
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(head.seq)
            .bind(head.hash.clone())
            .execute(&mut **tx)
            .await
            .map_err(query_err("moving the audit chain head"))?;
    }
    Ok(())
}

pub(super) fn head_from_row(row: Option<AnyRow>) -> Result<ChainHead, StoreError> {
    let row = row.ok_or_else(|| {
        StoreError::Inconsistent("the audit_head row is missing (was it deleted?)".into())
    })?;
    Ok(ChainHead {
        seq: row
            .try_get("seq")
            .map_err(query_err("reading the audit chain head"))?,
        hash: row
            .try_get("hash")
            .map_err(query_err("reading the audit chain head"))?,
    })
}
