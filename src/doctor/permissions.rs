//! Which Microsoft Graph application permissions each action and feature needs: the one table
//! behind `stanch doctor` and the README's permission table (a test keeps them equal), and
//! what a loaded configuration needs from it.

use std::collections::BTreeMap;

use stanch_core::playbook::PlaybookSet;
use stanch_core::vocab::ActionKind;

use crate::actions::PurgeBackend;
use crate::config::Config;

/// What makes a row of the table apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Every configuration with a Graph connection.
    Always,
    /// A playbook step runs one of these actions.
    Actions(&'static [ActionKind]),
    /// `purge_messages` through Defender for Office 365 (instead of the mailboxes).
    DefenderPurge,
    /// A `poll-alerts` schedule.
    PollAlerts,
    /// `stanch setup legacy-auth`, run once by a person: doctor does not ask for it.
    Setup,
    /// `protected_groups`, or `group:` approvers.
    GroupNames,
    /// `protected_roles`, or `role:` approvers.
    RoleNames,
}

/// One row: what (as the README's first column says it), when it applies, what it needs.
pub struct Row {
    pub what: &'static str,
    pub uses: Use,
    pub permissions: &'static [&'static str],
}

use ActionKind as A;

pub const TABLE: &[Row] = &[
    Row {
        what: "everything (resolving targets, protected accounts)",
        uses: Use::Always,
        permissions: &["User.Read.All"],
    },
    Row {
        what: "`revoke_sessions`",
        uses: Use::Actions(&[A::RevokeSessions]),
        permissions: &["User.RevokeSessions.All"],
    },
    Row {
        what: "`disable_inbox_rules`",
        uses: Use::Actions(&[A::DisableInboxRules]),
        permissions: &["MailboxSettings.ReadWrite"],
    },
    Row {
        what: "`purge_messages`",
        uses: Use::Actions(&[A::PurgeMessages]),
        permissions: &["Mail.ReadWrite", "ExchangeMessageTrace.Read.All"],
    },
    Row {
        what: "`purge_messages` with `containment.purge_backend: defender`",
        uses: Use::DefenderPurge,
        permissions: &["SecurityAnalyzedMessage.ReadWrite.All"],
    },
    Row {
        what: "`disable_account`, `enable_account`",
        uses: Use::Actions(&[A::DisableAccount, A::EnableAccount]),
        permissions: &["User.EnableDisableAccount.All"],
    },
    Row {
        what: "`reset_password`",
        uses: Use::Actions(&[A::ResetPassword]),
        permissions: &["User-PasswordProfile.ReadWrite.All"],
    },
    Row {
        what: "`block_legacy_auth` (add to the quarantine group)",
        uses: Use::Actions(&[A::BlockLegacyAuth]),
        permissions: &["GroupMember.ReadWrite.All"],
    },
    Row {
        what: "`block_ips` (named location, CA policies)",
        uses: Use::Actions(&[A::BlockIps]),
        permissions: &[
            "Policy.Read.All",
            "Policy.ReadWrite.ConditionalAccess",
            "Application.Read.All",
        ],
    },
    Row {
        what: "`confirm_compromised`",
        uses: Use::Actions(&[A::ConfirmCompromised]),
        permissions: &["IdentityRiskyUser.ReadWrite.All"],
    },
    Row {
        what: "`remove_auth_methods` (and its Temporary Access Pass)",
        uses: Use::Actions(&[A::RemoveAuthMethods]),
        permissions: &["UserAuthenticationMethod.ReadWrite.All"],
    },
    Row {
        what: "`revoke_app_consent`",
        uses: Use::Actions(&[A::RevokeAppConsent]),
        permissions: &[
            "DelegatedPermissionGrant.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
            "Application.Read.All",
        ],
    },
    Row {
        what: "`disable_devices`",
        uses: Use::Actions(&[A::DisableDevices]),
        permissions: &["Device.ReadWrite.All"],
    },
    Row {
        what: "`disable_app` (an app disabled for the whole tenant, always approved by a person)",
        uses: Use::Actions(&[A::DisableApp]),
        permissions: &["Application.ReadWrite.All"],
    },
    Row {
        what: "`sweep_signins` (sign-in sweeps of campaigns)",
        uses: Use::Actions(&[A::SweepSignins]),
        permissions: &["AuditLog.Read.All", "Directory.Read.All"],
    },
    Row {
        what: "`poll-alerts` job",
        uses: Use::PollAlerts,
        permissions: &["SecurityAlert.Read.All"],
    },
    Row {
        what: "`stanch setup legacy-auth` (creates the quarantine group and its policy)",
        uses: Use::Setup,
        permissions: &[
            "Group.ReadWrite.All",
            "Policy.Read.All",
            "Policy.ReadWrite.ConditionalAccess",
            "Application.Read.All",
        ],
    },
    Row {
        what: "`protected_groups`, `group:` approvers",
        uses: Use::GroupNames,
        permissions: &["GroupMember.Read.All"],
    },
    Row {
        what: "`protected_roles`, `role:` approvers",
        uses: Use::RoleNames,
        permissions: &["RoleManagement.Read.Directory"],
    },
];

/// Whether holding `granted` gives `needed`: the same permission, its read-write form, or a
/// directory-wide one that includes it.
pub fn covers(granted: &str, needed: &str) -> bool {
    let wider: &[&str] = match needed {
        "User.Read.All" => &[
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        "GroupMember.Read.All" => &[
            "GroupMember.ReadWrite.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        "GroupMember.ReadWrite.All" => &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
        "Application.Read.All" => &[
            "Application.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        "Directory.Read.All" => &["Directory.ReadWrite.All"],
        _ => &[],
    };
    granted.eq_ignore_ascii_case(needed)
        || wider.iter().any(|w| granted.eq_ignore_ascii_case(w))
        || needed
            .split_once(".Read.")
            .is_some_and(|(what, scope)| granted == format!("{what}.ReadWrite.{scope}"))
}

/// Each permission the configuration needs, with what needs it (`purge_messages (playbook
/// sender-surge)`, `protected_groups`...).
pub fn needed(
    config: &Config,
    playbooks: Option<&PlaybookSet>,
) -> BTreeMap<&'static str, Vec<String>> {
    let mut by_action: BTreeMap<ActionKind, Vec<String>> = BTreeMap::new();
    let mut approvers: Vec<&str> = Vec::new();
    let policies = playbooks
        .into_iter()
        .flat_map(|s| &s.playbooks)
        .filter(|p| p.enabled)
        .flat_map(|p| p.steps.iter().map(move |step| (p, step)))
        .inspect(|(p, step)| {
            let ids = by_action.entry(step.action).or_default();
            if !ids.contains(&p.id) {
                ids.push(p.id.clone());
            }
        })
        .filter_map(|(_, step)| step.approval.as_ref())
        .chain(config.approvals.default_policy.as_ref())
        .collect::<Vec<_>>();
    for policy in policies {
        approvers.extend(
            policy
                .approvers
                .iter()
                .chain(&policy.escalate_to)
                .map(String::as_str),
        );
    }
    let mut uses: Vec<(Use, String)> = vec![(Use::Always, "resolving targets".to_string())];
    for (kind, ids) in by_action {
        let why = format!("{} (playbook {})", kind.name(), ids.join(", "));
        let defender = config.containment.purge_backend == PurgeBackend::Defender;
        for row in TABLE {
            let applies = match row.uses {
                Use::Actions(kinds) => {
                    kinds.contains(&kind) && !(defender && kind == ActionKind::PurgeMessages)
                }
                Use::DefenderPurge => defender && kind == ActionKind::PurgeMessages,
                _ => false,
            };
            if applies {
                uses.push((row.uses, why.clone()));
            }
        }
    }
    if config.schedules.iter().any(|s| s.job == "poll-alerts") {
        uses.push((Use::PollAlerts, "the poll-alerts schedule".into()));
    }
    let named = |prefix: &str| approvers.iter().any(|a| a.starts_with(prefix));
    if !config.protected_groups.is_empty() || named("group:") {
        uses.push((Use::GroupNames, "protected_groups, group: approvers".into()));
    }
    if !config.protected_roles.is_empty() || named("role:") {
        uses.push((Use::RoleNames, "protected_roles, role: approvers".into()));
    }
    let mut needed: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for (used, why) in uses {
        for row in TABLE.iter().filter(|r| r.uses == used) {
            for permission in row.permissions {
                let whys = needed.entry(permission).or_default();
                if !whys.contains(&why) {
                    whys.push(why.clone());
                }
            }
        }
    }
    needed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the README's permission table: (first column, permissions in the second).
    fn readme_rows() -> Vec<(String, Vec<String>)> {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("| action or feature | application permissions |")
            .expect("the README has the permission table");
        readme[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.trim_start().starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
                let permissions = cells[1]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .filter(|t| t.contains('.'))
                    .map(str::to_string)
                    .collect();
                (cells[0].trim().to_string(), permissions)
            })
            .collect()
    }

    #[test]
    fn the_readme_lists_the_permissions_doctor_checks() {
        let readme = readme_rows();
        let table: Vec<(String, Vec<String>)> = TABLE
            .iter()
            .map(|r| {
                let permissions = r.permissions.iter().map(|p| p.to_string()).collect();
                (r.what.to_string(), permissions)
            })
            .collect();
        assert_eq!(readme, table);
    }

    #[test]
    fn every_action_that_reaches_graph_has_a_row() {
        for kind in ActionKind::ALL {
            let listed = TABLE
                .iter()
                .any(|r| matches!(r.uses, Use::Actions(kinds) if kinds.contains(&kind)));
            assert_eq!(listed, kind != ActionKind::Notify, "{}", kind.name());
        }
    }

    #[test]
    fn the_emulator_knows_every_permission_in_the_table() {
        for row in TABLE {
            for p in row.permissions {
                assert!(crate::emulate::GRAPH_APP_ROLES.contains(p), "{p}");
            }
        }
    }

    const PURGE: &str = "version: 1\nid: wave\nmatch: { name: \"Email / Surge\" }\nsteps:\n  - id: purge\n    action: purge_messages\n    with: { internet_message_id: \"{{ details.internet_message_id }}\" }\n    approval: { approvers: [group:SOC Tier 2] }\n";
    const DISABLED: &str = "version: 1\nid: off\nenabled: false\nmatch: { name: \"X\" }\nsteps:\n  - id: reset\n    action: reset_password\n";

    #[test]
    fn needs_follow_the_enabled_playbooks_their_approvers_and_the_purge_backend() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wave.yaml"), PURGE).unwrap();
        std::fs::write(dir.path().join("off.yaml"), DISABLED).unwrap();
        let report = stanch_core::playbook::load_paths(&[dir.path().to_path_buf()]);
        let set = report.into_set().unwrap();
        let mut config = Config::default();
        let needs = needed(&config, Some(&set));
        assert_eq!(needs["Mail.ReadWrite"], ["purge_messages (playbook wave)"]);
        assert!(
            needs.contains_key("GroupMember.Read.All"),
            "group: approvers"
        );
        assert!(
            !needs.contains_key("User-PasswordProfile.ReadWrite.All"),
            "a disabled playbook needs nothing"
        );
        assert!(!needs.contains_key("SecurityAnalyzedMessage.ReadWrite.All"));
        config.containment.purge_backend = PurgeBackend::Defender;
        let needs = needed(&config, Some(&set));
        assert!(needs.contains_key("SecurityAnalyzedMessage.ReadWrite.All"));
        assert!(!needs.contains_key("Mail.ReadWrite"), "{needs:?}");
        assert_eq!(
            needed(&Config::default(), None)
                .into_keys()
                .collect::<Vec<_>>(),
            ["User.Read.All"]
        );
    }

    #[test]
    fn wider_permissions_cover_narrower_ones() {
        assert!(covers("Application.ReadWrite.All", "Application.Read.All"));
        assert!(covers("Directory.ReadWrite.All", "User.Read.All"));
        assert!(covers("Group.ReadWrite.All", "GroupMember.ReadWrite.All"));
        assert!(covers("AuditLog.Read.All", "AuditLog.Read.All"));
        assert!(!covers(
            "Policy.Read.All",
            "Policy.ReadWrite.ConditionalAccess"
        ));
        assert!(!covers("Mail.Read", "Mail.ReadWrite"));
    }
}
