//! Once a batch has committed: carrying out its actions (and what a confirmed campaign implies),
//! then reporting each line and counting the summary.

use std::collections::BTreeMap;

use serde::Serialize;

use super::carry_out::{Campaigns, Done, Item, carry_out_all};
use crate::actions::{ActionResult, GraphRunner, runs_automatically};
use crate::store::{Store, StoreError};
use stanch_core::engine::{Gate, Plan};
use stanch_core::intake::Detection;
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
