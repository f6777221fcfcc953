//! Counters the server keeps while it works; `/metrics` renders them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub received: AtomicU64,
    pub rejected: AtomicU64,
    pub unauthorized: AtomicU64,
    /// (action kind, outcome) → count.
    pub actions: Mutex<BTreeMap<(String, String), u64>>,
    pub action_millis_sum: AtomicU64,
    pub action_count: AtomicU64,
}

impl Metrics {
    pub fn record_action(&self, kind: &str, outcome: &str, millis: u64) {
        let mut actions = self.actions.lock().unwrap_or_else(|p| p.into_inner());
        *actions
            .entry((kind.to_string(), outcome.to_string()))
            .or_default() += 1;
        self.action_millis_sum.fetch_add(millis, Ordering::Relaxed);
        self.action_count.fetch_add(1, Ordering::Relaxed);
    }
}
