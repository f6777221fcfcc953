//! `stanch run --input FILE|-`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};

use anyhow::Context as _;

use super::output::{self, Progress};
use super::{Verdict, playbooks};
use crate::actions::GraphRunner;
use crate::config::Config;
use crate::pipeline::{Outcome, RunSummary, Sinks, run_jsonl};
use crate::store::Store;
use stanch_core::engine::Context;
use stanch_core::playbook::PlaybookSet;

pub(crate) struct Options {
    pub json: bool,
    pub passive: bool,
    pub quiet: bool,
}

pub(crate) async fn run(config: &Config, input: &str, options: Options) -> anyhow::Result<Verdict> {
    let Some(set) = playbooks::load(config, Vec::new(), false).set else {
        anyhow::bail!(
            "the playbooks have errors (listed above); fix them or run `stanch validate` to see them again"
        );
    };
    let store = Store::open(config.database_url.expose())
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    let (reader, total): (Box<dyn BufRead + Send>, Option<u64>) = if input == "-" {
        (Box::new(BufReader::new(std::io::stdin())), None)
    } else {
        let file = File::open(input).with_context(|| format!("cannot open the input {input}"))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::with_capacity(1 << 20, file)), size)
    };
    let runner = graph_runner(config, &store)?;
    let summary = process(
        config,
        &store,
        &set,
        runner.as_ref(),
        reader,
        input,
        total,
        &options,
    )
    .await?;
    Ok(if summary.actions_failed() > 0 {
        Verdict::ActionsFailed
    } else if summary.rejected > 0 {
        Verdict::Problems
    } else {
        Verdict::Clean
    })
}

/// Runs the stream and prints per-detection results and the summary; shared with `demo`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn process(
    config: &Config,
    store: &Store,
    set: &PlaybookSet,
    runner: Option<&GraphRunner>,
    reader: Box<dyn BufRead + Send>,
    input_name: &str,
    total: Option<u64>,
    options: &Options,
) -> anyhow::Result<RunSummary> {
    let ctx = engine_context(
        config,
        options.passive,
        protected_accounts(config, runner).await?,
    );
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let show_progress = options.json || options.quiet || !std::io::stdout().is_terminal();
    let mut progress = Progress::new(show_progress, total);
    let mut write_error = None;
    let mut on_outcome = |outcome: &Outcome<'_>| {
        if options.quiet || write_error.is_some() {
            return;
        }
        let text = if options.json {
            output::json_line(outcome)
        } else {
            output::human(outcome)
        };
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            write_error = Some(e);
        }
    };
    let mut on_progress = |bytes, summary: &RunSummary| progress.update(bytes, summary);
    let sinks = Sinks {
        on_outcome: &mut on_outcome,
        progress: &mut on_progress,
    };
    let summary = run_jsonl(
        store,
        set,
        &ctx,
        &config.campaigns,
        runner,
        reader,
        input_name,
        sinks,
    )
    .await
    .with_context(|| format!("processing {input_name}"))?;
    progress.finish();
    if options.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"type": "summary", "summary": summary})
        )?;
    } else {
        write!(
            out,
            "{}",
            output::summary_text(&summary, config.database_url.shown())
        )?;
    }
    out.flush()?;
    if let Some(e) = write_error
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("writing the results");
    }
    Ok(summary)
}

/// The Graph runner the config describes, if it has a `graph` section.
pub(crate) fn graph_runner(config: &Config, store: &Store) -> anyhow::Result<Option<GraphRunner>> {
    if config.graph.is_none() {
        return Ok(None);
    }
    let client = graph_runner_parts(config)?;
    let safety = crate::actions::Safety::new(
        config.safety.clone(),
        config.protected_accounts.clone(),
        config.protected_groups.clone(),
        config.protected_roles.clone(),
    );
    Ok(Some(
        GraphRunner::new(
            client,
            store.clone(),
            config.containment.clone(),
            config.notify.clone(),
            config.protected_accounts.clone(),
        )
        .with_safety(std::sync::Arc::new(safety)),
    ))
}

/// The Graph client of the config's `graph` section (which must be there and complete).
pub(crate) fn graph_runner_parts(config: &Config) -> anyhow::Result<crate::graph::GraphClient> {
    let Some(settings) = &config.graph else {
        anyhow::bail!("no `graph` section");
    };
    let problems = settings.problems();
    if !problems.is_empty() {
        anyhow::bail!("the `graph` config is incomplete: {}", problems.join("; "));
    }
    crate::graph::GraphClient::new(graph_config(settings)?).context("setting up the Graph client")
}

/// What the engine plans with: the configured mode and rails, and the protected accounts.
pub(crate) fn engine_context(
    config: &Config,
    force_passive: bool,
    protected_accounts: Vec<String>,
) -> Context {
    Context {
        default_mode: config.mode,
        force_passive,
        protected_accounts,
        block_ips: config.safety.block_ips.clone(),
    }
}

/// The configured protected accounts plus the current members of the protected groups and
/// roles. Starting without them would plan automatic actions against exactly the accounts that
/// must never be touched, so a directory that cannot be read stops the start.
pub(crate) async fn protected_accounts(
    config: &Config,
    runner: Option<&GraphRunner>,
) -> anyhow::Result<Vec<String>> {
    let mut names = config.protected_accounts.clone();
    if config.protected_groups.is_empty() && config.protected_roles.is_empty() {
        return Ok(names);
    }
    let runner = runner.context(
        "`protected_groups` and `protected_roles` are resolved through Graph: configure `graph`",
    )?;
    let members = runner
        .safety()
        .members(runner.client())
        .await
        .map_err(|e| anyhow::anyhow!("resolving protected groups and roles: {e}"))?;
    names.extend(crate::actions::safety::names(&members));
    Ok(names)
}

fn graph_config(
    settings: &crate::config::GraphSettings,
) -> anyhow::Result<crate::graph::GraphConfig> {
    use crate::graph::{Cloud, Credential, GraphConfig, Secret};
    let credential = match (&settings.client_secret, &settings.certificate_path) {
        (Some(secret), _) => Credential::Secret(Secret::new(secret.expose())),
        (None, Some(cert)) => Credential::Certificate {
            cert_path: cert.clone(),
            key_path: settings
                .private_key_path
                .clone()
                .unwrap_or_else(|| cert.clone()),
        },
        (None, None) => anyhow::bail!("the `graph` config needs a client secret or a certificate"),
    };
    let mut config = GraphConfig::new(&settings.tenant_id, &settings.client_id, credential);
    config.cloud = settings
        .cloud
        .parse::<Cloud>()
        .map_err(|e| anyhow::anyhow!("unknown cloud `{}`: {e}", settings.cloud))?;
    config.graph_url = settings.graph_url.clone();
    config.login_url = settings.login_url.clone();
    if let Some(secs) = settings.action_deadline_secs {
        config.action_deadline = std::time::Duration::from_secs(secs);
    }
    if let Some(n) = settings.concurrency {
        config.concurrency = n;
    }
    if let Some(n) = settings.mailbox_concurrency {
        config.mailbox_concurrency = n;
    }
    if let Some(n) = settings.max_in_flight {
        config.max_in_flight = n;
    }
    if let Some(bytes) = settings.max_response_bytes {
        config.max_response_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    Ok(config)
}
