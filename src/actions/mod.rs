//! Actions: the containment vocabulary playbooks may use, and the lifecycle every action follows.
//!
//! Each action goes plan → pre-check (read current state as evidence) → execute → verify →
//! (later) rollback from the recorded restore data. **Only this module talks to Graph**, through
//! [`GraphRunner`], which audits every request before sending it and every answer after. In
//! passive mode nothing here runs (read-only sweeps aside): the stored plan is the record of what
//! would have been done.

mod access;
mod access_pass;
mod account;
mod apps;
mod auth_methods;
mod block_ips;
mod consents;
mod devices;
mod dispatch;
mod execute;
mod expiry;
mod failure;
mod fence;
mod identity;
mod ip_rails;
mod lifecycle;
mod mailbox;
mod notify;
mod pages;
mod purge;
mod purge_defender;
mod purge_recipients;
mod purge_wave;
pub mod rules;
mod runner;
pub mod safety;
mod settings;
mod setup;
mod stored;
mod sweep;
mod tenant_object;
mod trace_cache;
mod undo;
mod window;

pub use execute::{ActionResult, execute, planned_from_row, runs_automatically};
pub use expiry::{
    EXPIRE_PER_RUN, ExpiryItem, ExpiryJobError, ExpiryOutcome, ExpiryReport, expire_due,
};
pub use identity::{Directory, IDENTITY_TTL, Identities, Identity, IdentityError};
pub use lifecycle::{ActionError, ActionRunner, Evidence, Execution, Restore};
pub use runner::{GraphRunner, GraphStats};
pub use safety::{Safety, Screening};
pub use settings::{ContainmentSettings, PurgeBackend};
pub use setup::{LegacyAuthSetup, SetupError, SetupOptions, Step, setup_legacy_auth};
pub use stored::MAX_STORED_EVIDENCE_BYTES;
pub use sweep::MAX_IPS as SWEEP_MAX_IPS;
pub use undo::{RollbackError, Undo, rollback, undo};

#[cfg(test)]
mod apps_tests;
#[cfg(test)]
mod persistence_tests;
#[cfg(test)]
mod purge_defender_tests;
#[cfg(test)]
mod purge_tests;
#[cfg(test)]
mod tests;
