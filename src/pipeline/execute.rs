//! Execute: a recorded detection's automatic actions, each followed by what it implies, depth
//! first (a campaign's members are contained right after the confirmation that made them
//! members). Many detections' actions may run at once: each action holds its target's lane
//! while it runs (see `lanes`), and the campaign tracker is locked only to learn from an
//! action's result, never across a Graph call.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::Mutex;

use super::follow_up::{Recorded, after_action, record_follow_ups};
use super::identity::{Writes, learn, lesson};
use super::lanes::{Lanes, lane_of_action};
use crate::actions::{ActionResult, GraphRunner, execute, runs_automatically};
use crate::store::{Store, StoreError};
use stanch_core::campaign::Tracker;
use stanch_core::engine::{Context, Plan};
use stanch_core::playbook::PlaybookSet;

/// Where the results of follow-ups go (`stanch run` prints them).
pub type FollowUpSink<'a> = &'a mut dyn FnMut(&Recorded, &[ActionResult]);

/// What every detection carried out at the same time shares.
#[derive(Clone, Copy)]
pub struct Execution<'a> {
    pub store: &'a Store,
    pub runner: &'a GraphRunner,
    pub tracker: &'a Mutex<Tracker>,
    pub lanes: &'a Lanes,
    pub run_id: i64,
    pub playbooks: &'a PlaybookSet,
    pub ctx: &'a Context,
    /// The tracker's grouping window, read once: the lessons are looked up without its lock.
    pub window: chrono::Duration,
}

/// Carries out a recorded detection's automatic actions, each followed by what it implies
/// (depth first: a campaign's members are contained right after the confirmation that made them
/// members). Follow-ups go to `sink`.
pub fn execute_with_follow_ups<'a>(
    ex: Execution<'a>,
    seq: i64,
    plan: &'a Plan,
    sink: FollowUpSink<'a>,
    depth: usize,
) -> Pin<Box<dyn Future<Output = Result<Vec<ActionResult>, StoreError>> + 'a>> {
    Box::pin(async move {
        let mut results = Vec::new();
        for action in plan.actions.iter().filter(|a| runs_automatically(a)) {
            let result = {
                let _lane = ex.lanes.hold(lane_of_action(action)).await;
                execute(ex.runner, ex.store, seq, action).await?
            };
            // Read before the tracker is locked: every lane learns through it.
            let lesson = lesson(ex.store, ex.window, seq, &result).await?;
            let recorded = {
                let mut tracker = ex.tracker.lock().await;
                // Before what follows: a confirmation contains each member once, not once a name.
                // Written with the batch (`identity::flush_campaigns`), not one commit an action.
                if let Some(lesson) = lesson {
                    learn(ex.store, &mut tracker, lesson, Writes::Batched).await?;
                }
                // Each level of follow-ups is a confirmation's consequence; three are plenty.
                let follow_ups = if depth < 3 {
                    after_action(ex.store, &mut tracker, seq, action, &result).await?
                } else {
                    Vec::new()
                };
                record_follow_ups(
                    ex.store,
                    &mut tracker,
                    ex.run_id,
                    ex.playbooks,
                    ex.ctx,
                    follow_ups,
                )
                .await?
            };
            results.push(result);
            for r in &recorded {
                let done = execute_with_follow_ups(ex, r.seq, &r.plan, sink, depth + 1).await?;
                sink(r, &done);
            }
        }
        Ok(results)
    })
}
