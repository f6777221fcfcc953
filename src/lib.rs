//! stanch: an autonomous, auditable response orchestrator for Microsoft 365 account compromise.
//!
//! The pipeline, one module per stage:
//! `intake` (detections in) → `playbook` (compiled rules) → `engine` (pure planning) →
//! `actions` (plan → execute → verify → rollback) → `store` + `audit` (durable, hash-chained record).
//! `cli` is the thin edge that wires them together.

pub mod actions;
pub mod approvals;
pub mod audit;
pub mod campaign;
pub mod cli;
pub mod config;
pub use stanch_emulate as emulate;
pub mod engine;
pub mod graph;
pub mod http;
pub mod intake;
pub mod pipeline;
pub mod playbook;
pub mod rails;
pub mod report;
pub mod schedule;
pub mod secret;
pub mod signing;
pub mod store;
pub mod util;
pub mod vocab;
pub mod yaml;
