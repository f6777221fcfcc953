//! After a crash: what to do with the actions caught `executing`. Those whose pre-check sees an
//! effect already made are queued again; the others (a password reset, a message sent: no read
//! proves whether the write happened) are never repeated on their own but made `unverified`,
//! with an audit record, for a person to check and retry (`stanch actions retry`) or leave.

use chrono::Utc;
use serde_json::json;
use sqlx::Row;

use super::Store;
use super::audit::{lock_head, write_records};
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

impl Store {
    /// After a crash, actions caught `executing` are made `pending` again (every resumable
    /// action pre-checks the state it would change, so running it again completes it without
    /// acting twice), except those whose effect no read can prove, made `unverified`.
    /// Returns how many were re-queued; [`recover_interrupted_actions`](Self::recover_interrupted_actions)
    /// tells both.
    pub async fn recover_interrupted(&self) -> Result<u64, StoreError> {
        Ok(self.recover_interrupted_actions().await?.requeued)
    }

    /// [`recover_interrupted`](Self::recover_interrupted), telling which became `unverified`.
    pub async fn recover_interrupted_actions(&self) -> Result<Recovered, StoreError> {
        let unverified = self.mark_unverified().await?;
        let what = "recovering interrupted actions";
        let done = sqlx::query(
            "UPDATE actions SET status = 'pending', updated_at = $1 WHERE status = 'executing'",
        )
        .bind(timestamp(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(query_err(what))?;
        Ok(Recovered {
            requeued: done.rows_affected(),
            unverified,
        })
    }

    /// The interrupted actions that are not resumable become `unverified`, each with its audit
    /// record, in one transaction.
    async fn mark_unverified(&self) -> Result<Vec<i64>, StoreError> {
        let kinds: Vec<String> = ActionKind::ALL
            .iter()
            .filter(|k| !k.spec().resumable)
            .map(|k| format!("'{}'", k.name()))
            .collect();
        let what = "marking interrupted actions unverified";
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let sql = format!(
            "SELECT pk, idempotency_key, kind FROM actions WHERE status = 'executing' AND kind IN ({})",
            kinds.join(", ")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(query_err(what))?;
        let now = Utc::now();
        let mut pks = Vec::new();
        let mut events = Vec::new();
        for row in rows {
            let pk: i64 = row.try_get("pk").map_err(query_err(what))?;
            let key: String = row.try_get("idempotency_key").map_err(query_err(what))?;
            let kind: String = row.try_get("kind").map_err(query_err(what))?;
            let result = json!({"unverified": UNVERIFIED_NOTE});
            sqlx::query(
                "UPDATE actions SET status = $1, result = $2, updated_at = $3 \
                 WHERE pk = $4 AND status = 'executing'",
            )
            .bind(ActionStatus::Unverified.as_str())
            .bind(result.to_string())
            .bind(timestamp(now))
            .bind(pk)
            .execute(&mut *tx)
            .await
            .map_err(query_err(what))?;
            events.push(AuditEvent::new(
                now,
                "action.unverified",
                format!("action/{key}"),
                json!({"pk": pk, "action": kind, "why": UNVERIFIED_NOTE}),
            ));
            pks.push(pk);
        }
        if !events.is_empty() {
            let (records, head) = audit::seal_all(&head, &events);
            write_records(&mut tx, self.backend, records, &head).await?;
        }
        tx.commit().await.map_err(query_err(what))?;
        Ok(pks)
    }
}
