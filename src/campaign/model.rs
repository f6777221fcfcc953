//! A campaign as stanch knows it: the accounts in it (and how each joined), the infrastructure
//! seen, when, and whether a compromise in it has been confirmed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::indicator::Indicator;

/// Lists exposed to playbooks (`campaign.ips`...) hold at most this many entries, the earliest
/// seen first: a campaign can grow large, and the first infrastructure is the attacker's core.
/// Counts (`campaign.accounts`, `campaign.detections`) are always exact.
pub const LIST_LIMIT: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The key the account is stored under: its lowercased UPN, else its object id.
    pub account: String,
    pub upn: Option<String>,
    pub id: Option<String>,
    /// When the account was first seen in the campaign (the detection's or sign-in's time).
    pub joined_at: DateTime<Utc>,
    /// How it joined, for people: `detection darktrace/dt-1002 (network 198.51.100.0/24)`.
    pub via: String,
    /// Whether stanch has asked to contain it as a member of the confirmed campaign.
    pub contained: bool,
}

impl Member {
    /// What to call the account: the UPN when known.
    pub fn name(&self) -> &str {
        self.upn.as_deref().or(self.id.as_deref()).unwrap_or(&self.account)
    }
}

/// When an indicator was first and last seen in the campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub indicator: Indicator,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub at: DateTime<Utc>,
    /// Who confirmed: `action <key> (confirm_compromised on b.jones@contoso.com)` or an operator.
    pub by: String,
    pub reason: String,
}

/// One campaign. Built by the [`Tracker`](super::Tracker) (or restored from the store), read by
/// playbooks through `campaign.*` fields.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: String,
    /// The `observed_at` of the detection that opened it.
    pub opened_at: DateTime<Utc>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Detections from outside stanch that joined it (stanch's own are not evidence).
    pub detections: u64,
    pub confirmed: Option<Confirmation>,
    pub merged_into: Option<String>,
    members: Vec<Member>,
    member_index: HashMap<Box<str>, usize>,
    seen: Vec<Seen>,
    seen_index: HashMap<Indicator, usize>,
    lists: Lists,
}

/// The JSON lists playbooks read, kept up to date as the campaign grows so that planning a
/// detection never rebuilds them.
#[derive(Debug, Clone)]
pub struct Lists {
    pub accounts: Value,
    pub ips: Value,
    pub networks: Value,
    pub asns: Value,
    pub user_agents: Value,
}

impl Default for Lists {
    fn default() -> Self {
        let empty = || Value::Array(Vec::new());
        Lists {
            accounts: empty(),
            ips: empty(),
            networks: empty(),
            asns: empty(),
            user_agents: empty(),
        }
    }
}

fn push_capped(list: &mut Value, item: Value) {
    if let Value::Array(items) = list
        && items.len() < LIST_LIMIT
    {
        items.push(item);
    }
}

impl Campaign {
    pub fn new(id: String, at: DateTime<Utc>) -> Campaign {
        Campaign {
            id,
            opened_at: at,
            first_seen: at,
            last_seen: at,
            detections: 0,
            confirmed: None,
            merged_into: None,
            members: Vec::new(),
            member_index: HashMap::new(),
            seen: Vec::new(),
            seen_index: HashMap::new(),
            lists: Lists::default(),
        }
    }

    /// Rebuilds a campaign from stored rows.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        id: String,
        opened_at: DateTime<Utc>,
        first_seen: DateTime<Utc>,
        last_seen: DateTime<Utc>,
        detections: u64,
        confirmed: Option<Confirmation>,
        mut members: Vec<Member>,
        mut seen: Vec<Seen>,
    ) -> Campaign {
        let mut campaign = Campaign::new(id, opened_at);
        campaign.first_seen = first_seen;
        campaign.last_seen = last_seen;
        campaign.detections = detections;
        campaign.confirmed = confirmed;
        members.sort_by(|a, b| (a.joined_at, &a.account).cmp(&(b.joined_at, &b.account)));
        for member in members {
            campaign.add_member(member);
        }
        seen.sort_by(|a, b| (a.first_seen, &a.indicator).cmp(&(b.first_seen, &b.indicator)));
        for s in seen {
            campaign.note(&s.indicator, s.first_seen);
            campaign.note(&s.indicator, s.last_seen);
        }
        campaign
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn seen(&self) -> &[Seen] {
        &self.seen
    }

    pub fn lists(&self) -> &Lists {
        &self.lists
    }

    pub fn member_index(&self, name: &str) -> Option<usize> {
        self.member_index.get(name.to_lowercase().as_str()).copied()
    }

    pub fn seen_of(&self, indicator: &Indicator) -> Option<&Seen> {
        self.seen_index.get(indicator).map(|&i| &self.seen[i])
    }

    /// Records an indicator seen at `at`; returns its index and whether it was new.
    pub(super) fn note(&mut self, indicator: &Indicator, at: DateTime<Utc>) -> (usize, bool) {
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
        if let Some(&i) = self.seen_index.get(indicator) {
            let s = &mut self.seen[i];
            s.first_seen = s.first_seen.min(at);
            s.last_seen = s.last_seen.max(at);
            return (i, false);
        }
        let i = self.seen.len();
        self.seen.push(Seen {
            indicator: indicator.clone(),
            first_seen: at,
            last_seen: at,
        });
        self.seen_index.insert(indicator.clone(), i);
        let lists = &mut self.lists;
        match indicator {
            Indicator::Ip(ip) => push_capped(&mut lists.ips, Value::String(ip.to_string())),
            Indicator::Network(net) => {
                push_capped(&mut lists.networks, Value::String(net.to_string()))
            }
            Indicator::Asn(asn) => push_capped(&mut lists.asns, Value::from(*asn)),
            Indicator::UserAgent(ua) => {
                push_capped(&mut lists.user_agents, Value::String(ua.to_string()))
            }
            Indicator::Account(_) => {}
        }
        (i, true)
    }

    /// Adds a member, or completes a known one (an id learned later, containment asked for).
    /// Returns its index and whether it is new.
    pub(super) fn add_member(&mut self, member: Member) -> (usize, bool) {
        let names: Vec<String> = [
            Some(member.account.as_str()),
            member.upn.as_deref(),
            member.id.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::to_lowercase)
        .collect();
        if let Some(i) = names
            .iter()
            .find_map(|n| self.member_index.get(n.as_str()).copied())
        {
            let known = &mut self.members[i];
            known.upn = known.upn.take().or(member.upn);
            known.id = known.id.take().or(member.id);
            known.contained |= member.contained;
            for name in names {
                self.member_index.entry(name.into()).or_insert(i);
            }
            return (i, false);
        }
        let i = self.members.len();
        push_capped(
            &mut self.lists.accounts,
            Value::String(member.name().to_string()),
        );
        self.members.push(member);
        for name in names {
            self.member_index.entry(name.into()).or_insert(i);
        }
        (i, true)
    }

    /// Empties a campaign merged into another (its evidence now lives there).
    pub(super) fn clear(&mut self) {
        self.members.clear();
        self.member_index.clear();
        self.seen.clear();
        self.seen_index.clear();
        self.lists = Lists::default();
    }
}

/// What a playbook sees of the detection's campaign: the campaign as it stood when the
/// detection was assigned to it, and the grouping window (for `campaign.window_start`).
#[derive(Debug, Clone, Copy)]
pub struct CampaignView<'a> {
    pub campaign: &'a Campaign,
    pub window_secs: u64,
}

impl CampaignView<'_> {
    /// How far back a sweep for this campaign looks: its first sighting minus the window.
    pub fn window_start(&self) -> DateTime<Utc> {
        self.campaign.first_seen - chrono::Duration::seconds(self.window_secs as i64)
    }
}
