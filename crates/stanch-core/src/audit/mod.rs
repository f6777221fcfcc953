//! The audit trail: a tamper-evident, append-only, hash-chained log of everything stanch decided
//! and did. Pure: sealing and verifying records does no I/O, so the same code checks the trail in
//! the database and an exported JSONL copy.

mod actor;
mod chain;
mod verify;

pub use actor::Actor;
pub use chain::{AuditEvent, AuditRecord, ChainHead, GENESIS_HASH, seal, seal_all};
pub use verify::{Problem, ProblemKind, VerifyReport, verify};
