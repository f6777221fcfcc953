//! Reading campaigns back for people (`stanch campaigns list | show`).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::{StoreError, query_err};
use super::{ActionRow, Store};

/// One line of `stanch campaigns list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignSummary {
    pub id: String,
    pub first_seen: String,
    pub last_seen: String,
    pub detections: i64,
    pub accounts: i64,
    /// Members stanch asked to contain as part of the confirmed campaign.
    pub contained: i64,
    pub confirmed_at: Option<String>,
    pub confirmed_by: Option<String>,
    pub confirmed_reason: Option<String>,
    pub account_list: Vec<String>,
    pub networks: Vec<String>,
    pub asns: Vec<String>,
}

/// One account of a campaign, and how it joined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberEntry {
    pub account: String,
    pub upn: Option<String>,
    pub user_id: Option<String>,
    pub joined_at: String,
    pub via: String,
    pub contained: bool,
}

/// One piece of infrastructure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorEntry {
    pub kind: String,
    pub value: String,
    pub first_seen: String,
    pub last_seen: String,
}

/// A detection of the campaign, in observed order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub seq: i64,
    pub detection: String,
    pub name: String,
    pub severity: Option<String>,
    pub observed_at: String,
    pub account: Option<String>,
}

/// Everything `stanch campaigns show` tells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignDetail {
    #[serde(flatten)]
    pub summary: CampaignSummary,
    /// Older ids this campaign absorbed.
    pub merged_from: Vec<String>,
    pub members: Vec<MemberEntry>,
    pub infrastructure: Vec<IndicatorEntry>,
    pub timeline: Vec<TimelineEntry>,
    pub actions: Vec<ActionRow>,
}

fn text(row: &AnyRow, column: &str) -> Result<String, StoreError> {
    row.try_get(column).map_err(query_err("reading campaigns"))
}

fn opt(row: &AnyRow, column: &str) -> Result<Option<String>, StoreError> {
    row.try_get(column).map_err(query_err("reading campaigns"))
}

fn int(row: &AnyRow, column: &str) -> Result<i64, StoreError> {
    row.try_get(column).map_err(query_err("reading campaigns"))
}

impl Store {
    /// Live campaigns (not merged into another), most recent activity first.
    pub async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM campaigns WHERE merged_into IS NULL ORDER BY last_seen DESC, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("listing campaigns"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(summary) = self.campaign_summary(&text(row, "id")?).await? {
                out.push(summary);
            }
        }
        Ok(out)
    }

    /// The live id `id` ended up under (itself, or the campaign it was merged into).
    pub async fn live_campaign_id(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut id = id.to_string();
        for _ in 0..32 {
            let row = sqlx::query("SELECT merged_into FROM campaigns WHERE id = $1")
                .bind(id.clone())
                .fetch_optional(&self.pool)
                .await
                .map_err(query_err("reading a campaign"))?;
            match row {
                None => return Ok(None),
                Some(row) => match opt(&row, "merged_into")? {
                    Some(into) => id = into,
                    None => return Ok(Some(id)),
                },
            }
        }
        Err(StoreError::Inconsistent(format!(
            "campaign {id} is merged in a loop"
        )))
    }

    async fn campaign_summary(&self, id: &str) -> Result<Option<CampaignSummary>, StoreError> {
        let row = sqlx::query("SELECT * FROM campaigns WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("reading a campaign"))?;
        let Some(row) = row else { return Ok(None) };
        let members = self.members_of(id).await?;
        let indicators = self.indicators_of(id).await?;
        let values = |kind: &str| -> Vec<String> {
            indicators
                .iter()
                .filter(|i| i.kind == kind)
                .map(|i| i.value.clone())
                .collect()
        };
        Ok(Some(CampaignSummary {
            id: id.to_string(),
            first_seen: text(&row, "first_seen")?,
            last_seen: text(&row, "last_seen")?,
            detections: int(&row, "detections")?,
            accounts: members.len() as i64,
            contained: members.iter().filter(|m| m.contained).count() as i64,
            confirmed_at: opt(&row, "confirmed_at")?,
            confirmed_by: opt(&row, "confirmed_by")?,
            confirmed_reason: opt(&row, "confirmed_reason")?,
            account_list: members.iter().map(|m| m.name().to_string()).collect(),
            networks: values("network"),
            asns: values("asn"),
        }))
    }

    async fn indicators_of(&self, id: &str) -> Result<Vec<IndicatorEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT indicator, first_seen, last_seen FROM campaign_indicators \
             WHERE campaign_id = $1 ORDER BY first_seen, indicator",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading campaign indicators"))?;
        rows.iter()
            .map(|row| {
                let key = text(row, "indicator")?;
                let (kind, value) = key.split_once(':').unwrap_or(("?", key.as_str()));
                Ok(IndicatorEntry {
                    kind: kind.to_string(),
                    value: value.to_string(),
                    first_seen: text(row, "first_seen")?,
                    last_seen: text(row, "last_seen")?,
                })
            })
            .collect()
    }

    /// The whole story of one campaign (an id merged into another shows the survivor).
    pub async fn campaign_detail(&self, id: &str) -> Result<Option<CampaignDetail>, StoreError> {
        let Some(id) = self.live_campaign_id(id).await? else {
            return Ok(None);
        };
        let Some(summary) = self.campaign_summary(&id).await? else {
            return Ok(None);
        };
        let merged_from =
            sqlx::query("SELECT id FROM campaigns WHERE merged_into = $1 ORDER BY id")
                .bind(id.clone())
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("reading merged campaigns"))?
                .iter()
                .map(|row| text(row, "id"))
                .collect::<Result<Vec<_>, _>>()?;
        let members = self
            .members_of(&id)
            .await?
            .into_iter()
            .map(|m| MemberEntry {
                account: m.account,
                upn: m.upn,
                user_id: m.id,
                joined_at: super::sql::timestamp(m.joined_at),
                via: m.via,
                contained: m.contained,
            })
            .collect();
        let rows = sqlx::query(
            "SELECT d.seq, d.source, d.detection_id, d.name, d.severity, d.observed_at, \
             d.user_upn, d.user_id FROM campaign_detections c JOIN detections d ON d.seq = c.detection_seq \
             WHERE c.campaign_id = $1 ORDER BY d.observed_at, d.seq",
        )
        .bind(id.clone())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading a campaign's detections"))?;
        let mut timeline = Vec::with_capacity(rows.len());
        for row in &rows {
            timeline.push(TimelineEntry {
                seq: int(row, "seq")?,
                detection: format!("{}/{}", text(row, "source")?, text(row, "detection_id")?),
                name: text(row, "name")?,
                severity: opt(row, "severity")?,
                observed_at: text(row, "observed_at")?,
                account: opt(row, "user_upn")?.or(opt(row, "user_id")?),
            });
        }
        let actions = self.actions_of_campaign(&id).await?;
        Ok(Some(CampaignDetail {
            summary,
            merged_from,
            members,
            infrastructure: self.indicators_of(&id).await?,
            timeline,
            actions,
        }))
    }
}
