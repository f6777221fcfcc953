//! PostgreSQL tests, each in a fresh database so they can run in parallel. Set
//! `STANCH_TEST_POSTGRES` to the admin URL (default `postgres://postgres@127.0.0.1:5432/test`);
//! when no server answers, the tests say so and pass, unless `STANCH_REQUIRE_POSTGRES` is set
//! (as `.ci/run` does), in which case a missing server fails them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor};

use super::{campaigns, operator, suite, tamper};
use crate::store::{Backend, Store};

/// A fresh database, dropped at the end of its test (shared with the other store test modules).
pub(super) struct TestDb {
    admin_url: String,
    name: String,
    pub(super) url: String,
}

impl TestDb {
    pub(super) async fn create() -> Option<TestDb> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var("STANCH_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(e) if std::env::var_os("STANCH_REQUIRE_POSTGRES").is_some() => {
                panic!(
                    "STANCH_REQUIRE_POSTGRES is set but PostgreSQL at {admin_url} is unreachable: {e}"
                )
            }
            Err(_) => {
                eprintln!("skipping: no PostgreSQL at {admin_url}");
                return None;
            }
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "stanch_test_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }

    pub(super) async fn drop(self, store: Store) {
        store.close().await;
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {} WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
    }
}

macro_rules! pg_test {
    ($name:ident, |$store:ident| $body:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(db) = TestDb::create().await else {
                return;
            };
            let $store = Store::open(&db.url).await.unwrap();
            assert_eq!($store.backend(), Backend::Postgres);
            $body;
            db.drop($store).await;
        }
    };
}

pg_test!(postgres_records_a_run, |store| suite::records_a_run(&store)
    .await);
pg_test!(postgres_active_mode_statuses, |store| {
    suite::active_mode_statuses(&store).await
});
pg_test!(postgres_empty_store, |store| suite::empty_store(&store)
    .await);
pg_test!(postgres_large_batch_is_chunked, |store| {
    suite::large_batch_is_chunked(&store).await
});
pg_test!(postgres_campaigns_round_trip, |store| {
    campaigns::campaigns_round_trip(&store).await
});
pg_test!(
    postgres_a_member_known_under_its_other_name_is_deleted,
    |store| { campaigns::a_member_known_under_its_other_name_is_deleted(&store).await }
);
pg_test!(
    postgres_operator_pages_follow_their_cursor_and_filters,
    |store| { operator::pages_follow_their_cursor_and_filters(&store).await }
);
pg_test!(postgres_a_retry_is_recorded_with_its_actor, |store| {
    operator::a_retry_is_recorded_with_its_actor(&store).await
});
pg_test!(postgres_concurrent_appends, |store| {
    suite::concurrent_appends(&store).await
});
pg_test!(postgres_edit_is_named, |store| {
    suite::tamper_is_named(&store, tamper::EDIT, tamper::CASES[0].1).await
});
pg_test!(postgres_swap_is_named, |store| {
    suite::tamper_is_named(&store, tamper::SWAP, tamper::CASES[3].1).await
});
pg_test!(postgres_insert_is_named, |store| {
    suite::tamper_is_named(&store, tamper::INSERT, tamper::CASES[4].1).await
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_stores_append_concurrently() {
    // Two pools on one database stand in for two replicas.
    let Some(db) = TestDb::create().await else {
        return;
    };
    let first = Store::open(&db.url).await.unwrap();
    let second = Store::open(&db.url).await.unwrap();
    let (a, b) = tokio::join!(
        suite::concurrent_appends_quiet(&first),
        suite::concurrent_appends_quiet(&second)
    );
    a.unwrap();
    b.unwrap();
    let report = first.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records_checked, 400);
    second.close().await;
    db.drop(first).await;
}
