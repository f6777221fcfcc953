//! Group commit for the hot path: the writes every action makes (its claim, the audit records
//! around each Graph call, its outcome) that arrive while another group is being written wait
//! for it, then go to the database together, in one transaction, applied in the order they
//! arrived, their records sealed onto the chain under one head lock.
//!
//! Why: with many accounts contained at once, SQLite's one writer is the bottleneck, and each
//! write in a transaction of its own paid for a BEGIN, the head read and update, a COMMIT that
//! rewrites the same pages, and a thread hop for each statement. Each caller still returns only
//! once its own write is committed, so "no Graph write without its audit record written first"
//! holds exactly as with one transaction per write. A write that fails takes its group's
//! transaction with it; every write of that group is then tried again alone, so one bad write
//! fails only its own caller.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::oneshot;

use super::Store;
use super::chain::{ChainSlot, lock_head};
use super::claim::Claim;
use super::error::{StoreError, query_err};
use super::guard::ClaimGuard;
use super::outcome::{Outcome, outcome_query};
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::ActionStatus;

/// Most records one grouped transaction writes; the rest wait for the next one.
const MOST_PER_COMMIT: usize = 4_096;

/// One write of the hot path, owned so that a group can be written (or retried) apart from its
/// callers.
#[derive(Debug, Clone)]
pub(crate) enum HotWrite {
    Audit(Vec<AuditEvent>),
    Claim {
        detection_seq: i64,
        key: String,
        guard: ClaimGuard,
    },
    /// How a claimed action ended, written only while `owner` still holds its lease; `ended`
    /// is audited with it.
    Outcome {
        detection_seq: i64,
        key: String,
        status: ActionStatus,
        result: Value,
        expires_at: Option<DateTime<Utc>>,
        owner: String,
        ended: Vec<AuditEvent>,
    },
}

/// What a [`HotWrite`] did.
#[derive(Debug, Clone)]
pub(crate) enum HotDone {
    Written,
    Claim(Claim),
    /// False when the lease was lost: nothing was written.
    Outcome {
        written: bool,
    },
}

impl HotWrite {
    fn records(&self) -> usize {
        match self {
            HotWrite::Audit(events) => events.len(),
            HotWrite::Claim { .. } => 1,
            HotWrite::Outcome { ended, .. } => ended.len().max(1),
        }
    }
}

type Answer = Result<HotDone, Arc<StoreError>>;

#[derive(Debug, Default)]
pub(crate) struct AuditQueue {
    waiting: Mutex<Vec<Waiter>>,
    /// Held by the one caller writing a group; the others queue behind it (fairly, in order).
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Waiter {
    write: HotWrite,
    done: oneshot::Sender<Answer>,
}

impl Store {
    /// Appends `events` (sealed inline) with whatever other writes are waiting.
    pub(super) async fn append_audit_grouped(
        &self,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.hot_write(HotWrite::Audit(events.to_vec()))
            .await
            .map(|_| ())
    }

    /// Writes `write` with whatever other writes are waiting; returns once it is committed.
    pub(crate) async fn hot_write(&self, write: HotWrite) -> Result<HotDone, StoreError> {
        let (done, committed) = oneshot::channel();
        self.audit_queue
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Waiter { write, done });
        {
            let _turn = self.audit_queue.turn.lock().await;
            // Whoever holds the turn writes everything queued, which is often ours already
            // written by the caller before us: then there is nothing left to do here.
            let group = self.audit_queue.take_group();
            if !group.is_empty() {
                // Written by a task of its own: a caller that gives up waiting cannot abandon a
                // group half-way, with the others' answers unsent.
                let store = self.clone();
                let _ = tokio::spawn(async move { store.write_and_answer(group).await }).await;
            }
        }
        match committed.await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(shared)) => Err(StoreError::Grouped(shared)),
            Err(_) => Err(StoreError::Inconsistent(
                "the transaction writing this was abandoned; nothing was written".into(),
            )),
        }
    }

    async fn write_and_answer(&self, group: Vec<Waiter>) {
        let writes: Vec<&HotWrite> = group.iter().map(|w| &w.write).collect();
        match self.write_group(&writes).await {
            Ok(answers) => {
                for (waiter, answer) in group.into_iter().zip(answers) {
                    let _ = waiter.done.send(Ok(answer));
                }
            }
            Err(e) if group.len() == 1 => {
                let _ = group
                    .into_iter()
                    .next()
                    .map(|w| w.done.send(Err(Arc::new(e))));
            }
            Err(_) => {
                // One of them failed and rolled the group back: each alone, so only it fails.
                for waiter in group {
                    let answer = self.write_group(&[&waiter.write]).await;
                    let _ = waiter
                        .done
                        .send(answer.map(|mut a| a.remove(0)).map_err(Arc::new));
                }
            }
        }
    }

    /// Applies `writes` in order in one transaction, their records sealed under one head lock.
    async fn write_group(&self, writes: &[&HotWrite]) -> Result<Vec<HotDone>, StoreError> {
        let (_writer, mut tx) = self.write_tx().await?;
        let head = lock_head(&mut tx).await?;
        let mut chain = ChainSlot::Collect {
            head,
            records: Vec::new(),
        };
        let mut answers = Vec::with_capacity(writes.len());
        for write in writes {
            answers.push(self.apply_hot(&mut tx, &mut chain, write).await?);
        }
        chain.flush(&mut tx, self.backend).await?;
        tx.commit()
            .await
            .map_err(query_err("committing a group of writes"))?;
        Ok(answers)
    }

    /// Applies one write inside a transaction that holds the chain.
    pub(super) async fn apply_hot(
        &self,
        tx: &mut super::WriteTx,
        chain: &mut ChainSlot,
        write: &HotWrite,
    ) -> Result<HotDone, StoreError> {
        match write {
            HotWrite::Audit(events) => {
                chain.append(tx, self.backend, events).await?;
                Ok(HotDone::Written)
            }
            HotWrite::Claim {
                detection_seq,
                key,
                guard,
            } => {
                let claim = self.claim_in(tx, chain, *detection_seq, key, guard).await?;
                Ok(HotDone::Claim(claim))
            }
            HotWrite::Outcome {
                detection_seq,
                key,
                status,
                result,
                expires_at,
                owner,
                ended,
            } => {
                let outcome = Outcome {
                    detection_seq: *detection_seq,
                    key,
                    status: *status,
                    result,
                    expires_at: *expires_at,
                };
                let written = outcome_query(&outcome, Some(owner))
                    .execute(&mut **tx)
                    .await
                    .map_err(query_err("recording an action's outcome"))?;
                if written.rows_affected() != 1 {
                    return Ok(HotDone::Outcome { written: false });
                }
                chain.append(tx, self.backend, ended).await?;
                Ok(HotDone::Outcome { written: true })
            }
        }
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
            let size = waiter.write.records();
            if take > 0 && records + size > MOST_PER_COMMIT {
                break;
            }
            records += size;
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

    #[tokio::test]
    async fn a_write_that_fails_fails_alone_and_its_group_is_written_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = Store::open(&url).await.unwrap();
        store
            .execute_write(sqlx::query(
                "CREATE TRIGGER poison BEFORE INSERT ON audit_log WHEN NEW.kind = 'test.poison' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned record'); END",
            ))
            .await
            .unwrap();
        let before = store.audit_records().await.unwrap().len();
        // Everyone queues behind a turn held here, so all of them make one group.
        let turn = store.audit_queue.turn.lock().await;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..8 {
            let store = store.clone();
            let mut e = event(n);
            if n == 3 {
                e.kind = "test.poison".into();
            }
            tasks.spawn(async move { (n, store.append_audit(&[e]).await) });
        }
        while store.audit_queue.waiting.lock().unwrap().len() < 8 {
            tokio::task::yield_now().await;
        }
        drop(turn);
        let mut failed = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (n, result) = done.unwrap();
            if let Err(e) = result {
                assert!(e.to_string().contains("poisoned"), "{e}");
                failed.push(n);
            }
        }
        assert_eq!(failed, [3]);
        let records = store.audit_records().await.unwrap();
        assert_eq!(records.len() - before, 7);
        assert!(store.verify_audit().await.unwrap().is_intact());
    }

    #[test]
    fn a_group_is_bounded_but_never_empty() {
        let queue = AuditQueue::default();
        for size in [MOST_PER_COMMIT + 1, 1, 1] {
            let (done, _) = oneshot::channel();
            queue.waiting.lock().unwrap().push(Waiter {
                write: HotWrite::Audit((0..size).map(event).collect()),
                done,
            });
        }
        assert_eq!(queue.take_group().len(), 1);
        assert_eq!(queue.take_group().len(), 2);
        assert!(queue.take_group().is_empty());
    }
}
