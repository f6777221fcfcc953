//! The engine: (detection, compiled playbooks, clock, what the store knows) → plan.
//!
//! **The engine does no I/O.** It is pure and deterministic: the same inputs always give the same
//! plan, which is what makes replays and the playbooks' own tests trustworthy. Its clock is the
//! detection's own `observed_at`, never the wall clock.

mod plan;
pub mod testing;

use serde_json::{Map, Value};

pub use plan::{Gate, Plan, PlannedAction, PlaybookMatch, SkippedStep};

use crate::campaign::CampaignView;
use crate::intake::{Detection, UserRef, is_object_id, is_upn};
use crate::playbook::fields::Subject;
use crate::playbook::{Param, Playbook, PlaybookSet, Step, check_param};
use crate::rails::BlockIpsRules;
use crate::rails::ranges::ranges_param;
use crate::util::sha256_hex;
use crate::vocab::{ActionKind, Mode, TargetKind};

/// What the engine knows besides the detection and the playbooks.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The mode for playbooks and steps that do not set their own.
    pub default_mode: Mode,
    /// Forces every action passive, whatever the playbooks say (`stanch run --passive`).
    pub force_passive: bool,
    /// UPNs or object ids that no automatic action may touch: such actions need a human.
    pub protected_accounts: Vec<String>,
    /// What `block_ips` may block (`safety.block_ips`): a range it refuses makes the action
    /// `Gate::Refused`, so passive mode and the report show it too.
    pub block_ips: BlockIpsRules,
}

impl Context {
    fn is_protected(&self, user: &UserRef) -> Option<&str> {
        self.protected_accounts
            .iter()
            .find(|p| user.is(p))
            .map(String::as_str)
    }
}

/// Decides what to do about one detection that belongs to no campaign.
pub fn plan(d: &Detection, playbooks: &PlaybookSet, ctx: &Context) -> Plan {
    plan_with(d, None, playbooks, ctx)
}

/// Decides what to do about one detection, knowing its campaign as it stood when the detection
/// joined it (`campaign.*` fields). The campaign is an input like the detection: grouping
/// happens before planning, outside the engine.
pub fn plan_with(
    detection: &Detection,
    campaign: Option<CampaignView<'_>>,
    playbooks: &PlaybookSet,
    ctx: &Context,
) -> Plan {
    let d = Subject {
        detection,
        campaign,
    };
    let mut plan = Plan {
        detection: detection.key(),
        campaign: campaign.map(|c| c.campaign.id.clone()),
        evaluated_at: detection
            .observed_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        matched: Vec::new(),
        actions: Vec::new(),
        skipped: Vec::new(),
    };
    for playbook in playbooks.playbooks.iter().filter(|p| p.enabled) {
        let Some(mut why) = playbook.trigger.matches(detection) else {
            continue;
        };
        if let Some(when) = &playbook.when {
            let Some(held) = when.explain(d) else {
                continue;
            };
            why.push_str(&format!("; {held}"));
        }
        for step in &playbook.steps {
            match plan_step(d, playbook, step, ctx) {
                Ok(action) => plan.actions.push(action),
                Err(reason) => plan.skipped.push(SkippedStep {
                    playbook: playbook.id.clone(),
                    step: step.id.clone(),
                    reason,
                }),
            }
        }
        plan.matched.push(PlaybookMatch {
            playbook: playbook.id.clone(),
            digest: playbook.digest.clone(),
            reason: why,
        });
    }
    plan
}

/// Plans one step. Its reason covers the step only: why the playbook matched is said once, in the
/// plan's `matched` entry, rather than repeated in every action.
fn plan_step(
    d: Subject<'_>,
    playbook: &Playbook,
    step: &Step,
    ctx: &Context,
) -> Result<PlannedAction, String> {
    let mut reason = format!("step `{}` of `{}`", step.id, playbook.id);
    if let Some(when) = &step.when {
        let Some(held) = when.explain(d) else {
            return Err(format!("step condition {} did not hold", when.describe()));
        };
        reason.push_str(&format!(": {held}"));
    }
    let target = match step.action.spec().target {
        TargetKind::User => Some(resolve_target(d, step)?),
        TargetKind::Tenant | TargetKind::None => None,
    };
    let mut params = Map::new();
    for (name, param) in &step.params {
        let value = match param {
            Param::Literal(value) => value.clone(),
            Param::Template(template, kind) => {
                let rendered = template
                    .render(d)
                    .map_err(|e| format!("parameter `{name}`: {e}"))?;
                check_param(&rendered, *kind)
                    .map_err(|e| format!("parameter `{name}` rendered to {rendered}: {e}"))?
            }
        };
        params.insert(name.clone(), value);
    }
    let mode = if ctx.force_passive {
        Mode::Passive
    } else {
        step.mode.or(playbook.mode).unwrap_or(ctx.default_mode)
    };
    let mut reasons = Vec::new();
    if step.approval.is_some() {
        reasons.push(format!("step `{}` requires approval", step.id));
    }
    if let Some(protected) = target.as_ref().and_then(|t| ctx.is_protected(t)) {
        reasons.push(format!(
            "`{protected}` is a protected account: never touched without a human"
        ));
        reason.push_str("; target is protected");
    }
    let mut refused = Vec::new();
    if step.action == ActionKind::BlockIps {
        let ranges = ranges_param(&params);
        refused = ctx.block_ips.refusals(ranges.iter().map(String::as_str));
        reasons.extend(ctx.block_ips.too_many(ranges.len()));
    }
    let gate = if !refused.is_empty() {
        reason.push_str("; ranges refused");
        Gate::Refused { refused }
    } else if reasons.is_empty() {
        Gate::Automatic
    } else {
        Gate::Approval {
            reasons,
            policy: step.approval.clone(),
        }
    };
    let key = idempotency_key(d.detection, playbook, step, target.as_ref(), &params);
    Ok(PlannedAction {
        key,
        playbook: playbook.id.clone(),
        step: step.id.clone(),
        action: step.action,
        target,
        params,
        mode,
        gate,
        expires_after_secs: step.expires_after_secs,
        reason,
        recorded_at: None,
    })
}

fn resolve_target(subject: Subject<'_>, step: &Step) -> Result<UserRef, String> {
    let d = subject.detection;
    let Some(template) = &step.target else {
        return d.user.clone().ok_or_else(|| {
            format!(
                "`{}` needs a target account and the detection names no user",
                step.action
            )
        });
    };
    let rendered = template
        .render(subject)
        .map_err(|e| format!("target: {e}"))?;
    let Value::String(text) = rendered else {
        return Err(format!(
            "target rendered to {rendered}, not a UPN or object id"
        ));
    };
    if let Some(user) = d.user.as_ref().filter(|u| u.is(&text)) {
        return Ok(user.clone());
    }
    if is_object_id(&text) {
        Ok(UserRef {
            upn: None,
            id: Some(text),
        })
    } else if is_upn(&text) {
        Ok(UserRef {
            upn: Some(text),
            id: None,
        })
    } else {
        Err(format!(
            "target `{text}` is neither a UPN nor an Entra object id"
        ))
    }
}

/// The same detection, playbook, step, target and parameters always give the same key.
fn idempotency_key(
    d: &Detection,
    playbook: &Playbook,
    step: &Step,
    target: Option<&UserRef>,
    params: &Map<String, Value>,
) -> String {
    let params = Value::Object(params.clone()).to_string();
    let fields = [
        d.source.as_str(),
        &d.id,
        &playbook.id,
        &step.id,
        target.map(UserRef::graph_id).unwrap_or_default(),
        &params,
    ];
    // Length-prefixed, so no two different field lists can produce the same bytes.
    let mut material = Vec::with_capacity(fields.iter().map(|f| f.len() + 8).sum());
    for field in fields {
        material.extend_from_slice(&(field.len() as u64).to_be_bytes());
        material.extend_from_slice(field.as_bytes());
    }
    let mut key = sha256_hex(&material);
    key.truncate(32);
    key
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
