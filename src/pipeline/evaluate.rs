//! Evaluate: a detection is assigned to its campaign, then planned with the campaign as it now
//! stands; and the one way a set of evaluations becomes a batch for the store. `stanch run`, the
//! server's recorder and the follow-ups of a confirmation all go through here.

use chrono::Utc;

use crate::store::{Evaluation, PreparedBatch, StoreError};
use stanch_core::campaign::{Assignment, Dirty, Tracker};
use stanch_core::engine::{self, Context, Plan};
use stanch_core::intake::Detection;
use stanch_core::playbook::PlaybookSet;

/// A detection assigned and planned.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub plan: Plan,
    /// What grouping decided for the detection, recorded with it.
    pub note: Option<Assignment>,
}

/// Assigns the detection to its campaign (for one of stanch's own, the campaign it was made
/// for), then plans it with the campaign as it now stands.
pub fn evaluate(
    tracker: &mut Tracker,
    detection: &Detection,
    made_for: Option<&str>,
    playbooks: &PlaybookSet,
    ctx: &Context,
) -> Evaluated {
    evaluate_grouped(tracker, detection, detection, made_for, playbooks, ctx)
}

/// [`evaluate`], grouping by `grouped`: the same detection with its account's other name filled
/// in from identities already resolved. The plan is made from the detection as received, so its
/// idempotency keys do not depend on what a cache happened to hold.
pub fn evaluate_grouped(
    tracker: &mut Tracker,
    detection: &Detection,
    grouped: &Detection,
    made_for: Option<&str>,
    playbooks: &PlaybookSet,
    ctx: &Context,
) -> Evaluated {
    let assignment = match made_for {
        Some(id) => tracker.assign_to(grouped, id),
        None => tracker.assign(grouped),
    };
    // A detection from outside sees its campaign as of its own time; one of stanch's own sees it
    // as it is now (it was made because of what is known now).
    let as_of = made_for.is_none().then_some(detection.observed_at);
    let view = assignment
        .as_ref()
        .and_then(|a| tracker.view(&a.campaign, as_of));
    let plan = engine::plan_with(detection, view, playbooks, ctx);
    Evaluated {
        plan,
        note: assignment,
    }
}

/// One item of a batch to record: a detection with its evaluation, or an input rejected with a
/// reason (kept raw in the audit trail).
pub enum Entry<'a> {
    Accepted {
        line: Option<usize>,
        detection: &'a Detection,
        evaluated: &'a Evaluated,
    },
    Rejected {
        line: Option<usize>,
        reason: &'a str,
        raw: &'a str,
    },
}

/// Serializes the entries, with the campaign rows that changed while grouping them (the
/// tracker's `take_dirty()`), into one batch the store writes in a single transaction.
pub fn prepare(
    run_id: i64,
    entries: &[Entry<'_>],
    campaigns: Dirty,
) -> Result<PreparedBatch, StoreError> {
    let evaluations: Vec<Evaluation<'_>> = entries
        .iter()
        .map(|entry| match entry {
            Entry::Accepted {
                line,
                detection,
                evaluated,
            } => Evaluation::Accepted {
                line: *line,
                detection,
                plan: &evaluated.plan,
            },
            Entry::Rejected { line, reason, raw } => Evaluation::Rejected {
                line: *line,
                reason: reason.to_string(),
                raw,
            },
        })
        .collect();
    let notes: Vec<Option<&Assignment>> = entries
        .iter()
        .map(|entry| match entry {
            Entry::Accepted { evaluated, .. } => evaluated.note.as_ref(),
            Entry::Rejected { .. } => None,
        })
        .collect();
    PreparedBatch::with_campaigns(run_id, &evaluations, &notes, campaigns, Utc::now())
}
