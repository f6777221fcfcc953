//! Carrying out a committed batch's lines: up to `graph.concurrency` accounts at once, each
//! account's lines (and the tenant's) in input order, and a line whose actions may be followed
//! up alone, between the lines before and after it.

use std::collections::HashMap;

use super::evaluate::Evaluated;
use super::execute::{Execution, execute_with_follow_ups};
use super::follow_up::{Recorded, may_follow_up, member_follow_up, record_follow_ups};
use super::identity::flush_campaigns;
use super::lanes::{Lanes, lane_of_user};
use super::lookups::Lookups;
use crate::actions::{ActionResult, GraphRunner, runs_automatically};
use crate::store::{Store, StoreError};
use stanch_core::campaign::Tracker;
use stanch_core::engine::{Context, Plan};
use stanch_core::intake::Detection;
use stanch_core::playbook::PlaybookSet;

/// One input line of a batch, as the run loop planned it.
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
pub(super) struct Done {
    pub results: Vec<ActionResult>,
    pub follow_ups: Vec<(Recorded, Vec<ActionResult>)>,
}

/// Carries out every line's plan: the lines of one account (or of the tenant) one after
/// another, in input order, and up to `graph.concurrency` accounts at once (see `segments`). A
/// line whose actions may be followed up (a confirmation, a sweep, a consent revoked, an
/// account joining a confirmed campaign) runs alone, after the lines before it and before the
/// lines after it, so what it implies for other accounts comes in the order a single worker
/// would give it. Every
/// line that was started is finished before an error is returned: an action is never abandoned
/// half-way.
pub(super) async fn carry_out_all(
    store: &Store,
    runner: &GraphRunner,
    campaigns: &Campaigns<'_>,
    items: &[Item],
    seq_of: &[Option<i64>],
) -> Result<Vec<Done>, StoreError> {
    let held = Lanes::default();
    let window = campaigns.tracker.lock().await.window();
    let ex = Execution {
        store,
        runner,
        tracker: &campaigns.tracker,
        lanes: &held,
        run_id: campaigns.run_id,
        playbooks: campaigns.playbooks,
        ctx: campaigns.ctx,
        window,
    };
    let at_once = runner.client().config().concurrency.max(1);
    let mut done: Vec<Done> = items.iter().map(|_| Done::default()).collect();
    let mut first_error = None;
    for (segment, at_once) in segments(line_lanes(runner, items).await, at_once) {
        for (i, result) in run_lanes(ex, items, seq_of, segment, at_once).await {
            match result {
                Ok(d) => done[i] = d,
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if first_error.is_some() {
            break;
        }
    }
    // What the actions taught the campaigns, in one write for the batch.
    let flushed = flush_campaigns(store, &mut *campaigns.tracker.lock().await).await;
    match first_error.map_or(flushed, Err) {
        Ok(()) => Ok(done),
        Err(e) => Err(e),
    }
}

/// Where a line runs: its account's lane (by UPN where the executor knows it), and whether the
/// account is known only by its object id (whose UPN another line may use).
struct LineLane {
    line: usize,
    lane: String,
    by_id_only: bool,
    alone: bool,
}

/// The lane of each line with something to carry out. The account is the one its first
/// automatic action on an account targets (a tenant-wide step first does not move the line to
/// the tenant's lane), named as the executor's identity cache completes it.
async fn line_lanes(runner: &GraphRunner, items: &[Item]) -> Vec<LineLane> {
    let identities = &runner.safety().identities;
    let mut out = Vec::new();
    for (line, item) in items.iter().enumerate() {
        let Item::Planned {
            detection,
            evaluated,
            ..
        } = item
        else {
            continue;
        };
        let joins = evaluated.note.as_ref().is_some_and(|n| n.joined_confirmed);
        let automatic: Vec<_> = evaluated
            .plan
            .actions
            .iter()
            .filter(|a| runs_automatically(a))
            .collect();
        let target = match automatic.iter().find_map(|a| a.target.as_ref()) {
            Some(target) => Some(target),
            None if automatic.is_empty() && !joins => continue,
            None if joins => detection.user.as_ref(),
            None => None,
        };
        let named = match target {
            Some(user) => identities
                .complete(user)
                .await
                .or_else(|| Some(user.clone())),
            None => None,
        };
        out.push(LineLane {
            line,
            lane: named.as_ref().map(lane_of_user).unwrap_or_default(),
            by_id_only: named.as_ref().is_some_and(|u| u.upn.is_none()),
            alone: joins || automatic.iter().any(|a| may_follow_up(a.action)),
        });
    }
    out
}

/// The lines cut into runs, each with how many lanes may go at once: a line that may be followed
/// up runs alone; a run that names an account only by object id goes one line at a time, in
/// input order, since that id may be another line's UPN.
fn segments(lanes: Vec<LineLane>, at_once: usize) -> Vec<(Vec<(String, usize)>, usize)> {
    let mut segments: Vec<(Vec<(String, usize)>, usize)> = Vec::new();
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut ambiguous = false;
    let mut close = |open: &mut Vec<(String, usize)>, ambiguous: &mut bool| {
        if !open.is_empty() {
            let mut lines = std::mem::take(open);
            if *ambiguous {
                // One lane for the run: every line in input order.
                lines.iter_mut().for_each(|(lane, _)| lane.clear());
            }
            segments.push((lines, if *ambiguous { 1 } else { at_once }));
        }
        *ambiguous = false;
    };
    for l in lanes {
        if l.alone {
            close(&mut open, &mut ambiguous);
            open.push((l.lane, l.line));
            close(&mut open, &mut ambiguous);
            continue;
        }
        ambiguous |= l.by_id_only;
        open.push((l.lane, l.line));
    }
    close(&mut open, &mut ambiguous);
    segments
}

/// Carries out `lines` (`(lane, line)`, in input order), one lane after another per lane and up
/// to `at_once` lanes at once; a lane stops at its first error.
async fn run_lanes(
    ex: Execution<'_>,
    items: &[Item],
    seq_of: &[Option<i64>],
    lines: Vec<(String, usize)>,
    at_once: usize,
) -> Vec<(usize, Result<Done, StoreError>)> {
    use futures_util::StreamExt;
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    let mut lane_index: HashMap<String, usize> = HashMap::new();
    for (lane, i) in lines {
        let at = *lane_index.entry(lane).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[at].push(i);
    }
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
    finished.into_iter().flatten().collect()
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

#[cfg(test)]
mod tests {
    use super::{LineLane, segments};

    fn line(line: usize, lane: &str, by_id_only: bool, alone: bool) -> LineLane {
        LineLane {
            line,
            lane: lane.into(),
            by_id_only,
            alone,
        }
    }

    #[test]
    fn a_line_that_may_be_followed_up_runs_alone_between_the_others() {
        let runs = segments(
            vec![
                line(0, "a", false, false),
                line(1, "b", false, false),
                line(2, "b", false, true),
                line(3, "c", false, false),
            ],
            16,
        );
        let shape: Vec<(Vec<usize>, usize)> = runs
            .iter()
            .map(|(lines, at_once)| (lines.iter().map(|(_, l)| *l).collect(), *at_once))
            .collect();
        assert_eq!(shape, [(vec![0, 1], 16), (vec![2], 16), (vec![3], 16)]);
    }

    #[test]
    fn an_account_named_only_by_id_makes_its_run_go_in_input_order() {
        let runs = segments(
            vec![
                line(0, "a.silva@contoso.com", false, false),
                line(1, "0b6c4a6e", true, false),
                line(2, "a.silva@contoso.com", false, false),
            ],
            16,
        );
        assert_eq!(runs.len(), 1);
        let (lines, at_once) = &runs[0];
        assert_eq!(*at_once, 1);
        assert!(lines.iter().all(|(lane, _)| lane.is_empty()), "one lane");
        assert_eq!(lines.iter().map(|(_, l)| *l).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
