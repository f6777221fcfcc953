//! The scheduler loop: sleep until the next slot, run what is due, record each run.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{JobKind, Schedule, ScheduleError, check_unique, due, next_wake};
use crate::store::{LEADER, Store, StoreError};
use stanch_core::vocab::JobOutcome;

/// Runs one job; supplied by the caller (the worker wires real jobs in). The `Ok` value is the
/// run's summary, recorded as JSON; the `Err` text is recorded as `{"error": ...}`.
pub trait JobRunner: Send + Sync {
    fn run(&self, job: JobKind) -> impl Future<Output = Result<Value, String>> + Send;
}

impl<F, Fut> JobRunner for F
where
    F: Fn(JobKind) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, String>> + Send,
{
    fn run(&self, job: JobKind) -> impl Future<Output = Result<Value, String>> + Send {
        self(job)
    }
}

/// Runs schedules until told to stop.
///
/// Jobs run one at a time, in schedule order, so a slow job delays the others rather than
/// overlapping them; a job in progress finishes before a stop takes effect.
pub struct Scheduler<R> {
    schedules: Vec<Schedule>,
    runner: R,
    store: Store,
}

impl<R: JobRunner> Scheduler<R> {
    pub fn new(
        schedules: Vec<Schedule>,
        runner: R,
        store: Store,
    ) -> Result<Scheduler<R>, ScheduleError> {
        check_unique(&schedules)?;
        Ok(Scheduler {
            schedules,
            runner,
            store,
        })
    }

    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// Loops until `stop` becomes true (or its sender is dropped).
    ///
    /// At start, the last runs come from `schedule_runs`: a schedule whose slot passed while the
    /// process was down runs once right away; a schedule that never ran waits for its first slot
    /// after now. A failure to record a run is logged and does not stop the loop.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> Result<(), StoreError> {
        let started = Utc::now();
        let mut last = self.store.last_schedule_runs().await?;
        for s in &self.schedules {
            last.entry(s.name.clone()).or_insert(started);
        }
        let mut leading = false;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            // Scheduled jobs are singleton work: of several replicas, the one holding the
            // leader lease runs them; another takes over within a lease when it dies.
            let leader = match self.store.try_lease(LEADER).await {
                Ok(leader) => leader,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tell which replica leads; trying again");
                    false
                }
            };
            if !leader {
                leading = false;
                let beat = self.store.replica().settings.beat();
                tokio::select! {
                    _ = tokio::time::sleep(beat) => {}
                    changed = stop.changed() => {
                        if changed.is_err() {
                            return Ok(());
                        }
                    }
                }
                continue;
            }
            if !leading {
                leading = true;
                // What the previous leader ran counts: each slot runs once across replicas.
                match self.store.last_schedule_runs().await {
                    Ok(runs) => {
                        for (name, at) in runs {
                            let known = last.entry(name).or_insert(at);
                            *known = (*known).max(at);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the last schedule runs"),
                }
                tracing::info!(replica = %self.store.replica().id, "this replica leads: it runs the scheduled jobs");
            }
            let now = Utc::now();
            let ready: Vec<Schedule> = due(&self.schedules, &last, now)
                .into_iter()
                .cloned()
                .collect();
            for schedule in ready {
                if *stop.borrow() {
                    return Ok(());
                }
                let at = self.run_one(&schedule).await;
                last.insert(schedule.name.clone(), at);
            }
            let Some(wake) = next_wake(&self.schedules, &last) else {
                // Nothing will ever be due again: wait for the stop signal only.
                while stop.changed().await.is_ok() && !*stop.borrow() {}
                return Ok(());
            };
            // Waking at least once a lease keeps the leadership renewed and noticed.
            let wait = (wake - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(self.store.replica().settings.beat());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Runs one schedule's job and records it; returns when it started.
    async fn run_one(&self, schedule: &Schedule) -> DateTime<Utc> {
        let started = Utc::now();
        let job = schedule.job.name();
        let pk = match self
            .store
            .start_schedule_run(&schedule.name, job, started)
            .await
        {
            Ok(pk) => Some(pk),
            Err(e) => {
                tracing::warn!(schedule = %schedule.name, error = %e, "cannot record schedule run start");
                None
            }
        };
        let result = self.runner.run(schedule.job).await;
        let (outcome, summary) = match result {
            Ok(summary) => (JobOutcome::Succeeded, summary),
            Err(error) => {
                tracing::warn!(schedule = %schedule.name, job, %error, "scheduled job failed");
                (JobOutcome::Failed, json!({ "error": error }))
            }
        };
        if let Some(pk) = pk
            && let Err(e) = self
                .store
                .finish_schedule_run(pk, Utc::now(), outcome, &summary)
                .await
        {
            tracing::warn!(schedule = %schedule.name, error = %e, "cannot record schedule run end");
        }
        started
    }
}
