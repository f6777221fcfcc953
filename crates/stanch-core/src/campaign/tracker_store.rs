//! The tracker's side of the store: campaigns loaded (or reloaded) into it, the rows it must write,
//! and forgetting what a long run no longer needs.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::Tracker;
use crate::campaign::events::{CampaignRow, Dirty};
use crate::campaign::model::Campaign;

impl Tracker {
    /// Adds a campaign read from the store, known under `aliases` too (campaigns merged into
    /// it). Campaigns this process already holds are kept as they are: they may carry changes
    /// not yet written.
    pub fn insert_loaded(&mut self, campaign: Campaign, aliases: &[String]) {
        if self.by_id.contains_key(&campaign.id) {
            return;
        }
        let slot = self.slots.len();
        for seen in campaign.seen() {
            self.index
                .entry(seen.indicator.clone())
                .or_default()
                .push(slot);
        }
        self.by_id.insert(campaign.id.clone(), slot);
        for alias in aliases {
            self.by_id.entry(alias.clone()).or_insert(slot);
        }
        self.slots.push(campaign);
        self.touched.push(self.generation);
    }

    /// Takes the stored state of a campaign someone else changed (a confirmation, a merge by
    /// another replica). Only for a tracker whose own changes are all written.
    pub fn replace_loaded(&mut self, campaign: Campaign, aliases: &[String]) {
        let Some(&slot) = self.by_id.get(&campaign.id) else {
            self.insert_loaded(campaign, aliases);
            return;
        };
        for seen in campaign.seen() {
            self.index_indicator(&seen.indicator, slot);
        }
        let id = campaign.id.clone();
        self.slots[slot] = campaign;
        self.touched[slot] = self.generation;
        // Campaigns merged into it elsewhere: what they knew is in it now.
        for alias in aliases {
            match self.by_id.get(alias).copied() {
                Some(other) if other != slot => {
                    self.slots[other].clear();
                    self.slots[other].merged_into = Some(id.clone());
                }
                Some(_) => {}
                None => {
                    self.by_id.insert(alias.clone(), slot);
                }
            }
        }
    }

    /// The rows to write for everything changed since the last call.
    pub fn take_dirty(&mut self) -> Dirty {
        self.generation += 1;
        for &slot in &self.dirty_campaigns {
            self.touched[slot] = self.generation;
        }
        let live = |slot: usize| self.slots[slot].merged_into.is_none();
        let campaigns = std::mem::take(&mut self.dirty_campaigns)
            .into_iter()
            .map(|slot| {
                let c = &self.slots[slot];
                CampaignRow {
                    id: c.id.clone(),
                    opened_at: c.opened_at,
                    first_seen: c.first_seen,
                    last_seen: c.last_seen,
                    detections: c.detections,
                    merged_into: c.merged_into.clone(),
                    confirmed: c.confirmed.clone(),
                }
            })
            .collect();
        let members = std::mem::take(&mut self.dirty_members)
            .into_iter()
            .filter(|(slot, _)| live(*slot))
            .map(|(slot, i)| {
                let c = &self.slots[slot];
                (c.id.clone(), c.members()[i].clone())
            })
            .collect();
        let indicators = std::mem::take(&mut self.dirty_seen)
            .into_iter()
            .filter(|(slot, _)| live(*slot))
            .map(|(slot, i)| {
                let c = &self.slots[slot];
                (c.id.clone(), c.seen()[i].clone())
            })
            .collect();
        Dirty {
            campaigns,
            members,
            indicators,
            merges: std::mem::take(&mut self.merges),
            removed_members: std::mem::take(&mut self.removed_members),
        }
    }

    /// Forgets campaigns untouched since `before` (by observed time) that have nothing left to
    /// write (nor rows taken in the last two takes, which may still be in flight), so a long
    /// replay does not hold every campaign it ever saw. They are still in the store, and
    /// reloaded if a later detection links to them.
    pub fn forget_before(&mut self, before: DateTime<Utc>) {
        let pending: BTreeSet<usize> = self
            .dirty_campaigns
            .iter()
            .copied()
            .chain(self.dirty_members.iter().map(|(s, _)| *s))
            .chain(self.dirty_seen.iter().map(|(s, _)| *s))
            .collect();
        let keep: Vec<bool> = (0..self.slots.len())
            .map(|slot| {
                let root = self.resolve(slot);
                pending.contains(&slot)
                    || pending.contains(&root)
                    || self.touched[slot] + 2 > self.generation
                    || self.touched[root] + 2 > self.generation
                    || self.slots[root].last_seen + self.window >= before
            })
            .collect();
        if keep.iter().all(|k| *k) {
            return;
        }
        let old = std::mem::take(&mut self.slots);
        let touched = std::mem::take(&mut self.touched);
        let mut renumber = vec![usize::MAX; old.len()];
        for (slot, campaign) in old.into_iter().enumerate() {
            if keep[slot] {
                renumber[slot] = self.slots.len();
                self.slots.push(campaign);
                self.touched.push(touched[slot]);
            }
        }
        self.by_id.retain(|_, slot| {
            *slot = renumber[*slot];
            *slot != usize::MAX
        });
        self.index.retain(|_, slots| {
            slots.retain_mut(|slot| {
                *slot = renumber[*slot];
                *slot != usize::MAX
            });
            !slots.is_empty()
        });
        let map = |set: &BTreeSet<(usize, usize)>| -> BTreeSet<(usize, usize)> {
            set.iter().map(|(s, i)| (renumber[*s], *i)).collect()
        };
        self.dirty_members = map(&self.dirty_members);
        self.dirty_seen = map(&self.dirty_seen);
        self.dirty_campaigns = self.dirty_campaigns.iter().map(|s| renumber[*s]).collect();
    }
}
