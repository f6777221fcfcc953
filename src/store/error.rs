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
}

/// Adds "while {what}" to sqlx errors: `.map_err(query_err("reading the audit head"))`.
pub(crate) fn query_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |cause| StoreError::Query { what, cause }
}

pub(crate) fn json_err(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |cause| StoreError::Json { what, cause }
}
