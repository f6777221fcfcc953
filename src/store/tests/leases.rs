//! Two replicas on one database (two stores opened on one SQLite file or PostgreSQL database,
//! each its own replica): leadership, reservations and fenced outcomes.

use serde_json::json;

use super::fixtures::{accepted, at, batch};
use crate::store::{LEADER, Store, StoreError, lane_of};
use stanch_core::vocab::{ActionStatus, Mode};

async fn two_replicas_share_leadership_work_and_outcomes(a: &Store, b: &Store) {
    assert_ne!(a.replica().id, b.replica().id);

    // One leader at a time; the other takes over once the leader's lease lapses.
    assert!(a.try_lease(LEADER).await.unwrap());
    assert!(!b.try_lease(LEADER).await.unwrap());
    assert!(
        a.try_lease(LEADER).await.unwrap(),
        "the leader keeps its lease"
    );
    assert_eq!(
        a.lease_holder(LEADER).await.unwrap(),
        Some(a.replica().id.clone())
    );
    a.lapse_leases().await;
    assert!(b.try_lease(LEADER).await.unwrap());
    assert!(
        !a.try_lease(LEADER).await.unwrap(),
        "a leader that froze comes back a follower"
    );

    let run = a.start_run(Mode::Active, "-", at()).await.unwrap();
    let (detections, plans) = batch(1, 2, Mode::Active);
    a.record_batch(run, &accepted(&detections, &plans))
        .await
        .unwrap();
    let due = a.pending_actions(10).await.unwrap();
    assert_eq!(due.len(), 2, "{due:?}");
    let (first, second) = (&due[0], &due[1]);

    // What one replica reserved, the other neither sees nor can take.
    assert!(a.reserve_action(first.pk, &lane_of(first)).await.unwrap());
    assert!(!b.reserve_action(first.pk, &lane_of(first)).await.unwrap());
    let seen: Vec<i64> = b
        .pending_actions(10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.pk)
        .collect();
    assert_eq!(seen, [second.pk]);
    // A second action for the same account waits while the other replica holds that lane.
    assert!(!b.reserve_action(second.pk, &lane_of(first)).await.unwrap());
    assert!(b.reserve_action(second.pk, &lane_of(second)).await.unwrap());

    // Claimed by `a`, which then freezes past its lease: `b` rescues it, and `a`'s late
    // outcome and Graph writes are refused.
    let claim = a
        .claim_action(first.detection_seq, &first.idempotency_key)
        .await
        .unwrap();
    assert_eq!(claim, crate::store::Claim::Claimed);
    a.check_action_lease(&first.idempotency_key).await.unwrap();
    assert_eq!(
        b.recover_interrupted_actions().await.unwrap().requeued,
        0,
        "a live lease"
    );
    a.lapse_leases().await;
    assert_eq!(b.recover_interrupted_actions().await.unwrap().requeued, 1);
    assert!(matches!(
        a.check_action_lease(&first.idempotency_key).await,
        Err(StoreError::LeaseLost(_))
    ));
    let late = a
        .record_claimed_outcome(
            first.detection_seq,
            &first.idempotency_key,
            ActionStatus::Succeeded,
            &json!({}),
            None,
            &[],
        )
        .await;
    assert!(matches!(late, Err(StoreError::LeaseLost(_))), "{late:?}");
    assert_eq!(
        a.action(first.pk).await.unwrap().unwrap().status,
        ActionStatus::Pending
    );
    let trail = a.audit_records().await.unwrap();
    let rescued = trail.iter().find(|r| r.kind == "action.rescued").unwrap();
    assert!(
        rescued.payload.contains(&a.replica().id),
        "{}",
        rescued.payload
    );

    // `b` runs it to the end under its own lease.
    assert!(b.reserve_action(first.pk, &lane_of(first)).await.unwrap());
    let claim = b
        .claim_action(first.detection_seq, &first.idempotency_key)
        .await
        .unwrap();
    assert_eq!(claim, crate::store::Claim::Claimed);
    b.record_claimed_outcome(
        first.detection_seq,
        &first.idempotency_key,
        ActionStatus::Succeeded,
        &json!({}),
        None,
        &[],
    )
    .await
    .unwrap();
    assert!(a.verify_audit().await.unwrap().is_intact());
}

#[tokio::test]
async fn sqlite_two_replicas_share_leadership_work_and_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stanch.db").display());
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    two_replicas_share_leadership_work_and_outcomes(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_replicas_share_leadership_work_and_outcomes() {
    let Some(db) = super::postgres::TestDb::create().await else {
        return;
    };
    let a = Store::open(&db.url).await.unwrap();
    let b = Store::open(&db.url).await.unwrap();
    two_replicas_share_leadership_work_and_outcomes(&a, &b).await;
    b.close().await;
    db.drop(a).await;
}

/// A replica whose heartbeat was silent for longer than a lease cannot tell whether its
/// in-flight work still counts, so its next beat hands the claims back (lapsed) instead of
/// renewing them: a rescuer then finishes the action, where a renewed claim would stay
/// `executing` under a live lease with nobody working on it.
#[tokio::test]
async fn a_heartbeat_after_a_silence_longer_than_a_lease_hands_the_claims_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    let run = a.start_run(Mode::Active, "-", at()).await.unwrap();
    let (detections, plans) = batch(1, 1, Mode::Active);
    a.record_batch(run, &accepted(&detections, &plans))
        .await
        .unwrap();
    let row = a.pending_actions(10).await.unwrap().remove(0);
    a.claim_action(row.detection_seq, &row.idempotency_key)
        .await
        .unwrap();

    // A beat in time keeps the claim: nothing to rescue.
    a.renew_leases().await.unwrap();
    assert_eq!(b.recover_interrupted_actions().await.unwrap().requeued, 0);

    let ttl = a.replica().settings.ttl.as_millis() as i64;
    a.pretend_silent_for(ttl + 1_000);
    a.renew_leases().await.unwrap();
    assert!(
        !a.replica().claim_still_valid(0),
        "older claims no longer count"
    );
    let rescued = b.recover_interrupted_actions().await.unwrap();
    assert_eq!(rescued.requeued, 1, "{rescued:?}");
    let outcome = a
        .record_claimed_outcome(
            row.detection_seq,
            &row.idempotency_key,
            ActionStatus::Succeeded,
            &json!({}),
            None,
            &[],
        )
        .await;
    assert!(
        matches!(outcome, Err(StoreError::LeaseLost(_))),
        "{outcome:?}"
    );
}
