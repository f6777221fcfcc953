use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use stanch_core::vocab::{ActionStatus, Mode};

use super::Store;
use super::error::{StoreError, query_err};

/// A planned (and later executed) action, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRow {
    pub pk: i64,
    pub run_id: i64,
    pub detection_seq: i64,
    pub idempotency_key: String,
    pub playbook: String,
    pub step: String,
    pub kind: String,
    pub target_upn: Option<String>,
    pub target_id: Option<String>,
    pub params: Value,
    pub mode: Mode,
    pub gate: Value,
    pub status: ActionStatus,
    pub reason: String,
    pub expires_after_secs: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    pub result: Option<Value>,
    /// Retries made after transient failures.
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    /// When the `expire-actions` job rolls this action back (a succeeded action whose step said
    /// `expires_after`); kept after a confirmation as the deadline that no longer applies.
    pub expires_at: Option<String>,
    /// An operator confirmed the action: it is permanent and never expires.
    pub confirmed: bool,
    pub confirmed_at: Option<String>,
    pub confirmed_by: Option<String>,
}

impl ActionRow {
    /// Whether the plan gated this action behind a human decision (the stored `Gate`).
    pub fn is_gated(&self) -> bool {
        self.gate["gate"] == "approval"
    }
}

/// A run, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub mode: String,
    pub input: String,
    pub summary: Option<Value>,
}

pub(super) const ACTION_SELECT: &str = "SELECT pk, run_id, detection_seq, idempotency_key, \
     playbook, step, kind, target_upn, target_id, params, mode, gate, status, reason, \
     expires_after_secs, created_at, updated_at, result, attempts, next_attempt_at, expires_at, \
     confirmed_at, confirmed_by FROM actions";

impl Store {
    /// Planned actions, oldest first; all of them, or one run's.
    pub async fn actions(&self, run_id: Option<i64>) -> Result<Vec<ActionRow>, StoreError> {
        let rows = match run_id {
            Some(run_id) => {
                let sql = format!("{ACTION_SELECT} WHERE run_id = $1 ORDER BY pk");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(run_id)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                let sql = format!("{ACTION_SELECT} ORDER BY pk");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(query_err("reading actions"))?;
        rows.iter().map(action_from_row).collect()
    }

    /// The actions planned for a campaign's detections, oldest first.
    pub async fn actions_of_campaign(&self, id: &str) -> Result<Vec<ActionRow>, StoreError> {
        let sql = format!(
            "{ACTION_SELECT} WHERE detection_seq IN \
             (SELECT detection_seq FROM campaign_detections WHERE campaign_id = $1) ORDER BY pk"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading a campaign's actions"))?;
        rows.iter().map(action_from_row).collect()
    }

    /// Pending actions whose (retry) time has come, oldest first.
    pub(crate) async fn actions_due(
        &self,
        now: &str,
        limit: i64,
    ) -> Result<Vec<ActionRow>, StoreError> {
        // Those another live replica reserved are its own to run.
        let sql = format!(
            "{ACTION_SELECT} WHERE status = 'pending' AND (next_attempt_at IS NULL OR \
             next_attempt_at <= $1) AND (lease_owner IS NULL OR lease_until < $1 OR \
             lease_owner = $2) ORDER BY pk LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now.to_string())
            .bind(self.replica().id.clone())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading actions"))?;
        rows.iter().map(action_from_row).collect()
    }

    /// Actions matching a fixed SQL condition (no parameters), oldest first.
    pub(crate) async fn actions_where(
        &self,
        condition: &'static str,
        limit: i64,
    ) -> Result<Vec<ActionRow>, StoreError> {
        let sql = format!("{ACTION_SELECT} WHERE {condition} ORDER BY pk LIMIT $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading actions"))?;
        rows.iter().map(action_from_row).collect()
    }

    /// Actions matching a fixed SQL condition with one text parameter (`$1`), oldest first.
    pub(crate) async fn actions_where_bound(
        &self,
        condition: &'static str,
        value: &str,
        limit: i64,
    ) -> Result<Vec<ActionRow>, StoreError> {
        let sql = format!("{ACTION_SELECT} WHERE {condition} ORDER BY pk LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value.to_string())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading actions"))?;
        rows.iter().map(action_from_row).collect()
    }

    /// One action by its primary key.
    pub async fn action(&self, pk: i64) -> Result<Option<ActionRow>, StoreError> {
        let sql = format!("{ACTION_SELECT} WHERE pk = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(pk)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("reading an action"))?;
        row.as_ref().map(action_from_row).transpose()
    }

    /// How many detections were recorded; in all, or in one run.
    pub async fn detections_count(&self, run_id: Option<i64>) -> Result<i64, StoreError> {
        let row = match run_id {
            Some(run_id) => {
                sqlx::query("SELECT COUNT(*) AS n FROM detections WHERE run_id = $1")
                    .bind(run_id)
                    .fetch_one(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT COUNT(*) AS n FROM detections")
                    .fetch_one(&self.pool)
                    .await
            }
        }
        .map_err(query_err("counting detections"))?;
        row.try_get("n").map_err(query_err("counting detections"))
    }

    pub async fn run(&self, run_id: i64) -> Result<Option<RunRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, started_at, finished_at, mode, input, summary FROM runs WHERE id = $1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err("reading a run"))?;
        let Some(row) = row else { return Ok(None) };
        let what = "reading a run";
        let summary: Option<String> = get(&row, "summary", what)?;
        Ok(Some(RunRow {
            id: get(&row, "id", what)?,
            started_at: get(&row, "started_at", what)?,
            finished_at: get(&row, "finished_at", what)?,
            mode: get(&row, "mode", what)?,
            input: get(&row, "input", what)?,
            summary: summary.map(|text| parse_json(&text)),
        }))
    }
}

/// Stored JSON that no longer parses is shown as the text it is rather than failing the read.
fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn get<T>(row: &AnyRow, column: &str, what: &'static str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(query_err(what))
}

/// A status read back from the database; one this version does not know is an inconsistency,
/// never a silent default.
pub(super) fn stored_status(text: String) -> Result<ActionStatus, StoreError> {
    text.parse().map_err(|e: stanch_core::vocab::UnknownState| {
        StoreError::Inconsistent(format!("an action's status: {e}"))
    })
}

pub(super) fn action_from_row(row: &AnyRow) -> Result<ActionRow, StoreError> {
    let what = "reading an action";
    let params: String = get(row, "params", what)?;
    let gate: String = get(row, "gate", what)?;
    let result: Option<String> = get(row, "result", what)?;
    let confirmed_at: Option<String> = get(row, "confirmed_at", what)?;
    Ok(ActionRow {
        pk: get(row, "pk", what)?,
        run_id: get(row, "run_id", what)?,
        detection_seq: get(row, "detection_seq", what)?,
        idempotency_key: get(row, "idempotency_key", what)?,
        playbook: get(row, "playbook", what)?,
        step: get(row, "step", what)?,
        kind: get(row, "kind", what)?,
        target_upn: get(row, "target_upn", what)?,
        target_id: get(row, "target_id", what)?,
        params: parse_json(&params),
        mode: {
            let mode: String = get(row, "mode", what)?;
            Mode::parse(&mode).ok_or_else(|| {
                StoreError::Inconsistent(format!(
                    "an action's mode is `{mode}`, neither passive nor active"
                ))
            })?
        },
        gate: parse_json(&gate),
        status: stored_status(get(row, "status", what)?)?,
        reason: get(row, "reason", what)?,
        expires_after_secs: get(row, "expires_after_secs", what)?,
        created_at: get(row, "created_at", what)?,
        updated_at: get(row, "updated_at", what)?,
        result: result.map(|text| parse_json(&text)),
        attempts: get(row, "attempts", what)?,
        next_attempt_at: get(row, "next_attempt_at", what)?,
        expires_at: get(row, "expires_at", what)?,
        confirmed: confirmed_at.is_some(),
        confirmed_at,
        confirmed_by: get(row, "confirmed_by", what)?,
    })
}
