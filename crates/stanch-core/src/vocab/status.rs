//! The states that the store, the worker, the approval channels and the reports share. Each has
//! one string form, used in JSON, in SQL and on screen; nothing else spells them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a closed set of states with one `snake_case` string form each: `as_str`, `parse`,
/// `ALL`, `Display`, serde, and comparison with the string form (for tests and templates).
macro_rules! states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;

            fn from_str(text: &str) -> Result<$name, UnknownState> {
                $name::parse(text).ok_or_else(|| UnknownState {
                    what: stringify!($name),
                    text: text.to_string(),
                    known: $name::ALL.iter().map(|s| s.as_str()).collect(),
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

/// A string that names none of a set of states (a row written by another version, a typo).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a known {what}; known: {}", known.join(", "))]
pub struct UnknownState {
    pub what: &'static str,
    pub text: String,
    pub known: Vec<&'static str>,
}

states! {
    /// Where a planned action is in its life, as stored in `actions.status`.
    ActionStatus {
        /// Passive mode: recorded as what stanch would have done.
        WouldExecute = "would_execute",
        WouldRequestApproval = "would_request_approval",
        /// Queued to run (a worker claims it).
        Pending = "pending",
        Executing = "executing",
        Succeeded = "succeeded",
        /// Failed; `retryable` in its result says whether a retry is scheduled.
        Failed = "failed",
        /// Graph refused in a way only a person can resolve.
        NeedsHuman = "needs_human",
        /// Interrupted (a crash or a restart) after it began, and its effect is one no read can
        /// prove (a password reset, a message sent): not run again on its own. A person checks
        /// and retries it (`stanch actions retry`) or leaves it.
        Unverified = "unverified",
        /// The same idempotency key already ran.
        Duplicate = "duplicate",
        /// A cooldown: the same action on the same target ran moments ago.
        Suppressed = "suppressed",
        /// An equal action (same kind, account and parameters) started after this one was
        /// requested and succeeded: it did what this one would have done.
        Covered = "covered",
        AwaitingApproval = "awaiting_approval",
        Denied = "denied",
        /// Nobody decided before the deadline, and the policy said deny.
        TimedOut = "timed_out",
        /// Its undo is running (an expiry or an operator's rollback).
        RollingBack = "rolling_back",
        RolledBack = "rolled_back",
        /// Undone on purpose when its `expires_after` came.
        Expired = "expired",
        /// Its undo failed: still in effect.
        ExpiryFailed = "expiry_failed",
        /// The rails refuse what it would do (IP ranges that would lock the company out), at
        /// planning or right before it ran; nothing was sent, and no approval or retry changes it.
        Refused = "refused",
    }
}

impl ActionStatus {
    /// The statuses as a SQL list (`'a', 'b'`), for `status IN (...)`.
    pub fn sql_list(statuses: &[ActionStatus]) -> String {
        statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

states! {
    /// How one attempt to run an action ended, as the worker and the reports count it.
    ActionOutcome {
        Succeeded = "succeeded",
        Failed = "failed",
        NeedsHuman = "needs_human",
        /// The same idempotency key already ran.
        Duplicate = "duplicate",
        /// It was no longer waiting to run (another worker has it, or a human decided).
        Skipped = "skipped",
        /// A cooldown suppressed it.
        Suppressed = "suppressed",
        /// It now waits for a human: a budget is spent or the account is protected.
        Held = "held",
        /// The rails refused it before anything was sent.
        Refused = "refused",
    }
}

states! {
    /// Where a request for a human decision stands, as the chat messages and the page show it.
    ApprovalState {
        Waiting = "waiting",
        Approved = "approved",
        Denied = "denied",
        TimedOut = "timed_out",
        /// Sent on to the next audience after nobody answered.
        Escalated = "escalated",
    }
}

states! {
    /// What one person decided on a gated action.
    Decision {
        Approve = "approve",
        Deny = "deny",
    }
}

impl Decision {
    pub const fn of(approve: bool) -> Decision {
        if approve {
            Decision::Approve
        } else {
            Decision::Deny
        }
    }
}

states! {
    /// How a run of a scheduled job ended, as stored in `schedule_runs.outcome`.
    JobOutcome {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy + fmt::Display + std::str::FromStr + PartialEq + fmt::Debug + Serialize,
        T: for<'de> Deserialize<'de>,
    {
        let mut seen = std::collections::HashSet::new();
        for state in all {
            let text = state.to_string();
            assert!(
                seen.insert(text.clone()),
                "{text} is the form of two states"
            );
            assert_eq!(text.parse::<T>().ok(), Some(*state));
            assert_eq!(serde_json::to_value(state).unwrap(), text.as_str());
            assert_eq!(
                serde_json::from_value::<T>(text.clone().into()).unwrap(),
                *state
            );
        }
    }

    #[test]
    fn every_state_has_one_string_form_in_json_and_text() {
        round_trips(ActionStatus::ALL);
        round_trips(ActionOutcome::ALL);
        round_trips(ApprovalState::ALL);
        round_trips(Decision::ALL);
        round_trips(JobOutcome::ALL);
    }

    #[test]
    fn an_unknown_form_is_refused_with_the_known_ones() {
        let error = "Succeeded".parse::<ActionStatus>().unwrap_err();
        assert_eq!(
            error.to_string().split("; ").next(),
            Some("`Succeeded` is not a known ActionStatus")
        );
        assert!(error.to_string().contains("awaiting_approval"));
        assert!(serde_json::from_value::<ActionOutcome>("done".into()).is_err());
    }

    #[test]
    fn a_set_of_statuses_reads_as_a_sql_list() {
        assert_eq!(
            ActionStatus::sql_list(&[ActionStatus::Succeeded, ActionStatus::ExpiryFailed]),
            "'succeeded', 'expiry_failed'"
        );
    }
}
