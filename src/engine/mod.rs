//! The engine: (detection, compiled playbooks, clock, what the store knows) → plan.
//!
//! **The engine does no I/O.** It is pure and deterministic: the same inputs always give the same
//! plan, which is what makes replays and the playbooks' own tests trustworthy.

mod plan;

pub use plan::{ApprovalPolicy, Gate, Mode, OnTimeout, Plan, PlannedAction, PlaybookMatch, SkippedStep};
