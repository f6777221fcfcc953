//! The processing loop behind `stanch run` and `stanch demo`: read detections, plan each one,
//! persist detections, plans and audit records in batches, then carry out the actions that are
//! active and need no human.
//!
//! A batch is written in one transaction before any of its results are reported or acted on, so
//! what is printed has been durably recorded; a rejected line is audited like any other input.
//! Input is read on its own thread: a file is consumed in full batches (throughput), while a
//! live stream is flushed as soon as no more input is waiting (latency).
//!
//! Each detection is assigned to its campaign before it is planned, by one [`Tracker`] that
//! lives for the whole run (loaded from the store batch by batch, by indicator and window), and
//! the campaign rows are written in the batch's transaction. When an action confirms a campaign,
//! the detections that follow (its members to contain) are recorded and carried out right
//! away, before the next detection of the input.

use std::io::BufRead;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::carry_out::{Campaigns, Item};
use super::evaluate::{self, Entry};
use super::identity;
use super::lookups::Lookups;
use super::report::{Outcome, RunError, RunSummary, report};
use crate::actions::GraphRunner;
use crate::store::{PreparedBatch, Store, StoreError};
use stanch_core::campaign::{self, Settings, Tracker};
use stanch_core::engine::Context;
use stanch_core::intake::{Detection, JsonlItem, JsonlReader};
use stanch_core::playbook::PlaybookSet;
use stanch_core::vocab::Mode;

/// How many detections are written per transaction, at most.
pub const BATCH_SIZE: usize = 512;

/// The tracker forgets old campaigns once it holds this many (they stay in the store).
const TRACKER_SOFT_LIMIT: usize = 20_000;

/// A batch being written, and its items, reported once the write has committed.
type InFlight = (JoinHandle<Result<Vec<i64>, StoreError>>, Vec<Item>);

/// Where results go: per line, and progress (bytes read) after each batch.
pub struct Sinks<'a> {
    pub on_outcome: &'a mut dyn FnMut(&Outcome<'_>),
    pub progress: &'a mut dyn FnMut(u64, &RunSummary),
}

/// Processes a JSONL stream: groups, plans, records, and (with a runner) executes.
#[allow(clippy::too_many_arguments)]
pub async fn run_jsonl(
    store: &Store,
    playbooks: &PlaybookSet,
    ctx: &Context,
    campaign_settings: &Settings,
    runner: Option<&GraphRunner>,
    input: Box<dyn BufRead + Send>,
    input_name: &str,
    sinks: Sinks<'_>,
) -> Result<RunSummary, RunError> {
    let run_mode = if ctx.force_passive {
        Mode::Passive
    } else {
        ctx.default_mode
    };
    let mut summary = RunSummary {
        run_id: store.start_run(run_mode, input_name, Utc::now()).await?,
        ..RunSummary::default()
    };
    let mut campaigns = Campaigns {
        tracker: tokio::sync::Mutex::new(Tracker::new(campaign_settings.clone())),
        lookups: Lookups::start(store).await?,
        playbooks,
        ctx,
        run_id: summary.run_id,
    };
    let mut latest_seen = None;
    let mut lines = spawn_reader(input);
    let mut in_flight: Option<InFlight> = None;
    let mut bytes_read = 0;
    let mut finished = false;
    while !finished {
        let mut batch = Vec::with_capacity(BATCH_SIZE);
        match lines.recv().await {
            Some(line) => batch.push(line),
            None => finished = true,
        }
        while batch.len() < BATCH_SIZE {
            match lines.try_recv() {
                Ok(line) => batch.push(line),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    finished = true;
                    break;
                }
            }
        }
        let mut parsed = Vec::with_capacity(batch.len());
        for line in batch {
            let (item, bytes) = line?;
            bytes_read = bytes;
            parsed.push(item);
        }
        let received: Vec<Option<&Detection>> = parsed
            .iter()
            .map(|item| item.result.as_ref().ok())
            .collect();
        let identities = runner.map(|r| &*r.safety().identities);
        let completed = identity::completed(identities, &received).await;
        // Grouped (and looked up) under both of an account's names when they are known.
        let detections: Vec<&Detection> = received
            .iter()
            .zip(&completed)
            .filter_map(|(received, completed)| completed.as_ref().or(*received))
            .collect();
        latest_seen = detections
            .iter()
            .map(|d| d.observed_at)
            .chain(latest_seen)
            .max();
        // At most one query for the batch: the stored campaigns its indicators may link to.
        campaigns
            .lookups
            .load_for(store, campaigns.tracker.get_mut(), &detections)
            .await?;
        let items: Vec<Item> = parsed
            .into_iter()
            .zip(completed)
            .map(|(item, completed)| evaluate(item, completed, &mut campaigns))
            .collect();
        if !items.is_empty() {
            let prepared = prepare(summary.run_id, &items, campaigns.tracker.get_mut())?;
            if let Some((write, done)) = in_flight.take() {
                report(
                    store,
                    runner,
                    write.await,
                    done,
                    &mut summary,
                    &mut *sinks.on_outcome,
                    &mut campaigns,
                )
                .await?;
            }
            let writer = store.clone();
            in_flight = Some((
                tokio::spawn(async move { writer.record_prepared(prepared).await }),
                items,
            ));
        }
        // Keep a write in flight only while more input is already waiting; otherwise report
        // (and act) now rather than when the next detection happens to arrive.
        if (finished || lines.is_empty())
            && let Some((write, done)) = in_flight.take()
        {
            report(
                store,
                runner,
                write.await,
                done,
                &mut summary,
                &mut *sinks.on_outcome,
                &mut campaigns,
            )
            .await?;
        }
        let tracker = campaigns.tracker.get_mut();
        if tracker.len() > TRACKER_SOFT_LIMIT
            && let Some(latest) = latest_seen
        {
            let window = tracker.window();
            tracker.forget_before(latest - window);
            campaigns.lookups.forgot();
        }
        (sinks.progress)(bytes_read, &summary);
    }
    store
        .finish_run(
            summary.run_id,
            &serde_json::to_value(&summary).unwrap_or_default(),
        )
        .await?;
    Ok(summary)
}

type Line = Result<(JsonlItem, u64), std::io::Error>;

/// Reads lines on a blocking thread so a slow or live input never stalls recording.
fn spawn_reader(input: Box<dyn BufRead + Send>) -> mpsc::Receiver<Line> {
    let (tx, rx) = mpsc::channel(4 * BATCH_SIZE);
    std::thread::spawn(move || {
        let mut reader = JsonlReader::new(input);
        while let Some(item) = reader.next() {
            let line = item.map(|item| (item, reader.bytes_read()));
            let stop = line.is_err();
            if tx.blocking_send(line).is_err() || stop {
                break;
            }
        }
    });
    rx
}

/// Groups `item` (as `completed` when its account's other name is known) and plans it.
fn evaluate(item: JsonlItem, completed: Option<Detection>, campaigns: &mut Campaigns<'_>) -> Item {
    let reserved = item
        .result
        .as_ref()
        .ok()
        .and_then(campaign::reserved_source);
    if let Some(reason) = reserved {
        return Item::Rejected {
            line: item.line,
            reason,
            raw: item.raw,
        };
    }
    match item.result {
        Ok(detection) => {
            let evaluated = evaluate::evaluate_grouped(
                campaigns.tracker.get_mut(),
                &detection,
                completed.as_ref().unwrap_or(&detection),
                None,
                campaigns.playbooks,
                campaigns.ctx,
            );
            Item::Planned {
                line: item.line,
                detection: Box::new(detection),
                evaluated,
            }
        }
        Err(err) => Item::Rejected {
            line: item.line,
            reason: err.to_string(),
            raw: item.raw,
        },
    }
}

fn prepare(
    run_id: i64,
    items: &[Item],
    tracker: &mut Tracker,
) -> Result<PreparedBatch, StoreError> {
    let entries: Vec<Entry<'_>> = items
        .iter()
        .map(|item| match item {
            Item::Planned {
                line,
                detection,
                evaluated,
            } => Entry::Accepted {
                line: Some(*line),
                detection,
                evaluated,
            },
            Item::Rejected { line, reason, raw } => Entry::Rejected {
                line: Some(*line),
                reason,
                raw,
            },
        })
        .collect();
    evaluate::prepare(run_id, &entries, tracker.take_dirty())
}
