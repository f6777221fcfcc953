//! The processing loop behind `stanch run` and `stanch demo`: read detections, plan each one,
//! and persist detections, plans and audit records in batches.
//!
//! A batch is written in one transaction before any of its results are reported, so what is
//! printed has been durably recorded; a rejected line is audited like any other input.

use std::collections::BTreeMap;
use std::io::BufRead;

use chrono::Utc;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::engine::{self, Context, Gate, Mode, Plan};
use crate::intake::{Detection, JsonlReader};
use crate::playbook::PlaybookSet;
use crate::store::{Evaluation, PreparedBatch, Store, StoreError};

/// How many detections are written per transaction.
pub const BATCH_SIZE: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reading the input: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the batch writer stopped unexpectedly: {0}")]
    Task(String),
}

/// One input line's result, handed to the caller once it is durably recorded.
pub enum Outcome<'a> {
    Planned {
        line: usize,
        detection: &'a Detection,
        plan: &'a Plan,
    },
    Rejected {
        line: usize,
        reason: &'a str,
    },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub detections: usize,
    pub rejected: usize,
    /// Detections that at least one playbook matched.
    pub matched: usize,
    pub actions: usize,
    pub passive_actions: usize,
    pub active_actions: usize,
    pub approvals: usize,
    pub by_action: BTreeMap<String, usize>,
}

enum Item {
    Planned {
        line: usize,
        detection: Box<Detection>,
        plan: Plan,
    },
    Rejected {
        line: usize,
        reason: String,
        raw: String,
    },
}

/// A batch being written, and its items, reported once the write has committed.
type InFlight = (JoinHandle<Result<(), StoreError>>, Vec<Item>);

/// Processes a JSONL stream; `progress` is called after each batch with the bytes consumed.
pub async fn run_jsonl<R: BufRead>(
    store: &Store,
    playbooks: &PlaybookSet,
    ctx: &Context,
    input: R,
    input_name: &str,
    mut on_outcome: impl FnMut(&Outcome<'_>),
    mut progress: impl FnMut(u64, &RunSummary),
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
    let mut reader = JsonlReader::new(input);
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH_SIZE);
    // While one batch is being written, the next is read and planned: the write runs on its
    // own task, so parsing and planning overlap with SQLite's work instead of waiting for it.
    let mut in_flight: Option<InFlight> = None;
    loop {
        let next = reader.next().transpose()?;
        let finished = next.is_none();
        if let Some(item) = next {
            batch.push(match item.result {
                Ok(detection) => {
                    let plan = engine::plan(&detection, playbooks, ctx);
                    Item::Planned {
                        line: item.line,
                        detection: Box::new(detection),
                        plan,
                    }
                }
                Err(err) => Item::Rejected {
                    line: item.line,
                    reason: err.to_string(),
                    raw: item.raw,
                },
            });
        }
        if batch.len() >= BATCH_SIZE || (finished && !batch.is_empty()) {
            let prepared = prepare(summary.run_id, &batch)?;
            if let Some((write, items)) = in_flight.take() {
                report(write.await, items, &mut summary, &mut on_outcome)?;
            }
            let store = store.clone();
            let write = tokio::spawn(async move { store.record_prepared(prepared).await });
            in_flight = Some((
                write,
                std::mem::replace(&mut batch, Vec::with_capacity(BATCH_SIZE)),
            ));
            progress(reader.bytes_read(), &summary);
        }
        if finished {
            break;
        }
    }
    if let Some((write, items)) = in_flight.take() {
        report(write.await, items, &mut summary, &mut on_outcome)?;
    }
    progress(reader.bytes_read(), &summary);
    store
        .finish_run(
            summary.run_id,
            &serde_json::to_value(&summary).unwrap_or_default(),
        )
        .await?;
    Ok(summary)
}

fn prepare(run_id: i64, items: &[Item]) -> Result<PreparedBatch, StoreError> {
    let evaluations: Vec<Evaluation<'_>> = items
        .iter()
        .map(|item| match item {
            Item::Planned {
                line,
                detection,
                plan,
            } => Evaluation::Accepted {
                line: Some(*line),
                detection,
                plan,
            },
            Item::Rejected { line, reason, raw } => Evaluation::Rejected {
                line: Some(*line),
                reason: reason.clone(),
                raw,
            },
        })
        .collect();
    PreparedBatch::new(run_id, &evaluations, Utc::now())
}

/// Reports a written batch's outcomes, now that they are durable.
fn report(
    written: Result<Result<(), StoreError>, tokio::task::JoinError>,
    items: Vec<Item>,
    summary: &mut RunSummary,
    on_outcome: &mut impl FnMut(&Outcome<'_>),
) -> Result<(), RunError> {
    written.map_err(|e| RunError::Task(e.to_string()))??;
    for item in &items {
        match item {
            Item::Planned {
                line,
                detection,
                plan,
            } => {
                summary.count(plan);
                on_outcome(&Outcome::Planned {
                    line: *line,
                    detection,
                    plan,
                });
            }
            Item::Rejected { line, reason, .. } => {
                summary.rejected += 1;
                on_outcome(&Outcome::Rejected {
                    line: *line,
                    reason,
                });
            }
        }
    }
    Ok(())
}

impl RunSummary {
    fn count(&mut self, plan: &Plan) {
        self.detections += 1;
        self.matched += usize::from(!plan.matched.is_empty());
        for action in &plan.actions {
            self.actions += 1;
            match action.mode {
                Mode::Passive => self.passive_actions += 1,
                Mode::Active => self.active_actions += 1,
            }
            self.approvals += usize::from(matches!(action.gate, Gate::Approval { .. }));
            *self.by_action.entry(action.action.to_string()).or_default() += 1;
        }
    }
}
