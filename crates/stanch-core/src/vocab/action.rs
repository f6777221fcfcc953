//! The static description of every action: its name, what it targets, whether it can be rolled
//! back, and the parameters a playbook step may pass in `with:`.

use std::fmt;

use serde::{Serialize, Serializer};

/// What an action acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// One user account (defaults to the detection's user).
    User,
    /// The whole tenant (e.g. a named location of blocked IPs).
    Tenant,
    /// Nothing in the directory (e.g. a notification).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Bool,
    String,
    Integer,
    /// A list of strings; a single string is accepted as a one-element list.
    StringList,
    /// A list of IP addresses or CIDR ranges; a single one is accepted too.
    IpList,
    /// One string out of a fixed set (a mode).
    OneOf(&'static [&'static str]),
    /// An RFC 3339 time (normalized to UTC).
    Time,
}

impl ParamKind {
    pub fn describe(self) -> &'static str {
        match self {
            ParamKind::Bool => "a boolean",
            ParamKind::String => "a string",
            ParamKind::Integer => "an integer",
            ParamKind::StringList => "a string or a list of strings",
            ParamKind::IpList => "an IP address, a CIDR range, or a list of them",
            ParamKind::OneOf(_) => "one of the listed values",
            ParamKind::Time => "an RFC 3339 time such as 2021-06-01T06:00:00Z",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    /// The template used when the step does not set the parameter.
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    pub kind: ActionKind,
    pub target: TargetKind,
    /// Whether the action can be undone from recorded restore data (and so may expire).
    pub reversible: bool,
    /// Whether the action can lock a person out or destroy data: such steps deserve approval.
    pub disruptive: bool,
    /// Whether the action only reads the tenant. Such actions run in passive mode too (when a
    /// Graph connection is configured): reading changes nothing, and what they find is what
    /// lets a passive report say what would have been contained.
    pub read_only: bool,
    /// Whether running it again after an interruption is safe because its pre-check sees an
    /// effect already made (or it only reads). Not so for a password reset or a message sent:
    /// nothing Graph answers tells whether the write happened, so an interrupted one goes to
    /// `unverified` for a person instead of being repeated.
    pub resumable: bool,
    /// Whether a step must ask for approval to use it at all: it changes something for every
    /// user of the tenant (an application disabled for everyone), so no playbook may do it alone.
    pub always_gated: bool,
    pub params: &'static [ParamSpec],
    pub doc: &'static str,
}

macro_rules! param {
    ($name:literal, $kind:ident, $doc:literal) => {
        ParamSpec {
            name: $name,
            kind: ParamKind::$kind,
            required: false,
            default: None,
            doc: $doc,
        }
    };
    ($name:literal, $kind:ident, required, $doc:literal) => {
        ParamSpec {
            name: $name,
            kind: ParamKind::$kind,
            required: true,
            default: None,
            doc: $doc,
        }
    };
    ($name:literal, $kind:ident, default = $default:literal, $doc:literal) => {
        ParamSpec {
            name: $name,
            kind: ParamKind::$kind,
            required: false,
            default: Some($default),
            doc: $doc,
        }
    };
}

/// How `purge_messages` removes a message (the executor's `PurgeMode` reads these names).
pub const PURGE_MODES: &[&str] = &["soft", "recoverable", "hard"];

const PURGE_DOC: &str = "Pull a message the target (its sender) sent out of every recipient's mailbox, found by \
     `internetMessageId` through the sender's Sent Items and message trace; rollback moves it back.";

const PURGE_PARAMS: &[ParamSpec] = &[
    param!(
        "internet_message_id",
        String,
        required,
        "The message's `internetMessageId` (with its angle brackets), e.g. `{{ details.internet_message_id }}`; only messages with exactly this id are touched."
    ),
    param!(
        "sent_around",
        String,
        default = "{{ observed_at }}",
        "When the wave went out (RFC 3339): message trace is asked about two days either side."
    ),
    ParamSpec {
        name: "mode",
        kind: ParamKind::OneOf(PURGE_MODES),
        required: false,
        default: None,
        doc: "`soft` (default): move to Deleted Items; `recoverable`: move to Recoverable Items (hidden from the user); `hard`: permanentDelete, which cannot be undone.",
    },
    param!(
        "max_recipients",
        Integer,
        "Most mailboxes one run may change without a person (default 500); a larger wave needs the step's `approval:`."
    ),
];

/// The start of the compromise window persistence actions look in.
const WINDOW_START: ParamSpec = param!(
    "registered_after",
    Time,
    default = "{{ campaign.window_start }}",
    "Only what was registered at or after this time (RFC 3339): by default the campaign's first sighting minus the grouping window."
);

/// The end of the compromise window (none: up to now, as the attacker may still be active).
const WINDOW_END: ParamSpec = param!(
    "registered_before",
    Time,
    "Only what was registered before this time (RFC 3339); by default no end."
);

const PERSISTENCE_WINDOW_AUTH: &[ParamSpec] = &[
    WINDOW_START,
    WINDOW_END,
    param!(
        "method_types",
        StringList,
        "Only these method types (e.g. microsoftAuthenticator, phone, fido2, softwareOath, email, windowsHelloForBusiness); by default every removable type."
    ),
    param!(
        "include_undated",
        Bool,
        "Also remove methods of the listed `method_types` that Graph gives no registration time (phone, email, softwareOath); needs `method_types`."
    ),
    param!(
        "temporary_access_pass",
        Bool,
        "After removing, issue a Temporary Access Pass and deliver it only to the `notify` channel named by `pass_channel`, never to the mailbox."
    ),
    param!(
        "pass_channel",
        String,
        "The configured notification channel the Temporary Access Pass goes to (needed with `temporary_access_pass`)."
    ),
];

/// Every action a playbook step can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    RevokeSessions,
    DisableInboxRules,
    BlockLegacyAuth,
    DisableAccount,
    EnableAccount,
    ConfirmCompromised,
    BlockIps,
    ResetPassword,
    Notify,
    SweepSignins,
    PurgeMessages,
    RemoveAuthMethods,
    RevokeAppConsent,
    DisableDevices,
    DisableApp,
}

impl ActionKind {
    pub const ALL: [ActionKind; 15] = [
        ActionKind::RevokeSessions,
        ActionKind::DisableInboxRules,
        ActionKind::BlockLegacyAuth,
        ActionKind::DisableAccount,
        ActionKind::EnableAccount,
        ActionKind::ConfirmCompromised,
        ActionKind::BlockIps,
        ActionKind::ResetPassword,
        ActionKind::Notify,
        ActionKind::SweepSignins,
        ActionKind::PurgeMessages,
        ActionKind::RemoveAuthMethods,
        ActionKind::RevokeAppConsent,
        ActionKind::DisableDevices,
        ActionKind::DisableApp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ActionKind::RevokeSessions => "revoke_sessions",
            ActionKind::DisableInboxRules => "disable_inbox_rules",
            ActionKind::BlockLegacyAuth => "block_legacy_auth",
            ActionKind::DisableAccount => "disable_account",
            ActionKind::EnableAccount => "enable_account",
            ActionKind::ConfirmCompromised => "confirm_compromised",
            ActionKind::BlockIps => "block_ips",
            ActionKind::ResetPassword => "reset_password",
            ActionKind::Notify => "notify",
            ActionKind::SweepSignins => "sweep_signins",
            ActionKind::PurgeMessages => "purge_messages",
            ActionKind::RemoveAuthMethods => "remove_auth_methods",
            ActionKind::RevokeAppConsent => "revoke_app_consent",
            ActionKind::DisableDevices => "disable_devices",
            ActionKind::DisableApp => "disable_app",
        }
    }

    pub fn parse(name: &str) -> Option<ActionKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn spec(self) -> ActionSpec {
        use ActionKind::*;
        let (target, reversible, disruptive, params, doc): (_, _, _, &'static [ParamSpec], _) =
            match self {
                RevokeSessions => (
                    TargetKind::User,
                    false,
                    false,
                    &[],
                    "Revoke every refresh token and session cookie of the account.",
                ),
                DisableInboxRules => (
                    TargetKind::User,
                    true,
                    false,
                    &[
                        param!(
                            "delete",
                            Bool,
                            "Also delete the risky rules after keeping them as evidence (not reversible)."
                        ),
                        param!(
                            "include_move_to_folder",
                            Bool,
                            "Also treat moves to ordinary folders as risky (moves to hiding places such as RSS Feeds always are)."
                        ),
                    ],
                    "Disable the account's risky inbox rules (forwarding, redirecting, deleting, hiding mail).",
                ),
                BlockLegacyAuth => (
                    TargetKind::User,
                    true,
                    false,
                    &[],
                    "Add the account to the quarantine group that a Conditional Access policy blocks legacy authentication for.",
                ),
                DisableAccount => (
                    TargetKind::User,
                    true,
                    true,
                    &[],
                    "Block sign-in for the account (accountEnabled = false).",
                ),
                EnableAccount => (
                    TargetKind::User,
                    false,
                    false,
                    &[],
                    "Allow sign-in for the account again (accountEnabled = true).",
                ),
                ConfirmCompromised => (
                    TargetKind::User,
                    false,
                    false,
                    &[],
                    "Mark the account as confirmed compromised in Entra ID Protection (user risk high).",
                ),
                BlockIps => (
                    TargetKind::Tenant,
                    true,
                    true,
                    &[
                        param!(
                            "ips",
                            IpList,
                            default = "{{ ip }}",
                            "Addresses or CIDR ranges to block for the whole tenant."
                        ),
                        param!(
                            "location",
                            String,
                            "Display name of the IP named location to add the ranges to (default: the config's `containment.blocked_ips_location`)."
                        ),
                    ],
                    "Add IP ranges to a named location that a Conditional Access policy blocks for the whole tenant.",
                ),
                ResetPassword => (
                    TargetKind::User,
                    false,
                    true,
                    &[],
                    "Set a random strong password and force a change at next sign-in.",
                ),
                Notify => (
                    TargetKind::None,
                    false,
                    false,
                    &[
                        param!(
                            "message",
                            String,
                            required,
                            "The text to send; templates may use detection fields."
                        ),
                        param!(
                            "channel",
                            String,
                            default = "default",
                            "The configured notification channel to send to."
                        ),
                    ],
                    "Send a message to a configured webhook channel.",
                ),
                SweepSignins => (
                    TargetKind::Tenant,
                    false,
                    false,
                    &[
                        param!(
                            "campaign",
                            String,
                            default = "{{ campaign.id }}",
                            "The campaign the accounts found join."
                        ),
                        param!(
                            "ips",
                            IpList,
                            default = "{{ campaign.ips }}",
                            "Addresses to look for in the sign-in log (single addresses; the log cannot be searched by range)."
                        ),
                        param!(
                            "since",
                            String,
                            default = "{{ campaign.window_start }}",
                            "Earliest sign-in time (RFC 3339): by default the campaign's first sighting minus the grouping window."
                        ),
                        param!(
                            "until",
                            String,
                            default = "{{ observed_at }}",
                            "Latest sign-in time (RFC 3339): by default the detection's own time, so a replay never reads the future."
                        ),
                    ],
                    "Read every sign-in from the campaign's IPs in the window and bring the accounts that signed in successfully into the campaign (reads only).",
                ),
                PurgeMessages => (TargetKind::User, true, false, PURGE_PARAMS, PURGE_DOC),
                RemoveAuthMethods => (
                    TargetKind::User,
                    false,
                    false,
                    PERSISTENCE_WINDOW_AUTH,
                    "Remove the authentication methods registered inside the compromise window (Graph has no undo: the outcome lists what was removed); never the user's last method.",
                ),
                RevokeAppConsent => (
                    TargetKind::User,
                    true,
                    false,
                    &[
                        param!(
                            "apps",
                            StringList,
                            "Apps (appId or display name) whose grants and role assignments to revoke; delegated grants carry no time in Graph, so only these are revoked."
                        ),
                        WINDOW_START,
                        WINDOW_END,
                    ],
                    "Revoke the OAuth consents the user gave to the named apps, and the app role assignments made inside the window; rollback grants them again.",
                ),
                DisableDevices => (
                    TargetKind::User,
                    true,
                    false,
                    &[WINDOW_START, WINDOW_END],
                    "Disable the devices the user registered inside the window (accountEnabled = false); rollback enables exactly those.",
                ),
                DisableApp => (
                    TargetKind::Tenant,
                    true,
                    true,
                    &[param!(
                        "app",
                        String,
                        required,
                        "The application's service principal: its object id or its appId, e.g. `{{ details.service_principal_id }}`."
                    )],
                    "Disable an application for the whole tenant (its service principal's accountEnabled = false; disabled, not deleted, so it cannot simply be consented to again); a step must ask for approval; rollback enables it.",
                ),
            };
        ActionSpec {
            kind: self,
            target,
            reversible,
            disruptive,
            read_only: matches!(self, SweepSignins),
            resumable: !matches!(self, ResetPassword | Notify),
            always_gated: matches!(self, DisableApp),
            params,
            doc,
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ActionKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_params_are_unique() {
        for kind in ActionKind::ALL {
            assert_eq!(ActionKind::parse(kind.name()), Some(kind));
            let spec = kind.spec();
            let mut names: Vec<_> = spec.params.iter().map(|p| p.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), spec.params.len(), "{kind}");
        }
        assert_eq!(ActionKind::parse("revoke_session"), None);
    }
}
