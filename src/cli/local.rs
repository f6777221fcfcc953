//! Who is at the box: the CLI works offline (break-glass), so what it records names the OS
//! user, marked `local, unauthenticated` ([`Actor::local`]), never a name it could prove.

use stanch_core::audit::Actor;

/// The OS user running this command, as the audit trail records it.
pub(super) fn local_actor() -> Actor {
    Actor::local(&os_user())
}

fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown (USER is not set)".to_string())
}
