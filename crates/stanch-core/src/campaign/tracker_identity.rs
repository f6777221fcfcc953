//! One account, one member. A detection may name an account by its UPN and another by its object
//! id; once the directory says the two names are one account, the tracker counts it once: the
//! campaigns holding it under either name merge (an account links like any indicator, within the
//! window), and within a campaign its two members become one. Confirmation thresholds
//! (`campaign.accounts`) and "contain every member" must not be reachable by naming one account
//! twice.

use chrono::{DateTime, Utc};

use super::Tracker;
use crate::campaign::events::CampaignEvent;
use crate::campaign::indicator::Indicator;
use crate::campaign::model::Unified;

/// A live campaign holding the account, and when the account was seen there (either name).
type Holding = (usize, DateTime<Utc>, DateTime<Utc>);

impl Tracker {
    /// `id` and `upn` name one account (the directory resolved them). `via` says how that is
    /// known, for the trail. Returns the events: the campaigns merged, the members recognized
    /// as one account. Nothing is a sighting: no window widens beyond what was seen.
    pub fn learn_identity(&mut self, id: &str, upn: &str, via: &str) -> Vec<CampaignEvent> {
        let (id, upn) = (id.trim(), upn.trim());
        if id.is_empty() || upn.is_empty() {
            return Vec::new();
        }
        let names = [upn, id].map(|n| Indicator::Account(n.to_lowercase().into()));
        let mut events = Vec::new();
        for group in self.linked_by_account(&names) {
            let survivor = group
                .iter()
                .map(|(slot, ..)| *slot)
                .min_by(|a, b| {
                    let (a, b) = (&self.slots[*a], &self.slots[*b]);
                    (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id))
                })
                .unwrap_or(group[0].0);
            for (loser, ..) in group.iter().filter(|(slot, ..)| *slot != survivor) {
                events.push(self.merge(*loser, survivor, via.to_string()));
            }
            // Under either name, the account links its later detections to the survivor.
            let first = group.iter().map(|(_, first, _)| *first).min();
            let last = group.iter().map(|(.., last)| *last).max();
            for indicator in &names {
                for at in first.into_iter().chain(last) {
                    let (i, changed) = self.slots[survivor].note(indicator, at);
                    if changed {
                        self.dirty_seen.insert((survivor, i));
                        self.dirty_campaigns.insert(survivor);
                    }
                }
                self.index_indicator(indicator, survivor);
            }
            events.extend(self.unify_members(survivor, id, upn, via));
        }
        events
    }

    /// The live campaigns holding the account under either name, grouped as the account links
    /// them: a campaign belongs with the previous ones when the account was seen in it within
    /// the window of a sighting there (as a detection naming both would have linked them).
    fn linked_by_account(&self, names: &[Indicator]) -> Vec<Vec<Holding>> {
        let mut holding: Vec<Holding> = Vec::new();
        for indicator in names {
            for &slot in self.index.get(indicator).into_iter().flatten() {
                let root = self.resolve(slot);
                let Some(seen) = self.slots[root].seen_of(indicator) else {
                    continue;
                };
                match holding.iter_mut().find(|(s, ..)| *s == root) {
                    Some((_, first, last)) => {
                        *first = (*first).min(seen.first_seen);
                        *last = (*last).max(seen.last_seen);
                    }
                    None => holding.push((root, seen.first_seen, seen.last_seen)),
                }
            }
        }
        holding.sort_by_key(|(slot, first, _)| (*first, *slot));
        let mut groups: Vec<Vec<Holding>> = Vec::new();
        let mut reach = DateTime::<Utc>::MIN_UTC;
        for h in holding {
            match groups.last_mut() {
                Some(group) if h.1 <= reach => group.push(h),
                _ => groups.push(vec![h]),
            }
            reach = reach.max(h.2 + self.window);
        }
        groups
    }

    /// Makes the members of `slot` known by either name one; the removed one's row is reported
    /// for deletion and the dirty member indices are moved along with the removal.
    fn unify_members(
        &mut self,
        slot: usize,
        id: &str,
        upn: &str,
        via: &str,
    ) -> Option<CampaignEvent> {
        match self.slots[slot].unify(id, upn) {
            Unified::Nothing => None,
            Unified::Completed(i) => {
                self.dirty_members.insert((slot, i));
                self.dirty_campaigns.insert(slot);
                None
            }
            Unified::Merged {
                kept,
                removed,
                member,
            } => {
                let moved = |(s, i): (usize, usize)| match i {
                    _ if s != slot || i < removed => (s, i),
                    _ if i == removed => (s, kept),
                    _ => (s, i - 1),
                };
                self.dirty_members = std::mem::take(&mut self.dirty_members)
                    .into_iter()
                    .map(moved)
                    .collect();
                self.dirty_members.insert((slot, kept));
                self.dirty_campaigns.insert(slot);
                let campaign = &self.slots[slot];
                self.removed_members
                    .push((campaign.id.clone(), member.account.clone()));
                Some(CampaignEvent::SameAccount {
                    campaign: campaign.id.clone(),
                    account: campaign.members()[kept].name().to_string(),
                    id: id.to_lowercase(),
                    merged: member.name().to_string(),
                    via: via.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
#[path = "tracker_identity_tests.rs"]
mod tests;
