//! After a crash, or a replica's death: what to do with the actions caught `executing` under a
//! lapsed lease. Those whose pre-check sees an effect already made are queued again; the others (a password reset, a message sent: no read
//! proves whether the write happened) are never repeated on their own but made `unverified`,
//! with an audit record, for a person to check and retry (`stanch actions retry`) or leave.

use chrono::Utc;
use serde_json::json;
use sqlx::Row;

use super::Store;
use super::chain::{lock_head, write_records};
use super::error::{StoreError, query_err};
use super::sql::timestamp;
use stanch_core::audit::{self, AuditEvent};
use stanch_core::vocab::{ActionKind, ActionStatus};

/// What a recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Actions queued again: their pre-checks prevent a second effect.
    pub requeued: u64,
    /// Actions made `unverified` (their pks): a person decides whether to run them again.
    pub unverified: Vec<i64>,
}

/// What the result of an action made `unverified` says, for `actions list --json` and people.
const UNVERIFIED_NOTE: &str = "interrupted after it began, and whether its write happened cannot be read back: \
     check by hand, then `stanch actions retry` it or leave it";

/// An action caught `executing` under a lease that lapsed (or under none: claimed before leases
/// existed): its owner died, hung or lost the database.
const LAPSED: &str =
    "status = 'executing' AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < $1)";

impl Store {
    /// Rescues the actions whose owner's lease lapsed: made `pending` again (every resumable
    /// action pre-checks the state it would change, so running it again completes it without
    /// acting twice), except those whose effect no read can prove, made `unverified`. An action
    /// a live replica is running is never touched. Returns how many were re-queued;
    /// [`recover_interrupted_actions`](Self::recover_interrupted_actions) tells both.
    pub async fn recover_interrupted(&self) -> Result<u64, StoreError> {
        Ok(self.recover_interrupted_actions().await?.requeued)
    }

    /// [`recover_interrupted`](Self::recover_interrupted), telling which became `unverified`.
    /// Every replica runs it at start and then every few seconds; it is cheap when nothing
    /// lapsed, and two replicas rescuing at once rescue each action once.
    pub async fn recover_interrupted_actions(&self) -> Result<Recovered, StoreError> {
        let what = "rescuing actions whose lease lapsed";
        let now = Utc::now();
        let sql =
            format!("SELECT pk, idempotency_key, kind, lease_owner FROM actions WHERE {LAPSED}");
        let lapsed = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(timestamp(now))
            .fetch_all(&self.pool)
            .await
            .map_err(query_err(what))?;
        if lapsed.is_empty() {
            return Ok(Recovered::default());
        }
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        // Read again under the head lock: another rescuer may have been first.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(timestamp(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(query_err(what))?;
        let mut recovered = Recovered::default();
        let mut events = Vec::new();
        for row in rows {
            let pk: i64 = row.try_get("pk").map_err(query_err(what))?;
            let key: String = row.try_get("idempotency_key").map_err(query_err(what))?;
            let kind: String = row.try_get("kind").map_err(query_err(what))?;
            let owner: Option<String> = row.try_get("lease_owner").map_err(query_err(what))?;
            let resumable = ActionKind::parse(&kind).is_some_and(|k| k.spec().resumable);
            let (status, result) = if resumable {
                (ActionStatus::Pending, None)
            } else {
                (
                    ActionStatus::Unverified,
                    Some(json!({"unverified": UNVERIFIED_NOTE}).to_string()),
                )
            };
            let sql = format!(
                "UPDATE actions SET status = $2, result = COALESCE($3, result), updated_at = $1, \
                 lease_owner = NULL, lease_until = NULL, lane = NULL WHERE pk = $4 AND {LAPSED}"
            );
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(timestamp(now))
                .bind(status.as_str())
                .bind(result)
                .bind(pk)
                .execute(&mut *tx)
                .await
                .map_err(query_err(what))?;
            if done.rows_affected() != 1 {
                continue;
            }
            if resumable {
                recovered.requeued += 1;
                events.push(AuditEvent::new(
                    now,
                    "action.rescued",
                    format!("action/{key}"),
                    json!({"pk": pk, "action": kind, "lapsed_owner": owner, "by": self.replica().id}),
                ));
            } else {
                recovered.unverified.push(pk);
                events.push(AuditEvent::new(
                    now,
                    "action.unverified",
                    format!("action/{key}"),
                    json!({"pk": pk, "action": kind, "why": UNVERIFIED_NOTE, "lapsed_owner": owner}),
                ));
            }
        }
        if !events.is_empty() {
            let (records, head) = audit::seal_all(&head, &events);
            write_records(&mut tx, self.backend, records, &head).await?;
        }
        tx.commit().await.map_err(query_err(what))?;
        self.replica.rescued.fetch_add(
            recovered.requeued + recovered.unverified.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(recovered)
    }
}
