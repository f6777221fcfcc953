//! Loading campaigns into a tracker: by indicator and time window before grouping, by id
//! (following merges) for what follows an action, and again when another process changed them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::campaigns::{parse_time, placeholders, time};
use super::error::{StoreError, query_err};
use super::sql::MAX_PARAMS;
use super::sql::timestamp;
use stanch_core::campaign::{
    Campaign, Confirmation, Indicator, Member, Seen, Tracker, one_per_account,
};

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
        let ids = self.campaigns_seeing(keys, from, to).await?;
        self.load_campaign_ids(tracker, ids).await
    }

    /// The ids of the stored campaigns that saw one of `keys` between `from` and `to`: read
    /// without a tracker, so a caller can look before it locks one.
    pub async fn campaigns_seeing(
        &self,
        keys: &BTreeSet<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BTreeSet<String>, StoreError> {
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
                ids.insert(
                    row.try_get("campaign_id")
                        .map_err(query_err("finding campaigns by indicator"))?,
                );
            }
        }
        Ok(ids)
    }

    /// Loads the campaigns `ids` that `tracker` does not hold yet (following merges).
    pub async fn load_campaign_ids(
        &self,
        tracker: &mut Tracker,
        mut ids: BTreeSet<String>,
    ) -> Result<usize, StoreError> {
        ids.retain(|id| !tracker.knows(id));
        if ids.is_empty() {
            return Ok(0);
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
        let members = rows
            .iter()
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
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(one_per_account(members))
    }
}
