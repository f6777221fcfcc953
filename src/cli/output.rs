//! How run results look on a terminal, and as JSON lines.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::actions::ActionResult;
use crate::pipeline::{Outcome, RunSummary};
use stanch_core::engine::{Gate, PlannedAction};
use stanch_core::vocab::Mode;

/// A plain-text line per detection, an indented line per matched playbook, action and skip.
pub(crate) fn human(outcome: &Outcome<'_>) -> String {
    match outcome {
        Outcome::Rejected { line, reason } => format!("line {line}: rejected: {reason}\n"),
        Outcome::Planned {
            line,
            detection,
            plan,
            results,
        } => {
            let mut facts = vec![
                detection
                    .severity
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "no severity".into()),
            ];
            facts.extend(detection.user.as_ref().map(|u| u.to_string()));
            facts.extend(detection.ip.map(|ip| ip.to_string()));
            let mut out = format!(
                "line {line}: {} \"{}\" at {} ({})\n",
                plan.detection,
                detection.name,
                plan.evaluated_at,
                facts.join(", ")
            );
            if plan.matched.is_empty() {
                out.push_str("  no playbook matched\n");
            }
            for matched in &plan.matched {
                out.push_str(&format!(
                    "  matched {}: {}\n",
                    matched.playbook, matched.reason
                ));
                for action in plan
                    .actions
                    .iter()
                    .filter(|a| a.playbook == matched.playbook)
                {
                    let line = match results.iter().find(|r| r.key == action.key) {
                        Some(result) => describe_result(action, result),
                        None => describe_action(action),
                    };
                    out.push_str(&format!("    {line}\n"));
                }
                for skipped in plan
                    .skipped
                    .iter()
                    .filter(|s| s.playbook == matched.playbook)
                {
                    out.push_str(&format!(
                        "    skipped step {}: {}\n",
                        skipped.step, skipped.reason
                    ));
                }
            }
            out
        }
    }
}

fn describe_action(action: &PlannedAction) -> String {
    let verb = match (action.mode, &action.gate) {
        (Mode::Passive, Gate::Refused { .. }) => "would refuse",
        (Mode::Active, Gate::Refused { .. }) => "refused",
        (Mode::Passive, Gate::Automatic) => "would run",
        (Mode::Passive, Gate::Approval { .. }) => "would ask approval for",
        (Mode::Active, Gate::Automatic) => "queued",
        (Mode::Active, Gate::Approval { .. }) => "awaiting approval:",
    };
    let mut text = format!("{verb} {} [step {}]", action.action, action.step);
    if let Some(target) = &action.target {
        text.push_str(&format!(" on {target}"));
    }
    if !action.params.is_empty() {
        text.push_str(&format!(
            " with {}",
            serde_json::Value::Object(action.params.clone())
        ));
    }
    if let Gate::Approval { reasons, .. } = &action.gate {
        text.push_str(&format!(" ({})", reasons.join("; ")));
    }
    if let Gate::Refused { refused } = &action.gate {
        let each: Vec<String> = refused.iter().map(ToString::to_string).collect();
        text.push_str(&format!(" (nothing is sent: {})", each.join("; ")));
    }
    if let Some(secs) = action.expires_after_secs {
        text.push_str(&format!(
            ", expires after {}",
            stanch_core::util::format_duration(secs)
        ));
    }
    text
}

fn describe_result(action: &PlannedAction, result: &ActionResult) -> String {
    let target = action
        .target
        .as_ref()
        .map(|t| format!(" on {t}"))
        .unwrap_or_default();
    format!(
        "{} {} [step {}]{target} in {} ms: {}",
        result.status, action.action, action.step, result.elapsed_ms, result.detail
    )
}

/// One JSON object per line: `{"type":"plan"|"rejected",...}`.
pub(crate) fn json_line(outcome: &Outcome<'_>) -> String {
    let value = match outcome {
        Outcome::Rejected { line, reason } => {
            json!({"type": "rejected", "line": line, "reason": reason})
        }
        Outcome::Planned {
            line,
            detection,
            plan,
            results,
        } => {
            json!({"type": "plan", "line": line, "name": detection.name, "plan": plan, "executed": results})
        }
    };
    format!("{value}\n")
}

pub(crate) fn summary_text(summary: &RunSummary, database_url: &str) -> String {
    let by_action: Vec<String> = summary
        .by_action
        .iter()
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect();
    let mut text = format!(
        "run {}: {} detection(s) accepted, {} rejected, {} matched; {} action(s) planned ({} passive, {} active, {} needing approval){}\n",
        summary.run_id,
        summary.detections,
        summary.rejected,
        summary.matched,
        summary.actions,
        summary.passive_actions,
        summary.active_actions,
        summary.approvals,
        if by_action.is_empty() {
            String::new()
        } else {
            format!(": {}", by_action.join(", "))
        },
    );
    if !summary.executed.is_empty() {
        let executed: Vec<String> = summary
            .executed
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        text.push_str(&format!(
            "executed through Graph: {}\n",
            executed.join(", ")
        ));
    }
    if summary.campaign_detections > 0 {
        text.push_str(&format!(
            "{} detection(s) emitted for confirmed campaigns (members to contain, infrastructure); their actions are counted above\n",
            summary.campaign_detections
        ));
    }
    if summary.not_executed > 0 {
        text.push_str(&format!(
            "{} action(s) left pending (active ones, and read-only sign-in sweeps): no `graph` connection is configured\n",
            summary.not_executed
        ));
    }
    text.push_str(&format!("recorded in {database_url}\n"));
    text
}

/// A one-line progress indicator on stderr, redrawn at most a few times a second, and only when
/// stderr is a terminal.
pub(crate) struct Progress {
    enabled: bool,
    total: Option<u64>,
    last: Instant,
    started: Instant,
}

impl Progress {
    pub(crate) fn new(wanted: bool, total: Option<u64>) -> Progress {
        let now = Instant::now();
        Progress {
            enabled: wanted && std::io::stderr().is_terminal(),
            total,
            last: now,
            started: now,
        }
    }

    pub(crate) fn update(&mut self, bytes: u64, summary: &RunSummary) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let done = summary.detections + summary.rejected;
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let share = self
            .total
            .filter(|t| *t > 0)
            .map(|t| format!(" {:>3}%", bytes * 100 / t))
            .unwrap_or_default();
        eprint!(
            "\r\x1b[K{share} {done} detection(s), {} rejected, {} action(s), {rate:.0}/s",
            summary.rejected, summary.actions
        );
        let _ = std::io::stderr().flush();
    }

    pub(crate) fn finish(&self) {
        if self.enabled {
            eprint!("\r\x1b[K");
        }
    }
}
