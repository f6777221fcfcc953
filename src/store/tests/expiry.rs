//! Expiring actions in the store, on SQLite and PostgreSQL: which are due, the claim that undoes
//! an action at most once, and operators' extensions and confirmations with their audit records.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::fixtures::{at, batch};
use crate::store::{ActionRow, ExpiryChange, ExpiryError, ExpiryOperator, Store, timestamp};
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::{ActionStatus, Mode};

/// Four active actions made `succeeded` (as the executor records them), with the given deadlines.
async fn succeeded(store: &Store, deadlines: [Option<DateTime<Utc>>; 4]) -> Vec<ActionRow> {
    let run = store.start_run(Mode::Active, "-", at()).await.unwrap();
    let (detections, plans) = batch(1, 4, Mode::Active);
    let items = super::fixtures::accepted(&detections, &plans);
    store.record_batch(run, &items).await.unwrap();
    let pending: Vec<ActionRow> = store
        .actions(Some(run))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status == "pending")
        .collect();
    for (row, deadline) in pending.iter().zip(deadlines) {
        store
            .claim_action(row.detection_seq, &row.idempotency_key)
            .await
            .unwrap();
        let result = json!({"outcome": {}, "restore": {"accountEnabled": true}});
        store
            .set_action_outcome_expiring(
                row.detection_seq,
                &row.idempotency_key,
                ActionStatus::Succeeded,
                &result,
                deadline,
            )
            .await
            .unwrap();
    }
    let mut rows = Vec::new();
    for row in pending {
        rows.push(store.action(row.pk).await.unwrap().unwrap());
    }
    rows
}

fn by(name: &'static str, at: DateTime<Utc>) -> ExpiryOperator<'static> {
    ExpiryOperator {
        name,
        actor: None,
        reason: "incident still open",
        at,
    }
}

fn pks(rows: &[ActionRow]) -> Vec<i64> {
    rows.iter().map(|r| r.pk).collect()
}

fn event(kind: &str) -> AuditEvent {
    AuditEvent::new(Utc::now(), kind, "action/test", json!({}))
}

pub async fn due_actions_are_undone_at_most_once(store: &Store) {
    let now = Utc::now();
    let rows = succeeded(
        store,
        [
            Some(now - Duration::seconds(1)),
            Some(now + Duration::hours(1)),
            None,
            Some(now - Duration::seconds(2)),
        ],
    )
    .await;
    let (due, later, never, other) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    assert_eq!(
        due.expires_at.as_deref(),
        Some(timestamp(now - Duration::seconds(1)).as_str())
    );
    assert!(!due.confirmed && due.confirmed_at.is_none());
    assert_eq!(never.expires_at, None);
    // Soonest deadline first; nothing not yet due, nothing without a deadline.
    assert_eq!(
        pks(&store.due_expiries(now, 10).await.unwrap()),
        [other.pk, due.pk]
    );

    assert!(store.claim_rollback(due.pk, Some(now)).await.unwrap());
    assert!(!store.claim_rollback(due.pk, Some(now)).await.unwrap());
    assert!(!store.claim_rollback(due.pk, None).await.unwrap());
    assert_eq!(pks(&store.due_expiries(now, 10).await.unwrap()), [other.pk]);
    // Not yet due: the job's claim refuses it; an operator's does not.
    assert!(!store.claim_rollback(later.pk, Some(now)).await.unwrap());
    store
        .end_rollback(
            due.pk,
            ActionStatus::Expired,
            &json!({"rollback": {}}),
            &event("action.expired"),
        )
        .await
        .unwrap();
    let expired = store.action(due.pk).await.unwrap().unwrap();
    assert_eq!(expired.status, "expired");
    assert_eq!(expired.expires_at, due.expires_at, "the deadline is kept");
    // An expired action is never claimed again, and cannot be ended twice.
    assert!(!store.claim_rollback(due.pk, None).await.unwrap());
    assert!(
        store
            .end_rollback(
                due.pk,
                ActionStatus::Expired,
                &json!({}),
                &event("action.expired")
            )
            .await
            .is_err()
    );
    let trail = store.audit_records().await.unwrap();
    assert_eq!(trail.last().unwrap().kind, "action.expired");
    assert_eq!(
        trail.iter().filter(|r| r.kind == "action.expired").count(),
        1
    );

    // A claim caught by a crash is put back in effect, and due again.
    assert!(store.claim_rollback(other.pk, Some(now)).await.unwrap());
    assert_eq!(
        store.recover_interrupted_rollbacks().await.unwrap(),
        0,
        "its lease holds"
    );
    store.lapse_leases().await;
    assert_eq!(store.recover_interrupted_rollbacks().await.unwrap(), 1);
    assert_eq!(pks(&store.due_expiries(now, 10).await.unwrap()), [other.pk]);
    // One the job could not undo waits for a person, out of the job's way.
    assert!(store.claim_rollback(other.pk, Some(now)).await.unwrap());
    store
        .end_rollback(
            other.pk,
            ActionStatus::ExpiryFailed,
            &json!({}),
            &event("action.rollback_failed"),
        )
        .await
        .unwrap();
    assert!(store.due_expiries(now, 10).await.unwrap().is_empty());
    // Extending it puts it back in effect with a fresh deadline from now.
    let changed = store
        .change_expiry(other.pk, ExpiryChange::Extend { secs: 60 }, by("ops", now))
        .await
        .unwrap();
    assert_eq!(changed.expires_at, timestamp(now + Duration::seconds(60)));
    assert_eq!(
        store.action(other.pk).await.unwrap().unwrap().status,
        "succeeded"
    );
    assert!(store.verify_audit().await.unwrap().is_intact());
}

pub async fn operators_extend_and_confirm(store: &Store) {
    let now = Utc::now();
    let deadline = now + Duration::hours(1);
    let rows = succeeded(store, [Some(deadline), None, Some(deadline), None]).await;
    let (later, never, kept) = (&rows[0], &rows[1], &rows[2]);

    // Extended from the old deadline, not from now: the job no longer finds it at that time.
    let changed = store
        .change_expiry(
            later.pk,
            ExpiryChange::Extend { secs: 7200 },
            by("a.lead", now),
        )
        .await
        .unwrap();
    let new_deadline = deadline + Duration::hours(2);
    assert_eq!(changed.expires_at, timestamp(new_deadline));
    assert!(!changed.confirmed);
    assert!(
        store
            .due_expiries(deadline + Duration::seconds(1), 10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.pk != later.pk)
    );
    assert_eq!(
        pks(&store.due_expiries(new_deadline, 10).await.unwrap()),
        [kept.pk, later.pk]
    );

    let confirmed = store
        .change_expiry(kept.pk, ExpiryChange::Confirm, by("a.lead", now))
        .await
        .unwrap();
    assert!(confirmed.confirmed);
    let row = store.action(kept.pk).await.unwrap().unwrap();
    assert!(row.confirmed);
    assert_eq!(row.confirmed_by.as_deref(), Some("a.lead"));
    assert_eq!(row.confirmed_at, Some(timestamp(now)));
    let far = now + Duration::days(3650);
    assert!(
        store
            .due_expiries(far, 10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.pk != kept.pk)
    );
    assert!(!store.claim_rollback(kept.pk, Some(far)).await.unwrap());

    // What is refused, and why.
    let refused = |result: Result<_, ExpiryError>| result.unwrap_err().to_string();
    let again = store
        .change_expiry(kept.pk, ExpiryChange::Confirm, by("b", now))
        .await;
    assert!(refused(again).contains("was confirmed by a.lead"));
    let extend_confirmed = store
        .change_expiry(kept.pk, ExpiryChange::Extend { secs: 60 }, by("b", now))
        .await;
    assert!(refused(extend_confirmed).contains("permanent and never expires"));
    let no_deadline = store
        .change_expiry(never.pk, ExpiryChange::Extend { secs: 60 }, by("b", now))
        .await;
    assert!(refused(no_deadline).contains("does not expire"));
    let forever = store
        .change_expiry(
            later.pk,
            ExpiryChange::Extend { secs: u64::MAX },
            by("b", now),
        )
        .await;
    assert!(refused(forever).contains("goes beyond any date"));
    let missing = store
        .change_expiry(9999, ExpiryChange::Confirm, by("b", now))
        .await;
    assert_eq!(refused(missing), "no action #9999");
    let nameless = store
        .change_expiry(later.pk, ExpiryChange::Confirm, by(" ", now))
        .await;
    assert!(refused(nameless).contains("the operator's name must not be empty"));
    assert!(store.claim_rollback(later.pk, None).await.unwrap());
    let busy = store
        .change_expiry(later.pk, ExpiryChange::Extend { secs: 60 }, by("b", now))
        .await;
    assert_eq!(
        refused(busy),
        format!(
            "action #{} is rolling_back; only a succeeded action that expires can be extended",
            later.pk
        )
    );

    // Each change is in the trail with who and why; the refusals left nothing.
    let trail = store.audit_records().await.unwrap();
    let changes: Vec<(String, Value)> = trail
        .iter()
        .filter(|r| r.kind == "action.extended" || r.kind == "action.confirmed")
        .map(|r| (r.kind.clone(), serde_json::from_str(&r.payload).unwrap()))
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0].0, "action.extended");
    assert_eq!(changes[0].1["by"], "a.lead");
    assert_eq!(changes[0].1["reason"], "incident still open");
    assert_eq!(changes[0].1["extended_by_secs"], 7200);
    assert_eq!(changes[1].0, "action.confirmed");
    assert_eq!(
        trail
            .iter()
            .find(|r| r.kind == "action.confirmed")
            .unwrap()
            .subject,
        format!("action/{}", kept.idempotency_key)
    );
    assert!(store.verify_audit().await.unwrap().is_intact());
}

#[tokio::test]
async fn sqlite_due_actions_are_undone_at_most_once() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    due_actions_are_undone_at_most_once(&store).await;
}

#[tokio::test]
async fn sqlite_operators_extend_and_confirm() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    operators_extend_and_confirm(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_due_actions_are_undone_at_most_once() {
    let Some(db) = super::postgres::TestDb::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    due_actions_are_undone_at_most_once(&store).await;
    db.drop(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_operators_extend_and_confirm() {
    let Some(db) = super::postgres::TestDb::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    operators_extend_and_confirm(&store).await;
    db.drop(store).await;
}
