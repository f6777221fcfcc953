//! The shared vocabulary every layer may use: modes, actions and their targets, approval
//! policies. A leaf: it imports nothing of stanch.

mod action;
mod approval;
mod mode;

pub use action::{ActionKind, ActionSpec, ParamKind, ParamSpec, TargetKind};
pub use approval::{ApprovalPolicy, OnTimeout};
pub use mode::Mode;
