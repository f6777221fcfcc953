use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::chain::{Sealing, head_from_row};
use super::error::{StoreError, query_err};
use stanch_core::audit::{self, AuditEvent, AuditRecord, ChainHead, VerifyReport};

/// How many records a page of [`Store::audit_records_after`] returns when reading everything.
const PAGE: i64 = 10_000;

impl Store {
    /// Writes `events` to the audit trail, in order, in one transaction: sealed onto the chain
    /// now (with other appends waiting at the same moment, see `group_commit`), or (sequenced,
    /// on PostgreSQL) pending and sealed by the sequencer within moments.
    pub async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if self.sealing == Sealing::Sequenced {
            return self.enqueue_audit(events).await;
        }
        self.append_audit_grouped(events).await
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

pub(super) fn record_from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
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
