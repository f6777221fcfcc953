use std::sync::Once;

use sqlx::any::AnyPoolOptions;
use sqlx::{Executor, Row as _, migrate::Migrator};

use super::anchor::{self, OpenedFile};
use super::error::StoreError;
use super::{Backend, Store};
/// The URL without its password, for error messages.
use stanch_core::secret::redact_database_url as redact;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The migrations this binary carries for `backend`.
pub(super) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// Per-connection SQLite settings: WAL lets readers run beside the writer, NORMAL sync is durable
/// at every checkpoint and safe against corruption, and a generous busy timeout lets concurrent
/// writers queue on the audit head instead of failing. The journal size limit gives the WAL's
/// disk space back after a checkpoint (a burst once left a 1 GB WAL on disk for good). Reads map
/// the database file: a reader whose cache another connection's write invalidated gets its pages
/// from the shared mapping instead of copying them back in through its own cache.
const SQLITE_PRAGMAS: &str = "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000; \
     PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 65536; \
     PRAGMA journal_size_limit = 67108864; PRAGMA mmap_size = 268435456;";

/// The one connection SQLite writes go through (they queue on the store's writer lock anyway):
/// its page cache stays warm, whereas a write on whichever pooled connection came free found
/// that connection's cache invalidated by the others' writes and read its pages back from disk.
async fn sqlite_writer(url: &str, shown: &str) -> Result<sqlx::AnyPool, StoreError> {
    AnyPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(SQLITE_PRAGMAS).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|cause| StoreError::Connect {
            url: shown.to_string(),
            cause,
        })
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `database_url`:
    /// `sqlite://PATH`, `sqlite::memory:` (one private connection, for tests) or `postgres://…`.
    pub async fn open(database_url: &str) -> Result<Store, StoreError> {
        Store::open_checked(database_url, Anchoring::Check).await
    }

    /// Opens a database that its audit anchor does not vouch for (a restored backup, a fresh
    /// start after a loss), re-anchors it, and records in its trail that an operator did so
    /// and why. What `stanch audit reanchor --reason` runs.
    pub async fn open_reanchoring(database_url: &str, reason: &str) -> Result<Store, StoreError> {
        let store = Store::open_checked(database_url, Anchoring::Replace).await?;
        if let Some(file) = &store.file {
            let path = anchor::anchor_path(&file.path);
            let previous = anchor::read(&path).ok().flatten();
            store
                .append_audit(&[stanch_core::audit::AuditEvent::new(
                    chrono::Utc::now(),
                    "audit.reanchored",
                    file.path.display().to_string(),
                    serde_json::json!({"reason": reason, "previous_anchor": previous}),
                )])
                .await?;
            store.anchor_now(true).await?;
        }
        Ok(store)
    }

    async fn open_checked(database_url: &str, anchoring: Anchoring) -> Result<Store, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let shown = redact(database_url);
        let file = anchor::sqlite_file(database_url);
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
                if let (Some(file), Anchoring::Check) = (&file, anchoring) {
                    let anchor_file = anchor::anchor_path(file);
                    if let Some(anchor) = anchor::read(&anchor_file)?
                        && !file.exists()
                    {
                        return Err(anchor::missing(file, &anchor_file, &anchor));
                    }
                }
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
        migrator(backend)
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                url: shown.clone(),
                cause: source,
            })?;
        if let (Some(path), Anchoring::Check) = (&file, anchoring) {
            let anchor_file = anchor::anchor_path(path);
            if let Some(anchor) = anchor::read(&anchor_file)? {
                anchor::check(&pool, path, &anchor_file, &anchor).await?;
            }
        }
        let write_pool = match (backend, is_memory(database_url)) {
            (Backend::Sqlite, false) => {
                sqlite_writer(&create_if_missing(database_url), &shown).await?
            }
            _ => pool.clone(),
        };
        let store = Store {
            pool,
            write_pool,
            backend,
            writer: Default::default(),
            file: file.map(|path| std::sync::Arc::new(OpenedFile::new(path))),
            anchored: Default::default(),
            replica: super::lease::Replica::new(),
            sealing: super::chain::Sealing::for_backend(backend),
            sealer: Default::default(),
            audit_queue: Default::default(),
        };
        super::lease::spawn_heartbeat(store.clone());
        if store.sealing == super::chain::Sealing::Sequenced {
            // Records a replica left pending when it died are chained by the next one to open.
            store.seal_pending().await?;
            super::chain::spawn_sealer(store.clone(), store.replica.settings.beat());
        }
        if backend == Backend::Sqlite && !is_memory(database_url) {
            if anchoring == Anchoring::Check {
                store.anchor_now(false).await?;
            }
            spawn_checkpointer(store.clone());
        }
        Ok(store)
    }

    /// Checkpoints the WAL and, when everything in it reached the database file (so the head is
    /// durable), records the chain head in the anchor. `force` writes it even when unchanged.
    pub(crate) async fn anchor_now(&self, force: bool) -> Result<(), StoreError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        // One checkpoint at a time in this process: SQLite answers a checkpoint that finds
        // another one running with "busy" at once, without waiting, so a re-anchor that met the
        // background pass failed (seen in CI).
        let mut last = self.anchored.lock().await;
        // Forced (an operator re-anchoring), the checkpoint waits for readers and writers and is
        // retried while another process holds the checkpoint, instead of giving up on them.
        let attempts = if force { 40 } else { 1 };
        let mut durable_head = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let head = self.audit_head().await?;
            if self.checkpoint_complete(force).await? {
                durable_head = head;
                break;
            }
        }
        let Some(head) = durable_head else {
            if force {
                return Err(StoreError::Replaced(
                    "the database is busy and its head could not be anchored; try again".into(),
                ));
            }
            return Ok(());
        };
        if !force && *last == head.seq {
            return Ok(());
        }
        let path = anchor::anchor_path(&file.path);
        let anchor = anchor::Anchor {
            seq: head.seq,
            hash: head.hash,
            at: super::timestamp_now(),
        };
        let written = tokio::task::spawn_blocking(move || anchor::write(&path, &anchor)).await;
        let failure = match written {
            Ok(Ok(())) => {
                *last = head.seq;
                return Ok(());
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        if force {
            return Err(StoreError::Replaced(format!(
                "cannot write the audit anchor: {failure}"
            )));
        }
        tracing::warn!(error = %failure, "cannot write the audit anchor");
        Ok(())
    }

    /// Runs one checkpoint; true when everything in the write-ahead log reached the database.
    async fn checkpoint_complete(&self, force: bool) -> Result<bool, StoreError> {
        let checkpoint = if force {
            "PRAGMA wal_checkpoint(TRUNCATE)"
        } else {
            "PRAGMA wal_checkpoint(PASSIVE)"
        };
        let row = sqlx::query(checkpoint)
            .fetch_one(&self.pool)
            .await
            .map_err(super::error::query_err("checkpointing the write-ahead log"))?;
        let (busy, log, done): (i64, i64, i64) = (
            row.try_get(0).unwrap_or(1),
            row.try_get(1).unwrap_or(-1),
            row.try_get(2).unwrap_or(-2),
        );
        Ok(busy == 0 && log == done)
    }
}

/// Whether opening checks the database against its audit anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchoring {
    Check,
    /// An operator said this database replaces the anchored one.
    Replace,
}

/// Folds SQLite's write-ahead log back into the database in the background. A PASSIVE checkpoint
/// never blocks writers; left to the automatic checkpoint, the committing request would pay for
/// it, which showed as 300 ms stalls in the intake's tail latency.
/// The same pass also moves the audit anchor forward.
fn spawn_checkpointer(store: Store) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !store.pool.is_closed() {
            tick.tick().await;
            if let Err(e) = store.anchor_now(false).await {
                if store.pool.is_closed() {
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
