//! One view of Graph's throttling for every caller sharing a client. When Graph says wait (a
//! 429, 503 or 504 with `Retry-After`, or without one the client's own backoff) for a resource,
//! every request to that resource waits out the same pause instead of each worker finding out
//! with a 429 of its own; when the pause ends, one request goes first as a probe, and the
//! others follow only once it got through. A storm then costs about one throttled request per
//! pause, not one per worker.
//!
//! A resource nobody has had an answer from yet starts the same way, with one request as a
//! probe: a storm already raging when a wave of work starts then meets one request, not the
//! whole pool at once. That costs one round trip per resource, once per process.
//!
//! A resource is what Graph throttles together: one mailbox (Outlook's limits are per app and
//! mailbox), or else the service a path belongs to (its first segment: `users`, `groups`,
//! `identity`, `auditLogs`, `security`...).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::GraphRequest;

#[derive(Debug, Default)]
pub(crate) struct Governor {
    resources: Mutex<HashMap<String, Arc<Resource>>>,
}

#[derive(Debug, Default)]
struct Resource {
    state: Mutex<State>,
    /// Wakes the waiters when a pause is lifted or a probe finishes.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Graph asked to wait until then.
    paused_until: Option<Instant>,
    /// A request is testing whether the pause is over; the others wait for its answer.
    probing: bool,
    /// Graph has answered a request to this resource without asking to wait.
    proven: bool,
}

/// A request's place in line, held while it is in flight: it reports how Graph answered.
pub(crate) struct Turn {
    resource: Arc<Resource>,
    probe: bool,
}

impl Governor {
    /// Waits until `request`'s resource is not paused and no probe is out, then lets it go.
    pub(crate) async fn turn(&self, request: &GraphRequest) -> Turn {
        let key = resource_of(request);
        let resource = {
            let mut resources = self.resources.lock().unwrap_or_else(|p| p.into_inner());
            resources.entry(key).or_default().clone()
        };
        loop {
            let changed = resource.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a wake-up between the look and the wait is not lost.
            changed.as_mut().enable();
            let wait_until = {
                let mut state = resource.state.lock().unwrap_or_else(|p| p.into_inner());
                match state.paused_until {
                    None if state.proven => return Turn::new(resource.clone(), false),
                    None if state.probing => None,
                    None => {
                        state.probing = true;
                        return Turn::new(resource.clone(), true);
                    }
                    Some(until) if until > Instant::now() => Some(until),
                    Some(_) if state.probing => None,
                    Some(_) => {
                        state.probing = true;
                        return Turn::new(resource.clone(), true);
                    }
                }
            };
            match wait_until {
                Some(until) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

impl Turn {
    fn new(resource: Arc<Resource>, probe: bool) -> Turn {
        Turn { resource, probe }
    }

    /// Graph asked to wait `wait` before the next request to this resource.
    pub(crate) fn throttled(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        {
            let mut state = self
                .resource
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
            if self.probe {
                state.probing = false;
            }
        }
        self.probe = false;
        self.resource.changed.notify_waiters();
    }

    /// Graph answered without asking to wait: a probe lifts the pause for everyone.
    pub(crate) fn answered(&mut self) {
        self.finish_probe(true);
    }

    fn finish_probe(&mut self, lift: bool) {
        if !self.probe {
            return;
        }
        self.probe = false;
        {
            let mut state = self
                .resource
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            state.probing = false;
            if lift {
                state.paused_until = None;
                state.proven = true;
            }
        }
        self.resource.changed.notify_waiters();
    }
}

impl Drop for Turn {
    /// A probe that ends without an answer (a transport error, a cancelled request) hands the
    /// probe to the next waiter without lifting the pause.
    fn drop(&mut self) {
        self.finish_probe(false);
    }
}

fn resource_of(request: &GraphRequest) -> String {
    match &request.mailbox {
        Some(mailbox) => format!("mailbox:{}", mailbox.to_lowercase()),
        None => {
            let path = request.path.to_string();
            let service = path
                .trim_start_matches('/')
                .split(['/', '?'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            format!("service:{service}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphPath, GraphRequest};
    use reqwest::Method;

    fn request() -> GraphRequest {
        GraphRequest::new(Method::GET, GraphPath::new(["users"]))
    }

    #[tokio::test]
    async fn a_resource_nobody_has_heard_from_is_tried_by_one_request_first() {
        let governor = Arc::new(Governor::default());
        let mut probe = governor.turn(&request()).await;
        assert!(probe.probe);
        let next = {
            let governor = governor.clone();
            tokio::spawn(async move { governor.turn(&request()).await.probe })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !next.is_finished(),
            "the others wait for the probe's answer"
        );
        probe.answered();
        let next_was_probe = tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .expect("an answer lets the others go")
            .unwrap();
        assert!(!next_was_probe);
        // Once answered, requests go without waiting on one another.
        let a = governor.turn(&request()).await;
        let b = governor.turn(&request()).await;
        assert!(!a.probe && !b.probe);
    }

    #[tokio::test]
    async fn a_throttled_probe_keeps_everyone_paused() {
        let governor = Governor::default();
        let mut probe = governor.turn(&request()).await;
        probe.throttled(Duration::from_millis(50));
        drop(probe);
        let started = Instant::now();
        let next = governor.turn(&request()).await;
        assert!(next.probe, "after the pause, one request tries again");
        assert!(started.elapsed() >= Duration::from_millis(40));
    }
}
