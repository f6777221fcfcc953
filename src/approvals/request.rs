//! An approval request as people see it: the detection, the account, the planned action with
//! its exact parameters, why it is gated, who is asked, the deadline, and (when links are on)
//! one signed link per person.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::link::{LinkClaims, sign_link};
use super::{Deciding, action_hash, policy};
use crate::store::ActionRow;
use stanch_core::vocab::ApprovalPolicy;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRequest {
    pub action: i64,
    pub action_hash: String,
    /// 0 for the step's approvers, 1 after an escalation.
    pub round: i64,
    pub kind: String,
    pub target: Option<String>,
    pub params: Value,
    pub playbook: String,
    pub step: String,
    pub reasons: Value,
    /// The detection that led to the action, as received.
    pub detection: Value,
    /// The audience as the policy names it (people, `group:`s).
    pub approvers: Vec<String>,
    pub quorum: u32,
    pub deadline: String,
    pub links: Vec<ApprovalLink>,
}

/// A signed link for one person (`approvals.link_secret` and `approvals.public_url` set).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalLink {
    pub approver: String,
    pub url: String,
}

impl ApprovalRequest {
    pub async fn build(
        ctx: Deciding<'_>,
        row: &ActionRow,
        policy: &ApprovalPolicy,
        round: i64,
        deadline: DateTime<Utc>,
    ) -> ApprovalRequest {
        let detection = ctx
            .store
            .detection_at(row.detection_seq)
            .await
            .ok()
            .flatten()
            .map(|d| d["detection"].clone())
            .unwrap_or(Value::Null);
        let hash = action_hash(row);
        let audience = policy::audience(policy, round).to_vec();
        let mut links = Vec::new();
        if let (Some(secret), Some(base)) = (&ctx.settings.link_secret, &ctx.settings.public_url) {
            let expiry = deadline
                .timestamp()
                .min(Utc::now().timestamp() + ctx.settings.link_ttl_secs as i64);
            for person in policy::people(ctx.directory, &audience).await {
                let claims = LinkClaims {
                    a: row.pk,
                    h: hash.clone(),
                    u: person.clone(),
                    e: expiry,
                };
                links.push(ApprovalLink {
                    url: format!(
                        "{base}/approve/{}",
                        sign_link(secret.expose().as_bytes(), &claims)
                    ),
                    approver: person,
                });
            }
        }
        ApprovalRequest {
            action: row.pk,
            action_hash: hash,
            round,
            kind: row.kind.clone(),
            target: row.target_upn.clone().or_else(|| row.target_id.clone()),
            params: row.params.clone(),
            playbook: row.playbook.clone(),
            step: row.step.clone(),
            reasons: row.gate["reasons"].clone(),
            detection,
            approvers: audience,
            quorum: policy.quorum.max(1),
            deadline: deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            links,
        }
    }

    /// The request as one person's own message shows it: with their link alone.
    pub fn for_one(&self, link: &ApprovalLink) -> ApprovalRequest {
        ApprovalRequest {
            links: vec![link.clone()],
            ..self.clone()
        }
    }

    /// One line for notifications and chat fallbacks.
    pub fn summary(&self) -> String {
        format!(
            "Approval needed{}: {} on {} (action #{}, {}/{})",
            if self.round > 0 { " (escalated)" } else { "" },
            self.kind,
            self.target.as_deref().unwrap_or("the tenant"),
            self.action,
            self.playbook,
            self.step
        )
    }

    /// The evidence as label/value pairs, in the order approvers should read it.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let d = &self.detection;
        let text = |v: &Value| match v {
            Value::Null => "—".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut facts = vec![
            ("Action", self.kind.clone()),
            (
                "Target",
                self.target.clone().unwrap_or_else(|| "the tenant".into()),
            ),
            ("Parameters", self.params.to_string()),
            ("Why gated", text(&self.reasons)),
            (
                "Detection",
                format!("{} ({})", text(&d["name"]), text(&d["severity"])),
            ),
            (
                "Source",
                format!("{} / {}", text(&d["source"]), text(&d["id"])),
            ),
            ("Observed", text(&d["observed_at"])),
        ];
        if !d["ip"].is_null() {
            facts.push((
                "From",
                format!(
                    "{} AS{} {}",
                    text(&d["ip"]),
                    text(&d["asn"]),
                    text(&d["country"])
                ),
            ));
        }
        facts.push((
            "Approvers",
            format!("{} (quorum {})", self.approvers.join(", "), self.quorum),
        ));
        facts.push(("Deadline", self.deadline.clone()));
        facts
    }

    /// The request as the generic webhook sends it.
    pub fn to_json(&self) -> Value {
        json!({"type": "approval.requested", "summary": self.summary(), "request": self})
    }
}
