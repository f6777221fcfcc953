//! Sequenced sealing on PostgreSQL: replicas claim and append without queueing on the chain
//! head, and what they write still forms one intact chain, in an order that respects commits.

use chrono::Utc;

use super::fixtures::{accepted, at, batch};
use super::postgres::TestDb;
use crate::store::{Claim, ClaimGuard, Sealing, Store};
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::Mode;

fn event(n: usize, who: &str) -> AuditEvent {
    AuditEvent::new(Utc::now(), "bench.step", format!("{who}/{n}"), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claiming_and_appending_at_once_leave_one_intact_chain() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = Store::open(&db.url).await.unwrap();
    let b = Store::open(&db.url).await.unwrap();
    assert_eq!(a.sealing(), Sealing::Sequenced);
    let run = a.start_run(Mode::Active, "-", at()).await.unwrap();
    let (detections, plans) = batch(1, 40, Mode::Active);
    a.record_batch(run, &accepted(&detections, &plans))
        .await
        .unwrap();
    let before = a.audit_records().await.unwrap().len();
    let rows = a.pending_actions(100).await.unwrap();
    assert_eq!(rows.len(), 40);

    // Both replicas claim every action (each key once between them) and append records.
    let work = |store: Store, rows: Vec<crate::store::ActionRow>, who: &'static str| async move {
        let mut claimed = 0;
        for (n, row) in rows.iter().enumerate() {
            let guard = ClaimGuard {
                cooldown_secs: 900,
                account: Some(crate::store::lane_of(row)),
                ..ClaimGuard::default()
            };
            if store
                .claim_action_guarded(row.detection_seq, &row.idempotency_key, &guard)
                .await
                .unwrap()
                == Claim::Claimed
            {
                claimed += 1;
            }
            store.append_audit(&[event(n, who)]).await.unwrap();
        }
        claimed
    };
    let reversed: Vec<_> = rows.iter().rev().cloned().collect();
    let (from_a, from_b) = tokio::join!(
        tokio::spawn(work(a.clone(), rows.clone(), "a")),
        tokio::spawn(work(b.clone(), reversed, "b"))
    );
    assert_eq!(
        from_a.unwrap() + from_b.unwrap(),
        40,
        "each action claimed once"
    );

    let report = b.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    let records = a.audit_records().await.unwrap();
    assert_eq!(
        records.len(),
        before + 80,
        "every appended record is on the chain"
    );
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_pending")
        .fetch_one(&a.pool)
        .await
        .unwrap();
    assert_eq!(pending, 0);
    b.close().await;
    db.drop(a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_dead_replica_left_pending_are_sealed_in_order_before_later_ones() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = Store::open(&db.url).await.unwrap();
    // What a replica that died between committing and sealing leaves behind.
    for n in 0..3 {
        sqlx::query(
            "INSERT INTO audit_pending (at, kind, subject, payload) VALUES ($1, 'left.behind', $2, '{}')",
        )
        .bind(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(format!("dead/{n}"))
        .execute(&a.pool)
        .await
        .unwrap();
    }
    // An inline seal (a run starting) comes after them, never before.
    a.start_run(Mode::Active, "-", at()).await.unwrap();
    let records = a.audit_records().await.unwrap();
    let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        &kinds[..4],
        ["left.behind", "left.behind", "left.behind", "run.started"],
        "{kinds:?}"
    );
    let subjects: Vec<&str> = records[..3].iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(subjects, ["dead/0", "dead/1", "dead/2"]);

    // A replica opening later seals what is pending at once.
    sqlx::query(
        "INSERT INTO audit_pending (at, kind, subject, payload) VALUES ($1, 'left.behind', 'dead/3', '{}')",
    )
    .bind(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    .execute(&a.pool)
    .await
    .unwrap();
    let b = Store::open(&db.url).await.unwrap();
    let sealed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE subject = 'dead/3'")
        .fetch_one(&b.pool)
        .await
        .unwrap();
    assert_eq!(sealed, 1);
    assert!(b.verify_audit().await.unwrap().is_intact());
    b.close().await;
    db.drop(a).await;
}
