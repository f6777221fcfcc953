//! What grouping reports: the audit events of a campaign, where a detection landed, and the rows
//! a batch must write.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{Confirmation, Member, Seen};

/// Something that happened to a campaign, for the audit trail (`campaign.<kind>`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CampaignEvent {
    Opened {
        campaign: String,
        detection: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        indicators: Vec<String>,
    },
    Joined {
        campaign: String,
        account: String,
        via: String,
    },
    Merged {
        from: String,
        into: String,
        via: String,
    },
    Confirmed {
        campaign: String,
        at: String,
        by: String,
        reason: String,
    },
    /// Two members were one account under two names: `merged` is part of `account` now.
    SameAccount {
        campaign: String,
        account: String,
        id: String,
        merged: String,
        via: String,
    },
}

impl CampaignEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            CampaignEvent::Opened { .. } => "campaign.opened",
            CampaignEvent::Joined { .. } => "campaign.joined",
            CampaignEvent::Merged { .. } => "campaign.merged",
            CampaignEvent::Confirmed { .. } => "campaign.confirmed",
            CampaignEvent::SameAccount { .. } => "campaign.same_account",
        }
    }

    /// The campaign the record is about (its audit subject is `campaign/<id>`).
    pub fn campaign(&self) -> &str {
        match self {
            CampaignEvent::Opened { campaign, .. }
            | CampaignEvent::Joined { campaign, .. }
            | CampaignEvent::Confirmed { campaign, .. }
            | CampaignEvent::SameAccount { campaign, .. } => campaign,
            CampaignEvent::Merged { into, .. } => into,
        }
    }
}

/// Where a detection landed.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub campaign: String,
    pub events: Vec<CampaignEvent>,
    /// The detection's account joined a campaign that was already confirmed: it must be
    /// contained as a member too.
    pub joined_confirmed: bool,
}

/// The rows to write for what changed since the last take, read from the current state.
#[derive(Debug, Clone, Default)]
pub struct Dirty {
    pub campaigns: Vec<CampaignRow>,
    pub members: Vec<(String, Member)>,
    pub indicators: Vec<(String, Seen)>,
    /// `(from, into)`, in the order they happened.
    pub merges: Vec<(String, String)>,
    /// `(campaign, account)`: member rows to delete, the account being another member's other
    /// name. Deleted after the members are written.
    pub removed_members: Vec<(String, String)>,
}

impl Dirty {
    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty() && self.merges.is_empty() && self.removed_members.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    pub id: String,
    pub opened_at: DateTime<Utc>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub detections: u64,
    pub merged_into: Option<String>,
    pub confirmed: Option<Confirmation>,
}
