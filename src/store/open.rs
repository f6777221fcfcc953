use std::sync::Once;

use sqlx::any::AnyPoolOptions;
use sqlx::{Executor, migrate::Migrator};

use super::error::StoreError;
use super::{Backend, Store};
/// The URL without its password, for error messages.
use stanch_core::secret::redact_database_url as redact;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Per-connection SQLite settings: WAL lets readers run beside the writer, NORMAL sync is durable
/// at every checkpoint and safe against corruption, and a generous busy timeout lets concurrent
/// writers queue on the audit head instead of failing.
const SQLITE_PRAGMAS: &str = "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000; \
     PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 65536;";

impl Store {
    /// Opens (creating if needed) and migrates the database at `database_url`:
    /// `sqlite://PATH`, `sqlite::memory:` (one private connection, for tests) or `postgres://…`.
    pub async fn open(database_url: &str) -> Result<Store, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let shown = redact(database_url);
        let scheme = database_url.split(':').next().unwrap_or_default();
        let (backend, pool) = match scheme {
            "sqlite" if is_memory(database_url) => {
                // Each connection to :memory: is its own database, so there must be exactly one,
                // and it must never be closed for idling.
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect(database_url)
                    .await;
                (Backend::Sqlite, pool)
            }
            "sqlite" => {
                let url = create_if_missing(database_url);
                let pool = AnyPoolOptions::new()
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await;
                (Backend::Sqlite, pool)
            }
            "postgres" | "postgresql" => (
                Backend::Postgres,
                AnyPoolOptions::new().connect(database_url).await,
            ),
            _ => {
                return Err(StoreError::UnsupportedUrl {
                    scheme: scheme.to_string(),
                });
            }
        };
        let pool = pool.map_err(|source| StoreError::Connect {
            url: shown.clone(),
            cause: source,
        })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                url: shown,
                cause: source,
            })?;
        if backend == Backend::Sqlite && !is_memory(database_url) {
            spawn_checkpointer(pool.clone());
        }
        Ok(Store {
            pool,
            backend,
            writer: Default::default(),
        })
    }
}

/// Folds SQLite's write-ahead log back into the database in the background. A PASSIVE checkpoint
/// never blocks writers; left to the automatic checkpoint, the committing request would pay for
/// it, which showed as 300 ms stalls in the intake's tail latency.
fn spawn_checkpointer(pool: sqlx::AnyPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !pool.is_closed() {
            tick.tick().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    break;
                }
                tracing::debug!(error = %e, "background WAL checkpoint failed; the automatic one remains");
            }
        }
    });
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// sqlx opens SQLite files read-write but does not create them unless asked (`mode=rwc`).
fn create_if_missing(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://stanch.db"), "sqlite://stanch.db");
    }

    #[test]
    fn sqlite_files_are_created() {
        assert_eq!(create_if_missing("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            create_if_missing("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            create_if_missing("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }

    #[tokio::test]
    async fn unknown_scheme_is_named() {
        let err = Store::open("mysql://localhost/x").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported database url scheme `mysql`: use sqlite://PATH, sqlite::memory: or \
             postgres://USER@HOST/DB"
        );
    }
}
