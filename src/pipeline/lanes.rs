//! Lanes: what keeps one account's actions in order while many accounts are contained at once.
//! An action holds its target's lane (or the tenant's, for tenant-wide actions, which change the
//! same objects) while it runs; actions on other accounts run beside it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use stanch_core::engine::PlannedAction;
use stanch_core::intake::UserRef;

/// Lanes no action holds are forgotten once there are this many.
const PRUNE_AT: usize = 4_096;

#[derive(Debug, Default)]
pub struct Lanes(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Lanes {
    /// Waits until nothing else holds `lane`, then holds it until the guard is dropped. The
    /// lock is fair: actions waiting on one lane get it in the order they asked.
    pub async fn hold(&self, lane: String) -> OwnedMutexGuard<()> {
        let lock = {
            let mut lanes = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if lanes.len() >= PRUNE_AT {
                lanes.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            lanes.entry(lane).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// The lane of an action: its target's name as the serve worker's queue names it
/// (`store::lane_of`), or the tenant's ("").
pub fn lane_of_action(action: &PlannedAction) -> String {
    action.target.as_ref().map(lane_of_user).unwrap_or_default()
}

pub fn lane_of_user(user: &UserRef) -> String {
    crate::store::lane_named(user.upn.as_deref().or(user.id.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_lane_is_held_by_one_action_at_a_time_and_others_go_on() {
        let lanes = Arc::new(Lanes::default());
        let held = lanes.hold("a.silva@contoso.com".into()).await;
        let same = {
            let lanes = lanes.clone();
            tokio::spawn(async move { lanes.hold("a.silva@contoso.com".into()).await })
        };
        // Another account's lane is free at once.
        let other =
            tokio::time::timeout(Duration::from_secs(1), lanes.hold("b@contoso.com".into()));
        assert!(other.await.is_ok());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!same.is_finished(), "the same lane waits");
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), same)
            .await
            .expect("the lane is handed on")
            .unwrap();
    }

    #[test]
    fn an_account_takes_the_lane_the_worker_queue_names_it_by() {
        let user = UserRef {
            upn: Some(" A.Silva@Contoso.com".into()),
            id: Some("1".into()),
        };
        assert_eq!(lane_of_user(&user), "a.silva@contoso.com");
        let by_id = UserRef {
            upn: None,
            id: Some("ABC".into()),
        };
        assert_eq!(lane_of_user(&by_id), "abc");
    }
}
