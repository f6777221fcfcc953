//! Tenant-wide objects that an action reads, changes and writes back (the named location of
//! blocked ranges, with its policy) are changed by one replica at a time: two replicas adding
//! ranges at once each read the same list, and the second write dropped the first one's ranges
//! (40 blocks on two replicas left 28 ranges). A named lease in the store serializes them.

use std::time::Duration;

use super::lifecycle::ActionError;
use crate::store::Store;
use stanch_core::engine::PlannedAction;
use stanch_core::vocab::ActionKind;

/// How long an action waits for another replica to finish with the object.
const WAIT: Duration = Duration::from_secs(30);

/// The tenant-wide object `kind` reads and writes back, if it changes one.
fn object_of(kind: ActionKind) -> Option<&'static str> {
    match kind {
        ActionKind::BlockIps => Some("object:blocked-ranges"),
        _ => None,
    }
}

/// The object held for one action; released when the action is done with it.
pub(super) struct Held<'a> {
    store: &'a Store,
    name: Option<&'static str>,
}

impl Held<'_> {
    pub(super) async fn release(self) {
        if let Some(name) = self.name
            && let Err(e) = self.store.release_lease(name).await
        {
            tracing::warn!(object = name, error = %e, "cannot release a tenant-wide object; it lapses with the lease");
        }
    }
}

/// Waits for the tenant-wide object `action` changes (if any), so no other replica reads or
/// writes it until this one releases it.
pub(super) async fn hold<'a>(
    store: &'a Store,
    action: &PlannedAction,
) -> Result<Held<'a>, ActionError> {
    let Some(name) = object_of(action.action) else {
        return Ok(Held { store, name: None });
    };
    let transient = |reason: String| ActionError::Transient {
        action: action.action.to_string(),
        target: action
            .target
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_default(),
        reason,
    };
    match store.wait_for_lease(name, WAIT).await {
        Ok(true) => Ok(Held {
            store,
            name: Some(name),
        }),
        Ok(false) => Err(transient(format!(
            "another replica has held {name} for over {}s",
            WAIT.as_secs()
        ))),
        Err(e) => Err(transient(format!("cannot take {name}: {e}"))),
    }
}
