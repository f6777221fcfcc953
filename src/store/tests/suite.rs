//! Behaviour every backend must share.

use serde_json::{Value, json};

use super::fixtures::{at, batch};
use crate::store::{Evaluation, Store};
use stanch_core::audit::{AuditEvent, ProblemKind};
use stanch_core::vocab::Mode;

pub async fn records_a_run(store: &Store) {
    let run = store
        .start_run(Mode::Passive, "detections.jsonl", at())
        .await
        .unwrap();
    let (detections, plans) = batch(1, 3, Mode::Passive);
    let raw = "x".repeat(70 * 1024);
    let mut items: Vec<Evaluation<'_>> = detections
        .iter()
        .zip(&plans)
        .enumerate()
        .map(|(i, (detection, plan))| Evaluation::Accepted {
            line: Some(i + 1),
            detection,
            plan,
        })
        .collect();
    items.push(Evaluation::Rejected {
        line: Some(4),
        reason: "not json".into(),
        raw: &raw,
    });
    store.record_batch(run, &items).await.unwrap();
    store
        .finish_run(run, &json!({"accepted": 3, "rejected": 1}))
        .await
        .unwrap();

    assert_eq!(store.detections_count(Some(run)).await.unwrap(), 3);
    let actions = store.actions(Some(run)).await.unwrap();
    assert_eq!(actions.len(), 6);
    assert_eq!(actions[0].status, "would_execute");
    assert_eq!(actions[0].kind, "revoke_sessions");
    assert_eq!(actions[0].target_upn.as_deref(), Some("user1@contoso.com"));
    assert_eq!(actions[0].gate, json!({"gate": "automatic"}));
    assert_eq!(actions[1].status, "would_request_approval");
    assert_eq!(actions[1].expires_after_secs, Some(3600));
    assert_eq!(actions[5].idempotency_key, "generic/3/disable");

    let records = store.audit_records().await.unwrap();
    let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "run.started",
            "detection.received",
            "plan.decided",
            "detection.received",
            "plan.decided",
            "detection.received",
            "plan.decided",
            "detection.rejected",
            "run.finished"
        ]
    );
    assert_eq!(records[1].subject, "generic/1");
    let plan: Value = serde_json::from_str(&records[2].payload).unwrap();
    assert_eq!(plan["plan"]["actions"][0]["mode"], "passive");
    let rejected: Value = serde_json::from_str(&records[7].payload).unwrap();
    assert_eq!(rejected["raw"].as_str().unwrap().len(), 64 * 1024);
    assert_eq!(rejected["truncated"], true);
    assert_eq!(rejected["reason"], "not json");

    let head = store.audit_head().await.unwrap().unwrap();
    assert_eq!(head.seq, 9);
    assert!(store.verify_audit().await.unwrap().is_intact());
    let run_row = store.run(run).await.unwrap().unwrap();
    assert_eq!(run_row.summary, Some(json!({"accepted": 3, "rejected": 1})));
    assert!(run_row.finished_at.is_some());
}

pub async fn active_mode_statuses(store: &Store) {
    let run = store.start_run(Mode::Active, "-", at()).await.unwrap();
    let (detections, plans) = batch(1, 1, Mode::Active);
    let items = [Evaluation::Accepted {
        line: None,
        detection: &detections[0],
        plan: &plans[0],
    }];
    store.record_batch(run, &items).await.unwrap();
    let statuses: Vec<String> = store
        .actions(Some(run))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.status.to_string())
        .collect();
    assert_eq!(statuses, ["pending", "awaiting_approval"]);
}

pub async fn empty_store(store: &Store) {
    assert_eq!(store.audit_head().await.unwrap(), None);
    assert!(store.audit_records().await.unwrap().is_empty());
    assert!(store.verify_audit().await.unwrap().is_intact());
    assert_eq!(store.detections_count(None).await.unwrap(), 0);
    assert!(
        store
            .finish_run(42, &json!({}))
            .await
            .unwrap_err()
            .to_string()
            .contains("run 42")
    );
}

/// Big batches are split into several statements; all rows and records still land.
pub async fn large_batch_is_chunked(store: &Store) {
    let run = store.start_run(Mode::Passive, "-", at()).await.unwrap();
    let (detections, plans) = batch(1, 3000, Mode::Passive);
    let items = super::fixtures::accepted(&detections, &plans);
    store.record_batch(run, &items).await.unwrap();
    assert_eq!(store.detections_count(Some(run)).await.unwrap(), 3000);
    let actions = store.actions(Some(run)).await.unwrap();
    assert_eq!(actions.len(), 6000);
    // Each action points at its own detection, in order.
    assert!(
        actions
            .windows(2)
            .all(|w| w[0].detection_seq <= w[1].detection_seq)
    );
    assert_eq!(actions[5999].idempotency_key, "generic/3000/disable");
    let page = store.audit_records_after(1, 10).await.unwrap();
    assert_eq!(page.first().map(|r| r.seq), Some(2));
    assert_eq!(page.len(), 10);
    assert!(store.verify_audit().await.unwrap().is_intact());
    assert_eq!(store.audit_head().await.unwrap().unwrap().seq, 6001);
}

/// Several writers appending at once leave one valid, contiguous chain.
pub async fn concurrent_appends(store: &Store) {
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..25 {
                let event = AuditEvent::new(
                    at(),
                    "approval.granted",
                    format!("task{task}/{n}"),
                    json!({}),
                );
                store.append_audit(&[event.clone(), event]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let records = store.audit_records().await.unwrap();
    assert_eq!(records.len(), 400);
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as i64 + 1)
    );
    let report = store.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records_checked, 400);
}

/// Like [`concurrent_appends`] with half the writers, for running two stores side by side.
pub async fn concurrent_appends_quiet(store: &Store) -> Result<(), crate::store::StoreError> {
    let mut tasks = Vec::new();
    for task in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..25 {
                let event = AuditEvent::new(
                    at(),
                    "approval.denied",
                    format!("task{task}/{n}"),
                    json!({}),
                );
                store.append_audit(&[event.clone(), event]).await?;
            }
            Ok::<_, crate::store::StoreError>(())
        }));
    }
    for task in tasks {
        task.await.expect("append task panicked")?;
    }
    Ok(())
}

/// The trail as stored says which record was touched.
pub async fn tamper_is_named(store: &Store, tamper: &str, expected: &[(i64, ProblemKind)]) {
    let run = store.start_run(Mode::Passive, "-", at()).await.unwrap();
    let (detections, plans) = batch(1, 3, Mode::Passive);
    let items = super::fixtures::accepted(&detections, &plans);
    store.record_batch(run, &items).await.unwrap();
    store.finish_run(run, &json!({})).await.unwrap();
    for statement in tamper.split(';').filter(|s| !s.trim().is_empty()) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
            .execute(&store.pool)
            .await
            .unwrap();
    }
    let report = store.verify_audit().await.unwrap();
    let found: Vec<(i64, ProblemKind)> = report.problems.iter().map(|p| (p.seq, p.kind)).collect();
    assert_eq!(found, expected, "{tamper}: {:?}", report.problems);
}
