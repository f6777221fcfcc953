//! Once a batch has committed: carrying out its actions (and what a confirmed campaign implies),
//! then reporting each line and counting the summary.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::evaluate::Evaluated;
use super::execute::{Execution, execute_with_follow_ups};
use super::follow_up::{Recorded, member_follow_up, record_follow_ups};
use super::lanes::{Lanes, lane_of_action, lane_of_user};
use super::lookups::Lookups;
use crate::actions::{ActionResult, GraphRunner, runs_automatically};
use crate::store::{Store, StoreError};
use stanch_core::campaign::Tracker;
use stanch_core::engine::{Context, Gate, Plan};
use stanch_core::intake::Detection;
use stanch_core::playbook::PlaybookSet;
use stanch_core::vocab::{ActionOutcome, Mode};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reading the input: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the batch writer stopped unexpectedly: {0}")]
    Task(String),
}

// By hand, not `#[from]`: the message already tells the cause, so it is not also a `source`.
impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> Self {
        RunError::Read(e)
    }
}

/// One input line's result, handed to the caller once it is durably recorded (and acted on).
pub enum Outcome<'a> {
    Planned {
        line: usize,
        detection: &'a Detection,
        plan: &'a Plan,
        results: &'a [ActionResult],
    },
    Rejected {
        line: usize,
        reason: &'a str,
    },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    /// Detections accepted.
    pub detections: usize,
    pub rejected: usize,
    /// Detections that at least one playbook matched.
    pub matched: usize,
    pub actions: usize,
    pub passive_actions: usize,
    pub active_actions: usize,
    pub approvals: usize,
    pub by_action: BTreeMap<String, usize>,
    /// Outcomes of the actions carried out: `succeeded`, `failed`, `needs_human`, `duplicate`...
    pub executed: BTreeMap<String, usize>,
    /// Detections stanch emitted for confirmed campaigns (members to contain, infrastructure).
    pub campaign_detections: usize,
    /// Active, automatic actions left `pending` because no Graph connection is configured.
    pub not_executed: usize,
}

pub(super) enum Item {
    Planned {
        line: usize,
        detection: Box<Detection>,
        evaluated: Evaluated,
    },
    Rejected {
        line: usize,
        reason: String,
        raw: String,
    },
}

/// What the run needs to group detections and follow confirmations up.
pub(super) struct Campaigns<'a> {
    /// Locked only while an action's result is learnt from: many accounts are contained at once.
    pub tracker: tokio::sync::Mutex<Tracker>,
    pub lookups: Lookups,
    pub playbooks: &'a PlaybookSet,
    pub ctx: &'a Context,
    pub run_id: i64,
}

/// What carrying out one line's plan did: its own actions, then each follow-up's.
#[derive(Default)]
struct Done {
    results: Vec<ActionResult>,
    follow_ups: Vec<(Recorded, Vec<ActionResult>)>,
}

/// Once a batch has committed: carry out its automatic active actions (and what follows them),
/// then report each line, in input order.
pub(super) async fn report(
    store: &Store,
    runner: Option<&GraphRunner>,
    written: Result<Result<Vec<i64>, StoreError>, tokio::task::JoinError>,
    items: Vec<Item>,
    summary: &mut RunSummary,
    on_outcome: &mut dyn FnMut(&Outcome<'_>),
    campaigns: &mut Campaigns<'_>,
) -> Result<(), RunError> {
    let seqs = written.map_err(|e| RunError::Task(e.to_string()))??;
    let mut seqs = seqs.into_iter();
    let mut seq_of = Vec::with_capacity(items.len());
    for item in &items {
        seq_of.push(match item {
            Item::Planned { .. } => Some(seqs.next().ok_or_else(|| {
                RunError::Task("the store returned fewer detection keys than detections".into())
            })?),
            Item::Rejected { .. } => None,
        });
    }
    let mut done = match runner {
        Some(runner) => carry_out_all(store, runner, campaigns, &items, &seq_of).await?,
        None => items.iter().map(|_| Done::default()).collect(),
    };
    for (item, done) in items.iter().zip(&mut done) {
        match item {
            Item::Planned {
                line,
                detection,
                evaluated,
            } => {
                let plan = &evaluated.plan;
                summary.count(plan);
                if runner.is_none() {
                    summary.not_executed += plan
                        .actions
                        .iter()
                        .filter(|a| runs_automatically(a))
                        .count();
                }
                summary.executed_all(&done.results);
                on_outcome(&Outcome::Planned {
                    line: *line,
                    detection,
                    plan,
                    results: &done.results,
                });
                for (recorded, results) in &done.follow_ups {
                    summary.campaign_detections += 1;
                    summary.count_actions(&recorded.plan);
                    summary.executed_all(results);
                    on_outcome(&Outcome::Planned {
                        line: *line,
                        detection: &recorded.detection,
                        plan: &recorded.plan,
                        results,
                    });
                }
            }
            Item::Rejected { line, reason, .. } => {
                summary.rejected += 1;
                on_outcome(&Outcome::Rejected {
                    line: *line,
                    reason,
                });
            }
        }
    }
    Ok(())
}

/// Carries out every line's plan: the lines of one account (or of the tenant) one after
/// another, in input order, and up to `graph.concurrency` accounts at once. Every line that was
/// started is finished before an error is returned: an action is never abandoned half-way.
async fn carry_out_all(
    store: &Store,
    runner: &GraphRunner,
    campaigns: &Campaigns<'_>,
    items: &[Item],
    seq_of: &[Option<i64>],
) -> Result<Vec<Done>, StoreError> {
    use futures_util::StreamExt;
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    let mut lane_index: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let Item::Planned {
            detection,
            evaluated,
            ..
        } = item
        else {
            continue;
        };
        let joins = evaluated.note.as_ref().is_some_and(|n| n.joined_confirmed);
        let first = evaluated
            .plan
            .actions
            .iter()
            .find(|a| runs_automatically(a));
        let lane = match (first, &detection.user) {
            (Some(action), _) => lane_of_action(action),
            (None, Some(user)) if joins => lane_of_user(user),
            _ => continue,
        };
        let at = *lane_index.entry(lane).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[at].push(i);
    }
    let held = Lanes::default();
    let ex = Execution {
        store,
        runner,
        tracker: &campaigns.tracker,
        lanes: &held,
        run_id: campaigns.run_id,
        playbooks: campaigns.playbooks,
        ctx: campaigns.ctx,
    };
    let at_once = runner.client().config().concurrency.max(1);
    let finished: Vec<Vec<(usize, Result<Done, StoreError>)>> =
        futures_util::stream::iter(lanes.into_iter().map(|lane| async move {
            let mut out = Vec::with_capacity(lane.len());
            for i in lane {
                let result = carry_out_line(ex, &items[i], seq_of[i]).await;
                let failed = result.is_err();
                out.push((i, result));
                if failed {
                    break;
                }
            }
            out
        }))
        .buffer_unordered(at_once)
        .collect()
        .await;
    let mut done: Vec<Done> = items.iter().map(|_| Done::default()).collect();
    let mut first_error = None;
    for (i, result) in finished.into_iter().flatten() {
        match result {
            Ok(d) => done[i] = d,
            Err(e) => first_error = first_error.or(Some((i, e))),
        }
    }
    match first_error {
        Some((_, e)) => Err(e),
        None => Ok(done),
    }
}

/// One line's automatic actions with their follow-ups; an account joining a campaign confirmed
/// earlier is contained as a member.
async fn carry_out_line(
    ex: Execution<'_>,
    item: &Item,
    seq: Option<i64>,
) -> Result<Done, StoreError> {
    let (
        Item::Planned {
            detection,
            evaluated,
            ..
        },
        Some(seq),
    ) = (item, seq)
    else {
        return Ok(Done::default());
    };
    let mut done = Done::default();
    done.results = carry_out(ex, seq, &evaluated.plan, &mut done.follow_ups).await?;
    if let (Some(note), Some(user)) = (&evaluated.note, &detection.user)
        && note.joined_confirmed
    {
        let mut tracker = ex.tracker.lock().await;
        let Some(follow_up) =
            member_follow_up(&tracker, &note.campaign, user, detection.observed_at)
        else {
            return Ok(done);
        };
        let recorded = record_follow_ups(
            ex.store,
            &mut tracker,
            ex.run_id,
            ex.playbooks,
            ex.ctx,
            vec![follow_up],
        )
        .await?;
        drop(tracker);
        for r in recorded {
            let results = carry_out(ex, r.seq, &r.plan, &mut done.follow_ups).await?;
            done.follow_ups.push((r, results));
        }
    }
    Ok(done)
}

/// Executes a plan's automatic actions with their follow-ups, collected in `follow_ups`.
async fn carry_out(
    ex: Execution<'_>,
    seq: i64,
    plan: &Plan,
    follow_ups: &mut Vec<(Recorded, Vec<ActionResult>)>,
) -> Result<Vec<ActionResult>, StoreError> {
    let mut sink = |recorded: &Recorded, done: &[ActionResult]| {
        follow_ups.push((recorded.clone(), done.to_vec()));
    };
    execute_with_follow_ups(ex, seq, plan, &mut sink, 0).await
}

impl RunSummary {
    fn count(&mut self, plan: &Plan) {
        self.detections += 1;
        self.matched += usize::from(!plan.matched.is_empty());
        self.count_actions(plan);
    }

    /// Actions this run carried out that failed: the exit status tells scripts apart from input
    /// problems, since a failed containment is what an on-call person must look at first.
    pub fn actions_failed(&self) -> usize {
        self.executed
            .get(ActionOutcome::Failed.as_str())
            .copied()
            .unwrap_or(0)
    }

    fn executed_all(&mut self, results: &[ActionResult]) {
        for result in results {
            *self.executed.entry(result.status.to_string()).or_default() += 1;
        }
    }

    fn count_actions(&mut self, plan: &Plan) {
        for action in &plan.actions {
            self.actions += 1;
            match action.mode {
                Mode::Passive => self.passive_actions += 1,
                Mode::Active => self.active_actions += 1,
            }
            self.approvals += usize::from(matches!(action.gate, Gate::Approval { .. }));
            *self.by_action.entry(action.action.to_string()).or_default() += 1;
        }
    }
}
