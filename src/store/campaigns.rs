//! Campaign rows: written with the detections that changed them, and loaded back by indicator
//! and time window before grouping (never by scanning every campaign).
//!
//! Every write is an upsert that only widens what is known (earliest first sighting, latest last
//! sighting, a confirmation once set stays), so two batches written out of order, or a batch
//! written after a confirmation computed from a later state, cannot undo each other.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit::{lock_head, write_records};
use super::batch::timestamp;
use super::error::{StoreError, query_err};
use super::sql::{MAX_PARAMS, multi_row_insert, rows_per_statement};
use super::{Backend, Store};
use crate::audit::{self, AuditEvent};
use crate::campaign::{Campaign, Confirmation, Dirty, Indicator, Member, Seen, Tracker};

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
    tx: &mut Transaction<'static, Any>,
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

fn time(row: &AnyRow, column: &str, what: &'static str) -> Result<DateTime<Utc>, StoreError> {
    let text: String = row.try_get(column).map_err(query_err(what))?;
    parse_time(&text)
}

pub(super) fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|_| StoreError::Inconsistent(format!("`{text}` is not an RFC 3339 time")))
}

/// `$1, $2, ...` (or `?`) for `n` values starting at `first`.
fn placeholders(backend: Backend, first: usize, n: usize) -> String {
    (0..n)
        .map(|i| match backend {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${}", first + i),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Loads into `tracker` every campaign that saw one of `keys` between `from` and `to`
    /// (campaigns it already holds are left alone). One indexed query per chunk of keys.
    pub async fn load_campaigns(
        &self,
        tracker: &mut Tracker,
        keys: &BTreeSet<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let keys: Vec<&String> = keys.iter().collect();
        let mut ids = BTreeSet::new();
        for chunk in keys.chunks(MAX_PARAMS - 2) {
            let sql = format!(
                "SELECT DISTINCT campaign_id FROM campaign_indicators WHERE indicator IN ({}) \
                 AND last_seen >= {} AND first_seen <= {}",
                placeholders(self.backend, 1, chunk.len()),
                placeholders(self.backend, chunk.len() + 1, 1),
                placeholders(self.backend, chunk.len() + 2, 1),
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind((*key).clone());
            }
            let rows = query
                .bind(timestamp(from))
                .bind(timestamp(to))
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("finding campaigns by indicator"))?;
            for row in rows {
                let id: String = row
                    .try_get("campaign_id")
                    .map_err(query_err("finding campaigns by indicator"))?;
                if !tracker.knows(&id) {
                    ids.insert(id);
                }
            }
        }
        self.load_ids(tracker, ids).await
    }

    /// The earliest and latest sighting of any stored campaign indicator (`None` when there are
    /// none): what a run can find in the store beyond what it writes itself.
    pub async fn campaign_span(
        &self,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(first_seen) AS first, MAX(last_seen) AS last FROM campaign_indicators",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(query_err("reading the span of campaigns"))?;
        let what = "reading the span of campaigns";
        let first: Option<String> = row.try_get("first").map_err(query_err(what))?;
        let last: Option<String> = row.try_get("last").map_err(query_err(what))?;
        match (first, last) {
            (Some(first), Some(last)) => Ok(Some((parse_time(&first)?, parse_time(&last)?))),
            _ => Ok(None),
        }
    }

    /// Loads the campaign `id` (following merges) into `tracker`; returns the live campaign's id.
    pub async fn load_campaign(
        &self,
        tracker: &mut Tracker,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        if !tracker.knows(id) {
            self.load_ids(tracker, BTreeSet::from([id.to_string()]))
                .await?;
        }
        Ok(tracker.get(id).map(|c| c.id.clone()))
    }

    /// Campaigns whose rows changed after `since`, with their `updated_at`.
    pub async fn campaigns_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let what = "finding changed campaigns";
        let rows = sqlx::query("SELECT id, updated_at FROM campaigns WHERE updated_at > $1")
            .bind(timestamp(since))
            .fetch_all(&self.pool)
            .await
            .map_err(query_err(what))?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("id").map_err(query_err(what))?,
                    row.try_get("updated_at").map_err(query_err(what))?,
                ))
            })
            .collect()
    }

    /// Replaces what `tracker` holds of these campaigns with the stored state (someone else
    /// changed them; everything the tracker changed itself is already written).
    pub async fn reload_campaigns(
        &self,
        tracker: &mut Tracker,
        ids: Vec<String>,
    ) -> Result<usize, StoreError> {
        self.load_ids_as(tracker, ids.into_iter().collect(), true)
            .await
    }

    async fn load_ids(
        &self,
        tracker: &mut Tracker,
        ids: BTreeSet<String>,
    ) -> Result<usize, StoreError> {
        self.load_ids_as(tracker, ids, false).await
    }

    async fn load_ids_as(
        &self,
        tracker: &mut Tracker,
        ids: BTreeSet<String>,
        replace: bool,
    ) -> Result<usize, StoreError> {
        // Follow merges to the live campaigns, remembering the old ids as aliases.
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut pending: Vec<(String, String)> =
            ids.into_iter().map(|id| (id.clone(), id)).collect();
        let mut live: BTreeMap<String, AnyRow> = BTreeMap::new();
        let mut hops = 0;
        while !pending.is_empty() && hops < 32 {
            hops += 1;
            let mut next = Vec::new();
            for (asked, id) in pending {
                let row = sqlx::query("SELECT * FROM campaigns WHERE id = $1")
                    .bind(id.clone())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(query_err("reading a campaign"))?;
                let Some(row) = row else { continue };
                let merged: Option<String> = row
                    .try_get("merged_into")
                    .map_err(query_err("reading a campaign"))?;
                match merged {
                    Some(into) => next.push((asked, into)),
                    None => {
                        if asked != id {
                            aliases.entry(id.clone()).or_default().push(asked);
                        }
                        live.insert(id, row);
                    }
                }
            }
            pending = next;
        }
        let count = live.len();
        for (id, row) in live {
            let aliases = aliases.get(&id).map_or(&[][..], Vec::as_slice);
            if replace {
                let campaign = self.restore(&id, &row).await?;
                tracker.replace_loaded(campaign, aliases);
            } else if !tracker.knows(&id) {
                let campaign = self.restore(&id, &row).await?;
                tracker.insert_loaded(campaign, aliases);
            }
        }
        Ok(count)
    }

    async fn restore(&self, id: &str, row: &AnyRow) -> Result<Campaign, StoreError> {
        let what = "reading a campaign";
        let confirmed_at: Option<String> = row.try_get("confirmed_at").map_err(query_err(what))?;
        let confirmed = match confirmed_at {
            None => None,
            Some(at) => Some(Confirmation {
                at: parse_time(&at)?,
                by: row
                    .try_get::<Option<String>, _>("confirmed_by")
                    .map_err(query_err(what))?
                    .unwrap_or_default(),
                reason: row
                    .try_get::<Option<String>, _>("confirmed_reason")
                    .map_err(query_err(what))?
                    .unwrap_or_default(),
            }),
        };
        let members = self.members_of(id).await?;
        let rows = sqlx::query(
            "SELECT indicator, first_seen, last_seen FROM campaign_indicators WHERE campaign_id = $1",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading campaign indicators"))?;
        let mut seen = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: String = row
                .try_get("indicator")
                .map_err(query_err("reading campaign indicators"))?;
            let Some(indicator) = Indicator::parse_key(&key) else {
                continue;
            };
            seen.push(Seen {
                indicator,
                first_seen: time(row, "first_seen", "reading campaign indicators")?,
                last_seen: time(row, "last_seen", "reading campaign indicators")?,
            });
        }
        let detections: i64 = row.try_get("detections").map_err(query_err(what))?;
        Ok(Campaign::restore(
            id.to_string(),
            time(row, "opened_at", what)?,
            time(row, "first_seen", what)?,
            time(row, "last_seen", what)?,
            detections.max(0) as u64,
            confirmed,
            members,
            seen,
        ))
    }

    pub(super) async fn members_of(&self, id: &str) -> Result<Vec<Member>, StoreError> {
        let what = "reading campaign members";
        let rows = sqlx::query(
            "SELECT account, upn, user_id, joined_at, via, contained FROM campaign_members \
             WHERE campaign_id = $1 ORDER BY joined_at, account",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err(what))?;
        rows.iter()
            .map(|row| {
                let contained: i64 = row.try_get("contained").map_err(query_err(what))?;
                Ok(Member {
                    account: row.try_get("account").map_err(query_err(what))?,
                    upn: row.try_get("upn").map_err(query_err(what))?,
                    id: row.try_get("user_id").map_err(query_err(what))?,
                    joined_at: time(row, "joined_at", what)?,
                    via: row.try_get("via").map_err(query_err(what))?,
                    contained: contained != 0,
                })
            })
            .collect()
    }

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
