/// What went wrong talking to the database. Each message carries its cause's text (the trail,
/// logs and HTTP answers show only the message), so the cause is not also a `source`: printing
/// the chain would say it twice.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database url scheme `{scheme}`: use sqlite://PATH, sqlite::memory: or \
         postgres://USER@HOST/DB"
    )]
    UnsupportedUrl { scheme: String },
    #[error("cannot open database {url}: {cause}")]
    Connect { url: String, cause: sqlx::Error },
    #[error("cannot migrate the database schema of {url}: {cause}")]
    Migrate {
        url: String,
        cause: sqlx::migrate::MigrateError,
    },
    #[error("database error while {what}: {cause}")]
    Query {
        what: &'static str,
        cause: sqlx::Error,
    },
    #[error("cannot serialize {what} as JSON: {cause}")]
    Json {
        what: &'static str,
        cause: serde_json::Error,
    },
    #[error("run {run_id} does not exist")]
    NoSuchRun { run_id: i64 },
    #[error("the database is inconsistent: {0}")]
    Inconsistent(String),
    #[error("{0}")]
    Replaced(String),
    #[error(
        "this replica's lease on {0} lapsed, so another replica may have taken it over; nothing more is written for it here"
    )]
    LeaseLost(String),
    /// The transaction that wrote these records with others' (group commit) failed.
    #[error("{0}")]
    Grouped(std::sync::Arc<StoreError>),
}

impl StoreError {
    /// The database cannot take writes now (full disk, I/O error, locked, unreachable, its file
    /// deleted or replaced), as opposed to a request it refused: callers answer "try again"
    /// (HTTP 503) instead of blaming the input, and nothing was stored.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Replaced(_) => true,
            StoreError::Connect { .. } => true,
            StoreError::Query { cause, .. } => unavailable(cause),
            StoreError::Grouped(shared) => shared.is_unavailable(),
            _ => false,
        }
    }
}

fn unavailable(cause: &sqlx::Error) -> bool {
    match cause {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// SQLite reports (extended) result codes as numbers of at most four digits, PostgreSQL
/// SQLSTATEs as five characters (often digits too: `08006`).
fn unavailable_code(code: &str) -> bool {
    if code.len() < 5
        && let Ok(n) = code.parse::<i64>()
    {
        // SQLITE_BUSY 5, LOCKED 6, READONLY 8, IOERR 10, CORRUPT 11, FULL 13, CANTOPEN 14.
        return matches!(n & 0xff, 5 | 6 | 8 | 10 | 11 | 13 | 14);
    }
    // Connection exceptions, insufficient resources (disk full), operator intervention.
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
}

/// Adds "while {what}" to sqlx errors: `.map_err(query_err("reading the audit head"))`.
pub(crate) fn query_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |cause| StoreError::Query { what, cause }
}

pub(crate) fn json_err(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |cause| StoreError::Json { what, cause }
}

#[cfg(test)]
mod tests {
    use super::unavailable_code;

    #[test]
    fn a_full_disk_or_a_lost_connection_is_unavailable_and_a_constraint_is_not() {
        for code in ["13", "5", "778", "14", "08006", "53100", "57P01"] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["19", "2067", "23505", "42P01"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}
