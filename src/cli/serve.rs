//! `stanch serve`: durable HTTP intake plus the worker that carries out actions.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::watch;

use super::run::graph_runner;
use super::{Verdict, playbooks};
use crate::config::Config;
use crate::http::{AppState, app};
use crate::pipeline::{Jobs, Recorder, Service};
use crate::schedule::{JobKind, Schedule, Scheduler};
use crate::store::Store;

pub(crate) async fn serve(config: &Config) -> anyhow::Result<Verdict> {
    if config.intake.bearer_tokens.is_empty() && config.intake.hmac_secrets.is_empty() {
        anyhow::bail!(
            "refusing to accept detections from anyone: configure `intake.bearer_tokens` or `intake.hmac_secrets`"
        );
    }
    if let Some(slack) = &config.approvals.slack {
        let problems = slack.problems();
        if !problems.is_empty() {
            anyhow::bail!("the Slack channel is incomplete: {}", problems.join("; "));
        }
    }
    let schedules = build_schedules(config)?;
    let Some(set) = playbooks::load(config, Vec::new(), false).set else {
        anyhow::bail!("the playbooks have errors (listed above); nothing was started");
    };
    let store = Store::open(config.database_url.expose())
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    let recovered = store.recover_interrupted_actions().await?;
    if recovered.requeued > 0 {
        tracing::warn!(
            requeued = recovered.requeued,
            "re-queued action(s) interrupted by the last shutdown; their pre-checks prevent double effects"
        );
    }
    if !recovered.unverified.is_empty() {
        let pks: Vec<String> = recovered
            .unverified
            .iter()
            .map(|pk| format!("#{pk}"))
            .collect();
        tracing::warn!(
            actions = %pks.join(", "),
            "action(s) interrupted by the last shutdown may or may not have happened and are not repeated (unverified; check by hand, then `stanch actions retry ID`)"
        );
    }
    let rollbacks = store.recover_interrupted_rollbacks().await?;
    if rollbacks > 0 {
        tracing::warn!(
            rollbacks,
            "rollback(s) interrupted by the last shutdown are back in effect; expiring ones are retried by the next expire-actions run"
        );
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let config = &with_public_url(config, listener.local_addr()?);
    let run_id = store.start_run(config.mode, "serve", Utc::now()).await?;
    let service = service(config, &store, set, run_id).await?;
    let (runner, wake, metrics) = (
        service.runner.clone(),
        service.wake.clone(),
        service.metrics.clone(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let scheduler = if schedules.is_empty() {
        None
    } else {
        for schedule in &schedules {
            tracing::info!(
                schedule = %schedule.name,
                job = schedule.job.name(),
                when = %schedule.describe(),
                "schedule loaded"
            );
        }
        let scheduler = Scheduler::new(
            schedules,
            Jobs {
                service: service.clone(),
                as_of: None,
            },
            store.clone(),
        )?;
        let stop = stop_rx.clone();
        Some(tokio::spawn(async move { scheduler.run(stop).await }))
    };
    let forwarders = crate::forward::spawn(&store, &config.audit_forward, stop_rx.clone())
        .context("starting the audit forwarding")?;
    let requester = tokio::spawn(crate::pipeline::request_approvals(
        service.dispatcher(),
        service.approvals_wake.clone(),
        stop_rx.clone(),
    ));
    let worker = match runner {
        Some(runner) => Some(tokio::spawn(crate::pipeline::work(
            store.clone(),
            runner,
            wake,
            metrics,
            stop_rx,
            service.recorder.clone(),
        ))),
        None => {
            tracing::warn!(
                "no `graph` connection configured: active actions are recorded as pending and not carried out"
            );
            None
        }
    };
    // Supervisors and tests find the bound address (port 0 picks one) on this line.
    println!("listening on {}", listener.local_addr()?);
    let mut state = AppState::new(service, config.intake.clone());
    if let Some(operators) = &config.operators {
        let login_root = crate::http::oidc::login_root(config.graph.as_ref());
        let verifier = crate::http::oidc::Verifier::new(operators.clone(), &login_root);
        println!("operator API: tokens from {}", verifier.issuer());
        state = state.with_operators(verifier);
    }
    let refusals = state.spawn_refusal_flusher();
    let doctor = super::doctor::spawn_at_serve(config.clone(), store.clone(), state.doctor.clone());
    crate::http::serve(
        listener,
        app(state.clone()),
        config.server,
        shutdown_signal(),
    )
    .await;
    refusals.abort();
    doctor.abort();
    state.refusals.flush(&store, true).await;
    tracing::info!("shutting down: finishing the actions in progress");
    let _ = stop_tx.send(true);
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    if let Some(scheduler) = scheduler {
        let _ = scheduler.await;
    }
    let _ = requester.await;
    for forwarder in forwarders {
        let _ = forwarder.await;
    }
    store
        .finish_run(run_id, &serde_json::json!({"stopped": "signal"}))
        .await?;
    Ok(Verdict::Clean)
}

/// Approval links point at `approvals.public_url`; without one, at the address the server is
/// bound to (so `listen: 127.0.0.1:0` works), unless that is 0.0.0.0 or :: (links stay off).
fn with_public_url(config: &Config, bound: std::net::SocketAddr) -> Config {
    let mut config = config.clone();
    if config.approvals.public_url.is_none() {
        if bound.ip().is_unspecified() {
            if config.approvals.link_secret.is_some() {
                tracing::warn!(
                    %bound,
                    "`approvals.public_url` is not set and the listen address is no address a browser can reach: approval requests carry no links"
                );
            }
        } else {
            let url = format!("http://{bound}");
            tracing::warn!(%url, "`approvals.public_url` is not set: approval links point at the listen address");
            config.approvals.public_url = Some(url);
        }
    }
    config
}

/// What the HTTP handlers, the worker and the jobs share.
async fn service(
    config: &Config,
    store: &Store,
    playbooks: stanch_core::playbook::PlaybookSet,
    run_id: i64,
) -> anyhow::Result<Service> {
    let runner = graph_runner(config, store)?;
    let context = Arc::new(super::run::engine_context(
        config,
        false,
        super::run::protected_accounts(config, runner.as_ref()).await?,
    ));
    let recorder = Recorder::new(
        store.clone(),
        Arc::new(playbooks),
        context,
        config.campaigns.clone(),
        run_id,
    );
    Ok(Service::new(
        store.clone(),
        recorder,
        runner,
        config.approvals.clone(),
        config.safety.clone(),
    ))
}

/// The configured schedules, checked before anything starts.
fn build_schedules(config: &Config) -> anyhow::Result<Vec<Schedule>> {
    let mut schedules = Vec::new();
    for setting in &config.schedules {
        let job = JobKind::parse(&setting.job).with_context(|| {
            format!("schedule `{}`: unknown job `{}`", setting.name, setting.job)
        })?;
        schedules.push(
            Schedule::new(&setting.name, &setting.cron, &setting.tz, job)
                .with_context(|| format!("config line {}", setting.line))?,
        );
    }
    Ok(schedules)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// `stanch job run NAME [--now T]`: runs one scheduled job now (or as of `T`), outside the
/// server (operators, tests).
pub(crate) async fn run_job(
    config: &Config,
    name: &str,
    now: Option<&str>,
) -> anyhow::Result<Verdict> {
    use crate::schedule::JobRunner;
    let job = JobKind::parse(name).with_context(|| {
        format!("unknown job `{name}`; jobs: poll-alerts, verify-audit, approval-timeouts, expire-actions")
    })?;
    let as_of = now
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|at| at.to_utc())
                .context("--now must be an RFC 3339 time, e.g. 2021-06-01T00:00:00Z")
        })
        .transpose()?;
    let Some(set) = playbooks::load(config, Vec::new(), false).set else {
        anyhow::bail!("the playbooks have errors (listed above)");
    };
    let store = Store::open(config.database_url.expose())
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    let run_id = store
        .start_run(config.mode, &format!("job {name}"), Utc::now())
        .await?;
    let service = service(config, &store, set, run_id).await?;
    let outcome = Jobs { service, as_of }.run(job).await;
    store
        .finish_run(
            run_id,
            &serde_json::json!({"job": name, "ok": outcome.is_ok()}),
        )
        .await?;
    match outcome {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary)?);
            // A job that ran but could not do part of its work (an action it failed to
            // expire) says so in its summary; scripts see it in the exit status too.
            if summary["failed"].as_u64().is_some_and(|n| n > 0) {
                return Ok(Verdict::ActionsFailed);
            }
            Ok(Verdict::Clean)
        }
        Err(e) => {
            eprintln!("job `{name}` failed: {e}");
            Ok(Verdict::Problems)
        }
    }
}
