//! The worker of `stanch serve`: carries out recorded actions that are active and need no human,
//! oldest first: up to `graph.concurrency` accounts at once (see [`lanes`]), each account's
//! actions in order, one at a time (Graph's per-mailbox limit and its throttling are the
//! client's, shared by all lanes).
//!
//! Its queue is the store itself (`status = 'pending'`), so nothing is lost across a crash; on
//! start, actions caught mid-run are re-queued and re-run, and their pre-checks make the second
//! run complete the effect without repeating it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::metrics::Metrics;
use super::recorder::{Input, Recorder};
use super::service::Service;
use crate::actions::{GraphRunner, execute, planned_from_row};
use crate::schedule::{JobKind, JobRunner, RejectedAlert, poll_and_store};
use crate::store::{Store, lane_of};
use stanch_core::intake::Detection;
use stanch_core::vocab::ActionStatus;

/// Pending actions looked at per round; those of busy lanes wait for a later round.
const BATCH: i64 = 256;
/// Transient failures (Graph throttled or unreachable through all the client's own retries) are
/// retried this many times, with growing delays, before the action is parked as `failed`.
pub const MAX_RETRIES: i64 = 3;
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// Wake up now and then even without a notification (another replica may have queued work).
const IDLE_POLL: Duration = Duration::from_secs(1);

pub async fn work(
    store: Store,
    runner: GraphRunner,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    campaigns: Arc<Recorder>,
) {
    let worker = Worker {
        store: store.clone(),
        runner,
        wake: wake.clone(),
        metrics,
        campaigns,
    };
    // Lanes in flight: the task running each, by the lane it holds.
    let mut running = tokio::task::JoinSet::new();
    let mut lane_of_task = std::collections::HashMap::new();
    let mut busy = std::collections::HashSet::new();
    let mut last_rescue = tokio::time::Instant::now();
    let lanes = lanes(&worker.runner);
    while !*stop.borrow() {
        // Any replica rescues what a dead one left: cheap when nothing lapsed.
        if last_rescue.elapsed() >= store.replica().settings.beat() {
            last_rescue = tokio::time::Instant::now();
            rescue(&store).await;
        }
        let rows = match store.pending_actions(BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the action queue; retrying");
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
        };
        for row in rows {
            if running.len() >= lanes {
                break;
            }
            // The oldest action of a lane runs first; the rest of that lane waits its turn.
            let lane = lane_of(&row);
            if busy.contains(&lane) {
                continue;
            }
            // Another replica may run it, or hold this account's (or the tenant's) lane.
            match store.reserve_action(row.pk, &lane).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(action = row.pk, error = %e, "cannot reserve an action; trying again later");
                    break;
                }
            }
            busy.insert(lane.clone());
            let worker = worker.clone();
            let task = running.spawn(async move { worker.carry_out(row).await });
            lane_of_task.insert(task.id(), lane);
        }
        tokio::select! {
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                if let Some(lane) = lane_of_task.remove(&id) {
                    busy.remove(&lane);
                }
            }
            _ = wake.notified() => {}
            _ = stop.changed() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
    // Stopping: what is in flight finishes; an action is never abandoned half-way.
    while running.join_next().await.is_some() {}
    if let Err(e) = store.release_replica().await {
        tracing::warn!(error = %e, "cannot hand this replica's reservations back; they lapse with its leases");
    }
}

/// Takes back the actions and undos whose replica's lease lapsed.
pub async fn rescue(store: &Store) {
    match store.recover_interrupted_actions().await {
        Ok(r) if r.requeued > 0 || !r.unverified.is_empty() => tracing::warn!(
            requeued = r.requeued,
            unverified = r.unverified.len(),
            "rescued actions whose replica's lease lapsed"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot rescue lapsed actions; trying again later"),
    }
    match store.recover_interrupted_rollbacks().await {
        Ok(n) if n > 0 => tracing::warn!(undos = n, "rescued undos whose replica's lease lapsed"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot rescue lapsed undos; trying again later"),
    }
}

/// Accounts contained at once (`graph.concurrency`). One account's actions run in order, one at
/// a time (and every tenant-wide action in one lane, since they change the same objects), and a
/// lane that waits on a hung Graph holds only its own account: the others go on, and new work is
/// taken up.
pub fn lanes(runner: &GraphRunner) -> usize {
    runner.client().config().concurrency.max(1)
}

#[derive(Clone)]
struct Worker {
    store: Store,
    runner: GraphRunner,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    campaigns: Arc<Recorder>,
}

impl Worker {
    async fn carry_out(&self, row: crate::store::ActionRow) {
        let Worker {
            store,
            runner,
            wake,
            metrics,
            campaigns,
        } = self;
        // An approval binds the action as it was requested; a changed action is not run.
        match crate::approvals::approvals_still_match(store, &row).await {
            Ok(true) => {}
            Ok(false) => {
                let why = serde_json::json!({"error": "the action differs from the one that was approved; it was not run"});
                let _ = store
                    .set_action_outcome(
                        row.detection_seq,
                        &row.idempotency_key,
                        ActionStatus::Failed,
                        &why,
                    )
                    .await;
                let event = stanch_core::audit::AuditEvent::new(
                    chrono::Utc::now(),
                    "approval.mismatch",
                    format!("action/{}", row.pk),
                    why,
                );
                let _ = store.append_audit(&[event]).await;
                return;
            }
            Err(e) => {
                tracing::error!(action = row.pk, error = %e, "cannot check the approvals; leaving the action queued");
                return;
            }
        }
        let Some(action) = planned_from_row(&row) else {
            tracing::error!(action = row.pk, kind = %row.kind, "unknown action kind in the queue");
            return;
        };
        match execute(runner, store, row.detection_seq, &action).await {
            Ok(result) => {
                metrics.record_action(&row.kind, result.status.as_str(), result.elapsed_ms);
                // A confirmation contains the campaign's members; a sweep's finds join it.
                match campaigns
                    .after_action(row.detection_seq, &action, &result)
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(
                            action = row.pk,
                            detections = n,
                            "campaign follow-ups recorded"
                        );
                        wake.notify_one();
                    }
                    Err(e) => {
                        tracing::error!(action = row.pk, error = %e, "cannot record the campaign's follow-ups")
                    }
                }
                if result.retryable && row.attempts < MAX_RETRIES {
                    let delay = FIRST_RETRY * 4u32.pow(row.attempts as u32);
                    if let Err(e) = store.schedule_retry(row.pk, delay).await {
                        tracing::error!(action = row.pk, error = %e, "cannot schedule a retry; the action stays failed");
                    }
                    tracing::warn!(
                        action = row.pk,
                        attempt = row.attempts + 1,
                        delay_secs = delay.as_secs(),
                        "transient failure; retrying later"
                    );
                    return;
                }
                tracing::info!(action = row.pk, kind = %row.kind, target = row.target_upn.as_deref().or(row.target_id.as_deref()).unwrap_or("the tenant"), status = %result.status, elapsed_ms = result.elapsed_ms, "action finished");
            }
            Err(e) => {
                tracing::error!(action = row.pk, error = %e, "cannot record an action's outcome")
            }
        }
    }
}

/// Puts actions that wait for a human in front of people as soon as they are recorded.
pub async fn request_approvals(
    dispatcher: crate::approvals::Dispatcher,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        // Requests go out from the leader only, so two replicas never post one request twice.
        let leader = dispatcher.store.try_lease(crate::store::LEADER).await;
        if !matches!(leader, Ok(true)) {
            tokio::select! {
                _ = stop.changed() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
            continue;
        }
        match dispatcher.request_new().await {
            Ok(n) if n > 0 => tracing::info!(requested = n, "approval requests sent"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot send approval requests; retrying"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = stop.changed() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
}

/// The scheduled jobs of `stanch serve`.
#[derive(Clone)]
pub struct Jobs {
    pub service: Service,
    /// The time the jobs take as now (`stanch job run --now`); the wall clock when `None`.
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

impl Jobs {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.as_of.unwrap_or_else(chrono::Utc::now)
    }
}

/// Pages of alerts read per poll; the watermark carries the rest to the next poll.
const POLL_PAGES: usize = 10;

impl JobRunner for Jobs {
    fn run(
        &self,
        job: JobKind,
    ) -> impl std::future::Future<Output = Result<serde_json::Value, String>> + Send {
        let (state, now) = (self.service.clone(), self.now());
        async move {
            match job {
                JobKind::PollAlerts => {
                    let runner = state
                        .runner
                        .clone()
                        .ok_or("alert polling needs a `graph` connection")?;
                    let ingest_state = state.clone();
                    poll_and_store(
                        runner.client(),
                        &state.store,
                        POLL_PAGES,
                        move |detections, rejected| async move {
                            ingest(&ingest_state, detections, rejected).await
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())
                }
                JobKind::VerifyAudit => {
                    let report = state
                        .store
                        .verify_audit()
                        .await
                        .map_err(|e| e.to_string())?;
                    if report.is_intact() {
                        Ok(serde_json::json!({"records": report.records_checked, "intact": true}))
                    } else {
                        let problems: Vec<&str> =
                            report.problems.iter().map(|p| p.message.as_str()).collect();
                        Err(format!(
                            "the audit chain is broken: {}",
                            problems.join("; ")
                        ))
                    }
                }
                JobKind::ApprovalTimeouts => state
                    .dispatcher()
                    .time_out(now)
                    .await
                    .map_err(|e| e.to_string()),
                JobKind::ExpireActions => {
                    crate::actions::expire_due(state.runner.as_ref(), &state.store, now)
                        .await
                        .map(|report| serde_json::json!(report))
                        .map_err(|e| e.to_string())
                }
            }
        }
    }
}

/// Records polled detections (and the alerts that could not be read) like HTTP intake does.
async fn ingest(
    state: &Service,
    detections: Vec<Detection>,
    rejected: Vec<RejectedAlert>,
) -> Result<(), String> {
    let raws: Vec<String> = rejected.iter().map(|r| r.alert.to_string()).collect();
    let mut inputs: Vec<Input<'_>> = detections
        .iter()
        .map(|detection| Input::Detection {
            line: None,
            detection,
        })
        .collect();
    inputs.extend(rejected.iter().zip(&raws).map(|(r, raw)| Input::Rejected {
        line: None,
        reason: format!(
            "alert {}: {}",
            r.id.as_deref().unwrap_or("(no id)"),
            r.reason
        ),
        raw,
    }));
    if inputs.is_empty() {
        return Ok(());
    }
    state
        .recorder
        .record(&inputs)
        .await
        .map_err(|e| e.to_string())?;
    state.metrics.received.fetch_add(
        detections.len() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    state
        .metrics
        .rejected
        .fetch_add(rejected.len() as u64, std::sync::atomic::Ordering::Relaxed);
    state.new_work();
    Ok(())
}
