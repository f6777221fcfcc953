//! Group commit for the audit trail: appends that arrive while another is being written wait
//! for it, then go to the database together, in one transaction, sealed onto the chain in the
//! order they arrived.
//!
//! Why: every Graph call of every action writes two records (the request before it is sent, the
//! answer after), so with many accounts contained at once the writer is the bottleneck, and one
//! commit per record would make the pool wait on the disk. Each caller still returns only once
//! its own records are committed, so "no Graph write without its audit record written first"
//! holds exactly as with one transaction per append.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::Store;
use super::chain::{lock_head, write_records};
use super::error::{StoreError, query_err};
use stanch_core::audit::{self, AuditEvent};

/// Most records one grouped transaction writes; the rest wait for the next one.
const MOST_PER_COMMIT: usize = 4_096;

#[derive(Debug, Default)]
pub(crate) struct AuditQueue {
    waiting: Mutex<Vec<Waiter>>,
    /// Held by the one caller writing a group; the others queue behind it (fairly, in order).
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Waiter {
    events: Vec<AuditEvent>,
    done: oneshot::Sender<Result<(), Arc<StoreError>>>,
}

impl Store {
    /// Appends `events` (sealed inline) with whatever other appends are waiting.
    pub(super) async fn append_audit_grouped(
        &self,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let (done, committed) = oneshot::channel();
        self.audit_queue
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Waiter {
                events: events.to_vec(),
                done,
            });
        {
            let _turn = self.audit_queue.turn.lock().await;
            // Whoever holds the turn writes everything queued, which is often ours already
            // written by the caller before us: then there is nothing left to do here.
            let group = self.audit_queue.take_group();
            if !group.is_empty() {
                let all: Vec<AuditEvent> = group
                    .iter()
                    .flat_map(|w| w.events.iter().cloned())
                    .collect();
                let result = self.write_audit_now(&all).await.map_err(Arc::new);
                for waiter in group {
                    let _ = waiter.done.send(result.clone());
                }
            }
        }
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(shared)) => Err(StoreError::Grouped(shared)),
            // The caller writing our group was cancelled half-way: its transaction rolled back.
            Err(_) => Err(StoreError::Inconsistent(
                "the transaction writing these audit records was abandoned; nothing was written"
                    .into(),
            )),
        }
    }

    /// Writes `events` in one transaction of its own.
    pub(super) async fn write_audit_now(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let (records, head) = audit::seal_all(&head, events);
        write_records(&mut tx, self.backend, records, &head).await?;
        tx.commit()
            .await
            .map_err(query_err("committing audit records"))
    }
}

impl AuditQueue {
    /// The waiters to write now, oldest first, up to [`MOST_PER_COMMIT`] records (always at
    /// least one waiter, however many records it brings).
    fn take_group(&self) -> Vec<Waiter> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let mut records = 0;
        let mut take = 0;
        for waiter in waiting.iter() {
            if take > 0 && records + waiter.events.len() > MOST_PER_COMMIT {
                break;
            }
            records += waiter.events.len();
            take += 1;
        }
        waiting.drain(..take).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn event(n: usize) -> AuditEvent {
        AuditEvent::new(
            Utc::now(),
            "test.grouped",
            format!("n/{n}"),
            json!({"n": n}),
        )
    }

    #[tokio::test]
    async fn concurrent_appends_are_all_written_once_in_a_chain_that_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = Store::open(&url).await.unwrap();
        let before = store.audit_records().await.unwrap().len();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..32 {
            let store = store.clone();
            tasks.spawn(async move {
                for i in 0..10 {
                    let n = task * 100 + i;
                    store
                        .append_audit(&[event(n), event(n + 50)])
                        .await
                        .unwrap();
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let records = store.audit_records().await.unwrap();
        let ours: Vec<&str> = records[before..]
            .iter()
            .map(|r| r.subject.as_str())
            .collect();
        assert_eq!(ours.len(), 32 * 10 * 2);
        let distinct: std::collections::BTreeSet<&str> = ours.iter().copied().collect();
        assert_eq!(distinct.len(), ours.len(), "no record written twice");
        // One caller's records stay together and in order.
        for pair in ours.chunks(2) {
            let a: usize = pair[0][2..].parse().unwrap();
            let b: usize = pair[1][2..].parse().unwrap();
            assert_eq!(b, a + 50);
        }
        assert!(store.verify_audit().await.unwrap().is_intact());
    }

    #[test]
    fn a_group_is_bounded_but_never_empty() {
        let queue = AuditQueue::default();
        for size in [MOST_PER_COMMIT + 1, 1, 1] {
            let (done, _) = oneshot::channel();
            queue.waiting.lock().unwrap().push(Waiter {
                events: (0..size).map(event).collect(),
                done,
            });
        }
        assert_eq!(queue.take_group().len(), 1);
        assert_eq!(queue.take_group().len(), 2);
        assert!(queue.take_group().is_empty());
    }
}
