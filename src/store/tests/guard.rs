//! The safety rails at claim time, on SQLite and PostgreSQL: a cooldown suppresses repeats, a
//! budget holds exactly the accounts over it for a human, people's approvals pass but count, and
//! every verdict is audited.

use super::fixtures::{at, batch, plan};
use crate::store::{ActionRow, BudgetLimit, Claim, ClaimGuard, Store};
use stanch_core::vocab::{ActionKind, Mode};

/// Records `count` new detections on accounts `first..` (each with an automatic revoke and a
/// gated disable) and returns the pending revokes. Every call makes new detections.
async fn revokes(store: &Store, first: usize, count: usize) -> Vec<ActionRow> {
    static WAVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let wave = WAVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let run = store.start_run(Mode::Active, "-", at()).await.unwrap();
    let (mut detections, _) = batch(first, count, Mode::Active);
    for d in &mut detections {
        d.id = format!("{}-wave{wave}", d.id);
    }
    let plans: Vec<_> = detections.iter().map(|d| plan(d, Mode::Active)).collect();
    let items = super::fixtures::accepted(&detections, &plans);
    store.record_batch(run, &items).await.unwrap();
    store
        .actions(Some(run))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status == "pending")
        .collect()
}

/// Records `count` new detections, each with one automatic `block_ips` (tenant-wide: no
/// account), and returns the pending blocks.
async fn blocks(store: &Store, first: usize, count: usize) -> Vec<ActionRow> {
    let run = store.start_run(Mode::Active, "-", at()).await.unwrap();
    let (mut detections, _) = batch(first, count, Mode::Active);
    for d in &mut detections {
        d.id = format!("{}-blocks", d.id);
    }
    let plans: Vec<_> = detections
        .iter()
        .map(|d| {
            let mut plan = plan(d, Mode::Active);
            plan.actions.truncate(1);
            plan.actions[0].action = ActionKind::BlockIps;
            plan.actions[0].target = None;
            plan
        })
        .collect();
    let items = super::fixtures::accepted(&detections, &plans);
    store.record_batch(run, &items).await.unwrap();
    store.actions(Some(run)).await.unwrap()
}

fn budget(max: u64) -> ClaimGuard {
    ClaimGuard {
        budgets: vec![BudgetLimit {
            name: "revokes".into(),
            max,
            per_secs: 3600,
        }],
        ..ClaimGuard::default()
    }
}

pub async fn budgets_hold_exactly_the_accounts_over_them(store: &Store) {
    let rows = revokes(store, 1, 5).await;
    let mut claims = Vec::new();
    for row in &rows {
        claims.push(
            store
                .claim_action_guarded(row.detection_seq, &row.idempotency_key, &budget(3))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        &claims[..3],
        &[Claim::Claimed, Claim::Claimed, Claim::Claimed]
    );
    assert!(
        matches!(&claims[3], Claim::Held { why, budget } if why.contains("budget `revokes` is spent: 3 of 3") && budget.as_deref() == Some("revokes"))
    );
    let held = store.action(rows[4].pk).await.unwrap().unwrap();
    assert_eq!(held.status, "awaiting_approval");
    assert_eq!(held.gate["gate"], "approval");
    assert!(held.gate["reasons"][0].as_str().unwrap().contains("budget"));

    // An account already counted in the window spends nothing new; a person's approval passes
    // the budget and is counted.
    let again = revokes(store, 1, 1).await;
    let same_account = store
        .claim_action_guarded(
            again[0].detection_seq,
            &again[0].idempotency_key,
            &budget(3),
        )
        .await
        .unwrap();
    assert_eq!(same_account, Claim::Claimed);
    let more = revokes(store, 10, 1).await;
    let approved = ClaimGuard {
        human_approved: true,
        ..budget(3)
    };
    let by_a_person = store
        .claim_action_guarded(more[0].detection_seq, &more[0].idempotency_key, &approved)
        .await
        .unwrap();
    assert_eq!(by_a_person, Claim::Claimed);
    let kinds: Vec<String> = store
        .audit_records()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "budget.exceeded").count(), 2);
    assert!(store.verify_audit().await.unwrap().is_intact());
}

pub async fn budgets_count_each_tenant_wide_action_once_and_hold_the_next(store: &Store) {
    let rows = blocks(store, 1, 3).await;
    assert!(
        rows.iter()
            .all(|r| r.target_upn.is_none() && r.status == "pending")
    );
    let guard = ClaimGuard {
        // No account to cool down: the cooldown never suppresses a tenant-wide action.
        cooldown_secs: 900,
        budgets: vec![BudgetLimit {
            name: "blocks".into(),
            max: 2,
            per_secs: 3600,
        }],
        ..ClaimGuard::default()
    };
    let mut claims = Vec::new();
    for row in &rows {
        claims.push(
            store
                .claim_action_guarded(row.detection_seq, &row.idempotency_key, &guard)
                .await
                .unwrap(),
        );
    }
    assert_eq!(&claims[..2], &[Claim::Claimed, Claim::Claimed]);
    assert!(
        matches!(&claims[2], Claim::Held { why, budget } if why.contains("budget `blocks` is spent: 2 of 2 accounts or tenant-wide actions") && budget.as_deref() == Some("blocks")),
        "{:?}",
        claims[2]
    );
    let held = store.action(rows[2].pk).await.unwrap().unwrap();
    assert_eq!(held.status, "awaiting_approval");
    assert!(store.verify_audit().await.unwrap().is_intact());
}

pub async fn cooldowns_suppress_repeats_and_protection_holds(store: &Store) {
    let cooling = ClaimGuard {
        cooldown_secs: 900,
        ..ClaimGuard::default()
    };
    let first = revokes(store, 1, 1).await;
    let claim = |row: ActionRow, guard: ClaimGuard| async move {
        store
            .claim_action_guarded(row.detection_seq, &row.idempotency_key, &guard)
            .await
            .unwrap()
    };
    assert_eq!(
        claim(first[0].clone(), cooling.clone()).await,
        Claim::Claimed
    );
    let repeat = revokes(store, 1, 1).await;
    assert_eq!(
        claim(repeat[0].clone(), cooling.clone()).await,
        Claim::Suppressed { by: first[0].pk }
    );
    let suppressed = store.action(repeat[0].pk).await.unwrap().unwrap();
    assert_eq!(suppressed.status, "suppressed");
    assert_eq!(suppressed.result.unwrap()["suppressed_by"], first[0].pk);
    let other_account = revokes(store, 2, 1).await;
    assert_eq!(
        claim(other_account[0].clone(), cooling).await,
        Claim::Claimed
    );

    let protected = revokes(store, 3, 1).await;
    let guard = ClaimGuard {
        protected: Some(
            "`user3@contoso.com` is a member of the protected role `Global Administrator`".into(),
        ),
        ..ClaimGuard::default()
    };
    assert!(matches!(
        claim(protected[0].clone(), guard).await,
        Claim::Held { .. }
    ));
    let records = store.audit_records().await.unwrap();
    assert!(records.iter().any(|r| r.kind == "action.suppressed"));
    assert!(records.iter().any(|r| r.kind == "action.held"));
    assert!(store.verify_audit().await.unwrap().is_intact());
}

#[tokio::test]
async fn sqlite_budgets_hold_exactly_the_accounts_over_them() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    budgets_hold_exactly_the_accounts_over_them(&store).await;
}

#[tokio::test]
async fn sqlite_budgets_count_each_tenant_wide_action_once_and_hold_the_next() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    budgets_count_each_tenant_wide_action_once_and_hold_the_next(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_budgets_count_each_tenant_wide_action_once_and_hold_the_next() {
    let Some(db) = super::postgres::TestDb::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    budgets_count_each_tenant_wide_action_once_and_hold_the_next(&store).await;
    db.drop(store).await;
}

#[tokio::test]
async fn sqlite_cooldowns_suppress_repeats_and_protection_holds() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    cooldowns_suppress_repeats_and_protection_holds(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_budgets_hold_exactly_the_accounts_over_them() {
    let Some(db) = super::postgres::TestDb::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    budgets_hold_exactly_the_accounts_over_them(&store).await;
    db.drop(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cooldowns_suppress_repeats_and_protection_holds() {
    let Some(db) = super::postgres::TestDb::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    cooldowns_suppress_repeats_and_protection_holds(&store).await;
    db.drop(store).await;
}
