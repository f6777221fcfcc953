//! Polling Graph `GET /security/alerts_v2` for new alerts.
//!
//! The cursor is the newest `createdDateTime` seen plus the ids of the alerts created at exactly
//! that instant. The next poll asks for `createdDateTime ge <cursor>` and drops those ids, so an
//! alert sharing the cursor's timestamp is neither repeated nor lost. The cursor is persisted
//! only by [`commit_watermark`], which the caller calls after storing the detections: a crash
//! in between fetches the same alerts again (at-least-once; detections keep the alert id as
//! their `id`, so repeats are recognizable) and never skips one.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::graph::{GraphClient, GraphError, GraphPath};
use crate::store::{Store, StoreError};
use stanch_core::intake::Detection;
use stanch_core::intake::formats::{Format, to_detections};

/// Name of the alert poller's row in `watermarks`.
pub const ALERTS_WATERMARK: &str = "graph-alerts-v2";
/// `$top` of each page.
pub const PAGE_SIZE: usize = 100;

/// Where the alert poller is: the newest `createdDateTime` seen (verbatim from Graph) and the
/// ids already taken at exactly that instant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AlertWatermark {
    pub created: Option<String>,
    pub ids: BTreeSet<String>,
}

/// An alert that could not become a detection.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedAlert {
    pub id: Option<String>,
    pub reason: String,
    pub alert: Value,
}

/// What one poll found. Nothing is persisted until [`commit_watermark`].
#[derive(Debug, Clone)]
pub struct PollOutcome {
    pub detections: Vec<Detection>,
    pub rejected: Vec<RejectedAlert>,
    /// Alerts returned by Graph, including ones dropped as already seen.
    pub fetched: usize,
    /// `max_pages` was reached with pages left; the next poll continues from the watermark.
    pub truncated: bool,
    /// The cursor as it was before this poll.
    pub previous: AlertWatermark,
    /// The cursor to commit once the detections are stored.
    pub watermark: AlertWatermark,
}

impl PollOutcome {
    /// A JSON summary for `schedule_runs`.
    pub fn summary(&self) -> Value {
        serde_json::json!({
            "fetched": self.fetched,
            "detections": self.detections.len(),
            "rejected": self.rejected.iter().map(|r| serde_json::json!({
                "id": r.id, "reason": r.reason,
            })).collect::<Vec<_>>(),
            "truncated": self.truncated,
            "watermark": self.watermark.created,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("cannot list graph security alerts: {0}")]
    Graph(GraphError),
    #[error("cannot read or write the alert watermark: {0}")]
    Store(StoreError),
    #[error("cannot store the polled detections, the watermark was not advanced: {0}")]
    Storing(String),
    #[error("the stored alert watermark `{value}` is not valid: {reason}")]
    Watermark { value: String, reason: String },
}

// By hand, not `#[from]`: each message already tells its cause, so it is not also a `source`.
impl From<GraphError> for PollError {
    fn from(e: GraphError) -> Self {
        PollError::Graph(e)
    }
}

impl From<StoreError> for PollError {
    fn from(e: StoreError) -> Self {
        PollError::Store(e)
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn load(store: &Store) -> Result<AlertWatermark, PollError> {
    let Some(value) = store.watermark(ALERTS_WATERMARK).await? else {
        return Ok(AlertWatermark::default());
    };
    let mark: AlertWatermark = serde_json::from_str(&value).map_err(|e| PollError::Watermark {
        value: value.clone(),
        reason: e.to_string(),
    })?;
    if let Some(created) = &mark.created
        && parse_time(created).is_none()
    {
        return Err(PollError::Watermark {
            value,
            reason: format!("`{created}` is not an RFC 3339 time"),
        });
    }
    Ok(mark)
}

/// Fetches alerts created since the stored watermark (all alerts on the first poll), following
/// `nextLink` for at most `max_pages` pages, and converts them with the `graph-alert` format.
pub async fn poll_alerts(
    client: &GraphClient,
    store: &Store,
    max_pages: usize,
) -> Result<PollOutcome, PollError> {
    let previous = load(store).await?;
    let mut path = GraphPath::new(["security", "alerts_v2"]);
    if let Some(created) = &previous.created {
        path = path.query("$filter", &format!("createdDateTime ge {created}"));
    }
    let path = path
        .query("$orderby", "createdDateTime asc")
        .query("$top", &PAGE_SIZE.to_string());
    let paged = client.get_pages(path, max_pages).await?;
    let mut outcome = PollOutcome {
        detections: Vec::new(),
        rejected: Vec::new(),
        fetched: paged.items.len(),
        truncated: paged.truncated,
        watermark: previous.clone(),
        previous,
    };
    let floor = outcome.previous.created.as_deref().and_then(parse_time);
    for alert in paged.items {
        accept(&mut outcome, floor, alert);
    }
    Ok(outcome)
}

/// Takes one alert into `outcome`, unless it is at or before the cursor and already seen.
fn accept(outcome: &mut PollOutcome, floor: Option<DateTime<Utc>>, alert: Value) {
    let id = alert.get("id").and_then(Value::as_str).map(str::to_string);
    let created_text = alert
        .get("createdDateTime")
        .and_then(Value::as_str)
        .map(str::to_string);
    let created = created_text.as_deref().and_then(parse_time);
    if let (Some(floor), Some(at)) = (floor, created) {
        let seen = id
            .as_ref()
            .is_some_and(|id| outcome.previous.ids.contains(id));
        if at < floor || (at == floor && seen) {
            return;
        }
    }
    // Advance the cursor past every alert with a usable time and id, converted or not, so a
    // malformed alert is reported once rather than on every poll.
    if let (Some(at), Some(text), Some(id)) = (created, &created_text, &id) {
        let current = outcome.watermark.created.as_deref().and_then(parse_time);
        match current {
            Some(cur) if at < cur => {}
            Some(cur) if at == cur => {
                outcome.watermark.ids.insert(id.clone());
            }
            _ => {
                outcome.watermark.created = Some(text.clone());
                outcome.watermark.ids = BTreeSet::from([id.clone()]);
            }
        }
    }
    let reject = |reason: String| RejectedAlert {
        id: id.clone(),
        reason,
        alert: alert.clone(),
    };
    if created.is_none() {
        let reason = match &created_text {
            Some(t) => format!("createdDateTime `{t}` is not an RFC 3339 time"),
            None => "missing createdDateTime".to_string(),
        };
        outcome.rejected.push(reject(reason));
        return;
    }
    match to_detections(Format::GraphAlert, alert.clone()) {
        Ok(detections) => outcome.detections.extend(detections),
        Err(e) => outcome.rejected.push(reject(e.to_string())),
    }
}

/// Persists the cursor of `outcome`; call it after its detections are stored.
pub async fn commit_watermark(store: &Store, outcome: &PollOutcome) -> Result<(), PollError> {
    if outcome.watermark == outcome.previous {
        return Ok(());
    }
    let value = serde_json::to_string(&outcome.watermark).map_err(|e| PollError::Watermark {
        value: format!("{:?}", outcome.watermark),
        reason: e.to_string(),
    })?;
    store.set_watermark(ALERTS_WATERMARK, &value).await?;
    Ok(())
}

/// One complete poll: fetch, hand the detections to `store_detections` (which must have stored
/// them durably when it returns `Ok`), then commit the watermark. Returns the poll's summary for
/// `schedule_runs`. If storing fails the watermark stays put and the next poll fetches again.
pub async fn poll_and_store<F, Fut>(
    client: &GraphClient,
    store: &Store,
    max_pages: usize,
    store_detections: F,
) -> Result<Value, PollError>
where
    F: FnOnce(Vec<Detection>, Vec<RejectedAlert>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut outcome = poll_alerts(client, store, max_pages).await?;
    let summary = outcome.summary();
    let detections = std::mem::take(&mut outcome.detections);
    let rejected = std::mem::take(&mut outcome.rejected);
    store_detections(detections, rejected)
        .await
        .map_err(PollError::Storing)?;
    commit_watermark(store, &outcome).await?;
    Ok(summary)
}

#[cfg(test)]
mod tests;
