//! Refused requests from callers nobody vouches for (a garbage approval link, an unsigned Slack
//! post, a cross-origin form, a replayed signature), audited without letting them flood the
//! trail.
//!
//! Each refusal used to be one audit record: 10.7k records in 20 s from a loop of
//! `GET /approve/garbage`, and a WAL of 360 MB. Now, per kind of refusal, the first
//! [`INDIVIDUALLY_PER_WINDOW`] in each [`WINDOW`] are recorded one by one (who tried what is
//! evidence), and the rest are counted and recorded as one `*.refused_aggregate` record when the
//! window closes, with the count, the time span and a few samples, so the trail still says how
//! much was refused and the database grows by a bounded amount whatever the rate.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::store::Store;
use stanch_core::audit::AuditEvent;

/// How long one counting window lasts.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Refusals of one kind recorded one by one per window; the rest are aggregated.
pub const INDIVIDUALLY_PER_WINDOW: u32 = 20;
/// Samples of the aggregated refusals kept in the aggregate record.
const SAMPLES: usize = 3;

#[derive(Debug, Default)]
pub struct Refusals {
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug)]
struct Window {
    opened: Instant,
    recorded: u32,
    suppressed: u64,
    first_suppressed: Option<DateTime<Utc>>,
    last_suppressed: Option<DateTime<Utc>>,
    samples: Vec<Value>,
}

impl Window {
    fn new() -> Window {
        Window {
            opened: Instant::now(),
            recorded: 0,
            suppressed: 0,
            first_suppressed: None,
            last_suppressed: None,
            samples: Vec::new(),
        }
    }

    /// The aggregate record of what this window suppressed, if it suppressed anything.
    fn aggregate(&self, kind: &str, subject: &str) -> Option<AuditEvent> {
        (self.suppressed > 0).then(|| {
            AuditEvent::new(
                self.last_suppressed.unwrap_or_else(Utc::now),
                format!("{kind}_aggregate"),
                subject.to_string(),
                json!({"refused": self.suppressed, "from": self.first_suppressed,
                       "until": self.last_suppressed, "samples": self.samples,
                       "note": format!("beyond the first {INDIVIDUALLY_PER_WINDOW} per {}s, refusals of this kind are counted, not recorded one by one", WINDOW.as_secs())}),
            )
        })
    }
}

impl Refusals {
    /// Audits one refusal of `kind` (e.g. `approval.refused`) about `subject`: individually
    /// while the window has room, otherwise counted for the window's aggregate record.
    pub async fn record(&self, store: &Store, kind: &str, subject: &str, payload: Value) {
        let key = format!("{kind}\u{0}{subject}");
        let mut due = Vec::new();
        let individually = {
            let mut windows = self.windows.lock().await;
            let window = windows.entry(key).or_insert_with(Window::new);
            if window.opened.elapsed() >= WINDOW {
                due.extend(window.aggregate(kind, subject));
                *window = Window::new();
            }
            if window.recorded < INDIVIDUALLY_PER_WINDOW {
                window.recorded += 1;
                true
            } else {
                let now = Utc::now();
                window.suppressed += 1;
                window.first_suppressed.get_or_insert(now);
                window.last_suppressed = Some(now);
                if window.samples.len() < SAMPLES {
                    window.samples.push(payload.clone());
                }
                false
            }
        };
        if individually {
            due.push(AuditEvent::new(
                Utc::now(),
                kind,
                subject.to_string(),
                payload,
            ));
        } else {
            tracing::debug!(kind, subject, "refusal counted for the aggregate record");
        }
        append(store, &due).await;
    }

    /// Writes the aggregates of windows that have closed; the server calls it periodically so
    /// a burst followed by silence is still recorded.
    pub async fn flush(&self, store: &Store, all: bool) {
        let due: Vec<AuditEvent> = {
            let mut windows = self.windows.lock().await;
            let mut due = Vec::new();
            windows.retain(|key, window| {
                let closed = all || window.opened.elapsed() >= WINDOW;
                if closed {
                    let (kind, subject) = key.split_once('\u{0}').unwrap_or((key, ""));
                    due.extend(window.aggregate(kind, subject));
                }
                !closed
            });
            due
        };
        append(store, &due).await;
    }
}

async fn append(store: &Store, events: &[AuditEvent]) {
    if events.is_empty() {
        return;
    }
    if let Err(e) = store.append_audit(events).await {
        tracing::error!(error = %e, "cannot audit refused requests");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flood_of_refusals_is_recorded_in_bounded_space_and_counted() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let refusals = Refusals::default();
        for n in 0..500 {
            refusals
                .record(&store, "approval.refused", "link", json!({"n": n}))
                .await;
        }
        refusals.flush(&store, true).await;
        let records = store.audit_records().await.unwrap();
        let refused: Vec<_> = records
            .iter()
            .filter(|r| r.kind == "approval.refused")
            .collect();
        assert_eq!(refused.len(), INDIVIDUALLY_PER_WINDOW as usize);
        let aggregate: Vec<_> = records
            .iter()
            .filter(|r| r.kind == "approval.refused_aggregate")
            .collect();
        assert_eq!(aggregate.len(), 1);
        let payload: Value = serde_json::from_str(&aggregate[0].payload).unwrap();
        assert_eq!(payload["refused"], 500 - INDIVIDUALLY_PER_WINDOW as u64);
        assert_eq!(payload["samples"][0]["n"], 20);
    }
}
