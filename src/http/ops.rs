//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the database takes a write
//! within a second, the Graph token is reachable, and the last doctor run found nothing
//! failing), `/metrics` (Prometheus text format).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use crate::graph::{GraphPath, GraphRequest};

/// How long readiness waits for the database's write lock.
const READY_WAIT_MS: u64 = 1000;

/// What the last `stanch doctor` run at `serve` found: `/readyz` answers 503 while a check
/// fails (the server keeps serving: a passive installation may run with findings).
#[derive(Debug, Clone, Default)]
pub enum DoctorResult {
    /// The first run has not finished yet.
    #[default]
    Pending,
    /// `check: message` of each failing finding; empty when nothing failed.
    Done(Vec<String>),
}

impl DoctorResult {
    fn json(&self) -> (bool, serde_json::Value) {
        match self {
            DoctorResult::Pending => (true, json!("pending")),
            DoctorResult::Done(failing) if failing.is_empty() => (true, json!("ok")),
            DoctorResult::Done(failing) => (false, json!({"failing": failing})),
        }
    }
}

#[utoipa::path(get, path = "/healthz", tag = "ops", summary = "Liveness", responses((status = 200, description = "The process answers", body = String)))]
pub(super) async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "ops", summary = "Readiness: database, Graph token, the last doctor run", responses((status = 200, description = "Ready", body = Object), (status = 503, description = "A check fails", body = Object)))]
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    // A write, not a read: reads go on while another process holds the database locked.
    let check = state.service.store.check_writable(READY_WAIT_MS);
    let database = match tokio::time::timeout(
        std::time::Duration::from_millis(2 * READY_WAIT_MS),
        check,
    )
    .await
    {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "the database did not take a write within {} ms",
            2 * READY_WAIT_MS
        ),
    };
    let graph = match &state.service.runner {
        None => "not configured".to_string(),
        // A cheap authenticated read proves both the token and the route to Graph.
        Some(runner) => match runner
            .probe(GraphRequest::get(
                GraphPath::new(["organization"]).query("$select", "id"),
            ))
            .await
        {
            Ok(_) => "ok".to_string(),
            Err(e) if e.status().is_some() => "ok".to_string(),
            Err(e) => e.to_string(),
        },
    };
    let replica = state.service.store.replica();
    // A replica whose heartbeat has not reached the database for a lease has lost its work to
    // the others (and will not write until it renews).
    let leases = if replica.leases_fresh() {
        "ok".to_string()
    } else {
        format!(
            "not renewed for {} s (leases last {} s)",
            replica.renewed_ago_ms() / 1000,
            replica.settings.ttl.as_secs()
        )
    };
    let (doctor_ok, doctor) = state
        .doctor
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .json();
    let ready = database == "ok"
        && leases == "ok"
        && doctor_ok
        && (graph == "ok" || graph == "not configured");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({"ready": ready, "database": database, "graph": graph, "leases": leases,
                    "doctor": doctor, "replica": replica.id}),
        ),
    )
}

#[utoipa::path(get, path = "/metrics", tag = "ops", summary = "Prometheus metrics", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.service.metrics;
    let mut out = String::new();
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        &mut out,
        "stanch_detections_received_total",
        "Detections accepted and stored.",
        m.received.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "stanch_detections_rejected_total",
        "Detections rejected as malformed.",
        m.rejected.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "stanch_intake_unauthorized_total",
        "Intake requests refused for bad credentials.",
        m.unauthorized.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP stanch_actions_total Actions carried out, by kind and outcome.\n# TYPE stanch_actions_total counter"
    );
    for ((kind, outcome), n) in m.actions.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "stanch_actions_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP stanch_action_duration_seconds Time to carry out an action, Graph calls included.\n# TYPE stanch_action_duration_seconds summary\nstanch_action_duration_seconds_sum {}\nstanch_action_duration_seconds_count {}",
        m.action_millis_sum.load(Ordering::Relaxed) as f64 / 1000.0,
        m.action_count.load(Ordering::Relaxed)
    );
    let depth = state.service.store.queue_depth().await.unwrap_or_default();
    let _ = writeln!(
        out,
        "# HELP stanch_queue_depth Actions waiting to run.\n# TYPE stanch_queue_depth gauge\nstanch_queue_depth {depth}"
    );
    let (waiting, oldest) = state
        .service
        .store
        .approvals_waiting()
        .await
        .unwrap_or_default();
    let oldest_wait = oldest
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map_or(0, |t| {
            (chrono::Utc::now() - t.to_utc()).num_seconds().max(0)
        });
    let _ = writeln!(
        out,
        "# HELP stanch_approvals_waiting Actions waiting for a human decision.\n# TYPE stanch_approvals_waiting gauge\nstanch_approvals_waiting {waiting}\n\
         # HELP stanch_approval_oldest_wait_seconds How long the oldest waiting action has waited.\n# TYPE stanch_approval_oldest_wait_seconds gauge\nstanch_approval_oldest_wait_seconds {oldest_wait}"
    );
    let failing = match &*state.doctor.read().unwrap_or_else(|p| p.into_inner()) {
        DoctorResult::Pending => 0,
        DoctorResult::Done(failing) => failing.len(),
    };
    let _ = writeln!(
        out,
        "# HELP stanch_doctor_failing_checks Checks the last doctor run found failing (readiness is 503 above 0).\n# TYPE stanch_doctor_failing_checks gauge\nstanch_doctor_failing_checks {failing}"
    );
    let head = state
        .service
        .store
        .audit_head()
        .await
        .ok()
        .flatten()
        .map_or(0, |h| h.seq);
    let cursors = state
        .service
        .store
        .forward_cursors()
        .await
        .unwrap_or_default();
    if !cursors.is_empty() {
        let _ = writeln!(
            out,
            "# HELP stanch_audit_forward_behind Sealed audit records a forwarder's receiver has not acknowledged yet.\n# TYPE stanch_audit_forward_behind gauge"
        );
        for (name, seq) in cursors {
            let behind = (head - seq).max(0);
            let _ = writeln!(
                out,
                "stanch_audit_forward_behind{{forwarder=\"{name}\"}} {behind}"
            );
        }
    }
    replica_metrics(&mut out, &state).await;
    ([("content-type", "text/plain; version=0.0.4")], out)
}

/// Leases, rescues and leadership: which replica runs the scheduled jobs, what each holds.
async fn replica_metrics(out: &mut String, state: &AppState) {
    let store = &state.service.store;
    let replica = store.replica();
    let summary = store.lease_summary().await.unwrap_or_default();
    let id = &replica.id;
    let _ = writeln!(
        out,
        "# HELP stanch_leader Whether this replica holds the leader lease (runs the scheduled jobs).\n# TYPE stanch_leader gauge\nstanch_leader{{replica=\"{id}\"}} {}\n\
         # HELP stanch_leases_held Actions whose live lease this replica holds.\n# TYPE stanch_leases_held gauge\nstanch_leases_held{{replica=\"{id}\"}} {}\n\
         # HELP stanch_leases_lapsed Executing actions whose lease lapsed, not yet rescued.\n# TYPE stanch_leases_lapsed gauge\nstanch_leases_lapsed {}\n\
         # HELP stanch_lease_renewed_seconds_ago Since this replica's heartbeat last renewed its leases.\n# TYPE stanch_lease_renewed_seconds_ago gauge\nstanch_lease_renewed_seconds_ago{{replica=\"{id}\"}} {:.1}\n\
         # HELP stanch_actions_rescued_total Actions this replica took over from lapsed leases.\n# TYPE stanch_actions_rescued_total counter\nstanch_actions_rescued_total{{replica=\"{id}\"}} {}\n\
         # HELP stanch_audit_pending Audit records written and not yet sealed onto the chain.\n# TYPE stanch_audit_pending gauge\nstanch_audit_pending {}",
        u8::from(summary.leader),
        summary.held,
        summary.lapsed,
        replica.renewed_ago_ms() as f64 / 1000.0,
        replica.rescued(),
        summary.audit_pending,
    );
}
