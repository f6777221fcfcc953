//! Who is at the box: the CLI works offline (break-glass), so what it records names the OS
//! user, marked `local, unauthenticated` ([`Actor::local`]), never a name it could prove.

use stanch_core::audit::Actor;

/// The OS user running this command, with the name they typed (`--as`), as the audit trail
/// records it.
pub(super) fn local_actor(claimed: Option<&str>) -> Actor {
    Actor::local(&os_user(), claimed)
}

fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown (USER is not set)".to_string())
}
