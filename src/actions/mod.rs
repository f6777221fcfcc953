//! Actions: the containment vocabulary playbooks may use, and the lifecycle every action follows.
//!
//! Each action goes plan → pre-check (read current state as evidence) → execute → verify →
//! (later) rollback from the recorded restore data. Only this module will talk to Graph; in
//! passive mode the [`PassiveRunner`] records what would have been done and touches nothing.

mod lifecycle;
pub mod rules;
mod spec;

pub use lifecycle::{ActionError, ActionRunner, Evidence, Execution, PassiveRunner, Restore};
pub use spec::{ActionKind, ActionSpec, ParamKind, ParamSpec, TargetKind};
