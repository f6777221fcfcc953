//! Running a recorded action exactly once in effect, and rolling one back.
//!
//! An action is claimed in the store first (a key that already succeeded makes it a duplicate),
//! audited as started, run through the full lifecycle, and its outcome (evidence, result, restore
//! data) recorded with an audit record of how it ended.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};

use super::lifecycle::{ActionError, ActionRunner, Restore};
use super::runner::GraphRunner;
use super::spec::ActionKind;
use crate::audit::AuditEvent;
use crate::engine::{Gate, Mode, PlannedAction};
use crate::intake::UserRef;
use crate::store::{ActionRow, Claim, Store, StoreError};

/// How one action ended, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    pub key: String,
    pub action: ActionKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `succeeded`, `failed`, `needs_human`, `duplicate` or `skipped`.
    pub status: &'static str,
    /// A failure worth retrying later (Graph throttled or unreachable).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
    pub detail: String,
    pub elapsed_ms: u64,
    /// What the action produced (a sweep's findings), for what follows it; not printed.
    #[serde(skip)]
    pub outcome: Option<Value>,
}

/// Whether the engine's plan asks for this action to run now, without a human. Read-only
/// actions run in passive mode too: they change nothing.
pub fn runs_automatically(action: &PlannedAction) -> bool {
    (action.mode == Mode::Active || action.action.spec().read_only)
        && matches!(action.gate, Gate::Automatic)
}

pub async fn execute(
    runner: &GraphRunner,
    store: &Store,
    detection_seq: i64,
    action: &PlannedAction,
) -> Result<ActionResult, StoreError> {
    let started = Instant::now();
    let result = |status, detail: String| ActionResult {
        key: action.key.clone(),
        action: action.action,
        target: action.target.as_ref().map(|t| t.to_string()),
        status,
        retryable: false,
        detail,
        elapsed_ms: started.elapsed().as_millis() as u64,
        outcome: None,
    };
    match store.claim_action(detection_seq, &action.key).await? {
        Claim::AlreadyDone { pk, status } => {
            return Ok(result(
                "duplicate",
                format!("already {status} as action #{pk}"),
            ));
        }
        Claim::NotPending => return Ok(result("skipped", "not waiting to run".into())),
        Claim::Claimed => {}
    }
    let subject = format!("action/{}", action.key);
    let started_event = json!({"action": action.action, "target": action.target, "params": action.params, "playbook": action.playbook, "step": action.step});
    store
        .append_audit(&[AuditEvent::new(
            Utc::now(),
            "action.started",
            subject.clone(),
            started_event,
        )])
        .await?;
    let (status, detail, stored) = match runner.run(action).await {
        Ok(execution) => {
            let detail = summarize(&execution.outcome);
            (
                "succeeded",
                detail,
                json!({"evidence": execution.evidence, "outcome": execution.outcome, "restore": execution.restore}),
            )
        }
        Err(error @ ActionError::NeedsHuman { .. }) => (
            "needs_human",
            error.to_string(),
            json!({"error": error.to_string()}),
        ),
        Err(error) => {
            let retryable = matches!(error, ActionError::Transient { .. });
            (
                "failed",
                error.to_string(),
                json!({"error": error.to_string(), "retryable": retryable}),
            )
        }
    };
    let elapsed = started.elapsed();
    store
        .set_action_outcome(detection_seq, &action.key, status, &stored)
        .await?;
    let ended = json!({"status": status, "detail": detail, "elapsed_ms": elapsed.as_millis() as u64, "outcome": stored.get("outcome")});
    store
        .append_audit(&[AuditEvent::new(
            Utc::now(),
            format!("action.{status}"),
            subject,
            ended,
        )])
        .await?;
    let retryable = stored["retryable"] == true;
    Ok(ActionResult {
        retryable,
        outcome: stored.get("outcome").cloned(),
        ..result(status, detail)
    })
}

fn summarize(outcome: &Value) -> String {
    let text = outcome.to_string();
    if text.len() > 160 {
        format!("{}…", &text[..text.floor_char_boundary(159)])
    } else {
        text
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("no action #{0}")]
    NotFound(i64),
    #[error("action #{pk} is {status}; only a succeeded action can be rolled back")]
    NotSucceeded { pk: i64, status: String },
    #[error("action #{pk} ({kind}) left no restore data; it cannot be undone")]
    NotReversible { pk: i64, kind: String },
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Undoes a succeeded action from its restore data, audited like any other change.
pub async fn rollback(
    runner: &GraphRunner,
    store: &Store,
    pk: i64,
    reason: &str,
) -> Result<Duration, RollbackError> {
    let row = store.action(pk).await?.ok_or(RollbackError::NotFound(pk))?;
    if row.status != "succeeded" {
        return Err(RollbackError::NotSucceeded {
            pk,
            status: row.status,
        });
    }
    let restore = row
        .result
        .as_ref()
        .map(|r| r["restore"].clone())
        .filter(|r| !r.is_null());
    let (Some(restore), Some(action)) = (restore, planned_from_row(&row)) else {
        return Err(RollbackError::NotReversible { pk, kind: row.kind });
    };
    let started = Instant::now();
    let subject = format!("action/{}", action.key);
    store
        .append_audit(&[AuditEvent::new(
            Utc::now(),
            "action.rollback_started",
            subject.clone(),
            json!({"pk": pk, "reason": reason, "restore": restore}),
        )])
        .await?;
    let outcome = runner.rollback(&action, &Restore(restore)).await;
    let (status, detail) = match &outcome {
        Ok(()) => ("rolled_back", json!({"pk": pk, "reason": reason})),
        Err(e) => ("rollback_failed", json!({"pk": pk, "error": e.to_string()})),
    };
    let mut result = row.result.clone().unwrap_or_default();
    result["rollback"] = detail.clone();
    if outcome.is_ok() {
        store
            .set_action_outcome(row.detection_seq, &row.idempotency_key, status, &result)
            .await?;
    }
    store
        .append_audit(&[AuditEvent::new(
            Utc::now(),
            format!("action.{status}"),
            subject,
            detail,
        )])
        .await?;
    outcome?;
    Ok(started.elapsed())
}

/// The planned action a stored row describes (for workers and rollback).
pub fn planned_from_row(row: &ActionRow) -> Option<PlannedAction> {
    let target = (row.target_upn.is_some() || row.target_id.is_some()).then(|| UserRef {
        upn: row.target_upn.clone(),
        id: row.target_id.clone(),
    });
    Some(PlannedAction {
        key: row.idempotency_key.clone(),
        playbook: row.playbook.clone(),
        step: row.step.clone(),
        action: ActionKind::parse(&row.kind)?,
        target,
        params: row.params.as_object().cloned().unwrap_or_default(),
        mode: Mode::Active,
        gate: Gate::Automatic,
        expires_after_secs: row.expires_after_secs.map(|s| s as u64),
        reason: row.reason.clone(),
        recorded_at: chrono::DateTime::parse_from_rfc3339(&row.created_at)
            .ok()
            .map(|t| t.to_utc()),
    })
}
