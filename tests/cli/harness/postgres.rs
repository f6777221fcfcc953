//! A fresh PostgreSQL database per test, dropped at the end. `STANCH_TEST_POSTGRES` names the
//! admin URL (default `postgres://postgres@127.0.0.1:5432/test`); with no server the test is
//! skipped, unless `STANCH_REQUIRE_POSTGRES` is set (as `.ci/run` does).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor};

pub struct PgDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDb {
    pub fn create(runtime: &tokio::runtime::Runtime) -> Option<PgDb> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var("STANCH_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!(
            "stanch_cli_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let created = runtime.block_on(async {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
        });
        match created {
            Ok(_) => {}
            Err(e) if std::env::var_os("STANCH_REQUIRE_POSTGRES").is_some() => {
                panic!("STANCH_REQUIRE_POSTGRES is set but PostgreSQL at {admin_url} failed: {e}")
            }
            Err(_) => {
                eprintln!("skipping: no PostgreSQL at {admin_url}");
                return None;
            }
        }
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(PgDb {
            admin_url,
            name,
            url,
        })
    }

    /// Ends every session of this database's (what a failover or an operator's
    /// `pg_terminate_backend` does to a replica's connections).
    pub fn terminate_backends(&self, runtime: &tokio::runtime::Runtime) -> u64 {
        runtime.block_on(async {
            let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                self.name
            )))
            .fetch_all(&mut admin)
            .await
            .unwrap();
            rows.len() as u64
        })
    }

    /// The database's URL with its host and port replaced by `127.0.0.1:port` (a proxy's), and
    /// where the server really listens.
    pub fn via(&self, port: u16) -> (String, std::net::SocketAddr) {
        let (scheme, rest) = self.url.split_once("://").expect("a URL");
        let (auth, tail) = rest.split_once('@').map_or(("", rest), |(a, t)| (a, t));
        let (host, path) = tail.split_once('/').expect("a database name");
        let upstream = host
            .replace("localhost", "127.0.0.1")
            .parse()
            .unwrap_or_else(|_| "127.0.0.1:5432".parse().unwrap());
        let auth = if auth.is_empty() {
            String::new()
        } else {
            format!("{auth}@")
        };
        (
            format!("{scheme}://{auth}127.0.0.1:{port}/{path}"),
            upstream,
        )
    }

    pub fn drop_with(self, runtime: &tokio::runtime::Runtime) {
        runtime.block_on(async {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
                let _ = admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    )))
                    .await;
            }
        });
    }
}
