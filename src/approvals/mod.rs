//! Human approvals of gated actions: who may decide, bound to the exact action.
//!
//! A decision names the approver, is refused (and the refusal audited) when that person may not
//! decide, and is bound to the hash of the action as it was requested; before a gated action runs
//! its hash is checked again, so an approval never carries over to a different action. Chat
//! channels (Slack, Teams, signed links) feed the same `decide`.

pub mod channels;
pub mod dispatch;
mod outcome;
pub mod policy;
pub mod request;
mod settings;
pub mod slack;
pub mod summary;
mod target;
pub mod teams;

// The approval-link token is pure (and fuzzed), so it lives in the core; its path stays here.
pub use stanch_core::signing::link;

pub use channels::Channels;
pub use dispatch::Dispatcher;
pub use outcome::{Outcome, describe};
pub use settings::{
    ApprovalSettings, DEFAULT_SLACK_API_URL, MAX_SIGNING_SECRETS, SlackSettings, TeamsSettings,
    WebhookSettings,
};

use chrono::Utc;
use serde_json::json;

use crate::actions::GraphRunner;
use crate::store::{ActionRow, DecisionEffect, DecisionError, NewDecision, Store, StoreError};
use stanch_core::audit::{Actor, AuditEvent};
use stanch_core::util::sha256_hex;
use stanch_core::vocab::Decision;

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no action #{0}")]
    NotFound(i64),
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Decision(#[from] DecisionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The hash of an action as requested: kind, target, parameters, playbook and step.
pub fn action_hash(row: &ActionRow) -> String {
    let material = json!([
        row.idempotency_key,
        row.kind,
        row.target_upn,
        row.target_id,
        row.params,
        row.playbook,
        row.step
    ]);
    sha256_hex(material.to_string().as_bytes())
}

/// Who is deciding what, through which channel.
#[derive(Debug, Clone)]
pub struct DecisionRequest<'a> {
    pub pk: i64,
    pub approver: &'a str,
    pub approve: bool,
    pub reason: &'a str,
    /// `cli`, `link`, `slack`, ...
    pub channel: &'a str,
    /// SHA-256 of the raw request that carried the decision (chat payload, form body), for the
    /// audit trail.
    pub raw_sha256: Option<String>,
    /// Who is deciding, as established by the channel: a validated token (the operator API),
    /// the OS user (the CLI); `None` where the channel itself vouches for `approver` (a signed
    /// link, a verified Slack click).
    pub actor: Option<&'a Actor>,
}

/// What deciding needs: the store, the directory (group membership), the configured defaults.
#[derive(Clone, Copy)]
pub struct Deciding<'a> {
    pub store: &'a Store,
    pub directory: Option<&'a GraphRunner>,
    pub settings: &'a ApprovalSettings,
}

/// Records a decision on a gated action, after checking the person may make it. Every refusal
/// is audited.
pub async fn decide(
    ctx: Deciding<'_>,
    req: &DecisionRequest<'_>,
) -> Result<DecisionEffect, ApprovalError> {
    let row = ctx
        .store
        .action(req.pk)
        .await?
        .ok_or(ApprovalError::NotFound(req.pk))?;
    let refusal = match may_decide(ctx, &row, req.approver).await {
        Ok(()) if req.reason.trim().is_empty() => Some("a decision needs a reason".to_string()),
        Ok(()) => None,
        Err(why) => Some(why),
    };
    if let Some(why) = refusal {
        let event = AuditEvent::new(
            Utc::now(),
            "approval.refused",
            format!("action/{}", req.pk),
            json!({"approver": req.approver, "approve": req.approve, "channel": req.channel,
                   "why": why, "raw_sha256": req.raw_sha256, "actor": req.actor}),
        );
        ctx.store.append_audit(&[event]).await?;
        return Err(ApprovalError::Refused(why));
    }
    let policy = policy::policy_of(&row, ctx.settings);
    let decision = NewDecision {
        action_pk: req.pk,
        approver: req.approver,
        approve: req.approve,
        reason: req.reason,
        channel: req.channel,
        action_hash: &action_hash(&row),
        quorum: i64::from(policy.quorum.max(1)),
        raw_sha256: req.raw_sha256.as_deref(),
        actor: req.actor,
        at: Utc::now(),
    };
    Ok(ctx.store.record_decision(&decision).await?)
}

/// Whether `approver` may decide on `row` (and so may be sent a signed link for it); why not.
pub async fn may_decide(ctx: Deciding<'_>, row: &ActionRow, approver: &str) -> Result<(), String> {
    if approver.trim().is_empty() {
        return Err("the approver must be named".into());
    }
    if target::is_the_target(ctx.directory, row, approver).await? {
        return Err(format!(
            "{approver} is the account this action targets and cannot approve it"
        ));
    }
    let detection = ctx
        .store
        .detection_at(row.detection_seq)
        .await
        .ok()
        .flatten();
    let requester = detection
        .as_ref()
        .and_then(|d| d["detection"]["details"]["requested_by"].as_str());
    if requester.is_some_and(|r| r.eq_ignore_ascii_case(approver)) {
        return Err(format!(
            "{approver} requested this action and cannot also approve it (four eyes)"
        ));
    }
    let policy = policy::policy_of(row, ctx.settings);
    let round = ctx
        .store
        .waiting_approval(row.pk)
        .await
        .ok()
        .flatten()
        .map_or(0, |w| w.round);
    let listed = policy::deciders(&policy, round);
    if listed.is_empty() || policy::is_listed(ctx.directory, &listed, approver).await? {
        return Ok(());
    }
    Err(format!(
        "{approver} is not among the approvers of this step: {}",
        listed.join(", ")
    ))
}

/// The channel of decisions a timeout made.
pub const TIMEOUT_CHANNEL: &str = "timeout";

/// Before a gated action runs: a quorum of approvals, no denial, and every approval for the
/// action exactly as it is now.
pub async fn approvals_still_match(store: &Store, row: &ActionRow) -> Result<bool, StoreError> {
    if !row.is_gated() {
        return Ok(true);
    }
    let hash = action_hash(row);
    let decisions = store.decisions(row.pk).await?;
    let approvals: Vec<_> = decisions
        .iter()
        .filter(|d| d.decision == Decision::Approve)
        .collect();
    let quorum = row.gate["policy"]["quorum"].as_u64().unwrap_or(1).max(1) as usize;
    let denied = decisions.iter().any(|d| d.decision == Decision::Deny);
    let all_for_this_action = approvals.iter().all(|d| d.action_hash == hash);
    // A timeout that approves (only ever for a gate the step alone asked for) stands for the quorum.
    let by_timeout = approvals.iter().any(|d| d.channel == TIMEOUT_CHANNEL);
    Ok(!denied && all_for_this_action && (by_timeout || approvals.len() >= quorum))
}
