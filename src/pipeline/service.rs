//! What the HTTP handlers, the worker and the scheduled jobs of `stanch serve` share: the store,
//! the recorder (grouping, planning, recording), the Graph runner, the approval channels and the
//! server's counters. `http` routes requests to it; the worker and the jobs run beside it.

use std::sync::Arc;

use tokio::sync::Notify;

use super::metrics::Metrics;
use super::recorder::Recorder;
use crate::actions::GraphRunner;
use crate::approvals::{ApprovalSettings, Channels, Dispatcher};
use crate::store::Store;
use stanch_core::rails::SafetySettings;

#[derive(Clone)]
pub struct Service {
    pub store: Store,
    /// Groups detections into campaigns as they are recorded (intake, polling, the worker).
    pub recorder: Arc<Recorder>,
    pub runner: Option<GraphRunner>,
    pub approvals: Arc<ApprovalSettings>,
    pub safety: Arc<SafetySettings>,
    pub channels: Arc<Channels>,
    pub metrics: Arc<Metrics>,
    /// Wakes the worker when new actions were recorded.
    pub wake: Arc<Notify>,
    /// Wakes the approval dispatcher when actions may be waiting for a human.
    pub approvals_wake: Arc<Notify>,
}

impl Service {
    /// A service with fresh counters and wake-ups; the channels are those `approvals` configures.
    pub fn new(
        store: Store,
        recorder: Recorder,
        runner: Option<GraphRunner>,
        approvals: ApprovalSettings,
        safety: SafetySettings,
    ) -> Service {
        // Intake groups by the identities the worker's rails resolve.
        let recorder = match &runner {
            Some(runner) => recorder.with_identities(runner.safety().identities.clone()),
            None => recorder,
        };
        Service {
            store,
            recorder: Arc::new(recorder),
            runner,
            channels: Arc::new(Channels::new(&approvals)),
            approvals: Arc::new(approvals),
            safety: Arc::new(safety),
            metrics: Arc::new(Metrics::default()),
            wake: Arc::new(Notify::new()),
            approvals_wake: Arc::new(Notify::new()),
        }
    }

    /// New actions were recorded: the worker and the approval dispatcher look at them.
    pub fn new_work(&self) {
        self.wake.notify_one();
        self.approvals_wake.notify_one();
    }

    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher {
            store: self.store.clone(),
            directory: self.runner.clone(),
            settings: self.approvals.clone(),
            safety: self.safety.clone(),
            channels: self.channels.clone(),
        }
    }
}
