//! Expiring actions in the store: the deadline set when a reversible action succeeds, the
//! operators' `extend` and `confirm` (each written with its audit record in one transaction), and
//! the claim that makes sure an action is undone at most once, whoever asks (the `expire-actions`
//! job, an operator, another replica).
//!
//! Statuses involved: `succeeded` (in effect; expiring if `expires_at` is set and it is not
//! confirmed), `rolling_back` (claimed by one undo, still in effect), `rolled_back` (undone by an
//! operator), `expired` (undone by the job) and `expiry_failed` (the job could not undo it and a
//! person must: roll it back, extend or confirm it).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::Store;
use super::chain::{lock_head, write_records};
use super::error::{StoreError, query_err};
use super::rows::{ACTION_SELECT, action_from_row};
use super::sql::timestamp;
use stanch_core::audit::{self, Actor, AuditEvent};
use stanch_core::vocab::ActionStatus;

/// Statuses an operator may roll back from (the effect is in place and nobody is undoing it).
const UNDOABLE: &[ActionStatus] = &[ActionStatus::Succeeded, ActionStatus::ExpiryFailed];

/// What an operator does to an expiring action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryChange {
    /// Push the deadline back by this many seconds (from the old deadline, or from now if it
    /// has already passed, so an extension always gives the full time).
    Extend { secs: u64 },
    /// Make the action permanent: it never expires.
    Confirm,
}

/// Who changed an expiry, and why; both end up in the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryOperator<'a> {
    pub name: &'a str,
    /// Who, as established: a validated token, or the OS user at the box.
    pub actor: Option<&'a Actor>,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
}

/// The action after an extension or a confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiryChanged {
    pub pk: i64,
    pub expires_at: String,
    pub confirmed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error("no action #{0}")]
    NotFound(i64),
    #[error("action #{pk} is {status}; only a succeeded action that expires can be {verb}")]
    NotInEffect {
        pk: i64,
        status: ActionStatus,
        verb: &'static str,
    },
    #[error(
        "action #{0} does not expire (its step has no `expires_after`); it is already permanent"
    )]
    NoExpiry(i64),
    #[error("action #{pk} was confirmed by {by} at {at}; it is permanent and never expires")]
    Confirmed { pk: i64, by: String, at: String },
    #[error("{0} must not be empty: the audit trail records who changed an expiry and why")]
    Missing(&'static str),
    #[error("an extension of {0} seconds goes beyond any date")]
    TooLong(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Succeeded, unconfirmed actions whose deadline is at or before `now`, soonest first.
    pub async fn due_expiries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<super::ActionRow>, StoreError> {
        // The same predicate as the partial index `actions_expiring`, so it is used.
        let sql = format!(
            "{ACTION_SELECT} WHERE status = 'succeeded' AND expires_at IS NOT NULL \
             AND confirmed_at IS NULL AND expires_at <= $1 ORDER BY expires_at, pk LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(timestamp(now))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading due expiries"))?;
        rows.iter().map(action_from_row).collect()
    }

    /// Claims action `pk` for one undo (`rolling_back`); false if it is not in effect, or is
    /// being undone already. With `due_by`, only a succeeded, unconfirmed action whose deadline
    /// is at or before it: a confirmation or extension that won the race keeps the action.
    pub async fn claim_rollback(
        &self,
        pk: i64,
        due_by: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let now = timestamp(Utc::now());
        let done = match due_by {
            None => {
                let sql = format!(
                    "UPDATE actions SET status = 'rolling_back', updated_at = $1, lease_owner = $3, lease_until = $4 \
                     WHERE pk = $2 AND status IN ({})",
                    ActionStatus::sql_list(UNDOABLE)
                );
                self.execute_write(sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(pk)
                    .bind(self.replica().id.clone())
                    .bind(self.replica().lease_until()))
                    .await
            }
            Some(due_by) => {
                self.execute_write(sqlx::query(
                    "UPDATE actions SET status = 'rolling_back', updated_at = $1, lease_owner = $4, lease_until = $5 \
                     WHERE pk = $2 AND status = 'succeeded' AND expires_at IS NOT NULL \
                     AND confirmed_at IS NULL AND expires_at <= $3",
                )
                .bind(now)
                .bind(pk)
                .bind(timestamp(due_by))
                .bind(self.replica().id.clone())
                .bind(self.replica().lease_until()))
                .await
            }
        }
        .map_err(query_err("claiming an action to roll back"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends the undo claimed by [`claim_rollback`](Self::claim_rollback): the action's new
    /// status and result, and the audit record saying so, in one transaction.
    pub async fn end_rollback(
        &self,
        pk: i64,
        status: ActionStatus,
        result: &Value,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let done = sqlx::query(
            "UPDATE actions SET status = $1, result = $2, updated_at = $3 \
             WHERE pk = $4 AND status = 'rolling_back'",
        )
        .bind(status.as_str())
        .bind(result.to_string())
        .bind(timestamp(event.at))
        .bind(pk)
        .execute(&mut *tx)
        .await
        .map_err(query_err("recording a rollback"))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Inconsistent(format!(
                "action #{pk} was not being rolled back when its rollback ended"
            )));
        }
        let (records, head) = audit::seal_all(&head, [event]);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a rollback"))
    }

    /// Hands back an action claimed for an undo that never started (its audit record could not
    /// be written), in the status it had.
    pub async fn release_rollback(&self, pk: i64, status: ActionStatus) -> Result<(), StoreError> {
        self.execute_write(sqlx::query(
            "UPDATE actions SET status = $1, updated_at = $2 WHERE pk = $3 AND status = 'rolling_back'",
        )
        .bind(status.as_str())
        .bind(timestamp(Utc::now()))
        .bind(pk))
        .await
        .map_err(query_err("releasing an action claimed for a rollback"))?;
        Ok(())
    }

    /// Undos caught `rolling_back` under a lapsed lease (their replica died) are put back in
    /// effect (`succeeded`): every rollback tolerates a change already undone, so the next
    /// attempt completes it. An undo a live replica is running is left alone.
    pub async fn recover_interrupted_rollbacks(&self) -> Result<u64, StoreError> {
        let done = self
            .execute_write(
                sqlx::query(
                    "UPDATE actions SET status = 'succeeded', updated_at = $1, lease_owner = NULL, \
             lease_until = NULL WHERE status = 'rolling_back' AND (lease_owner IS NULL \
             OR lease_until IS NULL OR lease_until < $1)",
                )
                .bind(timestamp(Utc::now())),
            )
            .await
            .map_err(query_err("recovering interrupted rollbacks"))?;
        Ok(done.rows_affected())
    }

    /// Extends or confirms an expiring action, with an `action.extended` or `action.confirmed`
    /// audit record naming who and why, in one transaction. An action that the job could not
    /// undo (`expiry_failed`) is put back in effect: extended, the job tries again later.
    pub async fn change_expiry(
        &self,
        pk: i64,
        change: ExpiryChange,
        who: ExpiryOperator<'_>,
    ) -> Result<ExpiryChanged, ExpiryError> {
        let verb = match change {
            ExpiryChange::Extend { .. } => "extended",
            ExpiryChange::Confirm => "confirmed",
        };
        for (what, text) in [
            ("the operator's name", who.name),
            ("the reason", who.reason),
        ] {
            if text.trim().is_empty() {
                return Err(ExpiryError::Missing(what));
            }
        }
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let sql = format!("{ACTION_SELECT} WHERE pk = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(pk)
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_err("reading an action"))?
            .ok_or(ExpiryError::NotFound(pk))?;
        let row = action_from_row(&row)?;
        if !UNDOABLE.contains(&row.status) {
            return Err(ExpiryError::NotInEffect {
                pk,
                status: row.status,
                verb,
            });
        }
        if let (Some(at), Some(by)) = (&row.confirmed_at, &row.confirmed_by) {
            return Err(ExpiryError::Confirmed {
                pk,
                by: by.clone(),
                at: at.clone(),
            });
        }
        let Some(old) = row.expires_at.clone() else {
            return Err(ExpiryError::NoExpiry(pk));
        };
        let at = timestamp(who.at);
        let (expires_at, confirmed, payload) = match change {
            ExpiryChange::Extend { secs } => {
                let from = parse_time(&old)?.max(who.at);
                let new = i64::try_from(secs)
                    .ok()
                    .and_then(chrono::Duration::try_seconds)
                    .and_then(|by| from.checked_add_signed(by))
                    .ok_or(ExpiryError::TooLong(secs))?;
                let new = timestamp(new);
                let payload = json!({"pk": pk, "by": who.name, "actor": who.actor, "reason": who.reason, "extended_by_secs": secs, "old_expires_at": old, "expires_at": new});
                (new, false, payload)
            }
            ExpiryChange::Confirm => {
                let payload = json!({"pk": pk, "by": who.name, "actor": who.actor, "reason": who.reason, "expires_at": old, "note": "confirmed: this action is permanent and will not expire"});
                (old, true, payload)
            }
        };
        // Conditional again: on PostgreSQL the job's claim (one statement, outside this lock) may
        // have taken the action since it was read; then the undo goes ahead and this is refused.
        let update = if confirmed {
            sqlx::query(
                "UPDATE actions SET status = 'succeeded', confirmed_at = $1, confirmed_by = $2, \
                 updated_at = $1 WHERE pk = $3 AND status IN ('succeeded', 'expiry_failed')",
            )
            .bind(at)
            .bind(who.name.to_string())
        } else {
            sqlx::query(
                "UPDATE actions SET status = 'succeeded', expires_at = $1, updated_at = $2 \
                 WHERE pk = $3 AND status IN ('succeeded', 'expiry_failed')",
            )
            .bind(expires_at.clone())
            .bind(at)
        };
        let done = update
            .bind(pk)
            .execute(&mut *tx)
            .await
            .map_err(query_err("changing an action's expiry"))?;
        if done.rows_affected() != 1 {
            return Err(ExpiryError::NotInEffect {
                pk,
                status: ActionStatus::RollingBack,
                verb,
            });
        }
        let event = AuditEvent::new(
            who.at,
            format!("action.{verb}"),
            format!("action/{}", row.idempotency_key),
            payload,
        );
        let (records, head) = audit::seal_all(&head, [&event]);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing an expiry change"))?;
        Ok(ExpiryChanged {
            pk,
            expires_at,
            confirmed,
        })
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| {
            StoreError::Inconsistent(format!("actions.expires_at `{text}` is not RFC 3339: {e}"))
        })
}
