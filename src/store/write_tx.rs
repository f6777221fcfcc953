//! A write transaction that owns its connection, so a transaction that fails can take its
//! connection out of the pool with it.
//!
//! Why not sqlx's `Transaction`: when SQLite's COMMIT fails (the disk is full), the transaction
//! can stay open on that connection, holding the database's write lock. sqlx then believes the
//! connection is still inside a transaction and turns the next `BEGIN` into a savepoint, so every
//! later "commit" on it is a savepoint release inside a transaction that never ends: requests
//! were answered 202 with nothing stored, and every other connection saw "database is locked"
//! until a restart. Here a failed commit is rolled back and the connection is closed, never
//! reused; the next transaction gets a fresh one.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};

use super::anchor::OpenedFile;

pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Any>>,
    open: bool,
    /// The database file, which must still be the one opened when this commits.
    file: Option<Arc<OpenedFile>>,
    /// Set where audit records are sequenced: taking the chain head in this transaction first
    /// seals what is pending (see `chain`).
    pub(crate) drains_pending: Option<super::Backend>,
    /// Began with SQLite's `BEGIN IMMEDIATE`: it holds the database's write lock already.
    pub(crate) holds_write_lock: bool,
}

impl WriteTx {
    pub(crate) async fn begin(
        pool: &AnyPool,
        file: Option<Arc<OpenedFile>>,
    ) -> Result<WriteTx, sqlx::Error> {
        WriteTx::begin_with(pool, file, "BEGIN").await
    }

    /// Begins with `begin`: SQLite's `BEGIN IMMEDIATE` takes the database's write lock up front,
    /// so a transaction that reads before it writes cannot find its snapshot overtaken by
    /// another process's commit when it comes to write.
    pub(crate) async fn begin_with(
        pool: &AnyPool,
        file: Option<Arc<OpenedFile>>,
        begin: &'static str,
    ) -> Result<WriteTx, sqlx::Error> {
        if let Some(file) = &file {
            file.check()?;
        }
        let mut conn = pool.acquire().await?;
        match sqlx::query(begin).execute(&mut *conn).await {
            Ok(_) => Ok(WriteTx {
                conn: Some(conn),
                open: true,
                file,
                drains_pending: None,
                holds_write_lock: begin == "BEGIN IMMEDIATE",
            }),
            Err(e) => {
                // A connection that cannot begin is in a state nobody should inherit.
                drop(conn.detach());
                Err(e)
            }
        }
    }

    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let result = match self.file.as_ref().map(|f| f.check()) {
            Some(Err(gone)) => Err(sqlx::Error::Io(gone)),
            _ => sqlx::query("COMMIT").execute(&mut *self).await.map(|_| ()),
        };
        match result {
            Ok(_) => {
                self.open = false;
                Ok(())
            }
            Err(e) => {
                // Whatever the transaction held was never acknowledged: undo it if the
                // connection still can, then close the connection so its state dies with it.
                let _ = sqlx::query("ROLLBACK").execute(&mut *self).await;
                self.discard();
                Err(e)
            }
        }
    }

    /// Closes the connection instead of returning it to the pool: closing rolls back what the
    /// database still holds open for it.
    fn discard(&mut self) {
        self.open = false;
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn
            .as_deref()
            .expect("a write transaction is used only while it has its connection")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn
            .as_deref_mut()
            .expect("a write transaction is used only while it has its connection")
    }
}

impl Drop for WriteTx {
    /// Dropped unfinished (an error returned early, a refusal): nothing of it was acknowledged.
    /// A rollback cannot be awaited here, so a task rolls back before the connection goes back
    /// to the pool; a connection that cannot roll back is closed instead.
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                        drop(conn.detach());
                    }
                });
            }
            Err(_) => drop(conn.detach()),
        }
    }
}
