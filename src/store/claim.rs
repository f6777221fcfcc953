//! What a claim sees of an action and what it came to: the action read (or its account recorded
//! and read back) in the statement that finds it, with its detection's time and the equal
//! action that covers it, and the verdict the rails give.

use serde_json::Value;
use sqlx::Row;

use super::WriteTx;
use super::error::{StoreError, query_err};
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::ActionStatus;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This row is now `executing`; the caller must record its outcome.
    Claimed,
    /// The same action (same idempotency key) already ran or is running as row `pk`.
    AlreadyDone { pk: i64, status: ActionStatus },
    /// The row is not waiting to run (already claimed, passive, or awaiting approval).
    NotPending,
    /// A cooldown suppressed it: the same action on the same account is recent (action `by`).
    Suppressed { by: i64 },
    /// It now waits for a human: `why` (a spent budget, named in `budget`, or a protected
    /// account).
    Held { why: String, budget: Option<String> },
}

/// A claim the rails decided, and its audit record.
pub(super) struct Verdict {
    pub claim: Claim,
    pub event: AuditEvent,
}

pub(super) struct Pending {
    pub pk: i64,
    pub kind: String,
    pub target: Option<String>,
    /// The key the rails compare (`actions.account`).
    pub account: Option<String>,
    pub gate: Value,
    /// When its detection was observed (what cooldowns compare), read with the action.
    pub observed_at: Option<String>,
    /// The latest equal action (same kind, account and parameters) that started after this one
    /// was requested and succeeded: it did what this one would do.
    pub covered_by: Option<i64>,
}

/// What the rails read of an action, in the same statement that finds it.
const PENDING_FIELDS: &str = "pk, kind, target_upn, target_id, account, gate, \
     (SELECT observed_at FROM detections WHERE seq = actions.detection_seq) AS observed_at, \
     (SELECT b.pk FROM actions b WHERE b.account = actions.account AND b.kind = actions.kind \
      AND b.params = actions.params AND b.pk <> actions.pk AND b.mode = 'active' \
      AND b.status = 'succeeded' AND b.started_at >= actions.created_at \
      ORDER BY b.pk DESC LIMIT 1) AS covered_by";

/// The claim's view of the action matching `condition` (two parameters, bound as given).
pub(super) async fn pending(
    tx: &mut WriteTx,
    condition: &'static str,
    first: i64,
    second: Option<&str>,
) -> Result<Option<Pending>, StoreError> {
    let sql = format!("SELECT {PENDING_FIELDS} FROM actions WHERE {condition}");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first);
    if let Some(second) = second {
        query = query.bind(second.to_string());
    }
    let row = query
        .fetch_optional(&mut **tx)
        .await
        .map_err(query_err(READING))?;
    pending_from(row)
}

const READING: &str = "reading an action to claim";
const CLAIMABLE: &str = "detection_seq = $1 AND idempotency_key = $2 AND status = 'pending'";

/// The claimable action `key` of the detection `seq`, recording the account the screening
/// resolved its target to in the same statement.
pub(super) async fn claimable(
    tx: &mut WriteTx,
    seq: i64,
    key: &str,
    account: Option<&str>,
) -> Result<Option<Pending>, StoreError> {
    let Some(account) = account else {
        return pending(tx, CLAIMABLE, seq, Some(key)).await;
    };
    let sql =
        format!("UPDATE actions SET account = $3 WHERE {CLAIMABLE} RETURNING {PENDING_FIELDS}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seq)
        .bind(key.to_string())
        .bind(account.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(query_err(READING))?;
    pending_from(row)
}

fn pending_from(row: Option<sqlx::any::AnyRow>) -> Result<Option<Pending>, StoreError> {
    let what = READING;
    let Some(row) = row else { return Ok(None) };
    let upn: Option<String> = row.try_get("target_upn").map_err(query_err(what))?;
    let id: Option<String> = row.try_get("target_id").map_err(query_err(what))?;
    let gate: String = row.try_get("gate").map_err(query_err(what))?;
    Ok(Some(Pending {
        pk: row.try_get("pk").map_err(query_err(what))?,
        kind: row.try_get("kind").map_err(query_err(what))?,
        account: row.try_get("account").map_err(query_err(what))?,
        target: upn.or(id),
        gate: serde_json::from_str(&gate).unwrap_or(Value::Null),
        observed_at: row.try_get("observed_at").map_err(query_err(what))?,
        covered_by: row.try_get("covered_by").map_err(query_err(what))?,
    }))
}
