//! The pipeline: the glue that carries a detection through the pure stages (campaign grouping,
//! the engine) into the store, then through the actions to Graph.
//!
//! - `evaluate.rs`: assign to a campaign, plan, and turn evaluations into one batch (the only
//!   evaluate → prepare path; everything below records through it);
//! - `lookups.rs`: which stored campaigns a batch may link to, asked once per indicator and range;
//! - `follow_up.rs`: what a succeeded confirmation or sweep implies, recorded like any detection;
//! - `identity.rs`: what the rails learned of an action's target (its UPN and object id are one
//!   account) taught to the campaigns;
//! - `execute.rs`: a plan's automatic actions, each followed by what it implies;
//! - `run.rs`, `report.rs`: the processing loop of `stanch run` and `stanch demo`;
//! - `recorder.rs`, `service.rs`, `worker.rs`, `metrics.rs`: the same for `stanch serve`: one
//!   long-lived recorder, the durable worker, the scheduled jobs.

mod carry_out;
mod evaluate;
mod execute;
mod follow_up;
mod identity;
mod lanes;
mod lookups;
mod metrics;
mod recorder;
mod report;
mod run;
mod service;
mod worker;

pub use evaluate::{Entry, Evaluated, evaluate, prepare};
pub use execute::{Execution, FollowUpSink, execute_with_follow_ups};
pub use follow_up::{
    FollowUp, Recorded, after_action, confirm_campaign, load_for, member_follow_up,
    record_follow_ups,
};
pub use identity::flush_campaigns;
pub use lanes::Lanes;
pub use lookups::Lookups;
pub use metrics::Metrics;
pub use recorder::{Input, Recorder};
pub use report::{Outcome, RunError, RunSummary};
pub use run::{BATCH_SIZE, Sinks, run_jsonl};
pub use service::Service;
pub use worker::{Jobs, MAX_RETRIES, request_approvals, work};
