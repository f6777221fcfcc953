//! stanch: an autonomous, auditable response orchestrator for Microsoft 365 account compromise.
//!
//! The pipeline reads one way, each layer using only those below it:
//! `intake` (detections in) → `campaign` (grouping) → `engine` (pure planning), all in
//! `stanch-core` → `store` (detections, plans, the work queue, the hash-chained audit trail) →
//! `actions` (pre-check → execute → verify → rollback) → `graph`. `pipeline` is the glue that
//! carries a detection through them; `approvals` and `schedule` work beside it; `http` routes
//! requests to it; `config` assembles every component's settings; `cli` is the thin edge.

pub mod actions;
pub mod approvals;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod forward;
pub mod graph;
pub mod http;
pub mod pipeline;
pub mod schedule;
pub mod store;

// The pure core and the emulator are crates of their own; their modules keep their paths here.
pub use stanch_core::{
    audit, campaign, engine, intake, playbook, rails, report, secret, signing, util, vocab, yaml,
};
pub use stanch_emulate as emulate;
