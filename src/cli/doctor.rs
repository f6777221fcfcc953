//! `stanch doctor`: the installation checked before an attack finds what is missing.

use std::sync::{Arc, RwLock};

use super::Verdict;
use super::run::graph_runner_parts;
use crate::config::Config;
use crate::doctor::Status;
use crate::doctor::{Report, Subject, examine};
use crate::http::DoctorResult;
use crate::store::Store;
use stanch_core::vocab::Mode;

/// Runs every check with what this configuration builds; used by `serve` at start too.
/// With `probe_receivers`, the audit receivers are connected to as well.
pub(crate) async fn report(
    config: &Config,
    store: Result<&Store, String>,
    probe_receivers: bool,
) -> Report {
    let loaded = super::playbooks::load_quietly(config);
    let playbooks =
        loaded.ok_or_else(|| "the playbooks have errors; nothing would be loaded".to_string());
    let graph = config
        .graph
        .as_ref()
        .map(|_| graph_runner_parts(config).map_err(|e| format!("{e:#}")));
    examine(Subject {
        config,
        playbooks: playbooks.as_ref().map_err(Clone::clone),
        graph,
        store,
        probe_receivers,
    })
    .await
}

pub(crate) async fn doctor(config: &Config, json: bool) -> anyhow::Result<Verdict> {
    let opened = Store::open(config.database_url.expose()).await;
    let store = opened
        .as_ref()
        .map_err(|e| format!("cannot open the database {}: {e}", config.database_url));
    let report = report(config, store, true).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.failed() {
        Verdict::Problems
    } else {
        Verdict::Clean
    })
}

/// How often `serve` runs the checks again, so `/readyz` follows a fix (or a regression).
const SERVE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// `serve`'s doctor: the checks at start and every few minutes, each finding logged (a failure
/// is an error in active mode, a warning in passive mode), the result kept for `/readyz`.
pub(crate) fn spawn_at_serve(
    config: Config,
    store: Store,
    result: Arc<RwLock<DoctorResult>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut logged = Vec::new();
        loop {
            let report = report(&config, Ok(&store), false).await;
            let failing = report.failing();
            // `/readyz` tries a write itself on every request: a copy of the database's state
            // from the last run would keep it unready for minutes after a moment's lock.
            let kept: Vec<String> = failing
                .iter()
                .filter(|f| !f.starts_with("database:"))
                .cloned()
                .collect();
            // Logged when they change, not every run.
            if failing != logged {
                log(&report, config.mode);
                logged = failing.clone();
            }
            *result.write().unwrap_or_else(|p| p.into_inner()) = DoctorResult::Done(kept);
            tokio::time::sleep(SERVE_EVERY).await;
        }
    })
}

fn log(report: &Report, mode: Mode) {
    for f in &report.findings {
        let fix = f.fix.as_deref().unwrap_or_default();
        match (f.status, mode) {
            (Status::Pass, _) => {}
            (Status::Fail, Mode::Active) => {
                tracing::error!(check = f.check, fix, "doctor: {}", f.message)
            }
            (Status::Fail, Mode::Passive) | (Status::Warn, _) => {
                tracing::warn!(check = f.check, fix, "doctor: {}", f.message)
            }
        }
    }
    if !report.failed() {
        tracing::info!("doctor: no check fails");
    }
}
