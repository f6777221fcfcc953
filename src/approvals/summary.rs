//! An approval request as people read it (the CLI's `approvals list | show`, the operator API):
//! the state, the target, who may decide, the round and deadline; in full, with the evidence,
//! every delivery and every decision.

use serde_json::{Value, json};

use super::{ApprovalSettings, action_hash, policy};
use crate::store::{ActionRow, Store, StoreError};
use stanch_core::vocab::ActionStatus;

/// One request in brief.
pub async fn summary(
    store: &Store,
    settings: &ApprovalSettings,
    a: &ActionRow,
) -> Result<Value, StoreError> {
    let state = match a.status {
        ActionStatus::AwaitingApproval => "pending",
        ActionStatus::WouldRequestApproval => "would_request (passive)",
        other => other.as_str(),
    };
    let policy = policy::policy_of(a, settings);
    let waiting = store.waiting_approval(a.pk).await?;
    Ok(json!({
        "id": a.pk,
        "state": state,
        "action": a.kind,
        "target": a.target_upn.as_deref().or(a.target_id.as_deref()),
        "params": a.params,
        "reasons": a.gate["reasons"],
        "approvers": policy::deciders(&policy, waiting.as_ref().map_or(0, |w| w.round)),
        "quorum": policy.quorum,
        "timeout_secs": policy.timeout_secs,
        "on_timeout": policy.on_timeout,
        "round": waiting.as_ref().map(|w| w.round),
        "deadline": waiting.as_ref().map(|w| w.deadline.clone()),
        "playbook": a.playbook,
        "step": a.step,
        "requested_at": a.created_at,
    }))
}

/// One request in full: the brief, the detection, every delivery and decision, the hash.
pub async fn detail(
    store: &Store,
    settings: &ApprovalSettings,
    row: &ActionRow,
) -> Result<Value, StoreError> {
    let mut shown = summary(store, settings, row).await?;
    shown["params"] = row.params.clone();
    shown["detection"] = store
        .detection_at(row.detection_seq)
        .await?
        .map(|d| d["detection"].clone())
        .unwrap_or(Value::Null);
    shown["deliveries"] = json!(store.deliveries(row.pk).await?);
    shown["decisions"] = json!(store.decisions(row.pk).await?);
    shown["action_hash"] = json!(action_hash(row));
    Ok(shown)
}
