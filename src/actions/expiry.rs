//! The `expire-actions` job: temporary containment that nobody confirmed is undone once its
//! `expires_after` has run out, like the actions of a network responder that lapse on their own.
//!
//! Each due action goes through the ordinary rollback ([`undo`]): claimed in the store first, so
//! it is undone at most once; every Graph call audited before and after; an `action.expired`
//! record saying what was undone and why. One action failing never stops the others.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::lifecycle::ActionError;
use super::runner::GraphRunner;
use super::undo::{RollbackError, Undo, undo};
use crate::store::{ActionRow, Store, StoreError};
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::ActionStatus;

/// Actions undone per run at most; the rest stay due for the next run.
pub const EXPIRE_PER_RUN: i64 = 500;

/// What one run of the job did; `stanch job run expire-actions` prints it as JSON.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ExpiryReport {
    /// Actions found due (at most [`EXPIRE_PER_RUN`]).
    pub due: usize,
    pub expired: usize,
    /// Undos that failed: `retrying` (Graph throttled or unreachable; due again next run) plus
    /// `needs_human` (now `expiry_failed`).
    pub failed: usize,
    pub retrying: usize,
    pub needs_human: usize,
    /// Confirmed, extended or undone by someone else between the query and the claim.
    pub skipped: usize,
    pub actions: Vec<ExpiryItem>,
}

/// What the expiry job made of one action that was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryOutcome {
    /// Undone, as its step asked.
    Expired,
    /// No longer due (confirmed, extended or undone meanwhile).
    Skipped,
    /// Graph or the database failed for now; due again at the next run.
    Retrying,
    /// Cannot be undone by the job; left `expiry_failed` for a person.
    NeedsHuman,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpiryItem {
    pub id: i64,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub outcome: ExpiryOutcome,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExpiryJobError {
    #[error("{0} action(s) are due to expire but no `graph` connection is configured to undo them")]
    NoGraph(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Undoes every action due at `now`. Without a Graph connection, a run with nothing due still
/// succeeds (an empty tenant needs no credentials); one with work to do fails loudly.
pub async fn expire_due(
    runner: Option<&GraphRunner>,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<ExpiryReport, ExpiryJobError> {
    let due = store.due_expiries(now, EXPIRE_PER_RUN).await?;
    let mut report = ExpiryReport {
        due: due.len(),
        ..ExpiryReport::default()
    };
    if due.is_empty() {
        return Ok(report);
    }
    let runner = runner.ok_or(ExpiryJobError::NoGraph(due.len()))?;
    for row in due {
        let (outcome, detail) = match undo(runner, store, row.pk, Undo::Expiry { now }).await {
            Ok(took) => (
                ExpiryOutcome::Expired,
                format!("undone in {} ms", took.as_millis()),
            ),
            Err(e @ (RollbackError::NoLongerDue(_) | RollbackError::NotSucceeded { .. })) => {
                (ExpiryOutcome::Skipped, e.to_string())
            }
            Err(e @ RollbackError::Action(ActionError::Transient { .. })) => {
                (ExpiryOutcome::Retrying, e.to_string())
            }
            Err(e @ RollbackError::Action(_)) => (ExpiryOutcome::NeedsHuman, e.to_string()),
            Err(e @ RollbackError::NotReversible { .. }) => match give_up(store, &row, &e).await {
                Ok(()) => (ExpiryOutcome::NeedsHuman, e.to_string()),
                Err(store_error) => (ExpiryOutcome::Retrying, format!("{e}; {store_error}")),
            },
            // The database failed somewhere along the way; a claim left behind is recovered
            // when `stanch serve` starts, and the action is due again.
            Err(e @ (RollbackError::Store(_) | RollbackError::NotFound(_))) => {
                (ExpiryOutcome::Retrying, e.to_string())
            }
        };
        match outcome {
            ExpiryOutcome::Expired => report.expired += 1,
            ExpiryOutcome::Skipped => report.skipped += 1,
            ExpiryOutcome::Retrying => report.retrying += 1,
            ExpiryOutcome::NeedsHuman => report.needs_human += 1,
        }
        if matches!(outcome, ExpiryOutcome::Retrying | ExpiryOutcome::NeedsHuman) {
            tracing::warn!(action = row.pk, kind = %row.kind, %detail, "an expiring action was not undone");
        }
        report.actions.push(ExpiryItem {
            id: row.pk,
            action: row.kind.clone(),
            target: row.target_upn.clone().or_else(|| row.target_id.clone()),
            outcome,
            detail,
        });
    }
    report.failed = report.retrying + report.needs_human;
    Ok(report)
}

/// An action due to expire that cannot be undone at all (no restore data: the store was edited,
/// or the action kind is unknown to this version) would be found due on every run; it is handed
/// to a person instead, once, with the reason in the trail.
async fn give_up(store: &Store, row: &ActionRow, error: &RollbackError) -> Result<(), StoreError> {
    if !store.claim_rollback(row.pk, None).await? {
        return Ok(());
    }
    let detail = json!({"pk": row.pk, "trigger": "expiry", "error": error.to_string(), "retryable": false, "status": ActionStatus::ExpiryFailed, "next": "still in effect: roll it back, extend or confirm it by hand"});
    let mut result = row.result.clone().unwrap_or_default();
    result["rollback_error"] = detail.clone();
    let event = AuditEvent::new(
        Utc::now(),
        "action.rollback_failed",
        format!("action/{}", row.idempotency_key),
        detail,
    );
    store
        .end_rollback(row.pk, ActionStatus::ExpiryFailed, &result, &event)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use stanch_core::vocab::Mode;

    #[tokio::test]
    async fn without_graph_nothing_due_is_fine_and_work_to_do_is_refused() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let now = Utc::now();
        let report = expire_due(None, &store, now).await.unwrap();
        assert_eq!(report, ExpiryReport::default());

        let run = store.start_run(Mode::Active, "-", now).await.unwrap();
        let detection = stanch_core::intake::parse_generic(
            r#"{"id":"1","name":"x","observed_at":"2021-06-01T00:00:00Z","user":{"upn":"a@contoso.com"}}"#,
        )
        .unwrap();
        let action = stanch_core::engine::PlannedAction {
            key: "generic/1/disable".into(),
            playbook: "p".into(),
            step: "disable".into(),
            action: stanch_core::vocab::ActionKind::DisableAccount,
            target: detection.user.clone(),
            params: serde_json::Map::new(),
            mode: Mode::Active,
            gate: stanch_core::engine::Gate::Automatic,
            expires_after_secs: Some(1),
            reason: "r".into(),
            recorded_at: None,
        };
        let plan = stanch_core::engine::Plan {
            detection: detection.key(),
            campaign: None,
            evaluated_at: "2021-06-01T00:00:00Z".into(),
            matched: Vec::new(),
            actions: vec![action],
            skipped: Vec::new(),
        };
        let items = [crate::store::Evaluation::Accepted {
            line: None,
            detection: &detection,
            plan: &plan,
        }];
        store.record_batch(run, &items).await.unwrap();
        let row = store.pending_actions(1).await.unwrap().remove(0);
        store
            .claim_action(row.detection_seq, &row.idempotency_key)
            .await
            .unwrap();
        store
            .set_action_outcome_expiring(
                row.detection_seq,
                &row.idempotency_key,
                ActionStatus::Succeeded,
                &json!({"restore": {"accountEnabled": true}}),
                Some(now - chrono::Duration::seconds(1)),
            )
            .await
            .unwrap();
        let refused = expire_due(None, &store, now).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "1 action(s) are due to expire but no `graph` connection is configured to undo them"
        );
        assert_eq!(
            store.action(row.pk).await.unwrap().unwrap().status,
            "succeeded"
        );
    }
}
