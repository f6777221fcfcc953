//! Approval requests: when a gated action was put in front of people, until when they have to
//! answer, and where each request was delivered (so a chat message can be updated later).
//!
//! State changes go through one transaction with their audit record, and each is a
//! compare-and-set on the action's status and round, so two replicas running the timeout job,
//! or a click racing a timeout, change an action once.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use super::Store;
use super::chain::{lock_head, write_records};
use super::error::{StoreError, query_err};
use super::rows::ActionRow;
use super::sql::timestamp;
use stanch_core::audit::{self, AuditEvent};
use stanch_core::vocab::ActionStatus;

/// One delivery of a request to a channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub round: i64,
    pub channel: String,
    /// Who the request was addressed to.
    pub audience: Vec<String>,
    pub sent_at: String,
    pub ok: bool,
    /// What the channel needs to find the message again (Slack: channel and ts), or the error.
    pub delivery: Value,
}

/// Where an action waiting for people stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingApproval {
    pub round: i64,
    pub deadline: String,
}

impl Store {
    /// Active actions waiting for a human that were never put in front of anyone yet.
    pub async fn unrequested_approvals(&self, limit: i64) -> Result<Vec<ActionRow>, StoreError> {
        self.actions_where(
            "status = 'awaiting_approval' AND approval_deadline IS NULL",
            limit,
        )
        .await
    }

    /// Actions still waiting whose deadline is at or before `now`.
    pub async fn approvals_past_deadline(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(ActionRow, WaitingApproval)>, StoreError> {
        let rows = self
            .actions_where_bound(
                "status = 'awaiting_approval' AND approval_deadline IS NOT NULL AND approval_deadline <= $1",
                &timestamp(now),
                limit,
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(waiting) = self.waiting_approval(row.pk).await? {
                out.push((row, waiting));
            }
        }
        Ok(out)
    }

    /// The round and deadline of an action that was requested.
    pub async fn waiting_approval(&self, pk: i64) -> Result<Option<WaitingApproval>, StoreError> {
        let what = "reading an approval request";
        let row = sqlx::query(
            "SELECT approval_round, approval_deadline FROM actions WHERE pk = $1 AND approval_deadline IS NOT NULL",
        )
        .bind(pk)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err(what))?;
        row.map(|row| {
            Ok(WaitingApproval {
                round: row.try_get("approval_round").map_err(query_err(what))?,
                deadline: row.try_get("approval_deadline").map_err(query_err(what))?,
            })
        })
        .transpose()
    }

    /// Records that round `round` of action `pk` was sent (to `deliveries`), due by `deadline`,
    /// with `event` in the audit trail. Returns false (and writes nothing) when the action is no
    /// longer waiting or is already past that round: another process got there first.
    pub async fn record_approval_round(
        &self,
        pk: i64,
        round: i64,
        deadline: DateTime<Utc>,
        deliveries: &[Delivery],
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let updated = sqlx::query(
            "UPDATE actions SET approval_round = $1, approval_deadline = $2, updated_at = $3 \
             WHERE pk = $4 AND status = 'awaiting_approval' AND COALESCE(approval_round, -1) < $1",
        )
        .bind(round)
        .bind(timestamp(deadline))
        .bind(timestamp(Utc::now()))
        .bind(pk)
        .execute(&mut *tx)
        .await
        .map_err(query_err("recording an approval request"))?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        for d in deliveries {
            sqlx::query(
                "INSERT INTO approval_deliveries (action_pk, round, channel, audience, sent_at, ok, delivery) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(pk)
            .bind(d.round)
            .bind(d.channel.clone())
            .bind(json!(d.audience).to_string())
            .bind(d.sent_at.clone())
            .bind(i64::from(d.ok))
            .bind(d.delivery.to_string())
            .execute(&mut *tx)
            .await
            .map_err(query_err("recording an approval delivery"))?;
        }
        let (records, head) = audit::seal_all(&head, [&event]);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing an approval request"))?;
        Ok(true)
    }

    /// Ends the wait of action `pk` (round `round`) with `status` (`timed_out`, or `pending`
    /// when a timeout approves), writing `event`. False when something else decided first.
    pub async fn close_approval(
        &self,
        pk: i64,
        round: i64,
        status: ActionStatus,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let updated = sqlx::query(
            "UPDATE actions SET status = $1, updated_at = $2 \
             WHERE pk = $3 AND status = 'awaiting_approval' AND approval_round = $4",
        )
        .bind(status.as_str())
        .bind(timestamp(Utc::now()))
        .bind(pk)
        .bind(round)
        .execute(&mut *tx)
        .await
        .map_err(query_err("closing an approval request"))?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        let (records, head) = audit::seal_all(&head, [&event]);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing an approval timeout"))?;
        Ok(true)
    }

    /// Every delivery of requests about action `pk`, oldest first.
    pub async fn deliveries(&self, pk: i64) -> Result<Vec<Delivery>, StoreError> {
        let what = "reading approval deliveries";
        let rows = sqlx::query(
            "SELECT round, channel, audience, sent_at, ok, delivery FROM approval_deliveries WHERE action_pk = $1 ORDER BY pk",
        )
        .bind(pk)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err(what))?;
        rows.iter()
            .map(|row| {
                let audience: String = row.try_get("audience").map_err(query_err(what))?;
                let delivery: String = row.try_get("delivery").map_err(query_err(what))?;
                let ok: i64 = row.try_get("ok").map_err(query_err(what))?;
                Ok(Delivery {
                    round: row.try_get("round").map_err(query_err(what))?,
                    channel: row.try_get("channel").map_err(query_err(what))?,
                    audience: serde_json::from_str(&audience).unwrap_or_default(),
                    sent_at: row.try_get("sent_at").map_err(query_err(what))?,
                    ok: ok != 0,
                    delivery: serde_json::from_str(&delivery).unwrap_or(Value::Null),
                })
            })
            .collect()
    }
}

impl Store {
    /// The detection recorded at audit seq `seq`, as it was received (the evidence shown to
    /// approvers).
    pub async fn detection_at(&self, seq: i64) -> Result<Option<Value>, StoreError> {
        let what = "reading a detection";
        let row = sqlx::query(
            "SELECT payload FROM audit_log WHERE seq = $1 AND kind = 'detection.received'",
        )
        .bind(seq)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err(what))?;
        row.map(|row| {
            let payload: String = row.try_get("payload").map_err(query_err(what))?;
            Ok(serde_json::from_str(&payload).unwrap_or(Value::String(payload)))
        })
        .transpose()
    }
}

impl Store {
    /// How many actions wait for a human, and since when the oldest has (for `/metrics`).
    pub async fn approvals_waiting(&self) -> Result<(i64, Option<String>), StoreError> {
        let what = "counting approvals";
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM actions WHERE status = 'awaiting_approval'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(query_err(what))?;
        Ok((
            row.try_get("n").map_err(query_err(what))?,
            row.try_get("oldest").map_err(query_err(what))?,
        ))
    }
}
