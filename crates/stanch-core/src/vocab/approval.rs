//! The approval policy a gated step carries: the shared shape of playbooks, config and approvals.

use serde::{Deserialize, Serialize};

/// Who may approve a step, how many must, and what happens when nobody answers in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    pub approvers: Vec<String>,
    pub quorum: u32,
    pub timeout_secs: u64,
    pub on_timeout: OnTimeout,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalate_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    Deny,
    /// Only for gates a step asked for: a protected account or a spent budget is never
    /// approved by a timeout (it is denied instead).
    Approve,
    Escalate,
}
