//! Running a recorded action exactly once in effect, and rolling one back.
//!
//! An action is claimed in the store first (a key that already succeeded makes it a duplicate),
//! audited as started, run through the full lifecycle, and its outcome (evidence, result, restore
//! data) recorded with an audit record of how it ended. Undoing one is `undo.rs`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::identity::Identity;
use super::lifecycle::{ActionError, ActionRunner};
use super::runner::GraphRunner;
use super::safety::Screening;
use super::stored::{MAX_STORED_EVIDENCE_BYTES, capped};
use crate::store::{ActionRow, Claim, Store, StoreError};
use stanch_core::audit::AuditEvent;
use stanch_core::engine::{Gate, PlannedAction};
use stanch_core::intake::UserRef;
use stanch_core::vocab::{ActionKind, ActionOutcome, ActionStatus, Mode};

/// How one action ended, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    pub key: String,
    pub action: ActionKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub status: ActionOutcome,
    /// A failure worth retrying later (Graph throttled or unreachable).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
    pub detail: String,
    pub elapsed_ms: u64,
    /// What the action produced (a sweep's findings), for what follows it; not printed.
    #[serde(skip)]
    pub outcome: Option<Value>,
    /// Who the target turned out to be, when the rails resolved it through the directory
    /// (whatever came of the action): what campaigns learn one account's names from.
    #[serde(skip)]
    pub identity: Option<Identity>,
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
    let safety = runner.safety();
    // A duplicate is told apart before the rails ask the directory anything.
    let mut screening = if store.already_done(&action.key).await?.is_some() {
        Screening::default()
    } else {
        safety.screen(runner, runner.client(), action).await
    };
    let identity = screening.identity.clone();
    let result = |status, detail: String| ActionResult {
        key: action.key.clone(),
        action: action.action,
        target: action.target.as_ref().map(|t| t.to_string()),
        status,
        retryable: false,
        detail,
        elapsed_ms: started.elapsed().as_millis() as u64,
        outcome: None,
        identity: identity.clone(),
    };
    if action.gate.needs_approval() {
        // People approved it knowing whom it touches; the identity still counts for budgets.
        screening.protected = None;
    }
    let subject = format!("action/{}", action.key);
    let started_event = json!({"action": action.action, "target": action.target, "params": action.params, "playbook": action.playbook, "step": action.step});
    let mut guard = safety.guard(action, screening);
    // Written with the claim, in its transaction: nothing is sent before it is stored.
    guard.started = Some(AuditEvent::new(
        Utc::now(),
        "action.started",
        subject.clone(),
        started_event,
    ));
    match store
        .claim_action_guarded(detection_seq, &action.key, &guard)
        .await?
    {
        Claim::AlreadyDone { pk, status } => {
            return Ok(result(
                ActionOutcome::Duplicate,
                format!("already {status} as action #{pk}"),
            ));
        }
        Claim::NotPending => {
            return Ok(result(ActionOutcome::Skipped, "not waiting to run".into()));
        }
        Claim::Suppressed { by } => {
            return Ok(result(
                ActionOutcome::Suppressed,
                format!("repeats action #{by} within the cooldown"),
            ));
        }
        Claim::Held { why, budget } => {
            if let Some(budget) = budget {
                super::safety::alert_budget(runner, &budget, action, &why).await;
            }
            return Ok(result(
                ActionOutcome::Held,
                format!("waits for a human: {why}"),
            ));
        }
        Claim::Claimed => {}
    }
    // Its reads and its writes' answers are written with its next write or with its outcome.
    let one = runner.for_one_action().fenced(&action.key).deferring();
    let ran =
        super::tenant_object::holding(store, action, || async { one.run(action).await }).await;
    let (status, detail, stored) = match ran {
        Ok(execution) => {
            let detail = summarize(&execution.outcome);
            let evidence = capped(&execution.evidence.0, MAX_STORED_EVIDENCE_BYTES);
            (
                ActionOutcome::Succeeded,
                detail,
                json!({"evidence": evidence, "outcome": execution.outcome, "restore": execution.restore}),
            )
        }
        Err(error @ ActionError::Refused { .. }) => (
            ActionOutcome::Refused,
            error.to_string(),
            json!({"error": error.to_string(), "refused": error.refusals()}),
        ),
        Err(error @ (ActionError::NeedsHuman { .. } | ActionError::Unverified { .. })) => (
            ActionOutcome::NeedsHuman,
            error.to_string(),
            match error {
                ActionError::Unverified { .. } => {
                    json!({"error": error.to_string(), "unverified": true})
                }
                _ => json!({"error": error.to_string()}),
            },
        ),
        Err(error) => {
            let retryable = matches!(error, ActionError::Transient { .. });
            (
                ActionOutcome::Failed,
                error.to_string(),
                json!({"error": error.to_string(), "retryable": retryable}),
            )
        }
    };
    let elapsed = started.elapsed();
    let stored_status = match status {
        ActionOutcome::Succeeded => ActionStatus::Succeeded,
        ActionOutcome::NeedsHuman if stored["unverified"] == true => ActionStatus::Unverified,
        ActionOutcome::NeedsHuman => ActionStatus::NeedsHuman,
        ActionOutcome::Refused => ActionStatus::Refused,
        _ => ActionStatus::Failed,
    };
    let expires_at = (status == ActionOutcome::Succeeded)
        .then(|| deadline(action, &stored, Utc::now()))
        .flatten();
    let mut ended = json!({"status": status, "detail": detail, "elapsed_ms": elapsed.as_millis() as u64, "outcome": stored.get("outcome")});
    if let Some(refused) = stored.get("refused") {
        ended["refused"] = refused.clone();
    }
    if let Some(at) = expires_at {
        ended["expires_at"] = json!(at);
    }
    let mut ended_events = one.take_deferred();
    let calls = ended_events.len();
    ended_events.push(AuditEvent::new(
        Utc::now(),
        format!("action.{status}"),
        subject,
        ended,
    ));
    let ended = ended_events;
    // Graph has acted: the outcome (and its audit record, in the same transaction) must reach
    // the database, however long it is away.
    let outcome = until_stored("recording an action's outcome", || {
        store.record_claimed_outcome(
            detection_seq,
            &action.key,
            stored_status,
            &stored,
            expires_at,
            &ended,
        )
    })
    .await;
    if outcome.is_err() && calls > 0 {
        // The calls happened whatever became of the outcome: their records are not lost with it.
        if let Err(e) = store.append_audit(&ended[..calls]).await {
            tracing::error!(action = %action.key, error = %e, records = calls, "neither the outcome nor the records of the calls it made could be written to the audit trail");
        }
    }
    if let Err(StoreError::LeaseLost(what)) = &outcome {
        tracing::warn!(action = %what, "this replica lost the action's lease; the replica that rescued it runs it and records how it ends");
        return Ok(result(
            ActionOutcome::Skipped,
            "taken over by another replica".into(),
        ));
    }
    outcome?;
    let retryable = stored["retryable"] == true;
    Ok(ActionResult {
        retryable,
        outcome: stored.get("outcome").cloned(),
        ..result(status, detail)
    })
}

/// Longest a replica keeps retrying a write the database cannot take now; past it the action's
/// lease has long lapsed and its rescuer runs it again.
const STORE_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs `write` until the database takes it: retried with growing pauses (up to 5 s) while the
/// database is unavailable, for at most [`STORE_RETRY_FOR`]. Other errors are returned at once.
async fn until_stored<T, F, Fut>(what: &str, mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let started = Instant::now();
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match write().await {
            Err(e) if e.is_unavailable() && started.elapsed() < STORE_RETRY_FOR => {
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "{what}: the database is unavailable; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            done => return done,
        }
    }
}

/// When a succeeded action expires: its step's `expires_after` from now, for a reversible action
/// that left restore data (the compiler refuses `expires_after` on the others; this checks again,
/// so nothing that cannot be undone is ever scheduled to be).
fn deadline(
    action: &PlannedAction,
    stored: &Value,
    finished: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(action.expires_after_secs?).ok()?;
    if !action.action.spec().reversible || stored["restore"].is_null() {
        return None;
    }
    finished.checked_add_signed(chrono::Duration::try_seconds(secs)?)
}

fn summarize(outcome: &Value) -> String {
    let text = outcome.to_string();
    if text.len() > 160 {
        format!("{}…", &text[..text.floor_char_boundary(159)])
    } else {
        text
    }
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
        // Only pending actions run, so an approval gate here means people (or a step's
        // timeout policy) approved it.
        gate: if row.is_gated() {
            Gate::Approval {
                reasons: serde_json::from_value(row.gate["reasons"].clone()).unwrap_or_default(),
                policy: None,
            }
        } else {
            Gate::Automatic
        },
        expires_after_secs: row.expires_after_secs.map(|s| s as u64),
        reason: row.reason.clone(),
        recorded_at: chrono::DateTime::parse_from_rfc3339(&row.created_at)
            .ok()
            .map(|t| t.to_utc()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(kind: ActionKind, expires_after_secs: Option<u64>) -> PlannedAction {
        PlannedAction {
            key: "k".into(),
            playbook: "p".into(),
            step: "s".into(),
            action: kind,
            target: None,
            params: serde_json::Map::new(),
            mode: Mode::Active,
            gate: Gate::Automatic,
            expires_after_secs,
            reason: "r".into(),
            recorded_at: None,
        }
    }

    #[test]
    fn only_an_undoable_success_gets_a_deadline() {
        let finished: DateTime<Utc> = "2026-03-27T10:00:00Z".parse().unwrap();
        let undoable = json!({"restore": {"accountEnabled": true}});
        let disable = |secs| planned(ActionKind::DisableAccount, secs);
        assert_eq!(
            deadline(&disable(Some(86_400)), &undoable, finished),
            Some("2026-03-28T10:00:00Z".parse().unwrap())
        );
        assert_eq!(deadline(&disable(None), &undoable, finished), None);
        // No restore data, or an action that cannot be undone: never scheduled to be.
        assert_eq!(
            deadline(&disable(Some(60)), &json!({"restore": null}), finished),
            None
        );
        let revoke = planned(ActionKind::RevokeSessions, Some(60));
        assert_eq!(deadline(&revoke, &undoable, finished), None);
        assert_eq!(
            deadline(&disable(Some(u64::MAX)), &undoable, finished),
            None
        );
    }
}
