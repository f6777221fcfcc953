//! The safety rails applied when an action is claimed: cooldowns (the same action on the same
//! account again too soon is suppressed), protected accounts found at run time, and blast-radius
//! budgets (over a budget the action waits for a human), which count accounts and tenant-wide
//! actions alike. Each outcome is audited with why. Repeats (cooldowns, covered actions) are
//! decided in `repeats`; what the claim reads of the action is `claim`'s.

use chrono::Utc;
use serde_json::json;
use sqlx::Row;

use super::WriteTx;
use super::claim::{Claim, Pending, Verdict, claimable};
use super::error::{StoreError, query_err};
use super::repeats::{cooled, covered, secs};
use super::sql::timestamp;
use stanch_core::audit::AuditEvent;

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
    if let Some(verdict) = cooled(tx, &p, guard.cooldown_secs).await? {
        return Ok(Some(verdict));
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
