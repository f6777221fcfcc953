//! Account-level containment: sessions, sign-in, password, Identity Protection risk.

use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::runner::{GraphRunner, target_id, target_text};
use crate::graph::{Expect, GraphError, GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;

const USER_FIELDS: &str =
    "id,userPrincipalName,accountEnabled,onPremisesSyncEnabled,signInSessionsValidFromDateTime";

fn user_path(action: &PlannedAction) -> Result<GraphPath, ActionError> {
    GraphPath::new(["users"])
        .id(target_id(action)?)
        .map_err(|e| super::runner::graph_failure(action, e))
}

/// The account as it is before acting: the evidence every account action keeps.
pub(super) async fn read_user(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let path = user_path(action)?.query("$select", USER_FIELDS);
    Ok(runner.call(action, GraphRequest::get(path)).await?.body)
}

fn done(evidence: &Evidence, outcome: Value, restore: Option<Value>) -> Execution {
    Execution {
        evidence: evidence.clone(),
        outcome,
        restore: restore.map(Restore),
    }
}

pub(super) async fn revoke(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    // Resuming after a crash: if sessions were revoked after this action was recorded, the
    // effect it wants already exists (from our interrupted attempt or anyone else). Graph keeps
    // the time to the second, so the record time is compared at that precision.
    let valid_from = evidence.0["signInSessionsValidFromDateTime"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    if let (Some(recorded), Some(valid_from)) = (action.recorded_at, valid_from)
        && valid_from.timestamp() >= recorded.timestamp()
    {
        let note = "sessions were already revoked after this action was recorded";
        return Ok(done(
            evidence,
            json!({"revoked": false, "note": note}),
            None,
        ));
    }
    let path = user_path(action)?.segment("revokeSignInSessions");
    let response = runner.call(action, GraphRequest::post(path, None)).await?;
    Ok(done(
        evidence,
        json!({"revoked": true, "status": response.status}),
        None,
    ))
}

/// Sets `accountEnabled`. Restore data records the state found, so rolling back a disable of an
/// account that was already disabled leaves it disabled.
pub(super) async fn set_enabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
    enabled: bool,
) -> Result<Execution, ActionError> {
    let was = evidence.0["accountEnabled"].as_bool();
    let restore = json!({"accountEnabled": was});
    if was == Some(enabled) {
        return Ok(done(
            evidence,
            json!({"changed": false, "accountEnabled": enabled, "note": "already in that state"}),
            Some(restore),
        ));
    }
    runner
        .call(
            action,
            GraphRequest::patch(user_path(action)?, json!({"accountEnabled": enabled}))
                .expecting(Expect::NoContent),
        )
        .await?;
    let mut outcome = json!({"changed": true, "accountEnabled": enabled});
    if evidence.0["onPremisesSyncEnabled"] == true {
        outcome["manual_step"] = json!(
            "this account is synced from on-premises AD: disable it there too, or directory sync may undo this"
        );
    }
    Ok(done(evidence, outcome, Some(restore)))
}

pub(super) async fn verify_enabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    enabled: bool,
) -> Result<(), ActionError> {
    let user = read_user(runner, action).await?;
    if user["accountEnabled"].as_bool() == Some(enabled) {
        return Ok(());
    }
    Err(ActionError::Failed {
        action: action.action.to_string(),
        target: target_text(action),
        reason: format!(
            "after the change Graph still reports accountEnabled = {}",
            user["accountEnabled"]
        ),
    })
}

pub(super) async fn restore_enabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    restore: &Restore,
) -> Result<(), ActionError> {
    let Some(was) = restore.0["accountEnabled"].as_bool() else {
        return Ok(());
    };
    runner
        .call(
            action,
            GraphRequest::patch(user_path(action)?, json!({"accountEnabled": was}))
                .expecting(Expect::NoContent),
        )
        .await?;
    verify_enabled(runner, action, was).await
}

pub(super) async fn reset_password(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let password = strong_password();
    let body =
        json!({"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": true}});
    let request = GraphRequest::patch(user_path(action)?, body).expecting(Expect::NoContent);
    match runner.call_raw(action, request).await? {
        Ok(_) => {}
        // Sent, and the answer lost: nothing Graph can be asked tells whether the password
        // changed, so the reset is not repeated on its own.
        Err(e @ (GraphError::Transport { .. } | GraphError::Deadline { sent: true, .. })) => {
            return Err(ActionError::Unverified {
                action: action.action.to_string(),
                target: target_text(action),
                reason: e.to_string(),
            });
        }
        Err(e) => return Err(super::runner::graph_failure(action, e)),
    }
    Ok(done(
        evidence,
        json!({"password_reset": true, "force_change_at_next_sign_in": true, "note": "the new password is not stored anywhere; the user recovers access through the helpdesk"}),
        None,
    ))
}

pub(super) async fn confirm_compromised(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    // riskyUsers takes object ids: use the one the pre-check read if the detection had only a UPN.
    let id = evidence.0["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or(target_id(action)?.to_string());
    let risky = GraphPath::new(["identityProtection", "riskyUsers"])
        .id(&id)
        .map_err(|e| super::runner::graph_failure(action, e))?
        .query("$select", "id,riskState,riskLevel");
    if let Ok(current) = runner.call_raw(action, GraphRequest::get(risky)).await?
        && current.body["riskState"] == "confirmedCompromised"
    {
        let outcome = json!({"confirmed_compromised": id, "changed": false, "note": "already confirmed compromised"});
        return Ok(done(evidence, outcome, None));
    }
    let path = GraphPath::new(["identityProtection", "riskyUsers", "confirmCompromised"]);
    runner
        .call(
            action,
            GraphRequest::post(path, Some(json!({"userIds": [id]}))).expecting(Expect::NoContent),
        )
        .await?;
    Ok(done(evidence, json!({"confirmed_compromised": id}), None))
}

/// 20 characters from upper, lower, digits and symbols, at least one of each.
fn strong_password() -> String {
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!@#$%^&*-_=+?",
    ];
    let mut bytes = [0u8; 40];
    // The OS random source failing is not something to recover from: no weak fallback.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    let mut password: Vec<u8> = SETS
        .iter()
        .zip(bytes.iter())
        .map(|(set, b)| set[*b as usize % set.len()])
        .collect();
    let all: Vec<u8> = SETS.concat();
    password.extend(bytes[4..20].iter().map(|b| all[*b as usize % all.len()]));
    // Shuffle so the guaranteed characters are not always first.
    for i in (1..password.len()).rev() {
        let j = bytes[20 + i % 20] as usize % (i + 1);
        password.swap(i, j);
    }
    String::from_utf8(password).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_mixed_and_different() {
        let a = strong_password();
        let b = strong_password();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(
            a.chars().any(|c| c.is_ascii_uppercase()) && a.chars().any(|c| c.is_ascii_lowercase())
        );
        assert!(
            a.chars().any(|c| c.is_ascii_digit()) && a.chars().any(|c| !c.is_ascii_alphanumeric())
        );
    }
}
