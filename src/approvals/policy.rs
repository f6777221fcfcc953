//! Which policy governs a gated action, who is asked in which round, and who may decide.

use serde_json::Value;

use super::settings::ApprovalSettings;
use crate::actions::GraphRunner;
use crate::graph::DirectorySet;
use crate::store::ActionRow;
use stanch_core::vocab::{ApprovalPolicy, OnTimeout};

/// The timeout of gates that have no policy at all (neither the step nor `approvals.default`).
const FALLBACK_TIMEOUT_SECS: u64 = 30 * 60;

/// The step's own policy, else the configured default, else "anyone but the target, once,
/// denied after 30 minutes".
pub fn policy_of(row: &ActionRow, settings: &ApprovalSettings) -> ApprovalPolicy {
    serde_json::from_value(row.gate["policy"].clone())
        .ok()
        .or_else(|| settings.default_policy.clone())
        .unwrap_or(ApprovalPolicy {
            approvers: Vec::new(),
            quorum: 1,
            timeout_secs: FALLBACK_TIMEOUT_SECS,
            on_timeout: OnTimeout::Deny,
            escalate_to: Vec::new(),
            channels: Vec::new(),
        })
}

/// Who is asked in `round`: the approvers first, the escalation audience after a timeout.
pub fn audience(policy: &ApprovalPolicy, round: i64) -> &[String] {
    if round == 0 {
        &policy.approvers
    } else {
        &policy.escalate_to
    }
}

/// Who may decide once `round` was reached: escalation widens the audience, it never narrows it.
pub fn deciders(policy: &ApprovalPolicy, round: i64) -> Vec<String> {
    let mut all = policy.approvers.clone();
    if round > 0 {
        all.extend(policy.escalate_to.iter().cloned());
    }
    all
}

/// The gate reason the engine writes when a step asks for approval.
const STEP_REASON_PREFIX: &str = "step `";

/// A timeout may approve only what nothing but the step itself gated: an action on a protected
/// account, or one held back by a budget, always needs a person.
pub fn timeout_may_approve(row: &ActionRow) -> bool {
    let reasons = row.gate["reasons"].as_array();
    reasons.is_some_and(|r| {
        !r.is_empty()
            && r.iter().all(|reason| {
                reason
                    .as_str()
                    .is_some_and(|t| t.starts_with(STEP_REASON_PREFIX))
            })
    })
}

/// The people an audience names: UPNs and object ids as written, `group:` members resolved
/// through Graph (when there is a connection; otherwise the group is left out).
pub async fn people(directory: Option<&GraphRunner>, audience: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for who in audience {
        if let Some((collection, name)) = directory_set(who) {
            let Some(directory) = directory else { continue };
            match set_members(directory, collection, name).await {
                Ok(members) => out.extend(
                    members
                        .iter()
                        .filter_map(|m| m["userPrincipalName"].as_str().map(str::to_string)),
                ),
                Err(e) => tracing::warn!(approvers = %who, error = %e, "cannot resolve approvers"),
            }
        } else if !who.contains(':') {
            out.push(who.clone());
        }
    }
    out.sort_by_key(|p| p.to_ascii_lowercase());
    out.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    out
}

/// Whether `approver` is named by `listed` (directly or through a group).
pub(super) async fn is_listed(
    directory: Option<&GraphRunner>,
    listed: &[String],
    approver: &str,
) -> Result<bool, String> {
    if listed.iter().any(|a| a.eq_ignore_ascii_case(approver)) {
        return Ok(true);
    }
    for (who, (collection, name)) in listed.iter().filter_map(|a| Some((a, directory_set(a)?))) {
        let Some(directory) = directory else {
            return Err(format!(
                "approvers include `{who}`, whose members can only be checked with a `graph` connection"
            ));
        };
        let members = set_members(directory, collection, name).await?;
        let found = members.iter().any(|m| {
            ["userPrincipalName", "id", "mail"].iter().any(|k| {
                m[k].as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(approver))
            })
        });
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `group:NAME` and `role:NAME` name a directory set and a display name in it.
fn directory_set(who: &str) -> Option<(DirectorySet, &str)> {
    who.strip_prefix("group:")
        .map(|g| (DirectorySet::Group, g))
        .or_else(|| who.strip_prefix("role:").map(|r| (DirectorySet::Role, r)))
}

async fn set_members(
    directory: &GraphRunner,
    set: DirectorySet,
    name: &str,
) -> Result<Vec<Value>, String> {
    directory.client().named_members(set, name).await
}
