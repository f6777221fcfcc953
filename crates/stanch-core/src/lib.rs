//! stanch's pure core, in the order the layers use each other (each only uses those above it):
//!
//! - `vocab`, `util`, `secret`: the shared vocabulary (modes, action kinds, approval policies),
//!   small helpers (durations, hex, globs) and secrets that never print;
//! - `signing`, `slack`: HMAC signatures (stanch's own, approval links, Slack's v0) and what
//!   stanch reads from Slack, pure so they can be fuzzed with the rest;
//! - `yaml`: YAML with locations, for file:line:col diagnostics (playbooks and the config);
//! - `intake`: the canonical `Detection` and the parsers of real tools' payloads;
//! - `audit`: sealing and verifying the hash chain;
//! - `campaign`: grouping detections into campaigns by account and attacker infrastructure;
//! - `playbook`: the language, compiled before anything runs;
//! - `engine`: `plan()`, a pure function of the detection, its campaign, the playbooks and the
//!   context;
//! - `rails`, `report`: cooldowns and budgets, and the passive report replayed through them.
//!
//! Nothing here performs I/O beyond reading playbook files; the crate depends on no runtime,
//! database or HTTP client.

pub mod audit;
pub mod campaign;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod intake;
pub mod playbook;
pub mod rails;
pub mod report;
pub mod secret;
pub mod signing;
pub mod slack;
pub mod util;
pub mod vocab;
pub mod yaml;
