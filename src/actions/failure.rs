//! How a failure of an action's Graph call (or of its audit record) becomes an [`ActionError`]:
//! transient failures are retried later by the worker, the others are final, and a refusal the
//! app lacks the role for goes to a person.

use super::lifecycle::ActionError;
use crate::graph::GraphError;
use crate::store::StoreError;
use stanch_core::engine::PlannedAction;

/// A failure of `action` for `reason`: [`ActionError::Transient`] (retried later) or final.
pub(super) fn failure(action: &PlannedAction, reason: String, transient: bool) -> ActionError {
    let (name, target) = (action.action.to_string(), target_text(action));
    if transient {
        ActionError::Transient {
            action: name,
            target,
            reason,
        }
    } else {
        ActionError::Failed {
            action: name,
            target,
            reason,
        }
    }
}

/// A Graph failure as an action failure: a 403 means a human must act (e.g. a privileged
/// account the app may not change), and is never retried.
pub(super) fn graph_failure(action: &PlannedAction, error: GraphError) -> ActionError {
    if error.is_forbidden() {
        return ActionError::NeedsHuman {
            action: action.action.to_string(),
            target: target_text(action),
            reason: format!(
                "Graph refused ({}); the app lacks the role to change this account, so a person must: {error}",
                error.code().unwrap_or("403")
            ),
        };
    }
    let transient = error.is_transient();
    failure(action, error.to_string(), transient)
}

pub(super) fn target_text(action: &PlannedAction) -> String {
    action
        .target
        .as_ref()
        .map(|t| t.to_string())
        .unwrap_or_else(|| "the tenant".to_string())
}

/// The identifier to put in Graph paths for the action's target.
pub(super) fn target_id(action: &PlannedAction) -> Result<&str, ActionError> {
    action
        .target
        .as_ref()
        .map(|t| t.graph_id())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ActionError::Failed {
            action: action.action.to_string(),
            target: "nobody".into(),
            reason: "the action has no target account".into(),
        })
}

/// Nothing was sent because the audit trail could not be written: worth trying again later when
/// the database was only away, or when this replica's lease on the action may have lapsed (the
/// pre-check or the claim decides then); final otherwise.
pub(super) fn audit_failure(action: &PlannedAction, e: StoreError) -> ActionError {
    let transient = e.is_unavailable() || matches!(e, StoreError::LeaseLost(_));
    failure(
        action,
        format!("cannot write the audit trail, so nothing was sent: {e}"),
        transient,
    )
}
