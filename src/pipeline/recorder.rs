//! Campaign-aware recording for `stanch serve`: HTTP intake, alert polling and the worker's
//! follow-ups all group against one tracker that lives as long as the server, under one lock, and
//! write in the order they grouped (so a merge is never written before the links it moves).
//!
//! The tracker holds everything this process wrote. What others write (an operator's `stanch
//! campaigns confirm`, another replica) is picked up before each grouping: campaigns updated since
//! the last look, other than by our own writes, are reloaded from the store. Two replicas grouping
//! at the same instant can still open two campaigns for one attacker; the next detection that
//! links them merges them.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Mutex;

use super::evaluate::{Entry, Evaluated, evaluate_grouped, prepare};
use super::follow_up::{
    FollowUp, Recorded, after_action, confirm_campaign, member_follow_up, record_follow_ups,
};
use super::identity::{completed, learn_identity, learned};
use super::lookups::Lookups;
use crate::actions::{ActionResult, Identities};
use crate::store::{Store, StoreError};
use stanch_core::campaign::{Confirmation, Settings, Tracker};
use stanch_core::engine::{Context, Plan, PlannedAction};
use stanch_core::intake::Detection;
use stanch_core::playbook::PlaybookSet;
use stanch_core::vocab::{ActionKind, ActionOutcome};

/// The tracker forgets old campaigns once it holds this many (they stay in the store).
const TRACKER_SOFT_LIMIT: usize = 20_000;
/// Looking back a little before the last look catches writes that committed late.
const SYNC_OVERLAP: Duration = Duration::seconds(5);
/// Others' changes are looked for at most this often: a busy intake does not pay a query per
/// request to learn, a quarter of a second sooner, that an operator confirmed a campaign.
const SYNC_EVERY: Duration = Duration::milliseconds(250);

struct Shared {
    tracker: Tracker,
    lookups: Lookups,
    /// When the store was last asked what others changed.
    synced_at: Option<DateTime<Utc>>,
    latest_seen: Option<DateTime<Utc>>,
}

/// Held while a batch is written, taken before the grouping lock is let go, so batches are
/// written in the order they were grouped while the next one is grouped.
#[derive(Default)]
struct Writes {
    /// The `updated_at` of our own last write of each campaign: not a change by someone else.
    stamps: HashMap<String, String>,
}

/// Campaign-aware recording for `stanch serve` (HTTP intake, alert polling, the worker).
pub struct Recorder {
    pub store: Store,
    pub playbooks: Arc<PlaybookSet>,
    pub context: Arc<Context>,
    pub settings: Settings,
    pub run_id: i64,
    /// One grouping at a time in this process (sync, assign, plan).
    shared: Mutex<Shared>,
    /// One write at a time, in grouping order (lock order: `shared`, then `writes`).
    writes: Mutex<Writes>,
    /// The executor's resolved identities: a detection naming an account one way is grouped
    /// under both of its names once they are known (a cache look, never a Graph call).
    identities: Option<Arc<Identities>>,
}

/// One item of input for [`Recorder::record`].
pub enum Input<'a> {
    Detection {
        line: Option<usize>,
        detection: &'a Detection,
    },
    Rejected {
        line: Option<usize>,
        reason: String,
        raw: &'a str,
    },
}

impl Recorder {
    pub fn new(
        store: Store,
        playbooks: Arc<PlaybookSet>,
        context: Arc<Context>,
        settings: Settings,
        run_id: i64,
    ) -> Recorder {
        Recorder {
            store,
            playbooks,
            context,
            shared: Mutex::new(Shared {
                tracker: Tracker::new(settings.clone()),
                lookups: Lookups::unbounded(),
                synced_at: None,
                latest_seen: None,
            }),
            writes: Mutex::new(Writes::default()),
            identities: None,
            settings,
            run_id,
        }
    }

    /// Groups by the identities the executor resolves (see [`Identities::complete`]).
    pub fn with_identities(mut self, identities: Arc<Identities>) -> Recorder {
        self.identities = Some(identities);
        self
    }

    /// Reloads the campaigns someone else changed since the last look. Only when no write of
    /// ours is in flight: a reload replaces what the tracker holds, which must all be written.
    async fn sync(&self, shared: &mut Shared) -> Result<(), StoreError> {
        let started = Utc::now();
        let Some(since) = shared.synced_at else {
            // Nothing is held yet: what is needed is loaded by indicator as it comes.
            shared.synced_at = Some(started);
            return Ok(());
        };
        if started - since < SYNC_EVERY {
            return Ok(());
        }
        let Ok(writes) = self.writes.try_lock() else {
            return Ok(());
        };
        let changed: Vec<String> = self
            .store
            .campaigns_changed_since(since - SYNC_OVERLAP)
            .await?
            .into_iter()
            .filter(|(id, updated_at)| writes.stamps.get(id) != Some(updated_at))
            .map(|(id, _)| id)
            .collect();
        if !changed.is_empty() {
            self.store
                .reload_campaigns(&mut shared.tracker, changed)
                .await?;
        }
        shared.synced_at = Some(started);
        Ok(())
    }

    /// Keeps a long-lived server's memory bounded.
    fn trim(shared: &mut Shared, writes: &mut Writes) {
        if let Some(latest) = shared.latest_seen {
            let window = shared.tracker.window();
            shared.tracker.forget_before(latest - window);
            shared.lookups.forgot();
            writes.stamps.clear();
        }
    }

    /// Assigns, plans and records the items in one transaction, then records the member
    /// detections for accounts that joined an already-confirmed campaign. Returns the plans,
    /// aligned with `items` (`None` for rejected ones).
    pub async fn record(&self, items: &[Input<'_>]) -> Result<Vec<Option<Plan>>, StoreError> {
        let received: Vec<Option<&Detection>> = items
            .iter()
            .map(|i| match i {
                Input::Detection { detection, .. } => Some(*detection),
                Input::Rejected { .. } => None,
            })
            .collect();
        let completed = completed(self.identities.as_deref(), &received).await;
        // What grouping sees: each detection under both of its account's names when known.
        let grouped: Vec<Option<&Detection>> = received
            .iter()
            .zip(&completed)
            .map(|(received, completed)| completed.as_ref().or(*received))
            .collect();
        let mut guard = Some(self.shared.lock().await);
        let Some(shared) = guard.as_deref_mut() else {
            return Ok(Vec::new());
        };
        self.sync(shared).await?;
        if shared.tracker.len() > TRACKER_SOFT_LIMIT {
            Self::trim(shared, &mut *self.writes.lock().await);
        }
        let detections: Vec<&Detection> = grouped.iter().flatten().copied().collect();
        shared.latest_seen = detections
            .iter()
            .map(|d| d.observed_at)
            .chain(shared.latest_seen)
            .max();
        shared
            .lookups
            .load_for(&self.store, &mut shared.tracker, &detections)
            .await?;
        let evaluated: Vec<Option<Evaluated>> = items
            .iter()
            .zip(&grouped)
            .map(|(item, grouped)| match item {
                Input::Detection { detection, .. } => Some(evaluate_grouped(
                    &mut shared.tracker,
                    detection,
                    grouped.unwrap_or(detection),
                    None,
                    &self.playbooks,
                    &self.context,
                )),
                Input::Rejected { .. } => None,
            })
            .collect();
        let dirty = shared.tracker.take_dirty();
        let joined_confirmed: Vec<FollowUp> = items
            .iter()
            .zip(&evaluated)
            .filter_map(|(item, e)| {
                let (Input::Detection { detection, .. }, Some(note)) =
                    (item, e.as_ref()?.note.as_ref())
                else {
                    return None;
                };
                let user = detection.user.as_ref()?;
                note.joined_confirmed
                    .then(|| {
                        member_follow_up(
                            &shared.tracker,
                            &note.campaign,
                            user,
                            detection.observed_at,
                        )
                    })
                    .flatten()
            })
            .collect();
        // Hand over hand: our turn to write is taken before the next request may group, and
        // serializing the batch happens while it does.
        let mut writes = self.writes.lock().await;
        if joined_confirmed.is_empty() {
            guard = None;
        }
        let entries: Vec<Entry<'_>> = items
            .iter()
            .zip(&evaluated)
            .map(|(item, e)| match (item, e) {
                (Input::Detection { line, detection }, Some(evaluated)) => Entry::Accepted {
                    line: *line,
                    detection,
                    evaluated,
                },
                (Input::Rejected { line, reason, raw }, _) => Entry::Rejected {
                    line: *line,
                    reason,
                    raw,
                },
                (Input::Detection { line, .. }, None) => Entry::Rejected {
                    line: *line,
                    reason: "not evaluated",
                    raw: "",
                },
            })
            .collect();
        let batch = prepare(self.run_id, &entries, dirty)?;
        let (stamp, ids) = batch.campaign_stamp();
        self.store.record_prepared(batch).await?;
        for id in ids {
            writes.stamps.insert(id, stamp.clone());
        }
        if let Some(shared) = guard.as_deref_mut() {
            // Rare: accounts joined a confirmed campaign. Their containment is grouped and
            // written while both locks are still held.
            self.record_follow_ups(shared, joined_confirmed).await?;
        }
        Ok(evaluated.into_iter().map(|e| e.map(|e| e.plan)).collect())
    }

    /// What follows an action the worker carried out: the campaigns learn who its target is
    /// (its UPN and object id are one account), then what a confirmation, a sweep's finds or a
    /// revoked consent imply is recorded, and the follow-ups' actions queued for the worker.
    pub async fn after_action(
        &self,
        detection_seq: i64,
        action: &PlannedAction,
        result: &ActionResult,
    ) -> Result<usize, StoreError> {
        let follows = result.status == ActionOutcome::Succeeded
            && matches!(
                action.action,
                ActionKind::ConfirmCompromised
                    | ActionKind::SweepSignins
                    | ActionKind::RevokeAppConsent
            );
        if !follows && learned(result).is_none() {
            return Ok(0);
        }
        let mut guard = self.shared.lock().await;
        let shared = &mut *guard;
        self.sync(shared).await?;
        let _writes = self.writes.lock().await;
        // First: a confirmation contains each member once, not once per name.
        learn_identity(&self.store, &mut shared.tracker, detection_seq, result).await?;
        if !follows {
            return Ok(0);
        }
        let follow_ups = after_action(
            &self.store,
            &mut shared.tracker,
            detection_seq,
            action,
            result,
        )
        .await?;
        Ok(self.record_follow_ups(shared, follow_ups).await?.len())
    }

    /// An operator confirms campaign `id` (or the campaign it was merged into), as
    /// `stanch campaigns confirm` does: each member's containment is recorded as a follow-up
    /// for the worker to carry out, and whatever joined since a first confirmation too. The live
    /// campaign's id and how many follow-ups were recorded; `None` when there is no such
    /// campaign.
    pub async fn confirm_campaign(
        &self,
        id: &str,
        confirmation: Confirmation,
    ) -> Result<Option<(String, usize)>, StoreError> {
        let Some(live) = self.store.live_campaign_id(id).await? else {
            return Ok(None);
        };
        let mut guard = self.shared.lock().await;
        let shared = &mut *guard;
        self.sync(shared).await?;
        let _writes = self.writes.lock().await;
        let follow_ups = confirm_campaign(
            &self.store,
            &mut shared.tracker,
            &live,
            confirmation,
            None,
            true,
        )
        .await?;
        let recorded = self.record_follow_ups(shared, follow_ups).await?;
        Ok(Some((live, recorded.len())))
    }

    async fn record_follow_ups(
        &self,
        shared: &mut Shared,
        follow_ups: Vec<FollowUp>,
    ) -> Result<Vec<Recorded>, StoreError> {
        record_follow_ups(
            &self.store,
            &mut shared.tracker,
            self.run_id,
            &self.playbooks,
            &self.context,
            follow_ups,
        )
        .await
    }
}
