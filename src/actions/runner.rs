//! The active runner: carries planned actions out through Microsoft Graph.
//!
//! **Every Graph call is audited before it is sent and after it answers**, through [`GraphRunner::call`];
//! if the "before" record cannot be written, the call is not made.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use super::failure::audit_failure;
pub(super) use super::failure::{graph_failure, target_id, target_text};
use super::lifecycle::ActionError;
use super::settings::ContainmentSettings;
use crate::graph::{GraphClient, GraphError, GraphRequest, GraphResponse, Page, PageRef};
use crate::store::Store;
use stanch_core::audit::AuditEvent;
use stanch_core::engine::PlannedAction;
use stanch_core::secret::SecretUrl;

/// Counters of the Graph calls made through a runner, for `/metrics`.
#[derive(Debug, Default)]
pub struct GraphStats {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    /// Calls still throttled (429/503/504) after every attempt.
    pub throttled: AtomicU64,
    /// Extra attempts made because of throttling, 5xx, transport errors or token refresh.
    pub retries: AtomicU64,
    pub latency_millis_sum: AtomicU64,
}

/// Carries out actions against Graph, auditing every request and response in `store`.
#[derive(Clone)]
pub struct GraphRunner {
    pub(super) stats: Arc<GraphStats>,
    pub(super) client: GraphClient,
    pub(super) store: Store,
    pub(super) containment: ContainmentSettings,
    pub(super) notify: BTreeMap<String, SecretUrl>,
    /// UPNs or ids never to lock out, excluded from the tenant-wide blocking policy too.
    pub(super) protected: Vec<String>,
    pub(super) http: reqwest::Client,
    pub(super) safety: Arc<super::safety::Safety>,
    /// Message trace answers of recent purges (the API allows 100 requests per 5 minutes).
    pub(super) traces: Arc<super::trace_cache::TraceCache>,
    /// Audit records of Graph's answers that could not be written when they came, written
    /// before the next record (shared by clones: they are one runner).
    unrecorded: Arc<std::sync::Mutex<Vec<AuditEvent>>>,
    /// When the action this runner carries out must be done, and the budget it was given
    /// (`graph.action_deadline`); none outside an action.
    deadline: Option<(Instant, Duration)>,
    /// The action whose lease this replica must still hold before each write it sends (see
    /// `store::lease`); none outside an action.
    pub(super) fence: Option<(Arc<str>, i64)>,
    /// Where the records that need not precede anything wait (a read's request and answer, a
    /// write's answer) when this runner carries out one action: written with its next write's
    /// request, or with the action's outcome (`take_deferred`). None: each is written at once.
    deferred: Option<Arc<std::sync::Mutex<Vec<AuditEvent>>>>,
}

impl GraphRunner {
    pub fn new(
        client: GraphClient,
        store: Store,
        containment: ContainmentSettings,
        notify: BTreeMap<String, SecretUrl>,
        protected: Vec<String>,
    ) -> GraphRunner {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        GraphRunner {
            stats: Arc::default(),
            client,
            store,
            containment,
            notify,
            protected,
            http,
            safety: Arc::default(),
            traces: Arc::default(),
            unrecorded: Arc::default(),
            deadline: None,
            fence: None,
            deferred: None,
        }
    }

    /// This runner for one action: every call it makes, with its retries, must be done within
    /// `graph.action_deadline` from now.
    pub fn for_one_action(&self) -> GraphRunner {
        let budget = self.client.config().action_deadline;
        GraphRunner {
            deadline: Some((Instant::now() + budget, budget)),
            ..self.clone()
        }
    }

    /// This runner, keeping the records that need not be written before anything else for the
    /// caller to write with the action's outcome ([`take_deferred`](Self::take_deferred)).
    pub(super) fn deferring(mut self) -> GraphRunner {
        self.deferred = Some(Arc::default());
        self
    }

    /// The records kept back by a [`deferring`](Self::deferring) runner, oldest first.
    pub(super) fn take_deferred(&self) -> Vec<AuditEvent> {
        match &self.deferred {
            Some(deferred) => std::mem::take(&mut *lock(deferred)),
            None => Vec::new(),
        }
    }

    /// Time left before the action's deadline (`None` outside an action).
    pub(super) fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    /// The rails (cooldowns, budgets, protected groups and roles) claims must respect.
    pub fn with_safety(mut self, safety: Arc<super::safety::Safety>) -> GraphRunner {
        self.safety = safety;
        self
    }

    pub fn safety(&self) -> &super::safety::Safety {
        &self.safety
    }

    /// Sends one Graph request with an audit record before and after it. The "after" record
    /// carries the status, `request-id`, `client-request-id`, attempts and latency.
    pub(super) async fn call(
        &self,
        action: &PlannedAction,
        request: GraphRequest,
    ) -> Result<GraphResponse, ActionError> {
        self.call_raw(action, request)
            .await?
            .map_err(|e| graph_failure(action, e))
    }

    pub fn stats(&self) -> &GraphStats {
        &self.stats
    }

    fn count(&self, result: &Result<&GraphResponse, &GraphError>, elapsed: std::time::Duration) {
        let stats = &self.stats;
        stats.requests.fetch_add(1, Ordering::Relaxed);
        stats
            .latency_millis_sum
            .fetch_add(elapsed.as_millis() as u64, Ordering::Relaxed);
        match result {
            Ok(response) => {
                stats.retries.fetch_add(
                    u64::from(response.attempts.saturating_sub(1)),
                    Ordering::Relaxed,
                );
            }
            Err(error) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                if error.is_throttled() {
                    stats.throttled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The Graph client, for reads that feed intake (alert polling); containment goes through
    /// the audited calls here.
    pub fn client(&self) -> &GraphClient {
        &self.client
    }

    /// An unaudited read used only to check readiness (token and route); it changes nothing, and
    /// auditing every health probe would drown the trail.
    pub async fn probe(&self, request: GraphRequest) -> Result<GraphResponse, GraphError> {
        if request.method != reqwest::Method::GET {
            return Err(GraphError::Config("probe only reads".into()));
        }
        self.client.send(request).await
    }

    /// Like [`call`](Self::call), but hands Graph's own error back (the outer error is only a
    /// failure to audit), for callers that treat some answers (a 404 on rollback) as fine.
    pub(super) async fn call_raw(
        &self,
        action: &PlannedAction,
        request: GraphRequest,
    ) -> Result<Result<GraphResponse, GraphError>, ActionError> {
        let subject = format!("action/{}", action.key);
        self.audited(&subject, json!(action.action), request)
            .await
            .map_err(|e| audit_failure(action, e))
    }

    /// The audited call itself, for any subject (an action, or a setup step).
    pub(super) async fn audited(
        &self,
        subject: &str,
        about: Value,
        request: GraphRequest,
    ) -> Result<Result<GraphResponse, GraphError>, crate::store::StoreError> {
        let described = json!({
            "about": about,
            "method": request.method.as_str(),
            "path": request.path.to_string(),
            "body": request.body.as_ref().map(redact),
        });
        self.audited_with(subject, described, |r| r, self.client.send(request))
            .await
    }

    /// One page of a collection read for an action, audited like any other call (a sweep of the
    /// sign-in logs follows `nextLink`s, and each page is a call of its own).
    pub(super) async fn call_page(
        &self,
        action: &PlannedAction,
        at: &PageRef,
    ) -> Result<Page, ActionError> {
        let subject = format!("action/{}", action.key);
        let described = json!({"about": action.action, "method": "GET", "path": at.shown()});
        self.audited_with(
            &subject,
            described,
            |page: &Page| &page.response,
            self.client.get_page(at),
        )
        .await
        .map_err(|e| audit_failure(action, e))?
        .map_err(|e| graph_failure(action, e))
    }

    /// Audits `described` before `call` is made and its answer (`response` of it) after.
    ///
    /// If the "before" record cannot be written, nothing is sent. If the "after" record cannot
    /// be written, Graph has already acted: the answer is still handed back (the action's
    /// outcome and restore data must not be lost with it), and the record is kept and written,
    /// marked late, with the next record this runner writes.
    async fn audited_with<T>(
        &self,
        subject: &str,
        described: Value,
        response: impl Fn(&T) -> &GraphResponse,
        call: impl std::future::Future<Output = Result<T, GraphError>>,
    ) -> Result<Result<T, GraphError>, crate::store::StoreError> {
        let label: Box<str> = format!(
            "{} {}",
            described["method"].as_str().unwrap_or_default(),
            described["path"].as_str().unwrap_or_default()
        )
        .into();
        let cut_off = |sent| GraphError::Deadline {
            call: label.clone(),
            deadline: self.deadline.map(|(_, budget)| budget).unwrap_or_default(),
            sent,
        };
        let time_left = self.time_left();
        if time_left.is_some_and(|left| left.is_zero()) {
            // Nothing is sent, so there is nothing to audit: the action's own record says why.
            return Ok(Err(cut_off(false)));
        }
        let request = |described| AuditEvent::new(Utc::now(), "graph.request", subject, described);
        // A write is on the trail before it is sent. A read changes nothing: its request and
        // answer are written together once it is answered (one commit, not two).
        let read = if described["method"] == "GET" {
            Some(request(described))
        } else {
            self.check_fence().await?;
            // What this action kept back goes first: the trail stays in the order things happened.
            let mut events = self.take_deferred();
            let kept = events.len();
            events.push(request(described));
            events.append(&mut self.unrecorded_answers());
            if let Err(e) = self.store.append_audit(&events).await {
                self.unrecorded_answers()
                    .splice(0..0, events.drain(kept + 1..));
                events.truncate(kept);
                if let Some(deferred) = &self.deferred {
                    lock(deferred).splice(0..0, events);
                }
                return Err(e);
            }
            self.withhold_if_lapsed(subject).await?;
            None
        };
        let started = Instant::now();
        let result = match time_left {
            // The client's retries and waits are cut off with it; the "after" record still follows.
            Some(left) => tokio::time::timeout(left, call)
                .await
                .unwrap_or_else(|_| Err(cut_off(true))),
            None => call.await,
        };
        let answered = result.as_ref().map(&response);
        self.count(&answered, started.elapsed());
        let after = match &answered {
            Ok(response) => json!({
                "status": response.status,
                "request_id": response.request_id,
                "client_request_id": response.client_request_id,
                "attempts": response.attempts,
                "elapsed_ms": response.elapsed.as_millis() as u64,
            }),
            Err(error) => json!({
                "error": error.to_string(),
                "status": error.status(),
                "code": error.code(),
                "request_id": error.request_id(),
                "client_request_id": error.client_request_id(),
                "elapsed_ms": started.elapsed().as_millis() as u64,
            }),
        };
        let event = AuditEvent::new(Utc::now(), "graph.response", subject, &after);
        if let Some(deferred) = &self.deferred {
            lock(deferred).extend(read.into_iter().chain([event]));
            return Ok(result);
        }
        let mut events: Vec<AuditEvent> = read.into_iter().chain([event]).collect();
        let late = events.len();
        events.append(&mut self.unrecorded_answers());
        if let Err(e) = self.store.append_audit(&events).await {
            tracing::error!(
                subject,
                error = %e,
                "Graph answered, but its answer could not be written to the audit trail; it is kept and written with the next record"
            );
            let earlier: Vec<AuditEvent> = events.drain(late..).collect();
            for event in events {
                self.record_late(event, &e);
            }
            self.unrecorded_answers().splice(0..0, earlier);
        }
        Ok(result)
    }

    /// Keeps the record of an answer that could not be written when it came, marked late, to
    /// write with the next record this runner writes (the request was sent: failing the action
    /// now would invite a second send).
    pub(super) fn record_late(&self, event: AuditEvent, failure: &crate::store::StoreError) {
        let mut payload: Value = serde_json::from_str(&event.payload).unwrap_or_default();
        payload["recorded_late"] = json!(true);
        payload["first_write_failed"] = json!(failure.to_string());
        let late = AuditEvent::new(event.at, event.kind, event.subject, payload);
        self.unrecorded_answers().push(late);
    }

    /// Answers Graph gave whose audit record could not be written yet.
    fn unrecorded_answers(&self) -> std::sync::MutexGuard<'_, Vec<AuditEvent>> {
        self.unrecorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Request bodies as audited: passwords never reach the audit trail.
fn redact(body: &Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let hidden = k.eq_ignore_ascii_case("password")
                        || k.eq_ignore_ascii_case("client_secret");
                    (
                        k.clone(),
                        if hidden {
                            Value::String("[redacted]".into())
                        } else {
                            redact(v)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

impl super::identity::Directory for GraphRunner {
    /// Directory reads that decide who a target is are Graph calls like any other: audited.
    async fn read(
        &self,
        subject: &str,
        request: GraphRequest,
    ) -> Result<GraphResponse, GraphError> {
        self.audited(subject, json!("directory"), request)
            .await
            .unwrap_or_else(|e| {
                Err(GraphError::NotSent {
                    retry: e.is_unavailable()
                        || matches!(e, crate::store::StoreError::LeaseLost(_)),
                    reason: format!("cannot write the audit trail: {e}"),
                })
            })
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_at_any_depth() {
        let body = json!({"passwordProfile": {"password": "Hunter2!xyz", "forceChangePasswordNextSignIn": true}});
        assert_eq!(
            redact(&body),
            json!({"passwordProfile": {"password": "[redacted]", "forceChangePasswordNextSignIn": true}})
        );
    }
}
