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
}

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
            tally.accounts.insert(t.to_ascii_lowercase());
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
                .map(|(action, tally)| ActionReport {
                    action,
                    accounts: tally.accounts.len(),
                    ..tally.report
                })
                .collect(),
        })
        .collect();
    report
}

#[derive(Default)]
struct Tally {
    report: ActionReport,
    accounts: BTreeSet<String>,
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests;
