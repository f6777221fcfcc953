//! Inbox rules: keep every rule as evidence, disable the risky ones, re-enable exactly those on
//! rollback. Mailbox-level SMTP forwarding is not reachable through Graph and is reported as a
//! manual step.

use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::rules::assess;
use super::runner::{GraphRunner, graph_failure, target_id, target_text};
use crate::graph::{Expect, GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;

const MANUAL_FORWARDING: &str = "Graph cannot read or change mailbox-level forwarding: check it in Exchange Online PowerShell \
     (Get-Mailbox <upn> | fl ForwardingSmtpAddress,DeliverToMailboxAndForward; clear with Set-Mailbox <upn> -ForwardingSmtpAddress $null)";

/// Every documented messageRule property: the evidence keeps rules whole.
const RULE_FIELDS: &str =
    "id,displayName,sequence,isEnabled,hasError,isReadOnly,conditions,exceptions,actions";

fn rules_path(action: &PlannedAction) -> Result<GraphPath, ActionError> {
    GraphPath::new(["users"])
        .id(target_id(action)?)
        .map(|p| {
            p.segment("mailFolders")
                .segment("inbox")
                .segment("messageRules")
        })
        .map_err(|e| graph_failure(action, e))
}

fn rule_path(action: &PlannedAction, rule_id: &str) -> Result<GraphPath, ActionError> {
    rules_path(action)?
        .opaque(rule_id)
        .map_err(|e| graph_failure(action, e))
}

fn mailbox(action: &PlannedAction) -> String {
    target_id(action).unwrap_or_default().to_lowercase()
}

/// Every rule, in full: the evidence. The list may be incomplete (rules hidden from REST exist).
pub(super) async fn read_rules(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let path = rules_path(action)?.query("$select", RULE_FIELDS);
    let request = GraphRequest::get(path).with_mailbox(mailbox(action));
    let body = runner.call(action, request).await?.body;
    Ok(json!({"rules": body["value"].clone()}))
}

pub(super) async fn disable_rules(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let any_move = action.params.get("include_move_to_folder") == Some(&Value::Bool(true));
    let delete = action.params.get("delete") == Some(&Value::Bool(true));
    let mut disabled = Vec::new();
    let mut deleted = Vec::new();
    let mut untouched = Vec::new();
    let mut refused = Vec::new();
    for rule in evidence.0["rules"].as_array().into_iter().flatten() {
        let id = rule["id"].as_str().unwrap_or_default();
        let reasons = assess(rule, any_move);
        if reasons.is_empty() {
            untouched.push(json!({"id": id, "displayName": rule["displayName"]}));
            continue;
        }
        if rule["isReadOnly"] == true {
            refused.push(json!({"id": id, "displayName": rule["displayName"], "reasons": reasons, "why": "read-only: REST cannot change it"}));
            continue;
        }
        if rule["isEnabled"] == true {
            let request = GraphRequest::patch(rule_path(action, id)?, json!({"isEnabled": false}))
                .expecting(Expect::Json)
                .with_mailbox(mailbox(action));
            runner.call(action, request).await?;
            disabled
                .push(json!({"id": id, "displayName": rule["displayName"], "reasons": reasons}));
        }
        if delete {
            let request = GraphRequest::delete(rule_path(action, id)?)
                .expecting(Expect::NoContent)
                .with_mailbox(mailbox(action));
            runner.call(action, request).await?;
            deleted.push(id.to_string());
        }
    }
    let mut manual_steps = vec![Value::String(MANUAL_FORWARDING.to_string())];
    manual_steps.extend(refused.iter().map(|r| {
        json!(format!(
            "remove read-only rule `{}` by hand: {}",
            r["displayName"].as_str().unwrap_or_default(),
            r["reasons"]
        ))
    }));
    let ids: Vec<&Value> = disabled
        .iter()
        .map(|r| &r["id"])
        .filter(|id| !deleted.iter().any(|d| *id == d.as_str()))
        .collect();
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({"disabled": disabled, "deleted": deleted, "untouched": untouched, "refused": refused, "manual_steps": manual_steps}),
        // Deleted rules cannot come back; only the ones merely disabled are restored.
        restore: Some(Restore(json!({"reenable": ids}))),
    })
}

pub(super) async fn verify_disabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    execution: &Execution,
) -> Result<(), ActionError> {
    let wanted: Vec<&str> = execution.outcome["disabled"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let now = read_rules(runner, action).await?;
    let still_on: Vec<&str> = now["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["isEnabled"] == true && r["id"].as_str().is_some_and(|id| wanted.contains(&id))
        })
        .filter_map(|r| r["id"].as_str())
        .collect();
    if still_on.is_empty() {
        return Ok(());
    }
    Err(ActionError::Failed {
        action: action.action.to_string(),
        target: target_text(action),
        reason: format!(
            "rules still enabled after disabling them: {}",
            still_on.join(", ")
        ),
    })
}

pub(super) async fn reenable_rules(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    for id in restore.ids("reenable") {
        let request = GraphRequest::patch(rule_path(action, id)?, json!({"isEnabled": true}))
            .expecting(Expect::Json)
            .with_mailbox(mailbox(action));
        match runner.call_raw(action, request).await? {
            Ok(_) => {}
            // A rule the user has since deleted is not ours to bring back.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(graph_failure(action, e)),
        }
    }
    Ok(())
}
