//! Tenant-wide objects that an action reads, changes and writes back (the named location of
//! blocked ranges, with its policy) are changed by one replica at a time: two replicas adding
//! ranges at once each read the same list, and the second write dropped the first one's ranges
//! (40 blocks on two replicas left 28 ranges). A named lease in the store serializes them.

use std::time::Duration;

use super::failure::failure;
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

/// Runs `work` for `action` while holding the tenant-wide object it changes (if any), so no
/// other replica reads or writes that object until `work` is done. Not getting the object in
/// time is a transient failure: the worker tries again later.
pub(super) async fn holding<T, Fut>(
    store: &Store,
    action: &PlannedAction,
    work: impl FnOnce() -> Fut,
) -> Result<T, ActionError>
where
    Fut: std::future::Future<Output = Result<T, ActionError>>,
{
    let Some(name) = object_of(action.action) else {
        return work().await;
    };
    match store.wait_for_lease(name, WAIT).await {
        Ok(true) => {}
        Ok(false) => {
            let why = format!(
                "another replica has held {name} for over {}s",
                WAIT.as_secs()
            );
            return Err(failure(action, why, true));
        }
        Err(e) => return Err(failure(action, format!("cannot take {name}: {e}"), true)),
    }
    // Started once the object is held, so the wait does not eat the action's deadline.
    let done = work().await;
    if let Err(e) = store.release_lease(name).await {
        tracing::warn!(object = name, error = %e, "cannot release a tenant-wide object; it lapses with the lease");
    }
    done
}
