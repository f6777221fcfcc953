//! Grouping detections into campaigns, in memory and without I/O.
//!
//! A detection joins every campaign that saw one of its linking indicators (the account, the
//! exact IP, the /24 or /48, the ASN, a rare user agent) within the window around that sighting;
//! when it links two campaigns they merge into the oldest. The clock is the detections' own
//! `observed_at`, so a replay groups exactly as the first run did.
//!
//! The tracker remembers what changed since the last [`Tracker::take_dirty`], so the store
//! writes only the rows a batch touched, in the same transaction as the detections.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::Settings;
pub use super::events::{Assignment, CampaignEvent, CampaignRow, Dirty};
use super::indicator::{Extractor, Indicator};
use super::model::{Campaign, CampaignView, Confirmation, Member};
use crate::intake::{Detection, UserRef};
use crate::util::sha256_hex;

/// All campaigns known to this process, indexed by indicator.
#[derive(Debug, Clone)]
pub struct Tracker {
    extractor: Extractor,
    window: Duration,
    slots: Vec<Campaign>,
    by_id: HashMap<String, usize>,
    index: HashMap<Indicator, Vec<usize>>,
    dirty_campaigns: BTreeSet<usize>,
    dirty_members: BTreeSet<(usize, usize)>,
    dirty_seen: BTreeSet<(usize, usize)>,
    merges: Vec<(String, String)>,
    /// `(campaign, account)` of members found to be another member under its other name.
    removed_members: Vec<(String, String)>,
    /// Counts [`take_dirty`](Self::take_dirty) calls; `touched[slot]` is the last one that
    /// wrote the slot, so rows taken but perhaps not yet committed are not forgotten.
    generation: u64,
    touched: Vec<u64>,
}

impl Tracker {
    pub fn new(settings: Settings) -> Tracker {
        Tracker::with_extractor(Extractor::new(settings))
    }

    /// A tracker reusing compiled settings (a server builds one per request).
    pub fn with_extractor(extractor: Extractor) -> Tracker {
        Tracker {
            window: Duration::seconds(extractor.settings().window_secs as i64),
            extractor,
            slots: Vec::new(),
            by_id: HashMap::new(),
            index: HashMap::new(),
            dirty_campaigns: BTreeSet::new(),
            dirty_members: BTreeSet::new(),
            dirty_seen: BTreeSet::new(),
            merges: Vec::new(),
            removed_members: Vec::new(),
            generation: 0,
            touched: Vec::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        self.extractor.settings()
    }

    pub fn indicators(&self, d: &Detection) -> Vec<Indicator> {
        self.extractor.indicators(d)
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether the campaign `id` (or one merged into it) is loaded.
    pub fn knows(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The live campaign `id` ended up in, following merges.
    pub fn get(&self, id: &str) -> Option<&Campaign> {
        self.by_id
            .get(id)
            .map(|&slot| &self.slots[self.resolve(slot)])
    }

    /// The campaign `id` as a playbook sees it, cut at `as_of` (see [`CampaignView`]).
    pub fn view(&self, id: &str, as_of: Option<DateTime<Utc>>) -> Option<CampaignView<'_>> {
        self.get(id).map(|campaign| CampaignView {
            campaign,
            window_secs: self.window.num_seconds().max(0) as u64,
            as_of,
        })
    }

    fn resolve(&self, mut slot: usize) -> usize {
        while let Some(next) = self.slots[slot]
            .merged_into
            .as_ref()
            .and_then(|id| self.by_id.get(id))
        {
            if *next == slot {
                break;
            }
            slot = *next;
        }
        slot
    }

    /// Groups a detection from outside stanch. `None` when it names neither an account nor any
    /// infrastructure: there is nothing to group on.
    pub fn assign(&mut self, d: &Detection) -> Option<Assignment> {
        let indicators = self.extractor.indicators(d);
        if indicators.is_empty() {
            return None;
        }
        let at = d.observed_at;
        // Every live campaign linked, with the indicators (by index) that linked it.
        let mut linked: Vec<(usize, Vec<usize>)> = Vec::new();
        for (n, indicator) in indicators.iter().enumerate() {
            if !self.extractor.links(indicator) {
                continue;
            }
            let Some(slots) = self.index.get(indicator) else {
                continue;
            };
            for &slot in slots {
                let root = self.resolve(slot);
                let within = self.slots[root].seen_of(indicator).is_some_and(|s| {
                    at >= s.first_seen - self.window && at <= s.last_seen + self.window
                });
                if !within {
                    continue;
                }
                match linked.iter_mut().find(|(s, _)| *s == root) {
                    Some((_, why)) if !why.contains(&n) => why.push(n),
                    Some(_) => {}
                    None => linked.push((root, vec![n])),
                }
            }
        }
        // Said for people only when something new happens (a member, a merge).
        let via = |why: &[usize]| {
            let shown: Vec<String> = why.iter().map(|&n| indicators[n].to_string()).collect();
            format!("detection {} ({})", d.key(), shown.join(", "))
        };
        let mut events = Vec::new();
        let slot = if linked.is_empty() {
            let id = self.new_id(d);
            let slot = self.open(id.clone(), at);
            events.push(CampaignEvent::Opened {
                campaign: id,
                detection: d.key(),
                account: d.user.as_ref().map(|u| u.to_string()),
                indicators: indicators.iter().map(Indicator::key).collect(),
            });
            slot
        } else {
            // The oldest survives, so a campaign keeps the id it was first reported under.
            linked.sort_by(|(a, _), (b, _)| {
                let (a, b) = (&self.slots[*a], &self.slots[*b]);
                (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id))
            });
            let survivor = linked[0].0;
            for (loser, why) in linked.iter().skip(1) {
                let event = self.merge(*loser, survivor, via(why));
                events.push(event);
            }
            survivor
        };
        for indicator in &indicators {
            let (i, changed) = self.slots[slot].note(indicator, at);
            self.index_indicator(indicator, slot);
            if changed {
                self.dirty_seen.insert((slot, i));
            }
        }
        self.slots[slot].detections += 1;
        self.dirty_campaigns.insert(slot);
        let mut joined_confirmed = false;
        if let Some(user) = &d.user {
            let why = || match linked.first() {
                Some((_, why)) => via(why),
                None => format!("detection {} (opened the campaign)", d.key()),
            };
            // Its account indicators were noted with the others above.
            let (i, new) = self.add_member(slot, user, at, why, false, false);
            if new && !linked.is_empty() {
                let campaign = &self.slots[slot];
                joined_confirmed = campaign.confirmed.is_some();
                let member = &campaign.members()[i];
                events.push(CampaignEvent::Joined {
                    campaign: campaign.id.clone(),
                    account: member.name().to_string(),
                    via: member.via.clone(),
                });
            }
        }
        Some(Assignment {
            campaign: self.slots[slot].id.clone(),
            events,
            joined_confirmed,
        })
    }

    /// Puts one of stanch's own detections (a member to contain, the campaign's infrastructure)
    /// in the campaign it was made for. It carries no new evidence, so it changes nothing but the
    /// member's `contained` mark.
    pub fn assign_to(&mut self, d: &Detection, id: &str) -> Option<Assignment> {
        let slot = self.resolve(*self.by_id.get(id)?);
        if let Some(user) = &d.user {
            let via = || format!("stanch detection {}", d.key());
            self.add_member(slot, user, d.observed_at, via, true, false);
        }
        Some(Assignment {
            campaign: self.slots[slot].id.clone(),
            events: Vec::new(),
            joined_confirmed: false,
        })
    }

    /// Adds accounts found by a sweep of the sign-in logs. Returns the events for new members.
    pub fn join(
        &mut self,
        id: &str,
        user: &UserRef,
        at: DateTime<Utc>,
        via: String,
    ) -> Option<CampaignEvent> {
        let slot = self.resolve(*self.by_id.get(id)?);
        let (i, new) = self.add_member(slot, user, at, || via, false, true);
        let campaign = &self.slots[slot];
        let member = &campaign.members()[i];
        new.then(|| CampaignEvent::Joined {
            campaign: campaign.id.clone(),
            account: member.name().to_string(),
            via: member.via.clone(),
        })
    }

    /// Notes that `user` is being contained already (its own playbook confirmed the compromise),
    /// so the confirmation does not ask to contain it again.
    pub fn mark_contained(&mut self, id: &str, user: &UserRef, at: DateTime<Utc>, via: String) {
        if let Some(&slot) = self.by_id.get(id) {
            let slot = self.resolve(slot);
            self.add_member(slot, user, at, || via, true, false);
        }
    }

    /// Marks the campaign confirmed. `None` when it already was (the first confirmation stands).
    pub fn confirm(&mut self, id: &str, confirmation: Confirmation) -> Option<CampaignEvent> {
        let slot = self.resolve(*self.by_id.get(id)?);
        let campaign = &mut self.slots[slot];
        if campaign.confirmed.is_some() {
            return None;
        }
        let event = CampaignEvent::Confirmed {
            campaign: campaign.id.clone(),
            at: confirmation.at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            by: confirmation.by.clone(),
            reason: confirmation.reason.clone(),
        };
        campaign.confirmed = Some(confirmation);
        self.dirty_campaigns.insert(slot);
        Some(event)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// A stable id: the same detection opens a campaign with the same id on every replay.
    fn new_id(&self, d: &Detection) -> String {
        let material = format!(
            "{}\n{}",
            d.key(),
            d.observed_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        );
        let hash = sha256_hex(material.as_bytes());
        let mut id = format!("cmp-{}", &hash[..10]);
        let mut n = 2;
        while self.by_id.contains_key(&id) {
            id = format!("cmp-{}-{n}", &hash[..10]);
            n += 1;
        }
        id
    }

    fn open(&mut self, id: String, at: DateTime<Utc>) -> usize {
        let slot = self.slots.len();
        self.by_id.insert(id.clone(), slot);
        self.slots.push(Campaign::new(id, at));
        self.touched.push(self.generation);
        self.dirty_campaigns.insert(slot);
        slot
    }

    fn index_indicator(&mut self, indicator: &Indicator, slot: usize) {
        match self.index.get_mut(indicator) {
            Some(slots) if slots.contains(&slot) => {}
            Some(slots) => slots.push(slot),
            None => {
                self.index.insert(indicator.clone(), vec![slot]);
            }
        }
    }

    /// Adds (or completes) a member; `via` says how it joined, and is only built for a new one.
    /// `sighting`: the account was seen at `at` (a detection, a sign-in), which widens its window;
    /// stanch's own bookkeeping (containment asked for) is not a sighting.
    fn add_member(
        &mut self,
        slot: usize,
        user: &UserRef,
        at: DateTime<Utc>,
        via: impl FnOnce() -> String,
        contained: bool,
        sighting: bool,
    ) -> (usize, bool) {
        let names = [user.upn.as_deref(), user.id.as_deref()];
        let known = names
            .into_iter()
            .flatten()
            .find_map(|name| self.slots[slot].member_index(name));
        let (i, new) = match known {
            // The common case, an account seen again: nothing about the member changes.
            Some(i)
                if {
                    let m = &self.slots[slot].members()[i];
                    (user.upn.is_none() || m.upn.is_some())
                        && (user.id.is_none() || m.id.is_some())
                        && (m.contained || !contained)
                } =>
            {
                (i, false)
            }
            _ => {
                let account = user
                    .upn
                    .as_deref()
                    .or(user.id.as_deref())
                    .unwrap_or_default()
                    .to_lowercase();
                let member = Member {
                    account,
                    upn: user.upn.clone(),
                    id: user.id.clone(),
                    joined_at: at,
                    via: if known.is_some() {
                        String::new()
                    } else {
                        via()
                    },
                    contained,
                };
                let (i, new) = self.slots[slot].add_member(member);
                self.dirty_members.insert((slot, i));
                self.dirty_campaigns.insert(slot);
                (i, new)
            }
        };
        // An account is evidence too: its next detection joins this campaign.
        if sighting || new {
            for name in names.into_iter().flatten() {
                let indicator = Indicator::Account(name.to_lowercase().into());
                let (seen, changed) = self.slots[slot].note(&indicator, at);
                self.index_indicator(&indicator, slot);
                if changed {
                    self.dirty_seen.insert((slot, seen));
                }
            }
        }
        (i, new)
    }

    /// Moves everything of `loser` into `survivor`.
    fn merge(&mut self, loser: usize, survivor: usize, via: String) -> CampaignEvent {
        let taken = std::mem::replace(
            &mut self.slots[loser],
            Campaign::new(String::new(), DateTime::<Utc>::MIN_UTC),
        );
        let (from, into) = (taken.id.clone(), self.slots[survivor].id.clone());
        for seen in taken.seen() {
            let target = &mut self.slots[survivor];
            let (a, _) = target.note(&seen.indicator, seen.first_seen);
            target.note(&seen.indicator, seen.last_seen);
            self.index_indicator(&seen.indicator, survivor);
            self.dirty_seen.insert((survivor, a));
        }
        for member in taken.members() {
            let (i, _) = self.slots[survivor].add_member(member.clone());
            self.dirty_members.insert((survivor, i));
        }
        let target = &mut self.slots[survivor];
        target.detections += taken.detections;
        target.opened_at = target.opened_at.min(taken.opened_at);
        if target.confirmed.is_none() {
            target.confirmed = taken.confirmed.clone();
        }
        let mut emptied = taken;
        emptied.clear();
        emptied.merged_into = Some(into.clone());
        self.slots[loser] = emptied;
        self.dirty_campaigns.insert(loser);
        self.dirty_campaigns.insert(survivor);
        self.merges.push((from.clone(), into.clone()));
        CampaignEvent::Merged { from, into, via }
    }
}

#[path = "tracker_store.rs"]
mod store;

#[path = "tracker_identity.rs"]
mod identity;

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
