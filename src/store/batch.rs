use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::{Any, Row, Transaction};

use super::audit::{lock_head, write_records};
use super::error::{StoreError, json_err, query_err};
use super::sql::{multi_row_insert, rows_per_statement};
use super::{Backend, Store};
use crate::audit::{self, AuditEvent};
use crate::engine::{Gate, Mode, Plan, PlannedAction};
use crate::intake::Detection;

/// Rejected input is kept in the audit trail up to this size, so one huge line cannot bloat it.
const RAW_LIMIT: usize = 64 * 1024;
const DETECTION_COLUMNS: usize = 12;
const ACTION_COLUMNS: usize = 17;

/// What the pipeline made of one input line.
#[derive(Debug, Clone)]
pub enum Evaluation<'a> {
    Accepted {
        line: Option<usize>,
        detection: &'a Detection,
        plan: &'a Plan,
    },
    Rejected {
        line: Option<usize>,
        reason: String,
        raw: &'a str,
    },
}

/// The status a freshly planned action starts in.
pub fn action_status(mode: Mode, gate: &Gate) -> &'static str {
    match (mode, gate.needs_approval()) {
        (Mode::Passive, false) => "would_execute",
        (Mode::Passive, true) => "would_request_approval",
        (Mode::Active, false) => "pending",
        (Mode::Active, true) => "awaiting_approval",
    }
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    /// Opens a run and records `run.started`. Returns the run id.
    pub async fn start_run(
        &self,
        mode: Mode,
        input: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting a transaction"))?;
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
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting a transaction"))?;
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
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let received_at = timestamp(now);
        let mut events = Vec::with_capacity(items.len() * 2);
        let mut detections = Vec::new();
        for item in items {
            match *item {
                Evaluation::Accepted {
                    line,
                    detection,
                    plan,
                } => {
                    let body = serde_json::to_value(detection).map_err(json_err("a detection"))?;
                    let body_text =
                        serde_json::to_string(&body).map_err(json_err("a detection"))?;
                    let plan_value = serde_json::to_value(plan).map_err(json_err("a plan"))?;
                    let subject = detection.key();
                    detections.push(DetectionRow {
                        line,
                        detection,
                        plan,
                        body_text,
                        event: events.len(),
                    });
                    events.push(AuditEvent::new(
                        now,
                        "detection.received",
                        subject.clone(),
                        json!({"run_id": run_id, "line": line, "detection": body}),
                    ));
                    events.push(AuditEvent::new(
                        now,
                        "plan.decided",
                        subject,
                        json!({"run_id": run_id, "plan": plan_value}),
                    ));
                }
                Evaluation::Rejected {
                    line,
                    ref reason,
                    raw,
                } => {
                    let kept = truncate(raw, RAW_LIMIT);
                    let subject = match line {
                        Some(n) => format!("run/{run_id}/line/{n}"),
                        None => format!("run/{run_id}"),
                    };
                    events.push(AuditEvent::new(
                        now,
                        "detection.rejected",
                        subject,
                        json!({
                            "run_id": run_id,
                            "line": line,
                            "reason": reason,
                            "raw": kept,
                            "raw_bytes": raw.len(),
                            "truncated": kept.len() < raw.len(),
                        }),
                    ));
                }
            }
        }

        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting a transaction"))?;
        let head = lock_head(&mut tx).await?;
        let (records, head) = audit::seal_all(&head, &events);
        let audit_seqs: Vec<i64> = detections.iter().map(|d| records[d.event].seq).collect();
        let pks = insert_detections(
            &mut tx,
            self.backend,
            run_id,
            &received_at,
            &detections,
            &audit_seqs,
        )
        .await?;
        insert_actions(
            &mut tx,
            self.backend,
            run_id,
            &received_at,
            &detections,
            &pks,
        )
        .await?;
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a batch of detections"))
    }
}

struct DetectionRow<'a> {
    line: Option<usize>,
    detection: &'a Detection,
    plan: &'a Plan,
    body_text: String,
    /// Index of its `detection.received` event in the batch.
    event: usize,
}

/// Inserts the detections; returns their primary keys, in order.
async fn insert_detections(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    run_id: i64,
    received_at: &str,
    rows: &[DetectionRow<'_>],
    audit_seqs: &[i64],
) -> Result<Vec<i64>, StoreError> {
    // RETURNING gives no guaranteed row order, so each row is matched back by its audit seq,
    // which is unique.
    let mut pk_by_seq = HashMap::with_capacity(rows.len());
    let per_statement = rows_per_statement(DETECTION_COLUMNS);
    for (chunk, seqs) in rows
        .chunks(per_statement)
        .zip(audit_seqs.chunks(per_statement))
    {
        let sql = multi_row_insert(
            backend,
            "INSERT INTO detections (run_id, source, detection_id, name, severity, observed_at, \
             user_upn, user_id, line, body, received_at, audit_seq)",
            DETECTION_COLUMNS,
            chunk.len(),
            "RETURNING pk, audit_seq",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (row, &seq) in chunk.iter().zip(seqs) {
            let d = row.detection;
            let user = d.user.as_ref();
            query = query
                .bind(run_id)
                .bind(d.source.clone())
                .bind(d.id.clone())
                .bind(d.name.clone())
                .bind(d.severity.map(|s| s.as_str()))
                .bind(timestamp(d.observed_at))
                .bind(user.and_then(|u| u.upn.clone()))
                .bind(user.and_then(|u| u.id.clone()))
                .bind(row.line.map(|n| n as i64))
                .bind(row.body_text.clone())
                .bind(received_at.to_string())
                .bind(seq);
        }
        let returned = query
            .fetch_all(&mut **tx)
            .await
            .map_err(query_err("writing detections"))?;
        for r in returned {
            let pk: i64 = r.try_get("pk").map_err(query_err("writing detections"))?;
            let seq: i64 = r
                .try_get("audit_seq")
                .map_err(query_err("writing detections"))?;
            pk_by_seq.insert(seq, pk);
        }
    }
    audit_seqs
        .iter()
        .map(|seq| {
            pk_by_seq.get(seq).copied().ok_or_else(|| {
                StoreError::Inconsistent(format!(
                    "no detection row came back for audit record {seq}"
                ))
            })
        })
        .collect()
}

async fn insert_actions(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    run_id: i64,
    at: &str,
    rows: &[DetectionRow<'_>],
    pks: &[i64],
) -> Result<(), StoreError> {
    let actions: Vec<(i64, &PlannedAction)> = rows
        .iter()
        .zip(pks)
        .flat_map(|(row, &pk)| row.plan.actions.iter().map(move |action| (pk, action)))
        .collect();
    for chunk in actions.chunks(rows_per_statement(ACTION_COLUMNS)) {
        let sql = multi_row_insert(
            backend,
            "INSERT INTO actions (run_id, detection_pk, idempotency_key, playbook, step, kind, \
             target_upn, target_id, params, mode, gate, status, reason, expires_after_secs, \
             created_at, updated_at, result)",
            ACTION_COLUMNS,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &(pk, action) in chunk {
            let params =
                serde_json::to_string(&action.params).map_err(json_err("action params"))?;
            let gate = serde_json::to_string(&action.gate).map_err(json_err("an action gate"))?;
            let target = action.target.as_ref();
            query = query
                .bind(run_id)
                .bind(pk)
                .bind(action.key.clone())
                .bind(action.playbook.clone())
                .bind(action.step.clone())
                .bind(action.action.name())
                .bind(target.and_then(|t| t.upn.clone()))
                .bind(target.and_then(|t| t.id.clone()))
                .bind(params)
                .bind(action.mode.as_str())
                .bind(gate)
                .bind(action_status(action.mode, &action.gate))
                .bind(action.reason.clone())
                .bind(
                    action
                        .expires_after_secs
                        .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                )
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

/// The longest prefix of `text` that fits in `limit` bytes without splitting a character.
fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests;
