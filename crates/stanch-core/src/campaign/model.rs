//! A campaign as stanch knows it: the accounts in it (and how each joined), the infrastructure
//! seen, when, and whether a compromise in it has been confirmed.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::indicator::Indicator;

#[path = "membership.rs"]
mod membership;
pub(super) use membership::Unified;
pub use membership::one_per_account;

/// Lists exposed to playbooks (`campaign.ips`...) hold at most this many entries, the earliest
/// seen first: a campaign can grow large, and the first infrastructure is the attacker's core.
/// Counts (`campaign.accounts`, `campaign.detections`) are always exact.
pub const LIST_LIMIT: usize = 20;

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
    /// Every name the member answers to, lowercased: its key, its UPN, its object id.
    fn names(&self) -> Vec<String> {
        [
            Some(self.account.as_str()),
            self.upn.as_deref(),
            self.id.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::to_lowercase)
        .collect()
    }

    /// What to call the account: the UPN when known.
    pub fn name(&self) -> &str {
        self.upn
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or(&self.account)
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
    ordered: Ordered,
}

/// What playbooks list, in time order (then by value), so a list cut at a detection's time is
/// the same whatever order the evidence arrived in.
#[derive(Debug, Clone, Default)]
struct Ordered {
    accounts: TimeOrdered,
    ips: TimeOrdered,
    networks: TimeOrdered,
    asns: TimeOrdered,
    user_agents: TimeOrdered,
}

/// Values by the time they were first seen, then by value.
type TimeOrdered = BTreeSet<(DateTime<Utc>, String)>;

/// The lists a campaign exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Accounts,
    Ips,
    Networks,
    Asns,
    UserAgents,
}

impl Ordered {
    fn set(&mut self, indicator: &Indicator) -> Option<(&mut TimeOrdered, String)> {
        Some(match indicator {
            Indicator::Ip(ip) => (&mut self.ips, ip.to_string()),
            Indicator::Network(net) => (&mut self.networks, net.to_string()),
            Indicator::Asn(asn) => (&mut self.asns, asn.to_string()),
            Indicator::UserAgent(ua) => (&mut self.user_agents, ua.to_string()),
            Indicator::Account(_) => return None,
        })
    }

    fn get(&self, kind: ListKind) -> &TimeOrdered {
        match kind {
            ListKind::Accounts => &self.accounts,
            ListKind::Ips => &self.ips,
            ListKind::Networks => &self.networks,
            ListKind::Asns => &self.asns,
            ListKind::UserAgents => &self.user_agents,
        }
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
            ordered: Ordered::default(),
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
        members: Vec<Member>,
        mut seen: Vec<Seen>,
    ) -> Campaign {
        let mut campaign = Campaign::new(id, opened_at);
        campaign.first_seen = first_seen;
        campaign.last_seen = last_seen;
        campaign.detections = detections;
        campaign.confirmed = confirmed;
        for member in one_per_account(members) {
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

    /// A list (`campaign.ips`...) in time order, as of `as_of` (everything when `None`), at most
    /// [`LIST_LIMIT`] long.
    pub fn list(&self, kind: ListKind, as_of: Option<DateTime<Utc>>) -> Value {
        let items = self
            .ordered
            .get(kind)
            .iter()
            .take_while(|(at, _)| as_of.is_none_or(|t| *at <= t))
            .take(LIST_LIMIT)
            .map(|(_, value)| match kind {
                ListKind::Asns => value.parse::<u32>().map_or(Value::Null, Value::from),
                _ => Value::String(value.clone()),
            });
        Value::Array(items.collect())
    }

    /// How many members had joined by `as_of` (all when `None`).
    pub fn member_count(&self, as_of: Option<DateTime<Utc>>) -> usize {
        match as_of {
            Some(t) if self.last_seen > t => {
                self.members.iter().filter(|m| m.joined_at <= t).count()
            }
            _ => self.members.len(),
        }
    }

    pub fn member_index(&self, name: &str) -> Option<usize> {
        self.member_index.get(name.to_lowercase().as_str()).copied()
    }

    pub fn seen_of(&self, indicator: &Indicator) -> Option<&Seen> {
        self.seen_index.get(indicator).map(|&i| &self.seen[i])
    }

    /// Records an indicator seen at `at`; returns its index and whether anything changed (a new
    /// indicator, or a sighting outside the span known), which is what needs writing.
    pub(super) fn note(&mut self, indicator: &Indicator, at: DateTime<Utc>) -> (usize, bool) {
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
        if let Some(&i) = self.seen_index.get(indicator) {
            let s = &mut self.seen[i];
            if at < s.first_seen
                && let Some((set, value)) = self.ordered.set(indicator)
            {
                set.remove(&(s.first_seen, value.clone()));
                set.insert((at, value));
            }
            let changed = at < s.first_seen || at > s.last_seen;
            s.first_seen = s.first_seen.min(at);
            s.last_seen = s.last_seen.max(at);
            return (i, changed);
        }
        let i = self.seen.len();
        self.seen.push(Seen {
            indicator: indicator.clone(),
            first_seen: at,
            last_seen: at,
        });
        self.seen_index.insert(indicator.clone(), i);
        if let Some((set, value)) = self.ordered.set(indicator) {
            set.insert((at, value));
        }
        (i, true)
    }

    /// Adds a member, or completes a known one (an id learned later, containment asked for).
    /// Returns its index and whether it is new.
    pub(super) fn add_member(&mut self, member: Member) -> (usize, bool) {
        let names = member.names();
        if let Some(i) = names
            .iter()
            .find_map(|n| self.member_index.get(n.as_str()).copied())
        {
            let known = &mut self.members[i];
            let before = (known.joined_at, known.name().to_string());
            known.upn = known.upn.take().or(member.upn);
            known.id = known.id.take().or(member.id);
            known.contained |= member.contained;
            let after = (known.joined_at, known.name().to_string());
            if after != before {
                self.ordered.accounts.remove(&before);
                self.ordered.accounts.insert(after);
            }
            for name in names {
                self.member_index.entry(name.into()).or_insert(i);
            }
            return (i, false);
        }
        let i = self.members.len();
        self.ordered
            .accounts
            .insert((member.joined_at, member.name().to_string()));
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
        self.ordered = Ordered::default();
    }
}

/// What a playbook sees of the detection's campaign: the campaign cut at the detection's own
/// time (`as_of`), so replaying a detection after its campaign grew gives the same plan; stanch's
/// own detections see it as it is now (`as_of` empty).
#[derive(Debug, Clone, Copy)]
pub struct CampaignView<'a> {
    pub campaign: &'a Campaign,
    pub window_secs: u64,
    pub as_of: Option<DateTime<Utc>>,
}

impl CampaignView<'_> {
    /// How far back a sweep for this campaign looks: its first sighting minus the window.
    pub fn window_start(&self) -> DateTime<Utc> {
        self.campaign.first_seen - chrono::Duration::seconds(self.window_secs as i64)
    }

    /// Confirmed before the detection's time. Strictly before: the detection that led to the
    /// confirmation was planned without it, and a replay must plan it the same way.
    pub fn confirmed(&self) -> bool {
        match (&self.campaign.confirmed, self.as_of) {
            (Some(c), Some(t)) => c.at < t,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    pub fn accounts(&self) -> usize {
        self.campaign.member_count(self.as_of)
    }

    pub fn list(&self, kind: ListKind) -> Value {
        self.campaign.list(kind, self.as_of)
    }

    pub fn last_seen(&self) -> DateTime<Utc> {
        self.as_of
            .map_or(self.campaign.last_seen, |t| self.campaign.last_seen.min(t))
    }
}
