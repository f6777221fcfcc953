//! Human decisions on gated actions, recorded together with their audit records in one
//! transaction, so a decision and its trace cannot be separated.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use super::Store;
use super::chain::{lock_head, write_records};
use super::error::{StoreError, query_err};
use super::sql::timestamp;
use stanch_core::audit::{self, Actor, AuditEvent};
use stanch_core::vocab::{ActionStatus, Decision};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRow {
    pub approver: String,
    pub decision: Decision,
    pub reason: String,
    pub channel: String,
    pub action_hash: String,
    pub decided_at: String,
}

/// What a decision did to the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DecisionEffect {
    /// Quorum reached: the action is queued to run.
    Approved {
        approvals: i64,
    },
    /// Recorded; more approvals are needed.
    Waiting {
        approvals: i64,
        quorum: i64,
    },
    Denied,
}

/// A decision to record.
pub struct NewDecision<'a> {
    pub action_pk: i64,
    pub approver: &'a str,
    pub approve: bool,
    pub reason: &'a str,
    pub channel: &'a str,
    pub action_hash: &'a str,
    pub quorum: i64,
    /// SHA-256 of the raw request that carried the decision, when there was one.
    pub raw_sha256: Option<&'a str>,
    /// Who decided, as proven (a token) or as the box says (the CLI); `None` for stanch itself.
    pub actor: Option<&'a Actor>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("action #{0} is not waiting for approval")]
    NotWaiting(i64),
    #[error("{approver} already decided on action #{pk}")]
    AlreadyDecided { pk: i64, approver: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Records one decision; on quorum the action is queued (`pending`), on a denial it is
    /// `denied`. Concurrent decisions are serialized, so a double click counts once.
    pub async fn record_decision(
        &self,
        d: &NewDecision<'_>,
    ) -> Result<DecisionEffect, DecisionError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let status: Option<String> = sqlx::query("SELECT status FROM actions WHERE pk = $1")
            .bind(d.action_pk)
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_err("reading an action"))?
            .map(|row| row.try_get("status"))
            .transpose()
            .map_err(query_err("reading an action"))?;
        if status.as_deref() != Some(ActionStatus::AwaitingApproval.as_str()) {
            return Err(DecisionError::NotWaiting(d.action_pk));
        }
        let seen: Option<i64> = sqlx::query("SELECT pk FROM approval_decisions WHERE action_pk = $1 AND LOWER(approver) = LOWER($2)")
            .bind(d.action_pk)
            .bind(d.approver.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_err("reading decisions"))?
            .map(|row| row.try_get("pk"))
            .transpose()
            .map_err(query_err("reading decisions"))?;
        if seen.is_some() {
            return Err(DecisionError::AlreadyDecided {
                pk: d.action_pk,
                approver: d.approver.to_string(),
            });
        }
        let at = timestamp(d.at);
        sqlx::query(
            "INSERT INTO approval_decisions (action_pk, approver, decision, reason, channel, action_hash, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(d.action_pk)
        .bind(d.approver.to_string())
        .bind(Decision::of(d.approve).as_str())
        .bind(d.reason.to_string())
        .bind(d.channel.to_string())
        .bind(d.action_hash.to_string())
        .bind(at.clone())
        .execute(&mut *tx)
        .await
        .map_err(query_err("recording a decision"))?;
        let approvals: i64 = sqlx::query("SELECT COUNT(*) AS n FROM approval_decisions WHERE action_pk = $1 AND decision = 'approve' AND action_hash = $2")
            .bind(d.action_pk)
            .bind(d.action_hash.to_string())
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(query_err("counting approvals"))?;
        let effect = if !d.approve {
            DecisionEffect::Denied
        } else if approvals >= d.quorum {
            DecisionEffect::Approved { approvals }
        } else {
            DecisionEffect::Waiting {
                approvals,
                quorum: d.quorum,
            }
        };
        let new_status = match effect {
            DecisionEffect::Denied => Some(ActionStatus::Denied),
            DecisionEffect::Approved { .. } => Some(ActionStatus::Pending),
            DecisionEffect::Waiting { .. } => None,
        };
        if let Some(status) = new_status {
            sqlx::query("UPDATE actions SET status = $1, updated_at = $2 WHERE pk = $3")
                .bind(status.as_str())
                .bind(at.clone())
                .bind(d.action_pk)
                .execute(&mut *tx)
                .await
                .map_err(query_err("updating an approved action"))?;
        }
        let event = AuditEvent::new(
            d.at,
            if d.approve {
                "approval.approved"
            } else {
                "approval.denied"
            },
            format!("action/{}", d.action_pk),
            json!({"approver": d.approver, "reason": d.reason, "channel": d.channel, "action_hash": d.action_hash, "effect": effect, "raw_sha256": d.raw_sha256, "actor": d.actor}),
        );
        let (records, head) = audit::seal_all(&head, [&event]);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a decision"))?;
        Ok(effect)
    }

    pub async fn decisions(&self, action_pk: i64) -> Result<Vec<DecisionRow>, StoreError> {
        let rows = sqlx::query("SELECT approver, decision, reason, channel, action_hash, decided_at FROM approval_decisions WHERE action_pk = $1 ORDER BY pk")
            .bind(action_pk)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading decisions"))?;
        rows.iter()
            .map(|row| {
                let get = |c: &str| {
                    row.try_get::<String, _>(c)
                        .map_err(query_err("reading decisions"))
                };
                Ok(DecisionRow {
                    approver: get("approver")?,
                    decision: get("decision")?.parse().map_err(|e| {
                        StoreError::Inconsistent(format!("approval_decisions.decision: {e}"))
                    })?,
                    reason: get("reason")?,
                    channel: get("channel")?,
                    action_hash: get("action_hash")?,
                    decided_at: get("decided_at")?,
                })
            })
            .collect()
    }
}
