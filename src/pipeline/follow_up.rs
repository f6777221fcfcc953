//! What follows an action: a succeeded `confirm_compromised` confirms the campaign and emits a
//! detection per member still to contain (and one for the infrastructure); a `sweep_signins`
//! brings the accounts it found into the campaign; a `revoke_app_consent` names each app whose
//! consent it took, for a person to disable tenant-wide. Follow-ups are recorded through the same
//! evaluate → prepare path as any detection.
//!
//! `stanch run` keeps one [`Tracker`] for the whole input (see `run.rs`); `stanch serve` uses
//! the [`Recorder`](super::Recorder), which keeps one for the life of the server.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeSet;

use super::evaluate::{Entry, Evaluated, evaluate, prepare};
use crate::actions::ActionResult;
use crate::store::{Store, StoreError};
use stanch_core::audit::AuditEvent;
use stanch_core::campaign::{
    CampaignEvent, Confirmation, ListKind, Tracker, confirmed_detection, consented_app_detection,
    member_detection,
};
use stanch_core::engine::{Context, Plan, PlannedAction};
use stanch_core::intake::{Detection, UserRef, is_object_id, is_upn};
use stanch_core::playbook::PlaybookSet;
use stanch_core::vocab::{ActionKind, ActionOutcome};

/// A detection stanch emits for a campaign, to record and plan like any other.
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub detection: Detection,
    /// The campaign it was made for; none when it is grouped like a detection from outside.
    pub campaign: Option<String>,
}

/// A follow-up once recorded: its detection's key in the store, and its plan.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub seq: i64,
    pub detection: Detection,
    pub plan: Plan,
}

/// Loads from the store every campaign these detections may link to: one indexed query on
/// their indicators, within the window around their times.
pub async fn load_for(
    store: &Store,
    tracker: &mut Tracker,
    detections: &[&Detection],
) -> Result<usize, StoreError> {
    let (Some(from), Some(to)) = (
        detections.iter().map(|d| d.observed_at).min(),
        detections.iter().map(|d| d.observed_at).max(),
    ) else {
        return Ok(0);
    };
    let keys: BTreeSet<String> = detections
        .iter()
        .flat_map(|d| tracker.indicators(d))
        .map(|i| i.key())
        .collect();
    if keys.is_empty() {
        return Ok(0);
    }
    let window = tracker.window();
    store
        .load_campaigns(tracker, &keys, from - window, to + window)
        .await
}

pub(crate) fn audit_events(events: &[CampaignEvent], at: DateTime<Utc>) -> Vec<AuditEvent> {
    events
        .iter()
        .map(|event| {
            AuditEvent::new(
                at,
                event.kind(),
                format!("campaign/{}", event.campaign()),
                serde_json::to_value(event).unwrap_or_default(),
            )
        })
        .collect()
}

/// Confirms a campaign (once) and returns what must follow: a detection for every member not
/// yet contained, and one for the infrastructure. `contained` is the account whose own
/// confirmation this is (its playbook already contains it). With `again` (an operator
/// confirming anew), an already-confirmed campaign emits what is new since.
pub async fn confirm_campaign(
    store: &Store,
    tracker: &mut Tracker,
    id: &str,
    confirmation: Confirmation,
    contained: Option<&UserRef>,
    again: bool,
) -> Result<Vec<FollowUp>, StoreError> {
    let Some(live) = store.load_campaign(tracker, id).await? else {
        return Ok(Vec::new());
    };
    let at = confirmation.at;
    let by = confirmation.by.clone();
    let event = tracker.confirm(&live, confirmation);
    if let Some(user) = contained {
        tracker.mark_contained(
            &live,
            user,
            at,
            format!("contained by its own playbook ({by})"),
        );
    }
    let newly = event.is_some();
    let events = audit_events(&event.into_iter().collect::<Vec<_>>(), Utc::now());
    store
        .record_campaign_changes(tracker.take_dirty(), &events)
        .await?;
    if !newly && !again {
        return Ok(Vec::new());
    }
    let Some(campaign) = tracker.get(&live) else {
        return Ok(Vec::new());
    };
    let mut waiting: Vec<_> = campaign.members().iter().filter(|m| !m.contained).collect();
    // In the order they joined: the earliest compromised are contained first.
    waiting.sort_by(|a, b| (a.joined_at, &a.account).cmp(&(b.joined_at, &b.account)));
    let mut follow_ups: Vec<FollowUp> = waiting
        .into_iter()
        .map(|m| FollowUp {
            detection: member_detection(campaign, m, at),
            campaign: Some(live.clone()),
        })
        .collect();
    if !campaign
        .list(ListKind::Networks, None)
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        follow_ups.push(FollowUp {
            detection: confirmed_detection(campaign, at),
            campaign: Some(live.clone()),
        });
    }
    Ok(follow_ups)
}

/// The member detection for `user` if it joined a confirmed campaign and is not contained yet.
pub fn member_follow_up(
    tracker: &Tracker,
    id: &str,
    user: &UserRef,
    at: DateTime<Utc>,
) -> Option<FollowUp> {
    let campaign = tracker.get(id)?;
    campaign.confirmed.as_ref()?;
    let i = [user.upn.as_deref(), user.id.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|name| campaign.member_index(name))?;
    let member = &campaign.members()[i];
    (!member.contained).then(|| FollowUp {
        detection: member_detection(campaign, member, at),
        campaign: Some(campaign.id.clone()),
    })
}

/// Whether a succeeded `kind` may imply work for other accounts ([`after_action`]).
pub fn may_follow_up(kind: ActionKind) -> bool {
    matches!(
        kind,
        ActionKind::ConfirmCompromised | ActionKind::SweepSignins | ActionKind::RevokeAppConsent
    )
}

/// What follows a succeeded action: a confirmation, or the accounts a sweep found.
pub async fn after_action(
    store: &Store,
    tracker: &mut Tracker,
    detection_seq: i64,
    action: &PlannedAction,
    result: &ActionResult,
) -> Result<Vec<FollowUp>, StoreError> {
    if result.status != ActionOutcome::Succeeded || !may_follow_up(action.action) {
        return Ok(Vec::new());
    }
    match action.action {
        ActionKind::ConfirmCompromised => {
            let Some((observed_at, Some(campaign))) =
                store.detection_campaign(detection_seq).await?
            else {
                return Ok(Vec::new());
            };
            let target = action
                .target
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_default();
            let confirmation = Confirmation {
                at: observed_at,
                by: format!("confirm_compromised on {target} (action {})", action.key),
                reason: format!(
                    "the compromise of {target} was confirmed to Identity Protection by step `{}` of `{}`",
                    action.step, action.playbook
                ),
            };
            confirm_campaign(
                store,
                tracker,
                &campaign,
                confirmation,
                action.target.as_ref(),
                false,
            )
            .await
        }
        ActionKind::SweepSignins => sweep_found(store, tracker, action, result).await,
        ActionKind::RevokeAppConsent => consented_apps(store, detection_seq, action, result).await,
        _ => Ok(Vec::new()),
    }
}

/// One detection per app whose consent was revoked, so a playbook can ask a person to disable
/// the app for the whole tenant (which no playbook may do alone).
async fn consented_apps(
    store: &Store,
    detection_seq: i64,
    action: &PlannedAction,
    result: &ActionResult,
) -> Result<Vec<FollowUp>, StoreError> {
    let (Some(user), Some(outcome)) = (action.target.as_ref(), result.outcome.as_ref()) else {
        return Ok(Vec::new());
    };
    let Some((observed_at, campaign)) = store.detection_campaign(detection_seq).await? else {
        return Ok(Vec::new());
    };
    let revoked_by = format!("revoke_app_consent (action {})", action.key);
    Ok(outcome["revoked_apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|app| app["id"].as_str().is_some_and(|id| !id.is_empty()))
        .map(|app| FollowUp {
            detection: consented_app_detection(app, user, &revoked_by, observed_at),
            campaign: campaign.clone(),
        })
        .collect())
}

async fn sweep_found(
    store: &Store,
    tracker: &mut Tracker,
    action: &PlannedAction,
    result: &ActionResult,
) -> Result<Vec<FollowUp>, StoreError> {
    let Some(id) = action.params.get("campaign").and_then(Value::as_str) else {
        return Ok(Vec::new());
    };
    let Some(live) = store.load_campaign(tracker, id).await? else {
        return Ok(Vec::new());
    };
    let found = result
        .outcome
        .as_ref()
        .and_then(|o| o["signed_in"].as_array().cloned())
        .unwrap_or_default();
    let mut events = Vec::new();
    let mut joined = Vec::new();
    for sign_in in &found {
        let text = |key: &str| sign_in[key].as_str().map(str::to_string);
        let user = UserRef {
            upn: text("upn").filter(|u| is_upn(u)),
            id: text("id").filter(|i| is_object_id(i)),
        };
        let at = text("at").and_then(|t| DateTime::parse_from_rfc3339(&t).ok());
        let (Some(at), true) = (at, user.upn.is_some() || user.id.is_some()) else {
            continue;
        };
        let via = format!(
            "sweep_signins (action {}): signed in from {} at {}",
            action.key,
            text("ip").unwrap_or_default(),
            text("at").unwrap_or_default()
        );
        if let Some(event) = tracker.join(&live, &user, at.to_utc(), via) {
            events.push(event);
            joined.push((user, at.to_utc()));
        }
    }
    if events.is_empty() {
        return Ok(Vec::new());
    }
    store
        .record_campaign_changes(tracker.take_dirty(), &audit_events(&events, Utc::now()))
        .await?;
    let until = action
        .params
        .get("until")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc());
    Ok(joined
        .iter()
        .filter_map(|(user, at)| member_follow_up(tracker, &live, user, until.unwrap_or(*at)))
        .collect())
}

/// Records follow-ups through the normal path: assigned to their campaign, planned, written with
/// their audit records in one transaction. One already recorded (same id) is not made again.
pub async fn record_follow_ups(
    store: &Store,
    tracker: &mut Tracker,
    run_id: i64,
    playbooks: &PlaybookSet,
    ctx: &Context,
    follow_ups: Vec<FollowUp>,
) -> Result<Vec<Recorded>, StoreError> {
    let mut fresh = Vec::with_capacity(follow_ups.len());
    for f in follow_ups {
        if !store
            .detection_recorded(&f.detection.source, &f.detection.id)
            .await?
        {
            fresh.push(f);
        }
    }
    let follow_ups = fresh;
    if follow_ups.is_empty() {
        return Ok(Vec::new());
    }
    let evaluated: Vec<Evaluated> = follow_ups
        .iter()
        .map(|f| evaluate(tracker, &f.detection, f.campaign.as_deref(), playbooks, ctx))
        .collect();
    let entries: Vec<Entry<'_>> = follow_ups
        .iter()
        .zip(&evaluated)
        .map(|(f, evaluated)| Entry::Accepted {
            line: None,
            detection: &f.detection,
            evaluated,
        })
        .collect();
    let batch = prepare(run_id, &entries, tracker.take_dirty())?;
    let seqs = store.record_prepared(batch).await?;
    Ok(follow_ups
        .into_iter()
        .zip(evaluated)
        .zip(seqs)
        .map(|((f, e), seq)| Recorded {
            seq,
            detection: f.detection,
            plan: e.plan,
        })
        .collect())
}
