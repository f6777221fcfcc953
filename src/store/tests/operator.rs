//! The operator API's reads page after their cursor with their filters, and a retry is recorded
//! with who asked, on every backend.

use serde_json::Value;

use super::fixtures::{at, batch};
use crate::store::{ActionFilter, AuditFilter, Evaluation, Store};
use stanch_core::audit::Actor;
use stanch_core::vocab::{ActionStatus, Mode};

pub async fn pages_follow_their_cursor_and_filters(store: &Store) {
    let run = store.start_run(Mode::Passive, "ops", at()).await.unwrap();
    let (detections, plans) = batch(1, 3, Mode::Passive);
    let items: Vec<Evaluation<'_>> = super::fixtures::accepted(&detections, &plans);
    store.record_batch(run, &items).await.unwrap();

    let all = ActionFilter::default();
    let first = store.actions_page(&all, 0, 4).await.unwrap();
    let rest = store.actions_page(&all, first[3].pk, 4).await.unwrap();
    let pks: Vec<i64> = first.iter().chain(&rest).map(|a| a.pk).collect();
    assert_eq!(pks.len(), 6, "{pks:?}");
    assert!(
        pks.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice: {pks:?}"
    );
    let count = |filter: ActionFilter| async move {
        store.actions_page(&filter, 0, 100).await.unwrap().len()
    };
    let waiting = ActionFilter {
        status: Some(ActionStatus::WouldRequestApproval),
        ..ActionFilter::default()
    };
    assert_eq!(count(waiting).await, 3);
    let account = ActionFilter {
        account: Some(" USER2@contoso.com".into()),
        ..ActionFilter::default()
    };
    assert_eq!(count(account).await, 2, "by account, in any case");
    let other = ActionFilter {
        playbook: Some("other".into()),
        ..ActionFilter::default()
    };
    assert_eq!(count(other).await, 0);

    let seen = store.detections_page(None, 0, 2).await.unwrap();
    let more = store.detections_page(None, seen[1].seq, 2).await.unwrap();
    assert_eq!((seen.len(), more.len()), (2, 1));
    let one = store
        .detections_page(Some("user3@contoso.com"), 0, 10)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].detection_id, "3");

    let kind = AuditFilter {
        kind: Some("detection.received".into()),
        ..AuditFilter::default()
    };
    let received = store.audit_page(&kind, 0, 2).await.unwrap();
    let after = store.audit_page(&kind, received[1].seq, 2).await.unwrap();
    assert_eq!((received.len(), after.len()), (2, 1));
    let later = AuditFilter {
        since: Some("2999-01-01T00:00:00.000000Z".into()),
        ..AuditFilter::default()
    };
    assert!(store.audit_page(&later, 0, 10).await.unwrap().is_empty());
}

pub async fn a_retry_is_recorded_with_its_actor(store: &Store) {
    let run = store.start_run(Mode::Active, "ops", at()).await.unwrap();
    let (detections, plans) = batch(1, 1, Mode::Active);
    let items = super::fixtures::accepted(&detections, &plans);
    store.record_batch(run, &items).await.unwrap();
    let action = &store.actions(Some(run)).await.unwrap()[0];
    let actor = Actor {
        name: "Eva Novak".into(),
        upn: Some("e.novak@contoso.com".into()),
        object_id: Some("0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e00e5".into()),
        roles: vec!["responder".into()],
        token_id: Some("uti-7".into()),
        via: "token",
        authenticated: true,
        claimed_name: None,
    };
    assert!(
        !store.requeue_by(action.pk, &actor, "again").await.unwrap(),
        "a pending action is not retried"
    );
    store
        .execute_write(
            sqlx::query("UPDATE actions SET status = 'failed' WHERE pk = $1").bind(action.pk),
        )
        .await
        .unwrap();
    assert!(
        store
            .requeue_by(action.pk, &actor, "Graph was throttling")
            .await
            .unwrap()
    );
    assert_eq!(
        store.action(action.pk).await.unwrap().unwrap().status,
        ActionStatus::Pending
    );
    let by_actor = AuditFilter {
        actor: Some("0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e00e5".into()),
        ..AuditFilter::default()
    };
    let found = store.audit_page(&by_actor, 0, 10).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, "action.retry_requested");
    assert_eq!(found[0].subject, format!("action/{}", action.pk));
    let payload: Value = serde_json::from_str(&found[0].payload).unwrap();
    assert_eq!(payload["actor"]["token_id"], "uti-7");
    assert_eq!(payload["reason"], "Graph was throttling");
    assert!(store.verify_audit().await.unwrap().is_intact());
}
