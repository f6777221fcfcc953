//! The tenant resources the containment actions use (`containment:` in the config).

/// Tenant resources the containment actions use.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainmentSettings {
    /// The security group a Conditional Access policy blocks legacy authentication for.
    pub quarantine_group_id: Option<String>,
    /// Display name of the IP named location that `block_ips` adds ranges to.
    pub blocked_ips_location: String,
}

impl Default for ContainmentSettings {
    fn default() -> Self {
        ContainmentSettings {
            quarantine_group_id: None,
            blocked_ips_location: "stanch: blocked attacker IPs".to_string(),
        }
    }
}
