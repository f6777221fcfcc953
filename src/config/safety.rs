//! `safety:` in the config: the rails that keep an unattended responder from becoming a denial
//! of service against its own company.
//!
//! ```yaml
//! safety:
//!   cooldown:                  # per (account, action): a repeat within the window is suppressed
//!     default: 15m             # built in: 15m for account actions; 0s (never) for
//!     revoke_sessions: 30m     #   disable_inbox_rules and notify, which must see every new rule/event
//!   budgets:                   # over a budget, actions wait for a human instead of running
//!     - { name: disables, action: disable_account, max: 5, per: 1h }
//!     - { name: tenant, max: 50, per: 1h }               # every account action
//!     - { name: surge, playbook: sender-surge, max: 10, per: 1h }
//!     - { name: blocks, action: block_ips, max: 3, per: 1h }  # each tenant-wide block counts one
//!   block_ips:                 # what one block_ips may block for the whole tenant
//!     min_prefix_v4: 24        # nothing broader than a /24 ...
//!     min_prefix_v6: 48        # ... or a /48
//!     never_block: [81.2.69.0/24]   # the company's egress, besides private and reserved space
//!     max_ranges: 32           # more in one action wait for a person
//!   never_disable_apps: [Contoso Expenses]  # besides Microsoft's first-party apps and stanch's own
//! ```

use stanch_core::rails::ranges::parse_range;
use stanch_core::rails::{BlockIpsRules, Budget, SafetySettings};
use stanch_core::util::parse_duration;
use stanch_core::vocab::ActionKind;
use stanch_core::yaml::Node;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::Problems;

pub(super) const SAFETY_KEYS: &[&str] = &["cooldown", "budgets", "block_ips", "never_disable_apps"];
const BUDGET_KEYS: &[&str] = &["name", "action", "playbook", "max", "per"];
const BLOCK_IPS_KEYS: &[&str] = &[
    "min_prefix_v4",
    "min_prefix_v6",
    "never_block",
    "max_ranges",
];

pub(super) fn decode_safety(p: &mut Problems, node: &Node) -> SafetySettings {
    let mut settings = SafetySettings::default();
    let Some(f) = decode::fields(p, node, "`safety`", SAFETY_KEYS) else {
        return settings;
    };
    if let Some(n) = f.get("cooldown") {
        let mut keys: Vec<&str> = ActionKind::ALL.iter().map(|k| k.name()).collect();
        keys.push("default");
        if let Some(c) = decode::fields(p, n, "`safety.cooldown`", &keys) {
            for key in keys {
                if let Some(v) = c.get(key)
                    && let Some(text) = decode::string(p, v, &format!("`safety.cooldown.{key}`"))
                {
                    match parse_duration(text) {
                        Ok(secs) => {
                            settings.cooldown.insert(key.to_string(), secs);
                        }
                        Err(m) => p.error(v.loc, m),
                    }
                }
            }
        }
    }
    if let Some(n) = f.get("budgets") {
        for item in decode::list(p, n, "`safety.budgets`").unwrap_or_default() {
            if let Some(budget) = decode_budget(p, item) {
                if settings.budgets.iter().any(|b| b.name == budget.name) {
                    p.error(item.loc, format!("two budgets are named `{}`", budget.name));
                }
                settings.budgets.push(budget);
            }
        }
    }
    if let Some(n) = f.get("block_ips") {
        settings.block_ips = decode_block_ips(p, n);
    }
    if let Some(n) = f.get("never_disable_apps") {
        settings.never_disable_apps = decode::strings(p, n, "`safety.never_disable_apps`")
            .into_iter()
            .map(|(_, app)| app.trim().to_string())
            .collect();
    }
    settings
}

fn decode_block_ips(p: &mut Problems, node: &Node) -> BlockIpsRules {
    let mut rules = BlockIpsRules::default();
    let what = "`safety.block_ips`";
    let Some(f) = decode::fields(p, node, what, BLOCK_IPS_KEYS) else {
        return rules;
    };
    let prefix = |p: &mut Problems, key: &str, max: u64| {
        let n = f.get(key)?;
        let name = format!("`safety.block_ips.{key}`");
        let value = decode::positive_int(p, n, &name)?;
        if value > max {
            p.error(
                n.loc,
                format!("{name} must be a prefix length from 1 to {max}, found {value}"),
            );
            return None;
        }
        Some(value as u8)
    };
    if let Some(v) = prefix(p, "min_prefix_v4", 32) {
        rules.min_prefix_v4 = v;
    }
    if let Some(v) = prefix(p, "min_prefix_v6", 128) {
        rules.min_prefix_v6 = v;
    }
    if let Some(n) = f.get("max_ranges")
        && let Some(v) = decode::positive_int(p, n, "`safety.block_ips.max_ranges`")
    {
        rules.max_ranges = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(n) = f.get("never_block") {
        for (item, text) in decode::strings(p, n, "`safety.block_ips.never_block`") {
            match parse_range(text) {
                Ok(net) => rules.never_block.push(net),
                Err(m) => p.error(item.loc, format!("in `safety.block_ips.never_block`: {m}")),
            }
        }
    }
    rules
}

fn decode_budget(p: &mut Problems, item: &Node) -> Option<Budget> {
    let b = decode::fields(p, item, "a budget", BUDGET_KEYS)?;
    let name = b
        .require(p, "name", "a budget")
        .and_then(|n| decode::string(p, n, "`name`"));
    let max = b
        .require(p, "max", "a budget")
        .and_then(|n| decode::positive_int(p, n, "`max`"));
    let per = b.require(p, "per", "a budget").and_then(|n| {
        decode::string(p, n, "`per`")
            .and_then(|t| parse_duration(t).map_err(|m| p.error(n.loc, m)).ok())
    });
    let action = match b.get("action") {
        None => None,
        Some(n) => match decode::string(p, n, "`action`").map(|t| (t, ActionKind::parse(t))) {
            Some((_, Some(kind))) => Some(kind),
            Some((text, None)) => {
                p.error(n.loc, format!("unknown action `{text}` in a budget"));
                return None;
            }
            None => return None,
        },
    };
    let playbook = b
        .get("playbook")
        .and_then(|n| decode::string(p, n, "`playbook`"))
        .map(str::to_string);
    Some(Budget {
        name: name?.to_string(),
        action,
        playbook,
        max: max?,
        per_secs: per.filter(|s| *s > 0)?,
    })
}

#[cfg(test)]
#[path = "safety_tests.rs"]
mod tests;
