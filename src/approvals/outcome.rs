//! How a wait for approval ended (or moved on), in the shape every channel updates its
//! messages from. A leaf of `approvals`: the channels use it, it uses none of them.

use serde::Serialize;
use stanch_core::vocab::ApprovalState;

/// How a wait for approval ended (or moved on), for updating what was delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub action: i64,
    pub state: ApprovalState,
    /// Who decided, when a person did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub text: String,
}

/// How a recorded decision reads in a channel: a state label and a sentence.
pub fn describe(effect: &crate::store::DecisionEffect, by: &str) -> (ApprovalState, String) {
    use crate::store::DecisionEffect;
    match effect {
        DecisionEffect::Approved { .. } => (ApprovalState::Approved, format!("Approved by {by}")),
        DecisionEffect::Denied => (ApprovalState::Denied, format!("Denied by {by}")),
        DecisionEffect::Waiting { approvals, quorum } => (
            ApprovalState::Waiting,
            format!("{by} approved; {approvals} of {quorum} approvals so far"),
        ),
    }
}
