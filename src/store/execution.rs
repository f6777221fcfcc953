//! Execution bookkeeping: claiming a planned action, recording its outcome, and finding the
//! actions to roll back. Claims are what make re-runs idempotent: an action whose idempotency key
//! already succeeded (in this run or an earlier one) is marked a duplicate, never run again.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use super::Store;
use super::WriteTx;
use super::chain::ChainSlot;
use super::claim::Claim;
use super::error::{StoreError, query_err};
use super::group_commit::{HotDone, HotWrite};
use super::guard::ClaimGuard;
use super::outcome::{Outcome, outcome_query};
use super::sql::timestamp;
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::ActionStatus;

/// What a claim of `key` under `guard` excludes others from: the key itself, the account its
/// cooldown compares (the tenant lane when unresolved) and each budget it may spend.
fn claim_locks(key: &str, guard: &ClaimGuard) -> Vec<String> {
    let mut locks = vec![
        format!("key:{key}"),
        format!("account:{}", guard.account.as_deref().unwrap_or_default()),
    ];
    locks.extend(guard.budgets.iter().map(|b| format!("budget:{}", b.name)));
    locks
}

/// Statuses that mean the action's effect exists or is being produced (`rolling_back` and
/// `expiry_failed`: still in effect while, or because, an undo has not finished), or ran its
/// course: an `expired` action was undone on purpose, and a replay of the same detection must
/// not contain the account again.
const DONE_STATUSES: &[ActionStatus] = &[
    ActionStatus::Executing,
    ActionStatus::Succeeded,
    ActionStatus::RollingBack,
    ActionStatus::ExpiryFailed,
    ActionStatus::Expired,
    // It may have happened: a replay does not repeat it, a person's retry may.
    ActionStatus::Unverified,
    // An equal action did it after it was requested: a replay does not repeat it either.
    ActionStatus::Covered,
];

impl Store {
    /// Claims the planned action `key` of the detection recorded at `detection_seq`.
    pub async fn claim_action(&self, detection_seq: i64, key: &str) -> Result<Claim, StoreError> {
        self.claim_action_guarded(detection_seq, key, &ClaimGuard::default())
            .await
    }

    /// Claims an action after the safety rails: a cooldown may suppress it, a dynamic
    /// protection or a spent budget may hold it for a human instead. All of it happens in the
    /// claim's transaction, under the audit head lock, so concurrent workers cannot overspend.
    pub async fn claim_action_guarded(
        &self,
        detection_seq: i64,
        key: &str,
        guard: &ClaimGuard,
    ) -> Result<Claim, StoreError> {
        if self.sealing == super::chain::Sealing::Inline {
            let write = HotWrite::Claim {
                detection_seq,
                key: key.to_string(),
                guard: guard.clone(),
            };
            return match self.hot_write(write).await? {
                HotDone::Claim(claim) => Ok(claim),
                other => Err(StoreError::Inconsistent(format!(
                    "a claim was answered with {other:?}"
                ))),
            };
        }
        let (_writer, mut tx) = self.hot_tx().await?;
        // Claims sharing a key, an account or a budget serialize here (across replicas too), so
        // two workers can never both claim one key, overspend a budget or dodge a cooldown.
        let mut chain = self.join_chain(&mut tx, claim_locks(key, guard)).await?;
        let claim = self
            .claim_in(&mut tx, &mut chain, detection_seq, key, guard)
            .await?;
        tx.commit().await.map_err(query_err("committing a claim"))?;
        self.pending_committed();
        Ok(claim)
    }

    /// The claim itself, inside a transaction that holds the chain (and, sequenced, the
    /// claim's locks).
    pub(super) async fn claim_in(
        &self,
        tx: &mut WriteTx,
        chain: &mut ChainSlot,
        detection_seq: i64,
        key: &str,
        guard: &ClaimGuard,
    ) -> Result<Claim, StoreError> {
        let done = done_as(tx, key).await?;
        let now = timestamp(chrono::Utc::now());
        if let Some((pk, status)) = done {
            sqlx::query(
                "UPDATE actions SET status = 'duplicate', result = $1, updated_at = $2 \
                 WHERE detection_seq = $3 AND idempotency_key = $4 AND status = 'pending'",
            )
            .bind(serde_json::json!({"duplicate_of": pk}).to_string())
            .bind(now)
            .bind(detection_seq)
            .bind(key.to_string())
            .execute(&mut **tx)
            .await
            .map_err(query_err("marking a duplicate action"))?;
            return Ok(Claim::AlreadyDone { pk, status });
        }
        // Otherwise the rails record it as they read the action (`guard::apply`).
        if guard.human_approved
            && let Some(account) = &guard.account
        {
            sqlx::query(
                "UPDATE actions SET account = $1 WHERE detection_seq = $2 AND idempotency_key = $3",
            )
            .bind(account.clone())
            .bind(detection_seq)
            .bind(key.to_string())
            .execute(&mut **tx)
            .await
            .map_err(query_err("recording an action's account"))?;
        }
        if let Some(verdict) = super::guard::apply(tx, detection_seq, key, guard).await? {
            chain.append(tx, self.backend, [&verdict.event]).await?;
            return Ok(verdict.claim);
        }
        // Claimed under this replica's lease; an action another live replica reserved is
        // left to it.
        let claimed = sqlx::query(
            "UPDATE actions SET status = 'executing', updated_at = $1, started_at = $1, lease_owner = $4, \
             lease_until = $5 WHERE detection_seq = $2 AND idempotency_key = $3 \
             AND status = 'pending' AND (lease_owner IS NULL OR lease_owner = $4 OR lease_until < $1)",
        )
        .bind(now)
        .bind(detection_seq)
        .bind(key.to_string())
        .bind(self.replica.id.clone())
        .bind(self.replica.lease_until())
        .execute(&mut **tx)
        .await
        .map_err(query_err("claiming an action"))?;
        if claimed.rows_affected() != 1 {
            return Ok(Claim::NotPending);
        }
        super::guard::spend(tx, detection_seq, key, guard).await?;
        if let Some(started) = &guard.started {
            chain.append(tx, self.backend, [started]).await?;
        }
        Ok(Claim::Claimed)
    }

    /// The action that already carried out `key` (and its status), if one did: a claim of it
    /// would be a duplicate. A read, so the rails' directory lookups can be skipped for it.
    pub async fn already_done(&self, key: &str) -> Result<Option<(i64, ActionStatus)>, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(query_err("checking an idempotency key"))?;
        done_as(&mut conn, key).await
    }

    /// Records how a claimed (or rolled back) action ended.
    pub async fn set_action_outcome(
        &self,
        detection_seq: i64,
        key: &str,
        status: ActionStatus,
        result: &Value,
    ) -> Result<(), StoreError> {
        self.set_action_outcome_expiring(detection_seq, key, status, result, None)
            .await
    }

    /// Records how a claimed action ended, and when it expires (only ever set, never cleared
    /// here: a rollback keeps the deadline the action had).
    pub async fn set_action_outcome_expiring(
        &self,
        detection_seq: i64,
        key: &str,
        status: ActionStatus,
        result: &Value,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let outcome = Outcome {
            detection_seq,
            key,
            status,
            result,
            expires_at,
        };
        self.write_outcome(&outcome, None).await.map(|_| ())
    }

    /// Records how an action this replica claimed ended, as
    /// [`set_action_outcome_expiring`](Self::set_action_outcome_expiring) does, but only while
    /// it still holds the action's lease: a replica that lost it (frozen, cut off) leaves the
    /// action to the one that rescued it. [`StoreError::LeaseLost`] then. `ended` (the audit
    /// record of how it ended) is written in the same transaction.
    pub async fn record_claimed_outcome(
        &self,
        detection_seq: i64,
        key: &str,
        status: ActionStatus,
        result: &Value,
        expires_at: Option<DateTime<Utc>>,
        ended: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let outcome = Outcome {
            detection_seq,
            key,
            status,
            result,
            expires_at,
        };
        let owner = self.replica().id.clone();
        if self.sealing == super::chain::Sealing::Inline {
            let write = HotWrite::Outcome {
                detection_seq,
                key: key.to_string(),
                status,
                result: result.clone(),
                expires_at,
                owner,
                ended: ended.to_vec(),
            };
            return match self.hot_write(write).await? {
                HotDone::Outcome { written: true } => Ok(()),
                HotDone::Outcome { written: false } => {
                    Err(StoreError::LeaseLost(format!("action `{key}`")))
                }
                other => Err(StoreError::Inconsistent(format!(
                    "an outcome was answered with {other:?}"
                ))),
            };
        }
        if ended.is_empty() {
            return match self.write_outcome(&outcome, Some(&owner)).await? {
                1 => Ok(()),
                _ => Err(StoreError::LeaseLost(format!("action `{key}`"))),
            };
        }
        let (_writer, mut tx) = self.hot_tx().await?;
        let written = outcome_query(&outcome, Some(&owner))
            .execute(&mut *tx)
            .await
            .map_err(query_err("recording an action's outcome"))?;
        if written.rows_affected() != 1 {
            // Dropped unfinished: rolled back, nothing written.
            return Err(StoreError::LeaseLost(format!("action `{key}`")));
        }
        let mut chain = self.join_chain(&mut tx, Vec::new()).await?;
        chain.append(&mut tx, self.backend, ended).await?;
        tx.commit()
            .await
            .map_err(query_err("committing an action's outcome"))?;
        self.pending_committed();
        Ok(())
    }

    /// Writes `outcome`; with `owner`, only to an action still `executing` under its lease.
    /// Returns how many rows it changed.
    async fn write_outcome(
        &self,
        outcome: &Outcome<'_>,
        owner: Option<&str>,
    ) -> Result<u64, StoreError> {
        let done = self
            .execute_write(outcome_query(outcome, owner))
            .await
            .map_err(query_err("recording an action's outcome"))?;
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Active, automatic actions waiting to run, oldest first.
    pub async fn pending_actions(
        &self,
        limit: i64,
    ) -> Result<Vec<crate::store::ActionRow>, StoreError> {
        // A retry waits for its time; RFC 3339 UTC text compares in time order.
        self.actions_due(&timestamp(chrono::Utc::now()), limit)
            .await
    }

    /// Queues a failed action again after `delay`, counting the attempt.
    pub async fn schedule_retry(
        &self,
        pk: i64,
        delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        let now = chrono::Utc::now();
        let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        self.execute_write(sqlx::query(
            "UPDATE actions SET status = 'pending', attempts = attempts + 1, next_attempt_at = $1, \
             updated_at = $2 WHERE pk = $3 AND status = 'failed'",
        )
        .bind(timestamp(at))
        .bind(timestamp(now))
        .bind(pk))
        .await
        .map_err(query_err("scheduling a retry"))?;
        Ok(())
    }

    /// Reserves the pending action `pk` for this replica (its lease, still `pending`), unless
    /// another live replica reserved it or holds work for the same account (or, for a
    /// tenant-wide action, the tenant): one account's actions run in order on one replica at a
    /// time. False when it is not this replica's to run.
    pub async fn reserve_action(&self, pk: i64, lane: &str) -> Result<bool, StoreError> {
        let what = "reserving an action";
        let (_writer, mut tx) = self.hot_tx().await?;
        if self.backend == super::Backend::Postgres {
            // Two replicas reserving two actions of one account serialize here, so the lane
            // check below sees the other's reservation.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1)) IS NULL AS locked")
                .bind(format!("stanch-lane:{lane}"))
                .fetch_one(&mut *tx)
                .await
                .map_err(query_err(what))?;
        }
        let skip_locked = match self.backend {
            super::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE actions SET lease_owner = $1, lease_until = $2, lane = $5 WHERE pk = (SELECT pk FROM \
             actions WHERE pk = $3 AND status = 'pending' AND (lease_owner IS NULL \
             OR lease_owner = $1 OR lease_until < $4){skip_locked}) AND NOT EXISTS (SELECT 1 \
             FROM actions o WHERE o.lease_owner IS NOT NULL AND o.lease_owner <> $1 \
             AND o.lease_until >= $4 AND o.status IN ('pending', 'executing', 'rolling_back') \
             AND o.lane = $5)"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.replica.id.clone())
            .bind(self.replica.lease_until())
            .bind(pk)
            .bind(timestamp(chrono::Utc::now()))
            .bind(lane.to_string())
            .execute(&mut *tx)
            .await
            .map_err(query_err(what))?;
        tx.commit().await.map_err(query_err(what))?;
        Ok(done.rows_affected() == 1)
    }

    /// How many actions wait to run (due now or later); counted, not loaded.
    pub async fn queue_depth(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT COUNT(*) AS n FROM actions WHERE status IN ('pending', 'executing')")
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(query_err("counting the queue"))
    }

    /// Puts a failed, refused or unverified action back in the queue (`stanch actions retry`):
    /// a person's decision to run it again.
    pub async fn requeue_action(&self, pk: i64) -> Result<bool, StoreError> {
        let done = self.execute_write(sqlx::query("UPDATE actions SET status = 'pending', updated_at = $1 WHERE pk = $2 AND status IN ('failed', 'needs_human', 'unverified')")
            .bind(timestamp(chrono::Utc::now()))
            .bind(pk))
            .await
            .map_err(query_err("requeueing an action"))?;
        Ok(done.rows_affected() == 1)
    }
}

/// What an action changes, as a lane: its target's name, or the tenant ("") for tenant-wide
/// actions. Two names of one account may take two lanes; their claims are still serialized by
/// the store, where cooldowns and budgets count by resolved identity.
pub fn lane_of(row: &super::ActionRow) -> String {
    lane_named(row.target_upn.as_deref().or(row.target_id.as_deref()))
}

/// The lane of an account named `name` (its UPN where known, else its object id), or the
/// tenant's ("") when there is none: what both the worker's queue and `stanch run` key lanes by.
pub fn lane_named(name: Option<&str>) -> String {
    name.map(|t| t.trim().to_lowercase()).unwrap_or_default()
}

async fn done_as(
    conn: &mut sqlx::AnyConnection,
    key: &str,
) -> Result<Option<(i64, ActionStatus)>, StoreError> {
    let what = "checking an idempotency key";
    let sql = format!(
        "SELECT pk, status FROM actions WHERE idempotency_key = $1 AND mode = 'active' \
         AND status IN ({}) ORDER BY pk LIMIT 1",
        ActionStatus::sql_list(DONE_STATUSES)
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(query_err(what))?
    else {
        return Ok(None);
    };
    let pk: i64 = row.try_get("pk").map_err(query_err(what))?;
    let status = super::rows::stored_status(row.try_get("status").map_err(query_err(what))?)?;
    Ok(Some((pk, status)))
}
