//! The audit chain's head, anchored outside the database, so a database that was deleted,
//! replaced by another file or rolled back to an old copy is noticed instead of trusted.
//!
//! SQLite keeps writing to a file that was deleted under it, and a restart would create an empty
//! database whose (empty) chain verifies. The anchor is a small file beside the database that
//! records a `(seq, hash)` the chain is known to have reached: on open, the database must still
//! hold that record with that hash, or stanch refuses to run on it until an operator says why
//! (`stanch audit reanchor --reason`). While running, every commit first checks that the path
//! still names the file that was opened.
//!
//! The anchor only ever records a head that is durable in the database (written right after a
//! full WAL checkpoint, which syncs the database file), so a power loss cannot leave the anchor
//! ahead of the data and turn a crash into a refusal.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use super::error::{StoreError, query_err};

/// What the anchor file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    /// When it was written (RFC 3339), for the operator reading a refusal.
    pub at: String,
}

/// The anchor of the SQLite database at `database`: `DIR/NAME.db` → `DIR/NAME.audit-anchor`, a
/// name that `rm NAME.db*` (the database, its WAL and shared memory) does not also remove.
pub fn anchor_path(database: &Path) -> PathBuf {
    let stem = database
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stanch".into());
    database.with_file_name(format!("{stem}.audit-anchor"))
}

/// The file path of a `sqlite://PATH?...` URL, or `None` for in-memory databases and other
/// backends.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

pub fn read(path: &Path) -> Result<Option<Anchor>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Replaced(format!(
                "cannot read the audit anchor {}: {e}",
                path.display()
            )));
        }
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        StoreError::Replaced(format!(
            "the audit anchor {} is not valid ({e}); it was edited or damaged",
            path.display()
        ))
    })
}

/// Writes the anchor atomically (a temporary file renamed over it), synced to disk.
pub fn write(path: &Path, anchor: &Anchor) -> std::io::Result<()> {
    // One temporary name per writer: the server and a CLI command on the same database both
    // anchor, and a shared name could rename one's half-written file over the anchor.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("audit-anchor.{}.{n}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(serde_json::to_string(anchor)?.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // A full disk: leave no debris beside the anchor.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable once the directory is synced.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Why a database that reached `anchor` cannot be `database` as it is now, if it cannot.
pub async fn check(
    pool: &sqlx::AnyPool,
    database: &Path,
    anchor_file: &Path,
    anchor: &Anchor,
) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(anchor.seq)
        .fetch_optional(pool)
        .await
        .map_err(query_err("reading the anchored audit record"))?;
    let stored: Option<String> = match row {
        Some(row) => Some(
            row.try_get("hash")
                .map_err(query_err("reading the anchored audit record"))?,
        ),
        None => None,
    };
    let fault = match stored {
        Some(hash) if hash == anchor.hash => return Ok(()),
        Some(_) => "holds a different audit record at that position: it is another database",
        None => "has no audit record at that position: it is empty, older, or another database",
    };
    Err(StoreError::Replaced(refusal(
        database,
        anchor_file,
        anchor,
        fault,
    )))
}

/// The refusal for a database whose file is gone while its anchor remains.
pub fn missing(database: &Path, anchor_file: &Path, anchor: &Anchor) -> StoreError {
    StoreError::Replaced(refusal(
        database,
        anchor_file,
        anchor,
        "does not exist: it was deleted or moved",
    ))
}

fn refusal(database: &Path, anchor_file: &Path, anchor: &Anchor, fault: &str) -> String {
    format!(
        "the database {} is not the one its audit anchor {} vouches for: the anchor says the \
         trail reached record #{} (at {}), and the database {fault}. Restore the right database, \
         or, if this one is meant to replace it, run `stanch audit reanchor --reason TEXT`",
        database.display(),
        anchor_file.display(),
        anchor.seq,
        anchor.at,
    )
}

/// The file a running store opened, to notice when its path no longer names it. It is held
/// open, so its inode cannot be reused by a new file at the same path.
#[derive(Debug)]
pub struct OpenedFile {
    pub path: PathBuf,
    handle: Option<std::fs::File>,
}

impl OpenedFile {
    pub fn new(path: PathBuf) -> OpenedFile {
        let handle = std::fs::File::open(&path).ok();
        OpenedFile { path, handle }
    }

    /// An error when the path was deleted or now names another file: what is written through
    /// the open handle would be lost at the next restart, so it must not be acknowledged.
    pub fn check(&self) -> std::io::Result<()> {
        let Some(handle) = &self.handle else {
            return Ok(());
        };
        let opened = handle.metadata()?;
        let now = std::fs::metadata(&self.path).ok();
        let what = match now {
            None => "was deleted",
            Some(now) if same_file(&opened, &now) => return Ok(()),
            Some(_) => "was replaced by another file",
        };
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "the database file {} {what} while stanch was running; nothing more is stored \
                 until it is restored and stanch restarted",
                self.path.display()
            ),
        ))
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.created().ok() == b.created().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anchor_sits_beside_the_database_under_a_name_rm_db_star_keeps() {
        assert_eq!(
            anchor_path(Path::new("/var/lib/stanch/stanch.db")),
            PathBuf::from("/var/lib/stanch/stanch.audit-anchor")
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/stanch/stanch.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/stanch/stanch.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://stanch.db"),
            Some(PathBuf::from("stanch.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn a_deleted_or_replaced_file_is_noticed() {
        let dir = std::env::temp_dir().join(format!("stanch-anchor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.db");
        std::fs::write(&path, b"one").unwrap();
        let opened = OpenedFile::new(path.clone());
        opened.check().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            opened
                .check()
                .unwrap_err()
                .to_string()
                .contains("was deleted")
        );
        std::fs::write(dir.join("b.db"), b"two").unwrap();
        std::fs::rename(dir.join("b.db"), &path).unwrap();
        assert!(
            opened
                .check()
                .unwrap_err()
                .to_string()
                .contains("replaced by another file")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
