//! The lifecycle every action follows, whoever carries it out.

use serde::Serialize;
use serde_json::Value;

use stanch_core::engine::PlannedAction;
use stanch_core::rails::Refusal;

/// What an action's pre-check found: the state before acting, kept as evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence(pub Value);

/// What is needed to undo an action (the rules that were disabled, the group membership added...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restore(pub Value);

impl Restore {
    /// The string ids listed under `key` (the rules or devices to enable again...).
    pub fn ids(&self, key: &str) -> Vec<&str> {
        self.0[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }
}

/// What carrying out one action did (passive mode carries out none: the plan is the record).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub evidence: Evidence,
    pub outcome: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<Restore>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{action} on {target}: needs a human: {reason}")]
    NeedsHuman {
        action: String,
        target: String,
        reason: String,
    },
    /// Graph stayed throttled or unreachable through the client's retries: worth another try later.
    #[error("{action} on {target}: {reason}")]
    Transient {
        action: String,
        target: String,
        reason: String,
    },
    /// A write whose effect no read can prove (a password reset) was sent and its answer lost
    /// (a timeout, the deadline): it may have happened, so it is not retried on its own.
    #[error("{action} on {target}: may or may not have happened, so it is not repeated: {reason}")]
    Unverified {
        action: String,
        target: String,
        reason: String,
    },
    /// The rails refuse what the action would do (IP ranges whose blocking would lock the
    /// company out, a named location stanch must not change), found before anything was sent.
    /// Final: neither a retry nor an approval changes it. `refused` names each range and why.
    #[error("{action} on {target}: refused, nothing was sent: {reason}")]
    Refused {
        action: String,
        target: String,
        reason: String,
        refused: Vec<Refusal>,
    },
    #[error("{action} on {target}: {reason}")]
    Failed {
        action: String,
        target: String,
        reason: String,
    },
}

impl ActionError {
    /// The ranges a refusal names (none for other errors, or a refusal of the whole action).
    pub fn refusals(&self) -> &[Refusal] {
        match self {
            ActionError::Refused { refused, .. } => refused,
            _ => &[],
        }
    }
}

/// Carries out planned actions: pre-check → execute → verify, and rollback from restore data.
///
/// Implementations must be idempotent: running an action twice, or resuming after a crash, does
/// not fail and does not act twice.
#[allow(async_fn_in_trait)]
pub trait ActionRunner {
    /// Reads the current state that the action would change, as evidence.
    async fn precheck(&self, action: &PlannedAction) -> Result<Evidence, ActionError>;
    /// Performs the action, returning what it did and what would undo it.
    async fn execute(
        &self,
        action: &PlannedAction,
        evidence: &Evidence,
    ) -> Result<Execution, ActionError>;
    /// Reads the state again and confirms the action took effect.
    async fn verify(
        &self,
        action: &PlannedAction,
        execution: &Execution,
    ) -> Result<(), ActionError>;
    /// Undoes a reversible action from its restore data.
    async fn rollback(&self, action: &PlannedAction, restore: &Restore) -> Result<(), ActionError>;

    /// The whole lifecycle for one action.
    async fn run(&self, action: &PlannedAction) -> Result<Execution, ActionError> {
        let evidence = self.precheck(action).await?;
        let execution = self.execute(action, &evidence).await?;
        self.verify(action, &execution).await?;
        Ok(execution)
    }
}
