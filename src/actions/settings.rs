//! The tenant resources the containment actions use (`containment:` in the config).

/// Tenant resources the containment actions use.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainmentSettings {
    /// The security group a Conditional Access policy blocks legacy authentication for.
    pub quarantine_group_id: Option<String>,
    /// Display name of the IP named location that `block_ips` adds ranges to.
    pub blocked_ips_location: String,
    /// How `purge_messages` reaches the recipients' mailboxes.
    pub purge_backend: PurgeBackend,
}

/// How `purge_messages` removes a wave: mailbox by mailbox through `Mail.ReadWrite` (the
/// default), or in one remediation through Defender for Office 365 (Plan 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PurgeBackend {
    #[default]
    Mailboxes,
    Defender,
}

impl Default for ContainmentSettings {
    fn default() -> Self {
        ContainmentSettings {
            quarantine_group_id: None,
            blocked_ips_location: "stanch: blocked attacker IPs".to_string(),
            purge_backend: PurgeBackend::default(),
        }
    }
}
