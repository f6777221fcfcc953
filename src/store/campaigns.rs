//! Campaign rows: written with the detections that changed them, and loaded back by indicator
//! and time window before grouping (never by scanning every campaign).
//!
//! Every write is an upsert that only widens what is known (earliest first sighting, latest last
//! sighting, a confirmation once set stays), so two batches written out of order, or a batch
//! written after a confirmation computed from a later state, cannot undo each other.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::WriteTx;
use super::chain::{lock_head, write_records};
use super::error::{StoreError, query_err};
use super::sql::timestamp;
use super::sql::{multi_row_insert, rows_per_statement};
use super::{Backend, Store};
use stanch_core::audit::{self, AuditEvent};
use stanch_core::campaign::Dirty;

const CAMPAIGN_COLUMNS: usize = 10;
const MEMBER_COLUMNS: usize = 7;
const INDICATOR_COLUMNS: usize = 4;

/// `excluded.c` when it is earlier (or later) than the stored value: the same SQL on SQLite and
/// PostgreSQL, which spell MIN/MAX of two values differently.
fn earliest(table: &str, column: &str) -> String {
    format!(
        "{column} = CASE WHEN excluded.{column} < {table}.{column} THEN excluded.{column} ELSE {table}.{column} END"
    )
}

fn latest(table: &str, column: &str) -> String {
    format!(
        "{column} = CASE WHEN excluded.{column} > {table}.{column} THEN excluded.{column} ELSE {table}.{column} END"
    )
}

/// Writes what the tracker changed, and which campaign each new detection joined. The caller
/// holds the transaction (the batch's, or a confirmation's).
pub(super) async fn write_dirty(
    tx: &mut WriteTx,
    backend: Backend,
    dirty: Dirty,
    links: &[(i64, String)],
    now: &str,
) -> Result<(), StoreError> {
    let t = "campaigns";
    let tail = format!(
        "ON CONFLICT (id) DO UPDATE SET {}, {}, {}, {}, \
         merged_into = COALESCE(campaigns.merged_into, excluded.merged_into), \
         confirmed_at = COALESCE(campaigns.confirmed_at, excluded.confirmed_at), \
         confirmed_by = COALESCE(campaigns.confirmed_by, excluded.confirmed_by), \
         confirmed_reason = COALESCE(campaigns.confirmed_reason, excluded.confirmed_reason), \
         updated_at = excluded.updated_at",
        earliest(t, "opened_at"),
        earliest(t, "first_seen"),
        latest(t, "last_seen"),
        latest(t, "detections"),
    );
    for chunk in dirty.campaigns.chunks(rows_per_statement(CAMPAIGN_COLUMNS)) {
        let sql = multi_row_insert(
            backend,
            "INSERT INTO campaigns (id, opened_at, first_seen, last_seen, detections, merged_into, \
             confirmed_at, confirmed_by, confirmed_reason, updated_at)",
            CAMPAIGN_COLUMNS,
            chunk.len(),
            &tail,
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            let confirmed = c.confirmed.as_ref();
            query = query
                .bind(c.id.clone())
                .bind(timestamp(c.opened_at))
                .bind(timestamp(c.first_seen))
                .bind(timestamp(c.last_seen))
                .bind(i64::try_from(c.detections).unwrap_or(i64::MAX))
                .bind(c.merged_into.clone())
                .bind(confirmed.map(|x| timestamp(x.at)))
                .bind(confirmed.map(|x| x.by.clone()))
                .bind(confirmed.map(|x| x.reason.clone()))
                .bind(now.to_string());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(query_err("writing campaigns"))?;
    }
    let m = "campaign_members";
    let tail = format!(
        "ON CONFLICT (campaign_id, account) DO UPDATE SET \
         via = CASE WHEN excluded.joined_at < {m}.joined_at THEN excluded.via ELSE {m}.via END, {}, \
         upn = COALESCE({m}.upn, excluded.upn), user_id = COALESCE({m}.user_id, excluded.user_id), {}",
        earliest(m, "joined_at"),
        latest(m, "contained"),
    );
    for chunk in dirty.members.chunks(rows_per_statement(MEMBER_COLUMNS)) {
        let sql = multi_row_insert(
            backend,
            "INSERT INTO campaign_members (campaign_id, account, upn, user_id, joined_at, via, contained)",
            MEMBER_COLUMNS,
            chunk.len(),
            &tail,
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, member) in chunk {
            query = query
                .bind(id.clone())
                .bind(member.account.clone())
                .bind(member.upn.clone())
                .bind(member.id.clone())
                .bind(timestamp(member.joined_at))
                .bind(member.via.clone())
                .bind(i64::from(member.contained));
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(query_err("writing campaign members"))?;
    }
    // After the upserts: the member that stays already holds what the removed one knew.
    for (campaign, account) in &dirty.removed_members {
        sqlx::query("DELETE FROM campaign_members WHERE campaign_id = $1 AND account = $2")
            .bind(campaign.clone())
            .bind(account.clone())
            .execute(&mut **tx)
            .await
            .map_err(query_err("removing a member that is another's other name"))?;
    }
    let i = "campaign_indicators";
    let tail = format!(
        "ON CONFLICT (campaign_id, indicator) DO UPDATE SET {}, {}",
        earliest(i, "first_seen"),
        latest(i, "last_seen"),
    );
    for chunk in dirty
        .indicators
        .chunks(rows_per_statement(INDICATOR_COLUMNS))
    {
        let sql = multi_row_insert(
            backend,
            "INSERT INTO campaign_indicators (campaign_id, indicator, first_seen, last_seen)",
            INDICATOR_COLUMNS,
            chunk.len(),
            &tail,
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, seen) in chunk {
            query = query
                .bind(id.clone())
                .bind(seen.indicator.key())
                .bind(timestamp(seen.first_seen))
                .bind(timestamp(seen.last_seen));
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(query_err("writing campaign indicators"))?;
    }
    for chunk in links.chunks(rows_per_statement(2)) {
        let sql = multi_row_insert(
            backend,
            "INSERT INTO campaign_detections (detection_seq, campaign_id)",
            2,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (seq, id) in chunk {
            query = query.bind(*seq).bind(id.clone());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(query_err("linking detections to campaigns"))?;
    }
    // After the links: a detection linked to a campaign merged in the same batch moves along.
    for (from, into) in &dirty.merges {
        let what = "merging campaigns";
        for sql in [
            "UPDATE campaign_detections SET campaign_id = $1 WHERE campaign_id = $2",
            "UPDATE campaigns SET merged_into = $1 WHERE id = $2",
        ] {
            sqlx::query(sql)
                .bind(into.clone())
                .bind(from.clone())
                .execute(&mut **tx)
                .await
                .map_err(query_err(what))?;
        }
        // The survivor's rows already hold everything the merged campaign knew.
        for sql in [
            "DELETE FROM campaign_indicators WHERE campaign_id = $1",
            "DELETE FROM campaign_members WHERE campaign_id = $1",
        ] {
            sqlx::query(sql)
                .bind(from.clone())
                .execute(&mut **tx)
                .await
                .map_err(query_err(what))?;
        }
    }
    Ok(())
}

pub(super) fn time(
    row: &AnyRow,
    column: &str,
    what: &'static str,
) -> Result<DateTime<Utc>, StoreError> {
    let text: String = row.try_get(column).map_err(query_err(what))?;
    parse_time(&text)
}

pub(super) fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|_| StoreError::Inconsistent(format!("`{text}` is not an RFC 3339 time")))
}

/// `$1, $2, ...` (or `?`) for `n` values starting at `first`.
pub(super) fn placeholders(backend: Backend, first: usize, n: usize) -> String {
    (0..n)
        .map(|i| match backend {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${}", first + i),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// When the detection recorded at `seq` was observed, and the campaign it joined.
    pub async fn detection_campaign(
        &self,
        seq: i64,
    ) -> Result<Option<(DateTime<Utc>, Option<String>)>, StoreError> {
        let what = "reading a detection's campaign";
        let row = sqlx::query(
            "SELECT d.observed_at, c.campaign_id FROM detections d \
             LEFT JOIN campaign_detections c ON c.detection_seq = d.seq WHERE d.seq = $1",
        )
        .bind(seq)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err(what))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            time(&row, "observed_at", what)?,
            row.try_get("campaign_id").map_err(query_err(what))?,
        )))
    }

    /// Whether a detection with this source and id was recorded already (stanch's own
    /// follow-ups are made once: confirming a campaign again does not repeat them).
    pub async fn detection_recorded(&self, source: &str, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 AS found FROM detections WHERE source = $1 AND detection_id = $2 LIMIT 1",
        )
        .bind(source.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err("looking a detection up"))?;
        Ok(row.is_some())
    }

    /// Writes campaign changes that no detection carries (a confirmation, accounts found by a
    /// sweep) with their audit records, in one transaction.
    pub async fn record_campaign_changes(
        &self,
        dirty: Dirty,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let now = timestamp(Utc::now());
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        write_dirty(&mut tx, self.backend, dirty, &[], &now).await?;
        let (records, head) = audit::seal_all(&head, events);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing campaign changes"))
    }
}
