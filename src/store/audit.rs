use sqlx::Row;
use sqlx::any::AnyRow;

use super::WriteTx;
use super::chain::Sealing;
use super::error::{StoreError, query_err};
use super::sql::{multi_row_insert, rows_per_statement};
use super::{Backend, Store};
use stanch_core::audit::{self, AuditEvent, AuditRecord, ChainHead, VerifyReport};

const AUDIT_COLUMNS: usize = 7;

/// How many records a page of [`Store::audit_records_after`] returns when reading everything.
const PAGE: i64 = 10_000;

impl Store {
    /// Writes `events` to the audit trail, in order, in one transaction: sealed onto the chain
    /// now, or (sequenced, on PostgreSQL) pending and sealed by the sequencer within moments.
    pub async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if self.sealing == Sealing::Sequenced {
            return self.enqueue_audit(events).await;
        }
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let (records, head) = audit::seal_all(&head, events);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing audit records"))
    }

    /// The whole trail, in seq order. Reads page by page; see [`Store::audit_records_after`] to
    /// process a big trail without holding it all.
    pub async fn audit_records(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.seal_pending().await?;
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self.audit_records_after(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let full = page.len() as i64 == PAGE;
            all.extend(page);
            if !full {
                break;
            }
        }
        Ok(all)
    }

    /// Up to `limit` records with seq greater than `after_seq`, in seq order.
    pub async fn audit_records_after(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, subject, payload, prev_hash, hash FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading the audit trail"))?;
        rows.iter().map(record_from_row).collect()
    }

    /// The last record's seq and hash, or `None` while the trail is empty.
    pub async fn audit_head(&self) -> Result<Option<ChainHead>, StoreError> {
        self.seal_pending().await?;
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("reading the audit chain head"))?;
        let head = head_from_row(row)?;
        Ok((head.seq > 0).then_some(head))
    }

    /// Checks the stored trail against itself and the chain head.
    ///
    /// The head and the records are read in one transaction so a concurrent append cannot make
    /// an intact trail look truncated or extended.
    pub async fn verify_audit(&self) -> Result<VerifyReport, StoreError> {
        self.seal_pending().await?;
        // A read transaction: the head and the records it vouches for come from one snapshot.
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting a transaction"))?;
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_err("reading the audit chain head"))?;
        let head = head_from_row(row)?;
        let rows = sqlx::query(
            "SELECT seq, at, kind, subject, payload, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(query_err("reading the audit trail"))?;
        tx.commit()
            .await
            .map_err(query_err("ending a read transaction"))?;
        let records = rows
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(audit::verify(records, Some(&head)))
    }
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
        Some(backend) => super::chain::seal_all_pending(tx, backend, head).await,
        None => Ok(head),
    }
}

/// Takes the head lock and reads the head, nothing else.
pub(crate) async fn lock_head_only(tx: &mut WriteTx) -> Result<ChainHead, StoreError> {
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut **tx)
        .await
        .map_err(query_err("locking the audit chain head"))?;
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
        let chunk: Vec<AuditRecord> = records
            .by_ref()
            .take(rows_per_statement(AUDIT_COLUMNS))
            .collect();
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

fn head_from_row(row: Option<AnyRow>) -> Result<ChainHead, StoreError> {
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

fn record_from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    let get = |column: &str| -> Result<String, StoreError> {
        row.try_get(column)
            .map_err(query_err("reading an audit record"))
    };
    Ok(AuditRecord {
        seq: row
            .try_get("seq")
            .map_err(query_err("reading an audit record"))?,
        at: get("at")?,
        kind: get("kind")?,
        subject: get("subject")?,
        payload: get("payload")?,
        prev_hash: get("prev_hash")?,
        hash: get("hash")?,
    })
}
