//! `stanch run --input FILE|-`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};

use anyhow::Context as _;

use super::output::{self, Progress};
use super::{Verdict, playbooks};
use crate::config::Config;
use crate::engine::Context;
use crate::playbook::PlaybookSet;
use crate::run::{RunSummary, run_jsonl};
use crate::store::Store;

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
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    let (reader, total): (Box<dyn BufRead>, Option<u64>) = if input == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = File::open(input).with_context(|| format!("cannot open the input {input}"))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::with_capacity(1 << 20, file)), size)
    };
    let summary = process(config, &store, &set, reader, input, total, &options).await?;
    Ok(if summary.rejected > 0 {
        Verdict::Problems
    } else {
        Verdict::Clean
    })
}

/// Runs the stream and prints per-detection results and the summary; shared with `demo`.
pub(crate) async fn process(
    config: &Config,
    store: &Store,
    set: &PlaybookSet,
    reader: impl BufRead,
    input_name: &str,
    total: Option<u64>,
    options: &Options,
) -> anyhow::Result<RunSummary> {
    let ctx = Context {
        default_mode: config.mode,
        force_passive: options.passive,
        protected_accounts: config.protected_accounts.clone(),
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let show_progress = options.json || options.quiet || !std::io::stdout().is_terminal();
    let mut progress = Progress::new(show_progress, total);
    let mut write_error = None;
    let summary = run_jsonl(
        store,
        set,
        &ctx,
        reader,
        input_name,
        |outcome| {
            if options.quiet || write_error.is_some() {
                return;
            }
            let text = if options.json {
                output::json_line(outcome)
            } else {
                output::human(outcome)
            };
            if let Err(e) = out.write_all(text.as_bytes()) {
                write_error = Some(e);
            }
        },
        |bytes, summary| progress.update(bytes, summary),
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
            output::summary_text(&summary, &config.database_url)
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
