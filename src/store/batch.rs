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
const DETECTION_COLUMNS: usize = 11;
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
        self.record_prepared(PreparedBatch::new(run_id, items, Utc::now())?)
            .await
    }

    /// Writes a batch prepared beforehand (see [`PreparedBatch`]): seals its audit records onto
    /// the chain and inserts everything in one transaction.
    pub async fn record_prepared(&self, batch: PreparedBatch) -> Result<(), StoreError> {
        if batch.events.is_empty() {
            return Ok(());
        }
        let PreparedBatch {
            run_id,
            received_at,
            events,
            detections,
            actions,
        } = batch;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting a transaction"))?;
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
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a batch of detections"))
    }
}

/// A batch turned into rows and audit events, ready to write. Preparing is all the CPU work of
/// recording (serializing detections, plans and parameters); doing it before handing the batch
/// to a writer lets it overlap with the previous batch's database work.
#[derive(Debug)]
pub struct PreparedBatch {
    run_id: i64,
    received_at: String,
    events: Vec<AuditEvent>,
    detections: Vec<NewDetection>,
    actions: Vec<NewAction>,
}

#[derive(Debug)]
struct NewDetection {
    /// Index of its `detection.received` event in the batch; its seq becomes the row's key.
    event: usize,
    source: String,
    id: String,
    name: String,
    severity: Option<&'static str>,
    observed_at: String,
    upn: Option<String>,
    user_id: Option<String>,
    line: Option<i64>,
}

#[derive(Debug)]
struct NewAction {
    /// Index of its detection in the batch.
    detection: usize,
    key: String,
    playbook: String,
    step: String,
    kind: &'static str,
    target_upn: Option<String>,
    target_id: Option<String>,
    params: String,
    mode: &'static str,
    gate: String,
    status: &'static str,
    reason: String,
    expires_after_secs: Option<i64>,
}

impl PreparedBatch {
    pub fn new(
        run_id: i64,
        items: &[Evaluation<'_>],
        now: DateTime<Utc>,
    ) -> Result<PreparedBatch, StoreError> {
        let mut batch = PreparedBatch {
            run_id,
            received_at: timestamp(now),
            events: Vec::with_capacity(items.len() * 2),
            detections: Vec::with_capacity(items.len()),
            actions: Vec::new(),
        };
        for item in items {
            match *item {
                Evaluation::Accepted {
                    line,
                    detection,
                    plan,
                } => batch.accept(now, line, detection, plan)?,
                Evaluation::Rejected {
                    line,
                    ref reason,
                    raw,
                } => batch.reject(now, line, reason, raw),
            }
        }
        Ok(batch)
    }

    fn accept(
        &mut self,
        now: DateTime<Utc>,
        line: Option<usize>,
        d: &Detection,
        plan: &Plan,
    ) -> Result<(), StoreError> {
        let run_id = self.run_id;
        let body = serde_json::to_string(d).map_err(json_err("a detection"))?;
        let line_json = line.map_or_else(|| "null".to_string(), |n| n.to_string());
        // The detection is serialized once and embedded as is: the audit record is its only copy.
        let received = format!(r#"{{"run_id":{run_id},"line":{line_json},"detection":{body}}}"#);
        let decided =
            serde_json::to_string(&Decided { run_id, plan }).map_err(json_err("a plan"))?;
        let subject = d.key();
        let index = self.detections.len();
        let user = d.user.as_ref();
        self.detections.push(NewDetection {
            event: self.events.len(),
            source: d.source.clone(),
            id: d.id.clone(),
            name: d.name.clone(),
            severity: d.severity.map(|s| s.as_str()),
            observed_at: timestamp(d.observed_at),
            upn: user.and_then(|u| u.upn.clone()),
            user_id: user.and_then(|u| u.id.clone()),
            line: line.map(|n| n as i64),
        });
        self.events.push(AuditEvent::with_json(
            now,
            "detection.received",
            subject.clone(),
            received,
        ));
        self.events
            .push(AuditEvent::with_json(now, "plan.decided", subject, decided));
        for action in &plan.actions {
            self.actions.push(action_row(index, action)?);
        }
        Ok(())
    }

    fn reject(&mut self, now: DateTime<Utc>, line: Option<usize>, reason: &str, raw: &str) {
        let run_id = self.run_id;
        let kept = truncate(raw, RAW_LIMIT);
        let subject = match line {
            Some(n) => format!("run/{run_id}/line/{n}"),
            None => format!("run/{run_id}"),
        };
        let payload = json!({
            "run_id": run_id,
            "line": line,
            "reason": reason,
            "raw": kept,
            "raw_bytes": raw.len(),
            "truncated": kept.len() < raw.len(),
        });
        self.events
            .push(AuditEvent::new(now, "detection.rejected", subject, payload));
    }
}

/// The `plan.decided` payload, serialized straight from the plan (no intermediate JSON tree).
#[derive(serde::Serialize)]
struct Decided<'a> {
    run_id: i64,
    plan: &'a Plan,
}

fn action_row(detection: usize, action: &PlannedAction) -> Result<NewAction, StoreError> {
    let target = action.target.as_ref();
    Ok(NewAction {
        detection,
        key: action.key.clone(),
        playbook: action.playbook.clone(),
        step: action.step.clone(),
        kind: action.action.name(),
        target_upn: target.and_then(|t| t.upn.clone()),
        target_id: target.and_then(|t| t.id.clone()),
        params: serde_json::to_string(&action.params).map_err(json_err("action params"))?,
        mode: action.mode.as_str(),
        gate: serde_json::to_string(&action.gate).map_err(json_err("an action gate"))?,
        status: action_status(action.mode, &action.gate),
        reason: action.reason.clone(),
        expires_after_secs: action
            .expires_after_secs
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
    })
}

/// Inserts the detections, each keyed by the seq of its `detection.received` audit record.
async fn insert_detections(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    run_id: i64,
    received_at: &str,
    rows: Vec<NewDetection>,
    seqs: &[i64],
) -> Result<(), StoreError> {
    let mut rows = rows.into_iter().zip(seqs.iter().copied()).peekable();
    while rows.peek().is_some() {
        let chunk: Vec<(NewDetection, i64)> = rows
            .by_ref()
            .take(rows_per_statement(DETECTION_COLUMNS))
            .collect();
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
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    run_id: i64,
    at: &str,
    rows: Vec<NewAction>,
    detection_seqs: &[i64],
) -> Result<(), StoreError> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<NewAction> = rows
            .by_ref()
            .take(rows_per_statement(ACTION_COLUMNS))
            .collect();
        let sql = multi_row_insert(
            backend,
            "INSERT INTO actions (run_id, detection_seq, idempotency_key, playbook, step, kind, \
             target_upn, target_id, params, mode, gate, status, reason, expires_after_secs, \
             created_at, updated_at, result)",
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
                .bind(row.params)
                .bind(row.mode)
                .bind(row.gate)
                .bind(row.status)
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
