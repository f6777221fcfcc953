//! Undoing a succeeded action from its restore data, at most once, audited like any other
//! change: an operator's rollback or an expiry.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::execute::planned_from_row;
use super::lifecycle::{ActionError, ActionRunner, Restore};
use super::runner::GraphRunner;
use crate::store::{ActionRow, Store, StoreError};
use stanch_core::audit::{Actor, AuditEvent};
use stanch_core::vocab::{ActionKind, ActionStatus};

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("no action #{0}")]
    NotFound(i64),
    #[error("action #{pk} is {status}; only a succeeded action can be rolled back")]
    NotSucceeded { pk: i64, status: ActionStatus },
    #[error("action #{0} is no longer due to expire (confirmed or extended meanwhile)")]
    NoLongerDue(i64),
    #[error("action #{pk} ({kind}) left no restore data; it cannot be undone")]
    NotReversible { pk: i64, kind: String },
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an action is undone: this decides its final status and its audit records.
#[derive(Debug, Clone, Copy)]
pub enum Undo<'a> {
    /// An operator asked (`stanch actions rollback`): the action ends `rolled_back`.
    Operator {
        reason: &'a str,
        /// Who asked: recorded in the rollback's audit records.
        actor: &'a Actor,
    },
    /// Its `expires_after` ran out (the `expire-actions` job): it ends `expired`. Only an action
    /// still unconfirmed and due at `now` when it is claimed is undone.
    Expiry { now: DateTime<Utc> },
}

/// Undoes a succeeded action from its restore data, audited like any other change.
pub async fn rollback(
    runner: &GraphRunner,
    store: &Store,
    pk: i64,
    reason: &str,
    actor: &Actor,
) -> Result<Duration, RollbackError> {
    undo(runner, store, pk, Undo::Operator { reason, actor }).await
}

/// Undoes action `pk` at most once: it is claimed in the store first (`rolling_back`), so an
/// operator, the expiry job and other replicas can never undo it twice. A failed undo puts the
/// action back in effect; for an expiry, a transient failure leaves it due for the next run and
/// any other makes it `expiry_failed`, for a person to finish.
pub async fn undo(
    runner: &GraphRunner,
    store: &Store,
    pk: i64,
    why: Undo<'_>,
) -> Result<Duration, RollbackError> {
    let row = store.action(pk).await?.ok_or(RollbackError::NotFound(pk))?;
    if ![ActionStatus::Succeeded, ActionStatus::ExpiryFailed].contains(&row.status) {
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
    let due_by = match why {
        Undo::Operator { .. } => None,
        Undo::Expiry { now } => Some(now),
    };
    if !store.claim_rollback(pk, due_by).await? {
        let now = store.action(pk).await?.ok_or(RollbackError::NotFound(pk))?;
        return Err(
            if due_by.is_some() && now.status == ActionStatus::Succeeded {
                RollbackError::NoLongerDue(pk)
            } else {
                RollbackError::NotSucceeded {
                    pk,
                    status: now.status,
                }
            },
        );
    }
    let started = Instant::now();
    let subject = format!("action/{}", action.key);
    let (trigger, reason, actor) = match why {
        Undo::Operator { reason, actor } => ("operator", reason.to_string(), Some(actor)),
        Undo::Expiry { .. } => ("expiry", expiry_reason(&row), None),
    };
    let begun = AuditEvent::new(
        Utc::now(),
        "action.rollback_started",
        subject.clone(),
        json!({"pk": pk, "trigger": trigger, "reason": reason, "actor": actor, "restore": restore}),
    );
    if let Err(e) = store.append_audit(&[begun]).await {
        // Nothing was sent: hand the action back as it was, or it would stay claimed.
        let _ = store.release_rollback(pk, row.status).await;
        return Err(e.into());
    }
    let restore_data = Restore(restore.clone());
    let outcome = super::tenant_object::holding(store, &action, || async {
        let fenced = runner.for_one_action().fenced(&action.key);
        fenced.rollback(&action, &restore_data).await
    })
    .await;
    let mut result = row.result.clone().unwrap_or_default();
    let at = Utc::now();
    let (status, kind, mut detail) = match (&outcome, why) {
        (Ok(()), Undo::Operator { .. }) => (
            ActionStatus::RolledBack,
            "action.rolled_back",
            json!({"pk": pk, "reason": reason, "actor": actor}),
        ),
        (Ok(()), Undo::Expiry { .. }) => (
            ActionStatus::Expired,
            "action.expired",
            json!({"pk": pk, "action": row.kind, "target": action.target, "undone": restore, "reason": reason, "expires_at": row.expires_at, "expired_at": crate::store::timestamp(at)}),
        ),
        (Err(e), _) => {
            let retryable = matches!(e, ActionError::Transient { .. });
            let status = match why {
                Undo::Operator { .. } => row.status,
                Undo::Expiry { .. } if retryable => ActionStatus::Succeeded,
                Undo::Expiry { .. } => ActionStatus::ExpiryFailed,
            };
            let next = match status {
                ActionStatus::ExpiryFailed => {
                    "still in effect: roll it back, extend or confirm it by hand"
                }
                _ if due_by.is_some() => "still in effect: the next expire-actions run tries again",
                _ => "still in effect",
            };
            let detail = json!({"pk": pk, "trigger": trigger, "error": e.to_string(), "retryable": retryable, "status": status, "next": next});
            result["rollback_error"] = detail.clone();
            (status, "action.rollback_failed", detail)
        }
    };
    if outcome.is_ok()
        && let Some(lag) = undo_lag(action.action)
    {
        detail["effective_by"] = json!(crate::store::timestamp(at + lag.within));
        detail["effective_note"] = json!(lag.note);
    }
    if outcome.is_ok() {
        // An earlier failed attempt no longer describes the action.
        if let Some(fields) = result.as_object_mut() {
            fields.remove("rollback_error");
        }
        result["rollback"] = detail.clone();
    }
    let event = AuditEvent::new(at, kind, subject, detail);
    store.end_rollback(pk, status, &result, &event).await?;
    outcome?;
    Ok(started.elapsed())
}

/// How long Microsoft 365 may take to honour an undo everywhere, from Continuous Access
/// Evaluation's documented propagation times: people reading "rolled back" must not assume the
/// user can work again at once.
pub struct UndoLag {
    pub within: chrono::Duration,
    pub note: &'static str,
}

pub fn undo_lag(kind: ActionKind) -> Option<UndoLag> {
    match kind {
        ActionKind::DisableAccount => Some(UndoLag {
            within: chrono::Duration::minutes(40),
            note: "a re-enabled account reaches SharePoint and Teams in about 15 minutes and                    Exchange Online in 35-40 minutes",
        }),
        ActionKind::BlockLegacyAuth => Some(UndoLag {
            within: chrono::Duration::hours(24),
            note: "a group membership change reaches Conditional Access in Exchange Online and                    SharePoint within a day (about 2 hours when optimized)",
        }),
        _ => None,
    }
}

/// Why the job undid an action, for its audit record.
fn expiry_reason(row: &ActionRow) -> String {
    let after = row
        .expires_after_secs
        .map(|s| {
            format!(
                "`expires_after: {}` ",
                stanch_core::util::format_duration(s as u64)
            )
        })
        .unwrap_or_default();
    format!(
        "{after}ran out at {} and nobody confirmed the action",
        row.expires_at.as_deref().unwrap_or("its deadline")
    )
}
