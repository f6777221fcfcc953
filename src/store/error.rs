/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database url scheme `{scheme}`: use sqlite://PATH, sqlite::memory: or \
         postgres://USER@HOST/DB"
    )]
    UnsupportedUrl { scheme: String },
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate the database schema of {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error while {what}: {source}")]
    Query {
        what: &'static str,
        source: sqlx::Error,
    },
    #[error("cannot serialize {what} as JSON: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("run {run_id} does not exist")]
    NoSuchRun { run_id: i64 },
    #[error("the database is inconsistent: {0}")]
    Inconsistent(String),
}

/// Adds "while {what}" to sqlx errors: `.map_err(query_err("reading the audit head"))`.
pub(crate) fn query_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

pub(crate) fn json_err(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |source| StoreError::Json { what, source }
}
