//! The engine's output: a plan of concrete actions, each saying which playbook and step asked for
//! it and why. Plans are boundary types: they are persisted, audited and printed as JSON.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::intake::UserRef;
use crate::rails::Refusal;
use crate::vocab::{ActionKind, ApprovalPolicy, Mode};

/// What must happen before an action may run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// Runs without a human (in active mode).
    Automatic,
    /// Waits for a human decision. `reasons` says why (the step asks for it, a protected account...).
    Approval {
        reasons: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        policy: Option<ApprovalPolicy>,
    },
    /// Never runs, in any mode, and no approval changes that: the rails refuse what it would do
    /// (IP ranges whose blocking would lock the company out). `refused` names each and why.
    Refused { refused: Vec<Refusal> },
}

impl Gate {
    pub fn needs_approval(&self) -> bool {
        matches!(self, Gate::Approval { .. })
    }

    pub fn is_refused(&self) -> bool {
        matches!(self, Gate::Refused { .. })
    }
}

/// One concrete action the engine decided on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    /// Deterministic idempotency key: the same detection, playbook, step and target always
    /// produce the same key, so a replay or a crash-restart can never act twice.
    pub key: String,
    pub playbook: String,
    pub step: String,
    pub action: ActionKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<UserRef>,
    pub params: Map<String, Value>,
    pub mode: Mode,
    #[serde(flatten)]
    pub gate: Gate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_after_secs: Option<u64>,
    /// Why: the playbook's match, the step's condition, and anything that changed the gate.
    pub reason: String,
    /// When the action was recorded, for executors resuming it later: state changed since then
    /// (sessions revoked, risk confirmed) means the effect already exists. The engine leaves it
    /// empty; it is not part of the plan.
    #[serde(skip)]
    pub recorded_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A playbook that matched the detection, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaybookMatch {
    pub playbook: String,
    /// SHA-256 of the playbook file, so the audit trail proves which version decided.
    pub digest: String,
    pub reason: String,
}

/// A step of a matched playbook that was not planned, and why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedStep {
    pub playbook: String,
    pub step: String,
    pub reason: String,
}

/// Everything the engine decided about one detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub detection: String,
    /// The campaign the detection was assigned to before planning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The clock the plan was made with: the detection's own `observed_at`, so replays agree.
    pub evaluated_at: String,
    pub matched: Vec<PlaybookMatch>,
    pub actions: Vec<PlannedAction>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedStep>,
}
