//! `stanch report`: the evidence for promoting a playbook from passive to active. Over a
//! passive period it says, per playbook and action, what would have been done, to how many
//! accounts, and what the safety rails would have stopped: cooldowns (repeats), budgets (over
//! the limit, a person would have been asked), protected accounts, steps that ask a human, and
//! IP blocks the rails refuse.
//!
//! The rails are replayed in detection time, as the responder would have met them live. Pure:
//! the rows come from the store, the result is printed by the CLI.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::rails::{SafetySettings, budgeted};
use crate::vocab::ActionKind;

/// One passive action, as the store has it.
#[derive(Debug, Clone, PartialEq)]
pub struct PassiveAction {
    pub playbook: String,
    pub kind: String,
    pub target: Option<String>,
    /// The engine's gate reasons (empty: it would have run without a human).
    pub gate_reasons: Vec<String>,
    /// Ranges the engine refused to block, with why (empty: nothing refused).
    pub refused: Vec<(String, String)>,
    pub detection_seq: i64,
    pub observed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Report {
    pub from: Option<String>,
    pub to: Option<String>,
    pub detections: usize,
    pub playbooks: Vec<PlaybookReport>,
    /// What the replay cannot show, said so nobody reads its absence as a promise.
    pub notes: Vec<String>,
}

/// What the passive replay leaves out.
pub const NOT_SIMULATED: &str = "campaign containment is not simulated in passive mode: members \
     a sweep or a confirmation would have found, and the containment planned for them, appear only \
     once the playbooks run active (or as the detections that name them)";

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PlaybookReport {
    pub playbook: String,
    pub detections: usize,
    pub actions: Vec<ActionReport>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ActionReport {
    pub action: String,
    pub planned: usize,
    pub accounts: usize,
    /// The accounts it names, in order of first appearance (lower case).
    pub affected_accounts: Vec<String>,
    /// Most distinct accounts it would have acted on (or a budget would have held) within one
    /// hour: what a budget `per: 1h` must allow for this playbook's normal day.
    pub peak_accounts_per_hour: usize,
    /// When that busiest hour began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_hour_from: Option<String>,
    /// Would have run with no human.
    pub would_run: usize,
    /// Would have waited for a person because the step asks for approval.
    pub step_approval: usize,
    /// Would have waited for a person because the account is protected.
    pub protected: usize,
    /// A repeat on the same account within the cooldown: would have been suppressed.
    pub suppressed_by_cooldown: usize,
    /// Budget name → actions it would have held for a person.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub held_by_budget: BTreeMap<String, usize>,
    /// Would never have run: the rails refuse the IP ranges it names.
    pub refused: usize,
    /// Each range refused → why.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refused_ranges: BTreeMap<String, String>,
}

/// Replays the rails over `rows` (any order; sorted here by detection time).
pub fn build(mut rows: Vec<PassiveAction>, safety: &SafetySettings) -> Report {
    rows.sort_by_key(|r| (r.observed_at, r.detection_seq));
    let mut report = Report {
        from: rows.first().map(|r| stamp(r.observed_at)),
        to: rows.last().map(|r| stamp(r.observed_at)),
        ..Report::default()
    };
    let mut detections = BTreeSet::new();
    let mut per_playbook: BTreeMap<String, (BTreeSet<i64>, BTreeMap<String, Tally>)> =
        BTreeMap::new();
    let mut last_by_target: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    let mut spent: HashMap<String, VecDeque<(DateTime<Utc>, String)>> = HashMap::new();
    for (n, row) in rows.iter().enumerate() {
        detections.insert(row.detection_seq);
        let (seen, actions) = per_playbook.entry(row.playbook.clone()).or_default();
        seen.insert(row.detection_seq);
        let tally = actions.entry(row.kind.clone()).or_default();
        tally.report.planned += 1;
        if let Some(t) = &row.target {
            let account = t.to_ascii_lowercase();
            if tally.accounts.insert(account.clone()) {
                tally.report.affected_accounts.push(account);
            }
        }
        if !row.refused.is_empty() {
            tally.report.refused += 1;
            tally
                .report
                .refused_ranges
                .extend(row.refused.iter().cloned());
            continue;
        }
        let protected = row.gate_reasons.iter().any(|r| r.contains("protected"));
        if protected {
            tally.report.protected += 1;
            continue;
        }
        if !row.gate_reasons.is_empty() {
            tally.report.step_approval += 1;
            continue;
        }
        let Some(kind) = ActionKind::parse(&row.kind) else {
            tally.report.would_run += 1;
            continue;
        };
        // What budgets count: the account, or a tenant-wide action as itself (once each).
        let counted = match &row.target {
            Some(target) => target.to_ascii_lowercase(),
            None if budgeted(kind) => format!("tenant:{n}"),
            None => {
                tally.report.would_run += 1;
                continue;
            }
        };
        let key = (counted, row.kind.clone());
        tally.demand.push((row.observed_at, key.0.clone()));
        let cooldown = Duration::seconds(safety.cooldown_secs(kind) as i64);
        if row.target.is_some()
            && let Some(last) = last_by_target.get(&key)
            && cooldown > Duration::zero()
            && row.observed_at - *last < cooldown
        {
            tally.report.suppressed_by_cooldown += 1;
            continue;
        }
        let over = safety
            .budgets
            .iter()
            .filter(|b| b.applies_to(kind, &row.playbook))
            .find(|b| {
                let window = spent.entry(b.name.clone()).or_default();
                let horizon = row.observed_at - Duration::seconds(b.per_secs as i64);
                while window.front().is_some_and(|(at, _)| *at < horizon) {
                    window.pop_front();
                }
                let accounts: BTreeSet<&String> = window.iter().map(|(_, t)| t).collect();
                !accounts.contains(&key.0) && accounts.len() as u64 >= b.max
            });
        if let Some(budget) = over {
            *tally
                .report
                .held_by_budget
                .entry(budget.name.clone())
                .or_default() += 1;
            continue;
        }
        for b in safety
            .budgets
            .iter()
            .filter(|b| b.applies_to(kind, &row.playbook))
        {
            spent
                .entry(b.name.clone())
                .or_default()
                .push_back((row.observed_at, key.0.clone()));
        }
        last_by_target.insert(key, row.observed_at);
        tally.report.would_run += 1;
    }
    report.detections = detections.len();
    report.playbooks = per_playbook
        .into_iter()
        .map(|(playbook, (seen, actions))| PlaybookReport {
            playbook,
            detections: seen.len(),
            actions: actions
                .into_iter()
                .map(|(action, tally)| {
                    let (peak, from) = peak_per_hour(&tally.demand);
                    ActionReport {
                        action,
                        accounts: tally.accounts.len(),
                        peak_accounts_per_hour: peak,
                        peak_hour_from: from.map(stamp),
                        ..tally.report
                    }
                })
                .collect(),
        })
        .collect();
    if !report.playbooks.is_empty() {
        report.notes.push(NOT_SIMULATED.to_string());
    }
    report
}

#[derive(Default)]
struct Tally {
    report: ActionReport,
    accounts: BTreeSet<String>,
    /// Each action that reached the budgets (in time order): when, and the account it counts.
    demand: Vec<(DateTime<Utc>, String)>,
}

/// The most distinct accounts within any hour of `demand` (sorted by time), and when that hour
/// began (at one of its actions).
fn peak_per_hour(demand: &[(DateTime<Utc>, String)]) -> (usize, Option<DateTime<Utc>>) {
    let mut best = (0, None);
    for (i, (start, _)) in demand.iter().enumerate() {
        let end = *start + Duration::hours(1);
        let accounts: BTreeSet<&String> = demand[i..]
            .iter()
            .take_while(|(at, _)| *at < end)
            .map(|(_, a)| a)
            .collect();
        if accounts.len() > best.0 {
            best = (accounts.len(), Some(*start));
        }
    }
    best
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests;
