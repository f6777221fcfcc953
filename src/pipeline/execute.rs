//! Execute: a recorded detection's automatic actions, each followed by what it implies, depth
//! first (a campaign's members are contained right after the confirmation that made them
//! members, before the next detection is looked at).

use std::future::Future;
use std::pin::Pin;

use super::follow_up::{Recorded, after_action, record_follow_ups};
use super::identity::learn_identity;
use crate::actions::{ActionResult, GraphRunner, execute, runs_automatically};
use crate::store::{Store, StoreError};
use stanch_core::campaign::Tracker;
use stanch_core::engine::{Context, Plan};
use stanch_core::playbook::PlaybookSet;

/// Where the results of follow-ups go (`stanch run` prints them).
pub type FollowUpSink<'a> = &'a mut dyn FnMut(&Recorded, &[ActionResult]);

/// Carries out a recorded detection's automatic actions, each followed by what it implies
/// (depth first: a campaign's members are contained right after the confirmation that made them
/// members, before the next detection is looked at). Follow-ups go to `sink`.
#[allow(clippy::too_many_arguments)]
pub fn execute_with_follow_ups<'a>(
    store: &'a Store,
    runner: &'a GraphRunner,
    tracker: &'a mut Tracker,
    run_id: i64,
    playbooks: &'a PlaybookSet,
    ctx: &'a Context,
    seq: i64,
    plan: &'a Plan,
    sink: FollowUpSink<'a>,
    depth: usize,
) -> Pin<Box<dyn Future<Output = Result<Vec<ActionResult>, StoreError>> + 'a>> {
    Box::pin(async move {
        let mut results = Vec::new();
        for action in plan.actions.iter().filter(|a| runs_automatically(a)) {
            let result = execute(runner, store, seq, action).await?;
            // Before what follows: a confirmation contains each member once, not once a name.
            learn_identity(store, tracker, seq, &result).await?;
            // Each level of follow-ups is a confirmation's consequence; three are plenty.
            let follow_ups = if depth < 3 {
                after_action(store, tracker, seq, action, &result).await?
            } else {
                Vec::new()
            };
            results.push(result);
            let recorded =
                record_follow_ups(store, tracker, run_id, playbooks, ctx, follow_ups).await?;
            for r in &recorded {
                let done = execute_with_follow_ups(
                    store,
                    runner,
                    tracker,
                    run_id,
                    playbooks,
                    ctx,
                    r.seq,
                    &r.plan,
                    sink,
                    depth + 1,
                )
                .await?;
                sink(r, &done);
            }
        }
        Ok(results)
    })
}
