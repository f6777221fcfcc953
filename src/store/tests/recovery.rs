//! Recovery after a crash, on SQLite and PostgreSQL: resumable actions are queued again, the
//! ones whose effect cannot be proven become `unverified` and wait for a person.

use super::fixtures::{at, batch};
use crate::store::Store;
use stanch_core::vocab::{ActionKind, ActionStatus, Mode};

pub async fn an_interrupted_reset_or_notify_becomes_unverified_not_pending(store: &Store) {
    let run = store.start_run(Mode::Active, "-", at()).await.unwrap();
    let (detections, mut plans) = batch(1, 3, Mode::Active);
    plans[1].actions[0].action = ActionKind::ResetPassword;
    plans[2].actions[0].action = ActionKind::Notify;
    let items = super::fixtures::accepted(&detections, &plans);
    store.record_batch(run, &items).await.unwrap();
    let pending: Vec<_> = store
        .actions(Some(run))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status == ActionStatus::Pending)
        .collect();
    assert_eq!(pending.len(), 3);
    // All three are caught running by the crash.
    for row in &pending {
        store
            .claim_action(row.detection_seq, &row.idempotency_key)
            .await
            .unwrap();
    }
    // While their replica lives (its leases hold), a rescuer leaves them alone.
    let untouched = store.recover_interrupted_actions().await.unwrap();
    assert_eq!(untouched, crate::store::Recovered::default());
    store.lapse_leases().await;
    let recovered = store.recover_interrupted_actions().await.unwrap();
    assert_eq!(recovered.requeued, 1);
    let status = |kind: &str| {
        let pk = pending.iter().find(|a| a.kind == kind).unwrap().pk;
        async move { store.action(pk).await.unwrap().unwrap() }
    };
    assert_eq!(
        status("revoke_sessions").await.status,
        ActionStatus::Pending
    );
    for kind in ["reset_password", "notify"] {
        let row = status(kind).await;
        assert_eq!(row.status, ActionStatus::Unverified, "{kind}");
        assert!(recovered.unverified.contains(&row.pk), "{kind}");
        let why = row.result.unwrap()["unverified"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(why.contains("stanch actions retry"), "{why}");
    }
    // Not run again on its own: the worker's queue does not hold it, a replay is a duplicate.
    let queued = store.pending_actions(100).await.unwrap();
    assert!(
        queued.iter().all(|a| a.kind == "revoke_sessions"),
        "{queued:?}"
    );
    let reset = status("reset_password").await;
    let claim = store
        .claim_action(reset.detection_seq, &reset.idempotency_key)
        .await
        .unwrap();
    assert!(
        matches!(claim, crate::store::Claim::AlreadyDone { .. }),
        "{claim:?}"
    );
    // Each is in the audit trail, and a person can put it back in the queue.
    let records = store.audit_records().await.unwrap();
    assert_eq!(
        records
            .iter()
            .filter(|r| r.kind == "action.unverified")
            .count(),
        2
    );
    assert!(store.verify_audit().await.unwrap().is_intact());
    assert!(store.requeue_action(reset.pk).await.unwrap());
    assert_eq!(status("reset_password").await.status, ActionStatus::Pending);
    // A second recovery finds nothing more.
    assert_eq!(
        store
            .recover_interrupted_actions()
            .await
            .unwrap()
            .unverified,
        Vec::<i64>::new()
    );
}

#[tokio::test]
async fn sqlite_an_interrupted_reset_or_notify_becomes_unverified_not_pending() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    an_interrupted_reset_or_notify_becomes_unverified_not_pending(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_interrupted_reset_or_notify_becomes_unverified_not_pending() {
    let Some(db) = super::postgres::TestDb::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    an_interrupted_reset_or_notify_becomes_unverified_not_pending(&store).await;
    db.drop(store).await;
}
