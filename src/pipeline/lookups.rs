//! Asking the store only what it can answer: which indicators were already looked up over which
//! time range, and whether anything was stored before this process started.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::store::{Store, StoreError};
use stanch_core::campaign::Tracker;
use stanch_core::intake::Detection;

/// What a long run has already asked the store, so it asks each indicator once per time range.
///
/// Everything this process wrote is in its tracker; the store can only add campaigns that existed
/// before the run started (`stored`, the span of their sightings), so a batch outside that span,
/// or an indicator already looked up over a range covering the batch's, needs no query.
#[derive(Debug, Default)]
pub struct Lookups {
    stored: Option<(DateTime<Utc>, DateTime<Utc>)>,
    covered: std::collections::HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
}

impl Lookups {
    pub async fn start(store: &Store) -> Result<Lookups, StoreError> {
        Ok(Lookups {
            stored: store.campaign_span().await?,
            covered: Default::default(),
        })
    }

    /// For a long-lived process: anything may be in the store (others write too), so only the
    /// indicators already looked up over the batch's range are skipped.
    pub fn unbounded() -> Lookups {
        Lookups {
            stored: Some((DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)),
            covered: Default::default(),
        }
    }

    /// The tracker forgot campaigns this run wrote: from now on they may only be in the store.
    pub fn forgot(&mut self) {
        self.stored = Some((DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC));
        self.covered.clear();
    }

    /// [`load_for`], skipping what is known to find nothing new.
    pub async fn load_for(
        &mut self,
        store: &Store,
        tracker: &mut Tracker,
        detections: &[&Detection],
    ) -> Result<usize, StoreError> {
        let (Some(first), Some(last)) = (
            detections.iter().map(|d| d.observed_at).min(),
            detections.iter().map(|d| d.observed_at).max(),
        ) else {
            return Ok(0);
        };
        let window = tracker.window();
        let (from, to) = (first - window, last + window);
        let Some((stored_from, stored_to)) = self.stored else {
            return Ok(0);
        };
        if to < stored_from || from > stored_to {
            return Ok(0);
        }
        let keys: BTreeSet<String> = detections
            .iter()
            .flat_map(|d| tracker.indicators(d))
            .map(|i| i.key())
            .filter(|key| {
                self.covered
                    .get(key)
                    .is_none_or(|(f, t)| *f > from || *t < to)
            })
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let loaded = store.load_campaigns(tracker, &keys, from, to).await?;
        for key in keys {
            self.covered.insert(key, (from, to));
        }
        Ok(loaded)
    }
}
