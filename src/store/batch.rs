use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::Row;

use super::WriteTx;
use super::chain::{lock_head, write_records};
use super::error::{StoreError, json_err, query_err};
use super::prepared::{Evaluation, NewAction, NewDetection, PreparedBatch};
use super::sql::{multi_row_insert, statement_rows, timestamp};
use super::{Backend, Store};
use stanch_core::audit::{self, AuditEvent};
use stanch_core::vocab::Mode;

const DETECTION_COLUMNS: usize = 11;
const ACTION_COLUMNS: usize = 18;

impl Store {
    /// Opens a run and records `run.started`. Returns the run id.
    pub async fn start_run(
        &self,
        mode: Mode,
        input: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let row = sqlx::query(
            "INSERT INTO runs (started_at, mode, input) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(timestamp(at))
        .bind(mode.as_str())
        .bind(input.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(query_err("creating a run"))?;
        let run_id: i64 = row.try_get("id").map_err(query_err("creating a run"))?;
        let event = AuditEvent::new(
            at,
            "run.started",
            format!("run/{run_id}"),
            json!({"run_id": run_id, "mode": mode, "input": input}),
        );
        let (records, head) = audit::seal_all(&head, [&event]);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a new run"))?;
        Ok(run_id)
    }

    /// Closes a run with its summary and records `run.finished`.
    pub async fn finish_run(&self, run_id: i64, summary: &Value) -> Result<(), StoreError> {
        let at = Utc::now();
        let summary_text = serde_json::to_string(summary).map_err(json_err("the run summary"))?;
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let done = sqlx::query("UPDATE runs SET finished_at = $1, summary = $2 WHERE id = $3")
            .bind(timestamp(at))
            .bind(summary_text)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(query_err("finishing a run"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchRun { run_id });
        }
        let event = AuditEvent::new(
            at,
            "run.finished",
            format!("run/{run_id}"),
            json!({"run_id": run_id, "summary": summary}),
        );
        let (records, head) = audit::seal_all(&head, [&event]);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a finished run"))
    }

    /// Records a batch of evaluated input in one transaction: accepted detections with their
    /// planned actions, and for every item its audit records (`detection.received` and
    /// `plan.decided`, or `detection.rejected`), so nothing read is ever lost unrecorded.
    pub async fn record_batch(
        &self,
        run_id: i64,
        items: &[Evaluation<'_>],
    ) -> Result<Vec<i64>, StoreError> {
        self.record_prepared(PreparedBatch::new(run_id, items, Utc::now())?)
            .await
    }

    /// Writes a batch prepared beforehand (see [`PreparedBatch`]): seals its audit records onto
    /// the chain and inserts everything in one transaction.
    /// Returns the seq that keys each accepted detection, in batch order.
    pub async fn record_prepared(&self, batch: PreparedBatch) -> Result<Vec<i64>, StoreError> {
        if batch.events.is_empty() {
            return Ok(Vec::new());
        }
        let PreparedBatch {
            run_id,
            received_at,
            events,
            detections,
            actions,
            campaign_links,
            campaigns,
        } = batch;
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let (records, head) = audit::seal_all(&head, &events);
        drop(events);
        let detection_seqs: Vec<i64> = detections.iter().map(|d| records[d.event].seq).collect();
        insert_detections(
            &mut tx,
            self.backend,
            run_id,
            &received_at,
            detections,
            &detection_seqs,
        )
        .await?;
        insert_actions(
            &mut tx,
            self.backend,
            run_id,
            &received_at,
            actions,
            &detection_seqs,
        )
        .await?;
        if !campaigns.is_empty() || !campaign_links.is_empty() {
            let links: Vec<(i64, String)> = campaign_links
                .into_iter()
                .map(|(i, id)| (detection_seqs[i], id))
                .collect();
            super::campaigns::write_dirty(&mut tx, self.backend, campaigns, &links, &received_at)
                .await?;
        }
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a batch of detections"))?;
        Ok(detection_seqs)
    }
}

/// Inserts the detections, each keyed by the seq of its `detection.received` audit record.
async fn insert_detections(
    tx: &mut WriteTx,
    backend: Backend,
    run_id: i64,
    received_at: &str,
    rows: Vec<NewDetection>,
    seqs: &[i64],
) -> Result<(), StoreError> {
    let mut rows = rows.into_iter().zip(seqs.iter().copied()).peekable();
    while rows.peek().is_some() {
        let size = statement_rows(rows.len(), DETECTION_COLUMNS);
        let chunk: Vec<(NewDetection, i64)> = rows.by_ref().take(size).collect();
        let sql = multi_row_insert(
            backend,
            "INSERT INTO detections (seq, run_id, source, detection_id, name, severity, observed_at, \
             user_upn, user_id, line, received_at)",
            DETECTION_COLUMNS,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (row, seq) in chunk {
            query = query
                .bind(seq)
                .bind(run_id)
                .bind(row.source)
                .bind(row.id)
                .bind(row.name)
                .bind(row.severity)
                .bind(row.observed_at)
                .bind(row.upn)
                .bind(row.user_id)
                .bind(row.line)
                .bind(received_at.to_string());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(query_err("writing detections"))?;
    }
    Ok(())
}

async fn insert_actions(
    tx: &mut WriteTx,
    backend: Backend,
    run_id: i64,
    at: &str,
    rows: Vec<NewAction>,
    detection_seqs: &[i64],
) -> Result<(), StoreError> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let size = statement_rows(rows.len(), ACTION_COLUMNS);
        let chunk: Vec<NewAction> = rows.by_ref().take(size).collect();
        let sql = multi_row_insert(
            backend,
            "INSERT INTO actions (run_id, detection_seq, idempotency_key, playbook, step, kind, \
             target_upn, target_id, account, params, mode, gate, status, reason, \
             expires_after_secs, created_at, updated_at, result)",
            ACTION_COLUMNS,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(run_id)
                .bind(detection_seqs[row.detection])
                .bind(row.key)
                .bind(row.playbook)
                .bind(row.step)
                .bind(row.kind)
                .bind(row.target_upn)
                .bind(row.target_id)
                .bind(row.account)
                .bind(row.params)
                .bind(row.mode)
                .bind(row.gate)
                .bind(row.status.as_str())
                .bind(row.reason)
                .bind(row.expires_after_secs)
                .bind(at.to_string())
                .bind(at.to_string())
                .bind(None::<String>);
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(query_err("writing planned actions"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
