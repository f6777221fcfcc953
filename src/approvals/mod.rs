//! Human approvals of gated actions: who may decide, bound to the exact action.
//!
//! A decision names the approver, is refused (and the refusal audited) when that person may not
//! decide, and is bound to the hash of the action as it was requested; before a gated action runs
//! its hash is checked again, so an approval never carries over to a different action. Chat
//! channels (Slack, Teams, signed links) feed the same `decide`.

pub mod link;

use chrono::Utc;
use serde_json::{Value, json};

use crate::actions::GraphRunner;
use crate::audit::AuditEvent;
use crate::graph::{GraphPath, GraphRequest};
use crate::store::{ActionRow, DecisionEffect, DecisionError, NewDecision, Store, StoreError};
use crate::util::sha256_hex;

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

/// Records `approver`'s decision on action `pk`, after checking they may make it.
pub async fn decide(
    store: &Store,
    directory: Option<&GraphRunner>,
    pk: i64,
    approver: &str,
    approve: bool,
    reason: &str,
    channel: &str,
) -> Result<DecisionEffect, ApprovalError> {
    let row = store.action(pk).await?.ok_or(ApprovalError::NotFound(pk))?;
    let refusal = match check(directory, &row, approver).await {
        Ok(()) if reason.trim().is_empty() => Some("a decision needs a reason".to_string()),
        Ok(()) => None,
        Err(why) => Some(why),
    };
    if let Some(why) = refusal {
        let event = AuditEvent::new(
            Utc::now(),
            "approval.refused",
            format!("action/{pk}"),
            json!({"approver": approver, "approve": approve, "channel": channel, "why": why}),
        );
        store.append_audit(&[event]).await?;
        return Err(ApprovalError::Refused(why));
    }
    let quorum = row.gate["policy"]["quorum"].as_i64().unwrap_or(1).max(1);
    let decision = NewDecision {
        action_pk: pk,
        approver,
        approve,
        reason,
        channel,
        action_hash: &action_hash(&row),
        quorum,
        at: Utc::now(),
    };
    Ok(store.record_decision(&decision).await?)
}

/// Whether `approver` may decide on `row`.
async fn check(
    directory: Option<&GraphRunner>,
    row: &ActionRow,
    approver: &str,
) -> Result<(), String> {
    if approver.trim().is_empty() {
        return Err("the approver must be named".into());
    }
    let is_target = [row.target_upn.as_deref(), row.target_id.as_deref()]
        .into_iter()
        .flatten()
        .any(|t| t.eq_ignore_ascii_case(approver));
    if is_target {
        return Err(format!(
            "{approver} is the account this action targets and cannot approve it"
        ));
    }
    let listed: Vec<&str> = row.gate["policy"]["approvers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if listed.is_empty() || listed.iter().any(|a| a.eq_ignore_ascii_case(approver)) {
        return Ok(());
    }
    for group in listed.iter().filter_map(|a| a.strip_prefix("group:")) {
        let Some(directory) = directory else {
            return Err(format!(
                "approvers include `group:{group}`, whose members can only be checked with a `graph` connection"
            ));
        };
        if is_member(directory, group, approver).await? {
            return Ok(());
        }
    }
    Err(format!(
        "{approver} is not among the approvers of this step: {}",
        listed.join(", ")
    ))
}

/// Resolves a group by display name and checks membership (reads only).
async fn is_member(directory: &GraphRunner, group: &str, approver: &str) -> Result<bool, String> {
    let client = directory.client();
    let groups = client
        .get_pages(GraphPath::new(["groups"]), 20)
        .await
        .map_err(|e| format!("cannot read groups: {e}"))?;
    let Some(id) = groups
        .items
        .iter()
        .find(|g| {
            g["displayName"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(group))
        })
        .and_then(|g| g["id"].as_str())
    else {
        return Err(format!("no group named `{group}` in the directory"));
    };
    let path = GraphPath::new(["groups"])
        .opaque(id)
        .map_err(|e| e.to_string())?
        .segment("members");
    let members = client
        .send(GraphRequest::get(path))
        .await
        .map_err(|e| format!("cannot read the members of `{group}`: {e}"))?;
    Ok(members.body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| {
            ["userPrincipalName", "id", "mail"].iter().any(|k| {
                m[k].as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(approver))
            })
        }))
}

/// Before a gated action runs: a quorum of approvals, no denial, and every approval for the
/// action exactly as it is now.
pub async fn approvals_still_match(store: &Store, row: &ActionRow) -> Result<bool, StoreError> {
    if row.gate["gate"] != "approval" {
        return Ok(true);
    }
    let hash = action_hash(row);
    let decisions = store.decisions(row.pk).await?;
    let approvals: Vec<_> = decisions
        .iter()
        .filter(|d| d.decision == "approve")
        .collect();
    let quorum = row.gate["policy"]["quorum"].as_u64().unwrap_or(1).max(1) as usize;
    let denied = decisions.iter().any(|d| d.decision == "deny");
    Ok(!denied && approvals.len() >= quorum && approvals.iter().all(|d| d.action_hash == hash))
}
