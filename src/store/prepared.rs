//! Turning evaluations into rows and audit events before they are written.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::error::{StoreError, json_err};
use super::sql::timestamp;
use stanch_core::audit::AuditEvent;
use stanch_core::campaign::{Assignment, Dirty};
use stanch_core::engine::{Gate, Plan, PlannedAction};
use stanch_core::intake::Detection;
use stanch_core::vocab::{ActionStatus, Mode};

/// Rejected input is kept in the audit trail up to this size, so one huge line cannot bloat it.
const RAW_LIMIT: usize = 64 * 1024;

/// A batch turned into rows and audit events, ready to write. Preparing is all the CPU work of
/// recording (serializing detections, plans and parameters); doing it before handing the batch
/// to a writer lets it overlap with the previous batch's database work.
#[derive(Debug)]
pub struct PreparedBatch {
    pub(super) run_id: i64,
    pub(super) received_at: String,
    pub(super) events: Vec<AuditEvent>,
    pub(super) detections: Vec<NewDetection>,
    pub(super) actions: Vec<NewAction>,
    /// The campaign each detection (by index in `detections`) joined.
    pub(super) campaign_links: Vec<(usize, String)>,
    /// Campaign rows the batch's detections changed.
    pub(super) campaigns: Dirty,
}

#[derive(Debug)]
pub(super) struct NewDetection {
    /// Index of its `detection.received` event in the batch; its seq becomes the row's key.
    pub(super) event: usize,
    pub(super) source: String,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) severity: Option<&'static str>,
    pub(super) observed_at: String,
    pub(super) upn: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) line: Option<i64>,
}

#[derive(Debug)]
pub(super) struct NewAction {
    /// Index of its detection in the batch.
    pub(super) detection: usize,
    pub(super) key: String,
    pub(super) playbook: String,
    pub(super) step: String,
    pub(super) kind: &'static str,
    pub(super) target_upn: Option<String>,
    pub(super) target_id: Option<String>,
    /// The account as the rails compare it, until the claim resolves it to an object id.
    pub(super) account: Option<String>,
    pub(super) params: String,
    pub(super) mode: &'static str,
    pub(super) gate: String,
    pub(super) status: ActionStatus,
    pub(super) reason: String,
    pub(super) expires_after_secs: Option<i64>,
}

impl PreparedBatch {
    pub fn new(
        run_id: i64,
        items: &[Evaluation<'_>],
        now: DateTime<Utc>,
    ) -> Result<PreparedBatch, StoreError> {
        Self::with_campaigns(run_id, items, &[], Dirty::default(), now)
    }

    /// Like [`new`](Self::new), with each item's campaign (`notes`, aligned with `items`; the
    /// events are audited between the detection's `detection.received` and `plan.decided`) and
    /// the campaign rows to write in the same transaction.
    pub fn with_campaigns(
        run_id: i64,
        items: &[Evaluation<'_>],
        notes: &[Option<&Assignment>],
        campaigns: Dirty,
        now: DateTime<Utc>,
    ) -> Result<PreparedBatch, StoreError> {
        let mut batch = PreparedBatch {
            run_id,
            received_at: timestamp(now),
            events: Vec::with_capacity(items.len() * 2),
            detections: Vec::with_capacity(items.len()),
            actions: Vec::new(),
            campaign_links: Vec::new(),
            campaigns,
        };
        for (i, item) in items.iter().enumerate() {
            match *item {
                Evaluation::Accepted {
                    line,
                    detection,
                    plan,
                } => {
                    let note = notes.get(i).copied().flatten();
                    batch.accept(now, line, detection, plan, note)?
                }
                Evaluation::Rejected {
                    line,
                    ref reason,
                    raw,
                } => batch.reject(now, line, reason, raw),
            }
        }
        Ok(batch)
    }

    /// The `updated_at` the batch gives the campaign rows it writes, and their ids.
    pub fn campaign_stamp(&self) -> (String, Vec<String>) {
        let ids = self
            .campaigns
            .campaigns
            .iter()
            .map(|c| c.id.clone())
            .collect();
        (self.received_at.clone(), ids)
    }

    fn accept(
        &mut self,
        now: DateTime<Utc>,
        line: Option<usize>,
        d: &Detection,
        plan: &Plan,
        note: Option<&Assignment>,
    ) -> Result<(), StoreError> {
        let run_id = self.run_id;
        let body = serde_json::to_string(d).map_err(json_err("a detection"))?;
        let line_json = line.map_or_else(|| "null".to_string(), |n| n.to_string());
        // The detection is serialized once and embedded as is: the audit record is its only copy.
        let received = format!(r#"{{"run_id":{run_id},"line":{line_json},"detection":{body}}}"#);
        let decided =
            serde_json::to_string(&Decided { run_id, plan }).map_err(json_err("a plan"))?;
        let subject = d.key();
        let index = self.detections.len();
        let user = d.user.as_ref();
        self.detections.push(NewDetection {
            event: self.events.len(),
            source: d.source.clone(),
            id: d.id.clone(),
            name: d.name.clone(),
            severity: d.severity.map(|s| s.as_str()),
            observed_at: timestamp(d.observed_at),
            upn: user.and_then(|u| u.upn.clone()),
            user_id: user.and_then(|u| u.id.clone()),
            line: line.map(|n| n as i64),
        });
        self.events.push(AuditEvent::with_json(
            now,
            "detection.received",
            subject.clone(),
            received,
        ));
        if let Some(note) = note {
            self.campaign_links.push((index, note.campaign.clone()));
            for event in &note.events {
                let payload = serde_json::to_value(event).map_err(json_err("a campaign event"))?;
                self.events.push(AuditEvent::new(
                    now,
                    event.kind(),
                    format!("campaign/{}", event.campaign()),
                    payload,
                ));
            }
        }
        self.events
            .push(AuditEvent::with_json(now, "plan.decided", subject, decided));
        for action in &plan.actions {
            self.actions.push(action_row(index, action)?);
        }
        Ok(())
    }

    fn reject(&mut self, now: DateTime<Utc>, line: Option<usize>, reason: &str, raw: &str) {
        let run_id = self.run_id;
        let kept = truncate(raw, RAW_LIMIT);
        let subject = match line {
            Some(n) => format!("run/{run_id}/line/{n}"),
            None => format!("run/{run_id}"),
        };
        let payload = json!({
            "run_id": run_id,
            "line": line,
            "reason": reason,
            "raw": kept,
            "raw_bytes": raw.len(),
            "truncated": kept.len() < raw.len(),
        });
        self.events
            .push(AuditEvent::new(now, "detection.rejected", subject, payload));
    }
}

/// The `plan.decided` payload, serialized straight from the plan (no intermediate JSON tree).
#[derive(serde::Serialize)]
struct Decided<'a> {
    run_id: i64,
    plan: &'a Plan,
}

fn action_row(detection: usize, action: &PlannedAction) -> Result<NewAction, StoreError> {
    let target = action.target.as_ref();
    Ok(NewAction {
        detection,
        key: action.key.clone(),
        playbook: action.playbook.clone(),
        step: action.step.clone(),
        kind: action.action.name(),
        target_upn: target.and_then(|t| t.upn.clone()),
        target_id: target.and_then(|t| t.id.clone()),
        account: target.map(|t| t.graph_id().trim().to_lowercase()),
        params: serde_json::to_string(&action.params).map_err(json_err("action params"))?,
        mode: action.mode.as_str(),
        gate: serde_json::to_string(&action.gate).map_err(json_err("an action gate"))?,
        // A read-only action (a sign-in sweep) is queued to run even in passive mode.
        status: if action.action.spec().read_only && matches!(action.gate, Gate::Automatic) {
            ActionStatus::Pending
        } else {
            action_status(action.mode, &action.gate)
        },
        reason: action.reason.clone(),
        expires_after_secs: action
            .expires_after_secs
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
    })
}

/// The longest prefix of `text` that fits in `limit` bytes without splitting a character.
pub(super) fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What the pipeline made of one input line.
#[derive(Debug, Clone)]
pub enum Evaluation<'a> {
    Accepted {
        line: Option<usize>,
        detection: &'a Detection,
        plan: &'a Plan,
    },
    Rejected {
        line: Option<usize>,
        reason: String,
        raw: &'a str,
    },
}

/// The status a freshly planned action starts in.
pub fn action_status(mode: Mode, gate: &Gate) -> ActionStatus {
    if gate.is_refused() {
        // Passive or active, it never runs: the record says so from the start.
        return ActionStatus::Refused;
    }
    match (mode, gate.needs_approval()) {
        (Mode::Passive, false) => ActionStatus::WouldExecute,
        (Mode::Passive, true) => ActionStatus::WouldRequestApproval,
        (Mode::Active, false) => ActionStatus::Pending,
        (Mode::Active, true) => ActionStatus::AwaitingApproval,
    }
}
