//! The lease fence on an action's writes: a replica sends a write (Graph or a notification
//! webhook) for an action only while it still holds that action's lease, so one that froze or
//! lost the database, and whose action another replica rescued, neither repeats the write nor
//! races the rescuer (see `store::lease`).

use chrono::Utc;
use serde_json::json;

use super::runner::GraphRunner;
use crate::store::StoreError;
use stanch_core::audit::AuditEvent;

impl GraphRunner {
    /// This runner for the action carrying out `key`, which this replica claimed: no write is
    /// sent for it once the replica's lease on it lapsed (another replica may have taken it
    /// over after this one froze or lost the database).
    pub fn fenced(mut self, key: &str) -> GraphRunner {
        self.fence = Some((key.into(), Utc::now().timestamp_millis()));
        self
    }

    /// Before a write's audit record: whether the database still says this replica holds the
    /// fenced action's lease.
    pub(super) async fn check_fence(&self) -> Result<(), StoreError> {
        match &self.fence {
            Some((key, _)) => self.store.check_action_lease(key).await,
            None => Ok(()),
        }
    }

    /// Right before a write goes out: a replica frozen or cut off since [`check_fence`] may have
    /// lost the lease to another, so the write is withheld (and that audited) instead of sent.
    pub(super) async fn withhold_if_lapsed(&self, subject: &str) -> Result<(), StoreError> {
        let Some((key, claimed_ms)) = &self.fence else {
            return Ok(());
        };
        if self.store.replica().claim_still_valid(*claimed_ms) {
            return Ok(());
        }
        let withheld = AuditEvent::new(
            Utc::now(),
            "graph.withheld",
            subject,
            json!({"why": "this replica's lease lapsed before the request went out"}),
        );
        let _ = self.store.append_audit(&[withheld]).await;
        Err(StoreError::LeaseLost(format!("action `{key}`")))
    }
}
