//! Repeats: an action that repeats a recent one (a cooldown, in detection time) is suppressed,
//! and one that an equal action started after it was requested already did is covered. Both
//! are decided inside the claim's transaction and audited with why.

use chrono::Utc;
use serde_json::json;
use sqlx::Row;

use super::Store;
use super::WriteTx;
use super::claim::{Claim, Pending, Verdict, pending};
use super::error::{StoreError, query_err};
use super::sql::timestamp;
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::ActionStatus;

/// Statuses of an earlier action that make a repeat redundant: it ran, runs, or waits for a human.
const COOLING_STATUSES: &[ActionStatus] = &[
    ActionStatus::Executing,
    ActionStatus::Succeeded,
    ActionStatus::AwaitingApproval,
    ActionStatus::RollingBack,
];

/// A cooldown: the latest other action of the same kind on the same account, observed within
/// `cooldown_secs` of this one, makes it a repeat; marked `suppressed`, with why.
pub(super) async fn cooled(
    tx: &mut WriteTx,
    p: &Pending,
    cooldown_secs: u64,
) -> Result<Option<Verdict>, StoreError> {
    let (Some(target), Some(account)) = (&p.target, &p.account) else {
        return Ok(None);
    };
    if cooldown_secs == 0 {
        return Ok(None);
    }
    let Some(by) = recent_same(tx, p, account, cooldown_secs, "<>").await? else {
        return Ok(None);
    };
    let detail = json!({"suppressed_by": by, "cooldown_secs": cooldown_secs,
                        "why": format!("action #{by} already did {} on {target} within the cooldown", p.kind)});
    settle(
        tx,
        p.pk,
        ActionStatus::Suppressed,
        &detail,
        "suppressing an action",
    )
    .await?;
    let event = AuditEvent::new(
        Utc::now(),
        "action.suppressed",
        format!("action/{}", p.pk),
        detail,
    );
    Ok(Some(Verdict {
        claim: Claim::Suppressed { by },
        event,
    }))
}

/// An equal action (same kind, account and parameters) that started after this one was
/// requested and succeeded did what this one would do: a burst of detections on one account
/// asking for the same step is decided once, not re-read from Graph once each. Marked
/// `covered` by it, with why, and audited; a replay treats it as done.
pub(super) async fn covered(tx: &mut WriteTx, p: &Pending) -> Result<Option<Verdict>, StoreError> {
    let Some(by) = p.covered_by else {
        return Ok(None);
    };
    let detail = json!({"covered_by": by,
                        "why": format!("action #{by} did the same {} on the same account after this one was requested", p.kind)});
    settle(
        tx,
        p.pk,
        ActionStatus::Covered,
        &detail,
        "marking a covered action",
    )
    .await?;
    Ok(Some(Verdict {
        claim: Claim::AlreadyDone {
            pk: by,
            status: ActionStatus::Succeeded,
        },
        event: AuditEvent::new(
            Utc::now(),
            "action.covered",
            format!("action/{}", p.pk),
            detail,
        ),
    }))
}

/// The latest other action of the same kind on the same account whose detection was observed
/// within `cooldown_secs` of this one's. Detection time, not wall-clock time: a replay of days
/// of detections must not suppress day 3 because day 1 was processed a second ago.
async fn recent_same(
    tx: &mut WriteTx,
    p: &Pending,
    account: &str,
    cooldown_secs: u64,
    other: &'static str,
) -> Result<Option<i64>, StoreError> {
    let what = "checking a cooldown";
    let Some(Ok(observed)) = p
        .observed_at
        .as_deref()
        .map(chrono::DateTime::parse_from_rfc3339)
    else {
        return Ok(None);
    };
    let window = secs(cooldown_secs);
    let sql = format!(
        "SELECT a.pk FROM actions a JOIN detections d ON d.seq = a.detection_seq \
         WHERE a.mode = 'active' AND a.account = $1 AND a.kind = $2 AND a.pk {other} $3 \
         AND a.status IN ({cooling}) AND d.observed_at >= $4 AND d.observed_at <= $5 \
         ORDER BY a.pk DESC LIMIT 1",
        cooling = ActionStatus::sql_list(COOLING_STATUSES)
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account.to_string())
        .bind(p.kind.clone())
        .bind(p.pk)
        .bind(timestamp((observed - window).to_utc()))
        .bind(timestamp((observed + window).to_utc()))
        .fetch_optional(&mut **tx)
        .await
        .map_err(query_err(what))?;
    row.map(|r| r.try_get("pk").map_err(query_err(what)))
        .transpose()
}

pub(super) fn secs(n: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

impl Store {
    /// Whether an action waiting for a human repeats one that is recent (same kind, same
    /// account, within `cooldown_secs`); if so it is suppressed (and audited) and the earlier
    /// action's id returned. Keeps a burst of detections from asking people fifty times.
    pub async fn suppress_repeat_request(
        &self,
        pk: i64,
        cooldown_secs: u64,
    ) -> Result<Option<i64>, StoreError> {
        if cooldown_secs == 0 {
            return Ok(None);
        }
        let (_writer, mut tx) = self.hot_tx().await?;
        let waiting = "pk = $1 AND status = 'awaiting_approval'";
        let Some(pending) = pending(&mut tx, waiting, pk, None).await? else {
            return Ok(None);
        };
        let (Some(target), Some(account)) = (pending.target.clone(), pending.account.clone())
        else {
            return Ok(None);
        };
        // Serialized with claims on the same account (see `claim_locks`).
        let mut chain = self
            .join_chain(&mut tx, vec![format!("account:{account}")])
            .await?;
        // Only an earlier request makes this one a repeat.
        let Some(by) = recent_same(&mut tx, &pending, &account, cooldown_secs, "<").await? else {
            return Ok(None);
        };
        let detail = json!({"suppressed_by": by, "cooldown_secs": cooldown_secs,
                            "why": format!("action #{by} already asks for {} on {target}", pending.kind)});
        // Still waiting: a decision may have come between reading it and taking the lock.
        let suppressed = sqlx::query(
            "UPDATE actions SET status = 'suppressed', result = $1, updated_at = $2 \
             WHERE pk = $3 AND status = 'awaiting_approval'",
        )
        .bind(detail.to_string())
        .bind(timestamp(Utc::now()))
        .bind(pk)
        .execute(&mut *tx)
        .await
        .map_err(query_err("suppressing an action"))?;
        if suppressed.rows_affected() == 0 {
            return Ok(None);
        }
        let event = AuditEvent::new(
            Utc::now(),
            "action.suppressed",
            format!("action/{pk}"),
            detail,
        );
        chain.append(&mut tx, self.backend, [&event]).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a suppression"))?;
        self.pending_committed();
        Ok(Some(by))
    }
}

/// Ends the pending action `pk` as `status`, with why in its result.
async fn settle(
    tx: &mut WriteTx,
    pk: i64,
    status: ActionStatus,
    detail: &serde_json::Value,
    what: &'static str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE actions SET status = $1, result = $2, updated_at = $3 WHERE pk = $4")
        .bind(status.as_str().to_string())
        .bind(detail.to_string())
        .bind(timestamp(Utc::now()))
        .bind(pk)
        .execute(&mut **tx)
        .await
        .map_err(query_err(what))?;
    Ok(())
}
