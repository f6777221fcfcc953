//! The lifecycle every action follows, whoever carries it out.

use serde::Serialize;
use serde_json::{Value, json};

use stanch_core::engine::PlannedAction;

use stanch_core::vocab::Mode;

/// What an action's pre-check found: the state before acting, kept as evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence(pub Value);

/// What is needed to undo an action (the rules that were disabled, the group membership added...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restore(pub Value);

/// The outcome of carrying out (or, in passive mode, describing) one action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    /// `would_execute` in passive mode; `succeeded` once executed and verified.
    pub status: &'static str,
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
    #[error("{action} on {target}: {reason}")]
    Failed {
        action: String,
        target: String,
        reason: String,
    },
    #[error("{action}: cannot run in {mode} mode with this runner")]
    WrongMode { action: String, mode: Mode },
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

/// The passive runner: records exactly what would have been done, with its full parameters, and
/// contacts nothing. It refuses to pretend it executed an active action.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassiveRunner;

impl ActionRunner for PassiveRunner {
    async fn precheck(&self, action: &PlannedAction) -> Result<Evidence, ActionError> {
        Ok(Evidence(
            json!({ "passive": true, "note": format!("{} would read the current state first", action.action) }),
        ))
    }

    async fn execute(
        &self,
        action: &PlannedAction,
        evidence: &Evidence,
    ) -> Result<Execution, ActionError> {
        if action.mode != Mode::Passive {
            return Err(ActionError::WrongMode {
                action: action.action.to_string(),
                mode: action.mode,
            });
        }
        Ok(Execution {
            status: "would_execute",
            evidence: evidence.clone(),
            outcome: json!({
                "would": action.action.spec().doc,
                "target": action.target.as_ref().map(|t| t.to_string()),
                "params": action.params,
            }),
            restore: None,
        })
    }

    async fn verify(&self, _: &PlannedAction, _: &Execution) -> Result<(), ActionError> {
        Ok(())
    }

    async fn rollback(&self, _: &PlannedAction, _: &Restore) -> Result<(), ActionError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stanch_core::engine::{Gate, PlannedAction};
    use stanch_core::intake::UserRef;

    fn action(mode: Mode) -> PlannedAction {
        PlannedAction {
            key: "k".into(),
            playbook: "p".into(),
            step: "s".into(),
            action: stanch_core::vocab::ActionKind::DisableAccount,
            target: Some(UserRef {
                upn: Some("b.jones@contoso.com".into()),
                id: None,
            }),
            params: serde_json::Map::new(),
            mode,
            gate: Gate::Automatic,
            expires_after_secs: None,
            reason: "step `s` of `p`".into(),
            recorded_at: None,
        }
    }

    #[tokio::test]
    async fn passive_runner_describes_and_never_pretends_to_act() {
        let execution = PassiveRunner.run(&action(Mode::Passive)).await.unwrap();
        assert_eq!(execution.status, "would_execute");
        assert_eq!(execution.outcome["target"], "b.jones@contoso.com");
        assert!(
            execution.outcome["would"]
                .as_str()
                .unwrap()
                .contains("Block sign-in")
        );
        let refused = PassiveRunner.run(&action(Mode::Active)).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "disable_account: cannot run in active mode with this runner"
        );
    }
}
