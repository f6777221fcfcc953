//! How an action ended, as one statement writes it: by itself, or inside a group of writes
//! (`group_commit`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::sql::timestamp;
use stanch_core::vocab::ActionStatus;

/// How an action ended.
pub(super) struct Outcome<'a> {
    pub detection_seq: i64,
    pub key: &'a str,
    pub status: ActionStatus,
    pub result: &'a Value,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The statement that writes `outcome`; with `owner`, only to an action still `executing` under
/// its lease.
pub(super) fn outcome_query<'q>(
    outcome: &Outcome<'_>,
    owner: Option<&str>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let leased = if owner.is_some() {
        " AND status = 'executing' AND lease_owner = $7"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE actions SET status = $1, result = $2, updated_at = $3, \
         expires_at = COALESCE($4, expires_at) WHERE detection_seq = $5 \
         AND idempotency_key = $6{leased}"
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(outcome.status.as_str().to_string())
        .bind(outcome.result.to_string())
        .bind(timestamp(Utc::now()))
        .bind(outcome.expires_at.map(timestamp))
        .bind(outcome.detection_seq)
        .bind(outcome.key.to_string());
    match owner {
        Some(owner) => query.bind(owner.to_string()),
        None => query,
    }
}
