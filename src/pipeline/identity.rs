//! One account, one member: when the rails resolve an action's target through the directory,
//! the campaigns learn that its UPN and object id are one account (`Tracker::learn_identity`),
//! so one person named two ways is neither two members nor in two campaigns. The actions report
//! the identity in their result; this module carries it to the tracker and the store (actions
//! never reach into the pipeline).

use std::collections::BTreeSet;

use chrono::Utc;

use super::follow_up::audit_events;
use crate::actions::{ActionResult, Identities};
use crate::store::{Store, StoreError};
use stanch_core::campaign::{Indicator, Tracker};
use stanch_core::intake::Detection;

/// Each detection as grouping is to see it: with its account's other name when the executor
/// has resolved the account already (a look in its cache, never a Graph call: intake does not
/// wait on the directory). `None` where there is nothing to add.
pub async fn completed(
    identities: Option<&Identities>,
    detections: &[Option<&Detection>],
) -> Vec<Option<Detection>> {
    let mut out = Vec::with_capacity(detections.len());
    for detection in detections {
        let user = match (identities, detection.and_then(|d| d.user.as_ref())) {
            (Some(identities), Some(user)) => identities.complete(user).await,
            _ => None,
        };
        out.push(user.zip(*detection).map(|(user, d)| Detection {
            user: Some(user),
            ..d.clone()
        }));
    }
    out
}

/// The object id and UPN the action's screening resolved its target to, when it learned both.
pub fn learned(result: &ActionResult) -> Option<(&str, &str)> {
    let identity = result.identity.as_ref()?;
    Some((identity.id.as_str(), identity.upn.as_deref()?))
}

/// Teaches the tracker what the screening of an action (of the detection recorded at
/// `detection_seq`) learned, and writes what changed with its audit records. Campaigns holding
/// either name around the detection's time are loaded first: they may be only in the store.
pub async fn learn_identity(
    store: &Store,
    tracker: &mut Tracker,
    detection_seq: i64,
    result: &ActionResult,
) -> Result<(), StoreError> {
    match lesson(store, tracker.window(), detection_seq, result).await? {
        Some(lesson) => learn(store, tracker, lesson, Writes::Now).await,
        None => Ok(()),
    }
}

/// When what a tracker learnt reaches the store.
#[derive(Clone, Copy, PartialEq)]
pub enum Writes {
    /// At once, with its audit records.
    Now,
    /// A change that is only a name learnt stays in the tracker, to be written with the next
    /// batch (`flush_campaigns`); one with audit records (a merge) is written at once.
    Batched,
}

/// What an action's screening taught about its target: both its names, and the stored
/// campaigns that saw either around the detection's time (which the tracker may not hold).
pub struct Lesson {
    id: String,
    upn: String,
    action_key: String,
    campaigns: BTreeSet<String>,
}

/// The lesson of `result`, when its screening learnt both names. Only reads the store, so
/// callers take it before they lock the tracker that many actions share.
pub async fn lesson(
    store: &Store,
    window: chrono::Duration,
    detection_seq: i64,
    result: &ActionResult,
) -> Result<Option<Lesson>, StoreError> {
    let Some((id, upn)) = learned(result) else {
        return Ok(None);
    };
    let campaigns = match store.detection_campaign(detection_seq).await? {
        Some((at, _)) => {
            let keys: BTreeSet<String> = [id, upn]
                .iter()
                .map(|name| Indicator::Account(name.to_lowercase().into()).key())
                .collect();
            store
                .campaigns_seeing(&keys, at - window, at + window)
                .await?
        }
        None => BTreeSet::new(),
    };
    Ok(Some(Lesson {
        id: id.to_string(),
        upn: upn.to_string(),
        action_key: result.key.clone(),
        campaigns,
    }))
}

/// Teaches `tracker` the lesson, with the campaign changes written as `writes` says.
pub async fn learn(
    store: &Store,
    tracker: &mut Tracker,
    lesson: Lesson,
    writes: Writes,
) -> Result<(), StoreError> {
    store.load_campaign_ids(tracker, lesson.campaigns).await?;
    let via = format!(
        "the directory resolved {} to object id {} (screening action {})",
        lesson.upn, lesson.id, lesson.action_key
    );
    let events = tracker.learn_identity(&lesson.id, &lesson.upn, &via);
    if events.is_empty() && writes == Writes::Batched {
        return Ok(());
    }
    let dirty = tracker.take_dirty();
    if dirty.is_empty() && events.is_empty() {
        return Ok(());
    }
    store
        .record_campaign_changes(dirty, &audit_events(&events, Utc::now()))
        .await
}

/// Writes what the tracker changed and has not written yet, in one transaction.
pub async fn flush_campaigns(store: &Store, tracker: &mut Tracker) -> Result<(), StoreError> {
    let dirty = tracker.take_dirty();
    if dirty.is_empty() {
        return Ok(());
    }
    store.record_campaign_changes(dirty, &[]).await
}
