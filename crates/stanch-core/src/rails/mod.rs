//! The safety rails' rules: how long a repeat on one account is suppressed (cooldowns), how
//! many accounts and tenant-wide actions a window may touch (budgets), and which IP ranges may
//! be blocked for the whole tenant (`ranges`). Pure, so the engine, the executor, the claim
//! guard, the approval dispatcher and the passive report apply the same rules. `config` decodes
//! them.

pub mod ranges;

use std::collections::BTreeMap;

pub use ranges::{BlockIpsRules, Refusal};

use crate::vocab::{ActionKind, TargetKind};

const DEFAULT_COOLDOWN_SECS: u64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SafetySettings {
    /// `default` and per action kind, in seconds (0: no cooldown).
    pub cooldown: BTreeMap<String, u64>,
    pub budgets: Vec<Budget>,
    /// What `block_ips` may block (`safety.block_ips`).
    pub block_ips: BlockIpsRules,
    /// Applications (service principal id, appId or display name) `disable_app` never disables,
    /// besides Microsoft's own and stanch's (`safety.never_disable_apps`).
    pub never_disable_apps: Vec<String>,
}

/// At most `max` distinct accounts acted on per `per_secs`, counting actions of `action` (all
/// kinds when unset) from `playbook` (all playbooks when unset). A tenant-wide action that
/// changes the tenant (`block_ips`) has no account: each one counts as one.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub name: String,
    pub action: Option<ActionKind>,
    pub playbook: Option<String>,
    pub max: u64,
    pub per_secs: u64,
}

impl Budget {
    pub fn applies_to(&self, kind: ActionKind, playbook: &str) -> bool {
        budgeted(kind)
            && self.action.is_none_or(|a| a == kind)
            && self.playbook.as_deref().is_none_or(|p| p == playbook)
    }
}

/// Whether budgets count `kind`: actions on accounts, and tenant-wide actions that change the
/// tenant. A notification changes nothing in the tenant and a sweep only reads, so a budget
/// never holds either for a person.
pub fn budgeted(kind: ActionKind) -> bool {
    let spec = kind.spec();
    match spec.target {
        TargetKind::User => true,
        TargetKind::Tenant => !spec.read_only,
        TargetKind::None => false,
    }
}

impl SafetySettings {
    /// How long a repeat of `kind` on the same account is suppressed.
    pub fn cooldown_secs(&self, kind: ActionKind) -> u64 {
        if let Some(secs) = self.cooldown.get(kind.name()) {
            return *secs;
        }
        match kind {
            // Each new detection may be about a new rule, event or wave: never suppressed by default.
            ActionKind::DisableInboxRules | ActionKind::Notify | ActionKind::PurgeMessages => 0,
            _ => self
                .cooldown
                .get("default")
                .copied()
                .unwrap_or(DEFAULT_COOLDOWN_SECS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_count_account_and_tenant_changing_actions_never_messages_or_reads() {
        let everything = Budget {
            name: "everything".into(),
            action: None,
            playbook: None,
            max: 1,
            per_secs: 60,
        };
        assert!(everything.applies_to(ActionKind::DisableAccount, "p"));
        assert!(everything.applies_to(ActionKind::BlockIps, "p"));
        assert!(!everything.applies_to(ActionKind::Notify, "p"));
        assert!(!everything.applies_to(ActionKind::SweepSignins, "p"));
        let blocks = Budget {
            action: Some(ActionKind::BlockIps),
            ..everything
        };
        assert!(blocks.applies_to(ActionKind::BlockIps, "p"));
        assert!(!blocks.applies_to(ActionKind::DisableAccount, "p"));
    }
}
