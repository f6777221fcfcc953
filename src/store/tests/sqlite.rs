use super::{campaigns, operator, suite};
use crate::store::{Backend, Store};

async fn memory() -> Store {
    Store::open("sqlite::memory:").await.unwrap()
}

#[tokio::test]
async fn memory_records_a_run() {
    suite::records_a_run(&memory().await).await;
}

#[tokio::test]
async fn memory_active_mode_statuses() {
    suite::active_mode_statuses(&memory().await).await;
}

#[tokio::test]
async fn memory_empty_store() {
    let store = memory().await;
    assert_eq!(store.backend(), Backend::Sqlite);
    suite::empty_store(&store).await;
}

#[tokio::test]
async fn memory_campaigns_round_trip() {
    campaigns::campaigns_round_trip(&memory().await).await;
}

#[tokio::test]
async fn memory_a_member_known_under_its_other_name_is_deleted() {
    campaigns::a_member_known_under_its_other_name_is_deleted(&memory().await).await;
}

#[tokio::test]
async fn memory_operator_pages_follow_their_cursor_and_filters() {
    operator::pages_follow_their_cursor_and_filters(&memory().await).await;
}

#[tokio::test]
async fn memory_a_retry_is_recorded_with_its_actor() {
    operator::a_retry_is_recorded_with_its_actor(&memory().await).await;
}

#[tokio::test]
async fn memory_large_batch_is_chunked() {
    suite::large_batch_is_chunked(&memory().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_records_a_run_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stanch.db").display());
    let store = Store::open(&url).await.unwrap();
    suite::records_a_run(&store).await;
    store.close().await;
    // Reopening runs the migrations again (a no-op) and sees the same trail.
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.audit_head().await.unwrap().unwrap().seq, 9);
    assert!(store.verify_audit().await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stanch.db").display());
    suite::concurrent_appends(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_concurrent_appends_from_two_pools() {
    // Two pools on one file stand in for two stanch processes.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stanch.db").display());
    let first = Store::open(&url).await.unwrap();
    let second = Store::open(&url).await.unwrap();
    let (a, b) = tokio::join!(
        suite::concurrent_appends_quiet(&first),
        suite::concurrent_appends_quiet(&second)
    );
    a.unwrap();
    b.unwrap();
    let report = first.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records_checked, 400);
}
