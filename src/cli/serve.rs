//! `stanch serve`: durable HTTP intake plus the worker that carries out actions.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::{Notify, watch};

use super::run::graph_runner;
use super::{Verdict, playbooks};
use crate::config::Config;
use crate::engine::Context;
use crate::http::{AppState, Metrics, app};
use crate::store::Store;

pub(crate) async fn serve(config: &Config) -> anyhow::Result<Verdict> {
    if config.intake.bearer_tokens.is_empty() && config.intake.hmac_secrets.is_empty() {
        anyhow::bail!(
            "refusing to accept detections from anyone: configure `intake.bearer_tokens` or `intake.hmac_secrets`"
        );
    }
    let Some(set) = playbooks::load(config, Vec::new(), false).set else {
        anyhow::bail!("the playbooks have errors (listed above); nothing was started");
    };
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    let recovered = store.recover_interrupted().await?;
    if recovered > 0 {
        eprintln!(
            "re-queued {recovered} action(s) interrupted by the last shutdown; their pre-checks prevent double effects"
        );
    }
    let run_id = store.start_run(config.mode, "serve", Utc::now()).await?;
    let runner = graph_runner(config, &store)?;
    let wake = Arc::new(Notify::new());
    let metrics = Arc::new(Metrics::default());
    let state = AppState {
        store: store.clone(),
        playbooks: Arc::new(set),
        context: Arc::new(Context {
            default_mode: config.mode,
            force_passive: false,
            protected_accounts: config.protected_accounts.clone(),
        }),
        intake: Arc::new(config.intake.clone()),
        run_id,
        wake: wake.clone(),
        metrics: metrics.clone(),
        runner: runner.clone(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = match runner {
        Some(runner) => Some(tokio::spawn(crate::worker::work(
            store.clone(),
            runner,
            wake,
            metrics,
            stop_rx,
        ))),
        None => {
            eprintln!(
                "no `graph` connection configured: active actions are recorded as pending and not carried out"
            );
            None
        }
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // Supervisors and tests find the bound address (port 0 picks one) on this line.
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    eprintln!("shutting down: finishing the action in progress");
    let _ = stop_tx.send(true);
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    store
        .finish_run(run_id, &serde_json::json!({"stopped": "signal"}))
        .await?;
    Ok(Verdict::Clean)
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
