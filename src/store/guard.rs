//! The safety rails applied when an action is claimed: cooldowns (the same action on the same
//! account again too soon is suppressed), protected accounts found at run time, and blast-radius
//! budgets (over a budget the action waits for a human), which count accounts and tenant-wide
//! actions alike. Each outcome is audited with why.

use chrono::Utc;
use serde_json::{Value, json};
use sqlx::Row;

use super::Store;
use super::WriteTx;
use super::error::{StoreError, query_err};
use super::sql::timestamp;
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::ActionStatus;

/// What the claim must respect.
#[derive(Debug, Clone, Default)]
pub struct ClaimGuard {
    /// A repeat of the same kind on the same account within this many seconds is suppressed.
    pub cooldown_secs: u64,
    /// The budgets that apply to this action.
    pub budgets: Vec<BudgetLimit>,
    /// A person approved this action: budgets count it but do not hold it, and no cooldown
    /// applies (the person saw what was done before).
    pub human_approved: bool,
    /// Why the target is protected, when it turned out to be at run time.
    pub protected: Option<String>,
    /// The target's canonical identity (object id, lower case), when the directory resolved it:
    /// recorded on the action, and what cooldowns and budgets compare.
    pub account: Option<String>,
    /// The audit record of the action's start, written in the claim's transaction when it is
    /// claimed (one commit instead of two).
    pub started: Option<stanch_core::audit::AuditEvent>,
}

#[derive(Debug, Clone)]
pub struct BudgetLimit {
    pub name: String,
    pub max: u64,
    pub per_secs: u64,
}

impl ClaimGuard {
    fn is_empty(&self) -> bool {
        self.cooldown_secs == 0 && self.budgets.is_empty() && self.protected.is_none()
    }
}

pub(super) struct Verdict {
    pub claim: Claim,
    pub event: AuditEvent,
}

/// Statuses of an earlier action that make a repeat redundant: it ran, runs, or waits for a human.
const COOLING_STATUSES: &[ActionStatus] = &[
    ActionStatus::Executing,
    ActionStatus::Succeeded,
    ActionStatus::AwaitingApproval,
    ActionStatus::RollingBack,
];

struct Pending {
    pk: i64,
    kind: String,
    target: Option<String>,
    /// The key the rails compare (`actions.account`).
    account: Option<String>,
    gate: Value,
    /// When its detection was observed (what cooldowns compare), read with the action.
    observed_at: Option<String>,
    /// The latest equal action (same kind, account and parameters) that started after this one
    /// was requested and succeeded: it did what this one would do.
    covered_by: Option<i64>,
}

/// What the rails read of an action, in the same statement that finds it.
const PENDING_FIELDS: &str = "pk, kind, target_upn, target_id, account, gate, \
     (SELECT observed_at FROM detections WHERE seq = actions.detection_seq) AS observed_at, \
     (SELECT b.pk FROM actions b WHERE b.account = actions.account AND b.kind = actions.kind \
      AND b.params = actions.params AND b.pk <> actions.pk AND b.mode = 'active' \
      AND b.status = 'succeeded' AND b.started_at >= actions.created_at \
      ORDER BY b.pk DESC LIMIT 1) AS covered_by";

/// The claim's view of the action matching `condition` (two parameters, bound as given).
async fn pending(
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
async fn claimable(
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

/// The rails' verdict on a pending action, or None when it may be claimed.
pub(super) async fn apply(
    tx: &mut WriteTx,
    seq: i64,
    key: &str,
    guard: &ClaimGuard,
) -> Result<Option<Verdict>, StoreError> {
    if guard.human_approved {
        return Ok(None);
    }
    let Some(p) = claimable(tx, seq, key, guard.account.as_deref()).await? else {
        return Ok(None);
    };
    if guard.is_empty() {
        return covered(tx, &p).await;
    }
    if let Some(why) = &guard.protected {
        return hold(tx, &p, why, None).await.map(Some);
    }
    // A tenant-wide action has no account to cool down; budgets still count it, as itself.
    let counted = budget_key(p.pk, p.account.as_deref());
    if guard.cooldown_secs > 0
        && let (Some(target), Some(account)) = (&p.target, &p.account)
        && let Some(by) = recent_same(tx, &p, account, guard.cooldown_secs, "<>").await?
    {
        let detail = json!({"suppressed_by": by, "cooldown_secs": guard.cooldown_secs,
                            "why": format!("action #{by} already did {} on {target} within the cooldown", p.kind)});
        sqlx::query(
            "UPDATE actions SET status = 'suppressed', result = $1, updated_at = $2 WHERE pk = $3",
        )
        .bind(detail.to_string())
        .bind(timestamp(Utc::now()))
        .bind(p.pk)
        .execute(&mut **tx)
        .await
        .map_err(query_err("suppressing an action"))?;
        let event = AuditEvent::new(
            Utc::now(),
            "action.suppressed",
            format!("action/{}", p.pk),
            detail,
        );
        return Ok(Some(Verdict {
            claim: Claim::Suppressed { by },
            event,
        }));
    }
    // What a cooldown does not catch (none for this kind, or a repeat observed outside it).
    if let Some(verdict) = covered(tx, &p).await? {
        return Ok(Some(verdict));
    }
    for budget in &guard.budgets {
        let cutoff = timestamp(Utc::now() - secs(budget.per_secs));
        let what = "reading a budget";
        let already = sqlx::query(
            "SELECT pk FROM budget_spend WHERE budget = $1 AND target = $2 AND spent_at >= $3 LIMIT 1",
        )
        .bind(budget.name.clone())
        .bind(counted.clone())
        .bind(cutoff.clone())
        .fetch_optional(&mut **tx)
        .await
        .map_err(query_err(what))?;
        if already.is_some() {
            continue;
        }
        let spent: i64 = sqlx::query(
            "SELECT COUNT(DISTINCT target) AS n FROM budget_spend WHERE budget = $1 AND spent_at >= $2",
        )
        .bind(budget.name.clone())
        .bind(cutoff)
        .fetch_one(&mut **tx)
        .await
        .and_then(|row| row.try_get("n"))
        .map_err(query_err(what))?;
        if spent as u64 >= budget.max {
            let why = format!(
                "budget `{}` is spent: {} of {} accounts or tenant-wide actions in the last {}",
                budget.name,
                spent,
                budget.max,
                stanch_core::util::format_duration(budget.per_secs)
            );
            return hold(tx, &p, &why, Some(&budget.name)).await.map(Some);
        }
    }
    Ok(None)
}

/// An equal action (same kind, account and parameters) that started after this one was
/// requested and succeeded did what this one would do: a burst of detections on one account
/// asking for the same step is decided once, not re-read from Graph once each. Marked
/// `covered` by it, with why, and audited; a replay treats it as done.
async fn covered(tx: &mut WriteTx, p: &Pending) -> Result<Option<Verdict>, StoreError> {
    let Some(by) = p.covered_by else {
        return Ok(None);
    };
    let detail = json!({"covered_by": by,
                        "why": format!("action #{by} did the same {} on the same account after this one was requested", p.kind)});
    sqlx::query(
        "UPDATE actions SET status = 'covered', result = $1, updated_at = $2 WHERE pk = $3",
    )
    .bind(detail.to_string())
    .bind(timestamp(Utc::now()))
    .bind(p.pk)
    .execute(&mut **tx)
    .await
    .map_err(query_err("marking a covered action"))?;
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

/// Records that a claimed action spends its budgets (once per account and window).
pub(super) async fn spend(
    tx: &mut WriteTx,
    seq: i64,
    key: &str,
    guard: &ClaimGuard,
) -> Result<(), StoreError> {
    if guard.budgets.is_empty() {
        return Ok(());
    }
    let what = "spending a budget";
    let row = sqlx::query("SELECT pk, account AS target FROM actions WHERE detection_seq = $1 AND idempotency_key = $2")
        .bind(seq)
        .bind(key.to_string())
        .fetch_one(&mut **tx)
        .await
        .map_err(query_err(what))?;
    let pk: i64 = row.try_get("pk").map_err(query_err(what))?;
    let account: Option<String> = row.try_get("target").map_err(query_err(what))?;
    let target = budget_key(pk, account.as_deref());
    for budget in &guard.budgets {
        sqlx::query("INSERT INTO budget_spend (budget, target, action_pk, spent_at) VALUES ($1, $2, $3, $4)")
            .bind(budget.name.clone())
            .bind(target.clone())
            .bind(pk)
            .bind(timestamp(Utc::now()))
            .execute(&mut **tx)
            .await
            .map_err(query_err(what))?;
    }
    Ok(())
}

/// What a budget counts an action as: its account, or for a tenant-wide action (no account) the
/// action itself, so each tenant-wide action counts once, however often it is retried.
fn budget_key(pk: i64, account: Option<&str>) -> String {
    match account {
        Some(account) => account.to_string(),
        None => format!("tenant-wide action #{pk}"),
    }
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

/// Turns a pending action into one that waits for a human, adding `why` to its gate.
async fn hold(
    tx: &mut WriteTx,
    p: &Pending,
    why: &str,
    budget: Option<&str>,
) -> Result<Verdict, StoreError> {
    let kind = if budget.is_some() {
        "budget.exceeded"
    } else {
        "action.held"
    };
    let mut gate = p.gate.clone();
    if gate["gate"] != "approval" {
        gate = json!({"gate": "approval", "reasons": []});
    }
    if let Some(reasons) = gate["reasons"].as_array_mut() {
        reasons.push(json!(why));
    }
    sqlx::query(
        "UPDATE actions SET status = 'awaiting_approval', gate = $1, updated_at = $2 WHERE pk = $3",
    )
    .bind(gate.to_string())
    .bind(timestamp(Utc::now()))
    .bind(p.pk)
    .execute(&mut **tx)
    .await
    .map_err(query_err("holding an action for approval"))?;
    let event = AuditEvent::new(
        Utc::now(),
        kind,
        format!("action/{}", p.pk),
        json!({"why": why, "kind": p.kind, "target": p.target, "now": "awaiting approval"}),
    );
    Ok(Verdict {
        claim: Claim::Held {
            why: why.to_string(),
            budget: budget.map(str::to_string),
        },
        event,
    })
}

fn secs(n: u64) -> chrono::Duration {
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
