//! The shared vocabulary every layer may use: modes, actions and their targets, approval
//! policies, and the states actions, approvals and jobs pass through. A leaf: it imports nothing of stanch.

mod action;
mod approval;
mod mode;
mod status;

pub use action::{ActionKind, ActionSpec, ParamKind, ParamSpec, TargetKind};
pub use approval::{ApprovalPolicy, OnTimeout};
pub use mode::Mode;
pub use status::{ActionOutcome, ActionStatus, ApprovalState, Decision, JobOutcome, UnknownState};
