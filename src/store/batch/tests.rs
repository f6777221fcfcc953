use super::*;
use crate::store::prepared::{action_status, truncate};
use stanch_core::engine::Gate;

#[test]
fn truncation_keeps_whole_characters() {
    assert_eq!(truncate("héllo", 2), "h");
    assert_eq!(truncate("héllo", 3), "hé");
    assert_eq!(truncate("abc", 10), "abc");
}

#[test]
fn status_follows_mode_and_gate() {
    let gated = Gate::Approval {
        reasons: vec!["protected".into()],
        policy: None,
    };
    assert_eq!(
        action_status(Mode::Passive, &Gate::Automatic),
        "would_execute"
    );
    assert_eq!(
        action_status(Mode::Passive, &gated),
        "would_request_approval"
    );
    assert_eq!(action_status(Mode::Active, &Gate::Automatic), "pending");
    assert_eq!(action_status(Mode::Active, &gated), "awaiting_approval");
}
