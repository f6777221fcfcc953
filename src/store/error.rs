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

#[cfg(test)]
mod tests {
    use super::*;

    /// A message that tells its cause does not also hand it on as a `source`, so a printed
    /// chain (`{err:#}` at the CLI edge) names the cause once.
    #[test]
    fn a_cause_is_told_once() {
        let cause = || serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let errors: Vec<Box<dyn std::error::Error>> = vec![
            Box::new(json_err("a plan")(cause())),
            Box::new(crate::actions::SetupError::Audit(json_err("a plan")(
                cause(),
            ))),
            Box::new(crate::pipeline::RunError::from(std::io::Error::other(
                "disk gone",
            ))),
            Box::new(crate::schedule::PollError::from(
                json_err("a plan")(cause()),
            )),
        ];
        for err in errors {
            let mut chain = err.to_string();
            let mut source = err.source();
            while let Some(s) = source {
                chain = format!("{chain}: {s}");
                source = s.source();
            }
            let told = err.to_string();
            assert_eq!(chain, told, "the chain repeats a cause");
            assert!(
                told.contains("EOF") || told.contains("disk gone"),
                "the cause is told: {told}"
            );
        }
    }
}
