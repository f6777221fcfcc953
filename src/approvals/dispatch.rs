//! Putting gated actions in front of people, and what happens when nobody answers in time.
//!
//! Rounds: round 0 asks the step's approvers; on timeout the policy decides: `deny` (the action
//! is `timed_out`), `approve` (only for gates the step alone asked for: a protected account or a
//! spent budget is denied instead), or `escalate` (round 1 asks `escalate_to` with a fresh
//! deadline; its own timeout denies). Every request, escalation and timeout is audited, and each
//! state change is a compare-and-set, so a click racing the timeout job changes the action once.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::channels::Channels;
use super::outcome::{Outcome, describe};
use super::request::ApprovalRequest;
use super::settings::ApprovalSettings;
use super::{Deciding, TIMEOUT_CHANNEL, policy};
use crate::actions::GraphRunner;
use crate::store::{ActionRow, DecisionEffect, Delivery, NewDecision, Store, StoreError};
use stanch_core::audit::AuditEvent;
use stanch_core::rails::SafetySettings;
use stanch_core::vocab::{ActionStatus, ApprovalState, OnTimeout};

const BATCH: i64 = 100;

/// Everything requesting and timing out approvals needs.
#[derive(Clone)]
pub struct Dispatcher {
    pub store: Store,
    pub directory: Option<GraphRunner>,
    pub settings: std::sync::Arc<ApprovalSettings>,
    /// The cooldowns that suppress a repeated request, as the executor applies them.
    pub safety: std::sync::Arc<SafetySettings>,
    pub channels: std::sync::Arc<Channels>,
}

impl Dispatcher {
    fn deciding(&self) -> Deciding<'_> {
        Deciding {
            store: &self.store,
            directory: self.directory.as_ref(),
            settings: &self.settings,
        }
    }

    /// Sends round 0 for every action that is waiting for a human and was never requested.
    /// Returns how many were requested.
    pub async fn request_new(&self) -> Result<usize, StoreError> {
        let mut requested = 0;
        for row in self.store.unrequested_approvals(BATCH).await? {
            if let Some(kind) = stanch_core::vocab::ActionKind::parse(&row.kind) {
                let cooldown = self.safety.cooldown_secs(kind);
                if self
                    .store
                    .suppress_repeat_request(row.pk, cooldown)
                    .await?
                    .is_some()
                {
                    continue;
                }
            }
            let policy = policy::policy_of(&row, &self.settings);
            let deadline = Utc::now() + secs(policy.timeout_secs);
            if self
                .send_round(&row, &policy, 0, deadline, "approval.requested")
                .await?
            {
                requested += 1;
            }
        }
        Ok(requested)
    }

    /// Tells every channel that carried the request how a person decided (`by`), so the
    /// messages people see match the action's state. Callers report a failure and go on: the
    /// decision is already recorded.
    pub async fn announce_decision(
        &self,
        pk: i64,
        effect: &DecisionEffect,
        by: &str,
    ) -> Result<(), StoreError> {
        let (label, text) = describe(effect, by);
        match self.store.action(pk).await? {
            Some(row) => self.announce(&row, label, Some(by), &text).await,
            None => Ok(()),
        }
    }

    /// Applies each policy's `on_timeout` to the requests whose deadline passed by `now`.
    pub async fn time_out(&self, now: DateTime<Utc>) -> Result<Value, StoreError> {
        let (mut denied, mut approved, mut escalated) = (0, 0, 0);
        for (row, waiting) in self.store.approvals_past_deadline(now, BATCH).await? {
            let policy = policy::policy_of(&row, &self.settings);
            let mut refused = None;
            let next = match policy.on_timeout {
                OnTimeout::Escalate if waiting.round == 0 && !policy.escalate_to.is_empty() => {
                    OnTimeout::Escalate
                }
                OnTimeout::Approve if waiting.round == 0 && policy::timeout_may_approve(&row) => {
                    refused = self.protection_at_timeout(&row).await;
                    if refused.is_none() {
                        OnTimeout::Approve
                    } else {
                        OnTimeout::Deny
                    }
                }
                _ => OnTimeout::Deny,
            };
            match next {
                OnTimeout::Escalate => {
                    let deadline = now + secs(policy.timeout_secs);
                    if self
                        .send_round(&row, &policy, 1, deadline, "approval.escalated")
                        .await?
                    {
                        escalated += 1;
                        tracing::warn!(action = row.pk, kind = %row.kind, target = row.target_upn.as_deref().or(row.target_id.as_deref()).unwrap_or("the tenant"), escalate_to = ?policy.escalate_to, deadline = %deadline.to_rfc3339(), "nobody decided in time; approval escalated");
                        self.announce(
                            &row,
                            ApprovalState::Escalated,
                            None,
                            "Nobody answered in time; escalated",
                        )
                        .await?;
                    }
                }
                OnTimeout::Approve => {
                    if self.approve_by_timeout(&row, &policy).await? {
                        approved += 1;
                        self.announce(
                            &row,
                            ApprovalState::Approved,
                            None,
                            "Approved: nobody answered in time and the policy approves on timeout",
                        )
                        .await?;
                    }
                }
                OnTimeout::Deny => {
                    let event = AuditEvent::new(
                        Utc::now(),
                        "approval.timeout",
                        format!("action/{}", row.pk),
                        json!({"round": waiting.round, "deadline": waiting.deadline,
                               "on_timeout": policy.on_timeout, "result": ActionStatus::Denied,
                               "why": refused}),
                    );
                    if self
                        .store
                        .close_approval(row.pk, waiting.round, ActionStatus::TimedOut, event)
                        .await?
                    {
                        denied += 1;
                        let text = match &refused {
                            Some(why) => format!(
                                "Denied: nobody answered in time, and a timeout cannot approve \
                                 this: {why}"
                            ),
                            None => "Denied: nobody answered in time".to_string(),
                        };
                        self.announce(&row, ApprovalState::TimedOut, None, &text)
                            .await?;
                    }
                }
            }
        }
        Ok(json!({"denied": denied, "approved": approved, "escalated": escalated}))
    }

    /// Tells every channel that delivered a request about action `row` how it ended.
    pub async fn announce(
        &self,
        row: &ActionRow,
        state: ApprovalState,
        by: Option<&str>,
        text: &str,
    ) -> Result<(), StoreError> {
        let outcome = Outcome {
            action: row.pk,
            state,
            by: by.map(str::to_string),
            text: text.to_string(),
        };
        let deliveries = self.store.deliveries(row.pk).await?;
        for (i, delivery) in deliveries.iter().enumerate() {
            if !delivery.ok {
                continue;
            }
            // A channel that posts a follow-up (it cannot edit what it sent) says it once, at
            // its latest delivery, not once per round.
            let later = || {
                deliveries[i + 1..]
                    .iter()
                    .any(|d| d.ok && d.channel == delivery.channel)
            };
            if Channels::follows_up(&delivery.channel) && later() {
                continue;
            }
            if let Err(e) = self.channels.update(delivery, &outcome).await {
                tracing::warn!(action = row.pk, channel = %delivery.channel, error = %e, "cannot update an approval request");
            }
        }
        Ok(())
    }

    async fn send_round(
        &self,
        row: &ActionRow,
        policy: &stanch_core::vocab::ApprovalPolicy,
        round: i64,
        deadline: DateTime<Utc>,
        kind: &str,
    ) -> Result<bool, StoreError> {
        let request = ApprovalRequest::build(self.deciding(), row, policy, round, deadline).await;
        let configured = self.channels.configured();
        let wanted: Vec<&str> = if policy.channels.is_empty() {
            configured.clone()
        } else {
            policy
                .channels
                .iter()
                .map(String::as_str)
                .filter(|c| *c != "link")
                .collect()
        };
        let mut deliveries = Vec::new();
        for channel in wanted {
            let result = self.channels.send(channel, &request).await;
            if let Err(e) = &result {
                tracing::warn!(action = row.pk, channel, error = %e, "cannot deliver an approval request");
            }
            deliveries.push(Delivery {
                round,
                channel: channel.to_string(),
                audience: request.approvers.clone(),
                sent_at: crate::store::timestamp_now(),
                ok: result.is_ok(),
                delivery: result.unwrap_or_else(|e| json!({"error": e})),
            });
        }
        let event = AuditEvent::new(
            Utc::now(),
            kind,
            format!("action/{}", row.pk),
            json!({"round": round, "audience": request.approvers, "quorum": request.quorum,
                   "deadline": request.deadline, "action_hash": request.action_hash,
                   "links": request.links.iter().map(|l| &l.approver).collect::<Vec<_>>(),
                   "deliveries": deliveries.iter().map(|d| json!({"channel": d.channel, "ok": d.ok, "delivery": d.delivery})).collect::<Vec<_>>()}),
        );
        self.store
            .record_approval_round(row.pk, round, deadline, &deliveries, event)
            .await
    }

    /// Why a timeout may not approve `row` although its policy says so: its target turns out to
    /// be protected (named differently from the configuration, or in a protected group), or
    /// cannot be resolved to one account. Only a person may approve those.
    async fn protection_at_timeout(&self, row: &ActionRow) -> Option<String> {
        let action = crate::actions::planned_from_row(row)?;
        action.target.as_ref()?;
        let Some(runner) = &self.directory else {
            return Some("there is no directory to check whether its target is protected".into());
        };
        runner
            .safety()
            .screen(runner, runner.client(), &action)
            .await
            .protected
    }

    async fn approve_by_timeout(
        &self,
        row: &ActionRow,
        policy: &stanch_core::vocab::ApprovalPolicy,
    ) -> Result<bool, StoreError> {
        let decision = NewDecision {
            action_pk: row.pk,
            approver: "stanch:timeout",
            approve: true,
            reason: &format!(
                "no decision within {}; the step's policy approves on timeout",
                stanch_core::util::format_duration(policy.timeout_secs)
            ),
            channel: TIMEOUT_CHANNEL,
            action_hash: &super::action_hash(row),
            quorum: 1,
            raw_sha256: None,
            actor: None,
            at: Utc::now(),
        };
        match self.store.record_decision(&decision).await {
            Ok(_) => Ok(true),
            Err(crate::store::DecisionError::Store(e)) => Err(e),
            Err(_) => Ok(false),
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use stanch_core::intake::parse_generic;
    use stanch_core::vocab::Mode;

    use super::*;
    use crate::store::tests::fixtures::{accepted, at, plan};

    /// Two gated disables of one account, then one round of requests with `safety`.
    async fn requests_sent(safety: SafetySettings) -> usize {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let run = store.start_run(Mode::Active, "test", at()).await.unwrap();
        let detections: Vec<_> = ["1", "2"]
            .iter()
            .map(|id| {
                parse_generic(&format!(
                    r#"{{"id":"{id}","name":"SaaS::Compromise::Login","observed_at":"2021-06-01T00:00:00Z","severity":"high","user":{{"upn":"b.jones@contoso.com"}}}}"#
                ))
                .unwrap()
            })
            .collect();
        let plans: Vec<_> = detections.iter().map(|d| plan(d, Mode::Active)).collect();
        store
            .record_batch(run, &accepted(&detections, &plans))
            .await
            .unwrap();
        let settings = ApprovalSettings::default();
        let dispatcher = Dispatcher {
            store,
            directory: None,
            channels: Arc::new(Channels::new(&settings)),
            settings: Arc::new(settings),
            safety: Arc::new(safety),
        };
        dispatcher.request_new().await.unwrap()
    }

    #[tokio::test]
    async fn configured_cooldowns_apply_to_requests_without_a_graph_connection() {
        assert_eq!(
            requests_sent(SafetySettings::default()).await,
            1,
            "the built-in 15-minute cooldown suppresses the repeat request"
        );
        let no_cooldown = SafetySettings {
            cooldown: BTreeMap::from([("disable_account".to_string(), 0)]),
            ..SafetySettings::default()
        };
        assert_eq!(
            requests_sent(no_cooldown).await,
            2,
            "`safety.cooldown.disable_account: 0s` asks about both"
        );
    }
}
