//! Message trace answers, kept for a while: message trace allows 100 requests per 5 minutes for
//! the whole tenant, so the several detections one wave raises, and retries, reuse one answer.
//! A leaf, so the runner can hold the cache without depending on the purge executor.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a message trace answer is reused.
const TRACE_TTL: Duration = Duration::from_secs(300);

/// (sender, internetMessageId): what one message trace answer is about.
pub(super) type TraceKey = (String, String);

/// Message trace answers (the recipients), shared by a runner's clones.
#[derive(Default)]
pub struct TraceCache(Mutex<HashMap<TraceKey, (Instant, Vec<String>)>>);

impl TraceCache {
    pub(super) fn get(&self, key: &TraceKey) -> Option<Vec<String>> {
        let cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < TRACE_TTL)
            .map(|(_, rows)| rows.clone())
    }

    pub(super) fn put(&self, key: TraceKey, recipients: Vec<String>) {
        let mut cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|_, (at, _)| at.elapsed() < TRACE_TTL);
        cache.insert(key, (Instant::now(), recipients));
    }
}
