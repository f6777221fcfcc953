//! Campaign-aware recording for `stanch serve`: every request, polled page of alerts and
//! finished action is grouped against a tracker freshly loaded from the store, under one lock,
//! so the HTTP handlers, the worker and the scheduler never group from stale state.

use std::sync::Arc;

use chrono::Utc;

use super::Settings;
use super::flow::{
    CampaignNote, Evaluated, FollowUp, Recorded, after_action, evaluate, load_for,
    member_follow_up, record_follow_ups,
};
use super::tracker::Tracker;
use crate::actions::{ActionKind, ActionResult};
use crate::engine::{Context, Plan, PlannedAction};
use crate::intake::Detection;
use crate::playbook::PlaybookSet;
use crate::store::{Evaluation, PreparedBatch, Store, StoreError};

/// Campaign-aware recording for `stanch serve` (HTTP intake, alert polling, the worker).
pub struct Recorder {
    pub store: Store,
    pub playbooks: Arc<PlaybookSet>,
    pub context: Arc<Context>,
    pub settings: Settings,
    pub run_id: i64,
    /// One grouping at a time in this process: load, assign and record happen under it.
    lock: tokio::sync::Mutex<()>,
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
            settings,
            run_id,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Assigns, plans and records the items in one transaction, then records the member
    /// detections for accounts that joined an already-confirmed campaign. Returns the plans,
    /// aligned with `items` (`None` for rejected ones).
    pub async fn record(&self, items: &[Input<'_>]) -> Result<Vec<Option<Plan>>, StoreError> {
        let _one_at_a_time = self.lock.lock().await;
        let mut tracker = Tracker::new(self.settings.clone());
        let detections: Vec<&Detection> = items
            .iter()
            .filter_map(|i| match i {
                Input::Detection { detection, .. } => Some(*detection),
                Input::Rejected { .. } => None,
            })
            .collect();
        load_for(&self.store, &mut tracker, &detections).await?;
        let evaluated: Vec<Option<Evaluated>> = items
            .iter()
            .map(|item| match item {
                Input::Detection { detection, .. } => Some(evaluate(
                    &mut tracker,
                    detection,
                    None,
                    &self.playbooks,
                    &self.context,
                )),
                Input::Rejected { .. } => None,
            })
            .collect();
        let evaluations: Vec<Evaluation<'_>> = items
            .iter()
            .zip(&evaluated)
            .map(|(item, e)| match (item, e) {
                (Input::Detection { line, detection }, Some(e)) => Evaluation::Accepted {
                    line: *line,
                    detection,
                    plan: &e.plan,
                },
                (Input::Rejected { line, reason, raw }, _) => Evaluation::Rejected {
                    line: *line,
                    reason: reason.clone(),
                    raw,
                },
                (Input::Detection { line, .. }, None) => Evaluation::Rejected {
                    line: *line,
                    reason: "not evaluated".into(),
                    raw: "",
                },
            })
            .collect();
        let notes: Vec<Option<&CampaignNote>> = evaluated
            .iter()
            .map(|e| e.as_ref().and_then(|e| e.note.as_ref()))
            .collect();
        let batch = PreparedBatch::with_campaigns(
            self.run_id,
            &evaluations,
            &notes,
            tracker.take_dirty(),
            Utc::now(),
        )?;
        self.store.record_prepared(batch).await?;
        let follow_ups: Vec<FollowUp> = items
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
                        member_follow_up(&tracker, &note.campaign, user, detection.observed_at)
                    })
                    .flatten()
            })
            .collect();
        self.record_follow_ups(&mut tracker, follow_ups).await?;
        Ok(evaluated.into_iter().map(|e| e.map(|e| e.plan)).collect())
    }

    /// What follows an action the worker carried out (a confirmation, a sweep's finds): the
    /// follow-up detections are recorded, and their actions queued for the worker.
    pub async fn after_action(
        &self,
        detection_seq: i64,
        action: &PlannedAction,
        result: &ActionResult,
    ) -> Result<usize, StoreError> {
        if result.status != "succeeded"
            || !matches!(
                action.action,
                ActionKind::ConfirmCompromised | ActionKind::SweepSignins
            )
        {
            return Ok(0);
        }
        let _one_at_a_time = self.lock.lock().await;
        let mut tracker = Tracker::new(self.settings.clone());
        let follow_ups =
            after_action(&self.store, &mut tracker, detection_seq, action, result).await?;
        Ok(self
            .record_follow_ups(&mut tracker, follow_ups)
            .await?
            .len())
    }

    async fn record_follow_ups(
        &self,
        tracker: &mut Tracker,
        follow_ups: Vec<FollowUp>,
    ) -> Result<Vec<Recorded>, StoreError> {
        record_follow_ups(
            &self.store,
            tracker,
            self.run_id,
            &self.playbooks,
            &self.context,
            follow_ups,
        )
        .await
    }
}
