//! The safety rails' rules: how long a repeat on one account is suppressed (cooldowns) and how
//! many accounts a window may touch (budgets). Pure, so the executor, the claim guard, the
//! approval dispatcher and the passive report apply the same rules. `config` decodes them.

use std::collections::BTreeMap;

use crate::vocab::ActionKind;

const DEFAULT_COOLDOWN_SECS: u64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SafetySettings {
    /// `default` and per action kind, in seconds (0: no cooldown).
    pub cooldown: BTreeMap<String, u64>,
    pub budgets: Vec<Budget>,
}

/// At most `max` distinct accounts acted on per `per_secs`, counting actions of `action` (all
/// kinds when unset) from `playbook` (all playbooks when unset).
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
        self.action.is_none_or(|a| a == kind)
            && self.playbook.as_deref().is_none_or(|p| p == playbook)
    }
}

impl SafetySettings {
    /// How long a repeat of `kind` on the same account is suppressed.
    pub fn cooldown_secs(&self, kind: ActionKind) -> u64 {
        if let Some(secs) = self.cooldown.get(kind.name()) {
            return *secs;
        }
        match kind {
            // Each new detection may be about a new rule or event: never suppressed by default.
            ActionKind::DisableInboxRules | ActionKind::Notify => 0,
            _ => self
                .cooldown
                .get("default")
                .copied()
                .unwrap_or(DEFAULT_COOLDOWN_SECS),
        }
    }
}
