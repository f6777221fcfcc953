//! What the operator API reads page by page (actions, detections, the audit trail, each after a
//! cursor: the last key seen), and the one operator write with no home of its own: a retry,
//! recorded with who asked and why in the same transaction.

use serde_json::json;
use sqlx::Row;

use super::Store;
use super::audit::record_from_row;
use super::chain::{lock_head, write_records};
use super::error::{StoreError, query_err};
use super::rows::{ACTION_SELECT, ActionRow, action_from_row};
use super::sql::timestamp;
use stanch_core::audit::{self, Actor, AuditEvent, AuditRecord};
use stanch_core::vocab::ActionStatus;

/// Which actions a page holds.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub status: Option<ActionStatus>,
    /// The target's UPN or object id, in any case.
    pub account: Option<String>,
    pub playbook: Option<String>,
}

/// Which audit records a page holds.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The record's subject, exactly (`action/12`, `campaign/…`).
    pub subject: Option<String>,
    pub kind: Option<String>,
    /// Text the record's payload holds: an actor's name, UPN or object id.
    pub actor: Option<String>,
    /// RFC 3339 bounds on the record's time, inclusive.
    pub since: Option<String>,
    pub until: Option<String>,
}

/// A stored detection as listed: its row, without the payload (`detection_at` has it).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DetectionSummary {
    pub seq: i64,
    pub source: String,
    pub detection_id: String,
    pub name: String,
    pub severity: Option<String>,
    pub observed_at: String,
    pub user_upn: Option<String>,
    pub user_id: Option<String>,
    pub received_at: String,
}

/// `WHERE` conditions with their bound values, numbered in order.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    values: Vec<String>,
}

impl Conditions {
    fn add(&mut self, template: &str, value: Option<String>) {
        if let Some(value) = value {
            self.values.push(value);
            let n = self.values.len() + 1; // $1 is the cursor
            self.sql.push(template.replace('?', &format!("${n}")));
        }
    }

    fn query(&self, select: &str, key: &str, limit: i64) -> String {
        let mut sql = format!("{select} WHERE {key} > $1");
        for condition in &self.sql {
            sql.push_str(" AND ");
            sql.push_str(condition);
        }
        format!("{sql} ORDER BY {key} LIMIT {limit}")
    }

    /// The page's query with the cursor and every condition's value bound.
    fn prepared(
        &self,
        select: &str,
        key: &str,
        after: i64,
        limit: i64,
    ) -> sqlx::query::Query<'static, sqlx::Any, <sqlx::Any as sqlx::Database>::Arguments> {
        let sql = self.query(select, key, limit);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after);
        for value in &self.values {
            query = query.bind(value.clone());
        }
        query
    }
}

impl Store {
    /// Up to `limit` actions with pk greater than `after`, in pk order.
    pub async fn actions_page(
        &self,
        filter: &ActionFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ActionRow>, StoreError> {
        let mut c = Conditions::default();
        c.add("status = ?", filter.status.map(|s| s.as_str().to_string()));
        c.add(
            "(LOWER(target_upn) = ? OR LOWER(target_id) = ?)",
            filter.account.as_ref().map(|a| a.trim().to_lowercase()),
        );
        c.add("playbook = ?", filter.playbook.clone());
        let rows = c
            .prepared(ACTION_SELECT, "pk", after, limit)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading a page of actions"))?;
        rows.iter().map(action_from_row).collect()
    }

    /// Up to `limit` audit records with seq greater than `after`, in seq order.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.seal_pending().await?;
        let mut c = Conditions::default();
        c.add("subject = ?", filter.subject.clone());
        c.add("kind = ?", filter.kind.clone());
        c.add(
            "payload LIKE ?",
            filter.actor.as_ref().map(|a| format!("%{}%", like(a))),
        );
        c.add("at >= ?", filter.since.clone());
        c.add("at <= ?", filter.until.clone());
        let select = "SELECT seq, at, kind, subject, payload, prev_hash, hash FROM audit_log";
        let query = c.prepared(select, "seq", after, limit);
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading a page of the audit trail"))?;
        rows.iter().map(record_from_row).collect()
    }

    /// Up to `limit` detections with seq greater than `after`, in seq order.
    pub async fn detections_page(
        &self,
        account: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DetectionSummary>, StoreError> {
        let mut c = Conditions::default();
        c.add(
            "(LOWER(user_upn) = ? OR LOWER(user_id) = ?)",
            account.map(|a| a.trim().to_lowercase()),
        );
        let select = "SELECT seq, source, detection_id, name, severity, observed_at, user_upn, \
                      user_id, received_at FROM detections";
        let query = c.prepared(select, "seq", after, limit);
        let what = "reading a page of detections";
        let rows = query.fetch_all(&self.pool).await.map_err(query_err(what))?;
        rows.iter()
            .map(|row| {
                Ok(DetectionSummary {
                    seq: row.try_get("seq")?,
                    source: row.try_get("source")?,
                    detection_id: row.try_get("detection_id")?,
                    name: row.try_get("name")?,
                    severity: row.try_get("severity")?,
                    observed_at: row.try_get("observed_at")?,
                    user_upn: row.try_get("user_upn")?,
                    user_id: row.try_get("user_id")?,
                    received_at: row.try_get("received_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(query_err(what))
    }

    /// Queues a failed, unverified or stuck action again, with an `action.retry_requested`
    /// record naming who asked and why, in one transaction. `false`: not in a state to retry.
    pub async fn requeue_by(
        &self,
        pk: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let now = chrono::Utc::now();
        let done = sqlx::query(
            "UPDATE actions SET status = 'pending', updated_at = $1 WHERE pk = $2 \
             AND status IN ('failed', 'needs_human', 'unverified')",
        )
        .bind(timestamp(now))
        .bind(pk)
        .execute(&mut *tx)
        .await
        .map_err(query_err("requeueing an action"))?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let event = AuditEvent::new(
            now,
            "action.retry_requested",
            format!("action/{pk}"),
            json!({"pk": pk, "reason": reason, "actor": actor}),
        );
        let (records, head) = audit::seal_all(&head, [&event]);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit().await.map_err(query_err("committing a retry"))?;
        Ok(true)
    }
}

/// `text` with LIKE's wildcards taken literally (no ESCAPE clause: they are dropped).
fn like(text: &str) -> String {
    text.chars().filter(|c| *c != '%' && *c != '_').collect()
}
