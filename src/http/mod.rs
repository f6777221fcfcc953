//! The HTTP API of `stanch serve`: durable detection intake, health, readiness and metrics.
//!
//! `app(state)` builds the router, kept apart from serving (as axum's examples do) so tests can
//! drive it directly. **A 202 is sent only after the detections are committed** with their plans
//! and audit records; the worker then carries out the actions.

mod approve;
mod auth;
mod error;
mod intake;
mod ops;
mod slack;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::Notify;

pub use auth::{SIGNATURE_HEADER, SOURCE_HEADER, sign};
pub use error::ApiError;
pub use ops::Metrics;

use crate::actions::GraphRunner;
use crate::config::IntakeSettings;
use crate::engine::Context;
use crate::playbook::PlaybookSet;
use crate::store::Store;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub playbooks: Arc<PlaybookSet>,
    pub context: Arc<Context>,
    pub intake: Arc<IntakeSettings>,
    pub approvals: Arc<crate::config::ApprovalSettings>,
    pub run_id: i64,
    /// Wakes the worker when new actions were recorded.
    pub wake: Arc<Notify>,
    /// Wakes the approval dispatcher when actions may be waiting for a human.
    pub approvals_wake: Arc<Notify>,
    pub channels: Arc<crate::approvals::Channels>,
    pub metrics: Arc<Metrics>,
    pub runner: Option<GraphRunner>,
    /// Groups detections into campaigns as they are recorded (intake, polling, the worker).
    pub campaigns: Arc<crate::campaign::Recorder>,
}

impl AppState {
    /// New actions were recorded: the worker and the approval dispatcher look at them.
    pub fn new_work(&self) {
        self.wake.notify_one();
        self.approvals_wake.notify_one();
    }

    pub fn dispatcher(&self) -> crate::approvals::Dispatcher {
        crate::approvals::Dispatcher {
            store: self.store.clone(),
            directory: self.runner.clone(),
            settings: self.approvals.clone(),
            channels: self.channels.clone(),
        }
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/detections", post(intake::post_detections))
        .route(
            "/v1/detections/{format}",
            post(intake::post_detections_in_format),
        )
        .route("/approve/{token}", get(approve::show).post(approve::submit))
        .route("/v1/chat/slack/interactions", post(slack::interactions))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .with_state(state)
}
