//! A `schedules:` entry as the config writes it.

/// One `schedules:` entry as written; validated into a `schedule::Schedule` by `serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSetting {
    pub name: String,
    pub cron: String,
    pub tz: String,
    pub job: String,
    pub line: u64,
}
