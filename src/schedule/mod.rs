//! Cron schedules for periodic jobs (polling Graph alerts, verifying the audit chain, approval
//! timeouts, expiring actions), the [`Scheduler`] that runs them, and the Graph alert poller.
//!
//! Expressions are standard 5-field crontab (minute hour day-of-month month day-of-week, POSIX
//! day numbers: 0 and 7 are Sunday), parsed by croner with seconds disallowed, and evaluated in
//! an explicit IANA time zone. A daylight-saving gap moves a run to the first valid time after it
//! (croner: `30 2 * * *` in Europe/Berlin fires at 03:00 CEST on the spring-forward day).

mod poll;
mod runner;
mod setting;

pub use poll::{
    ALERTS_WATERMARK, AlertWatermark, PAGE_SIZE, PollError, PollOutcome, RejectedAlert,
    commit_watermark, poll_alerts, poll_and_store,
};
pub use runner::{JobRunner, Scheduler};
pub use setting::ScheduleSetting;

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};

/// What a schedule runs. The scheduler only names the job; the caller's [`JobRunner`] does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// Fetch new Graph `alerts_v2` alerts ([`poll_alerts`]).
    PollAlerts,
    /// Re-verify the hash-chained audit trail.
    VerifyAudit,
    /// Time out approvals nobody answered.
    ApprovalTimeouts,
    /// Expire temporary containment actions.
    ExpireActions,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [
        JobKind::PollAlerts,
        JobKind::VerifyAudit,
        JobKind::ApprovalTimeouts,
        JobKind::ExpireActions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JobKind::PollAlerts => "poll-alerts",
            JobKind::VerifyAudit => "verify-audit",
            JobKind::ApprovalTimeouts => "approval-timeouts",
            JobKind::ExpireActions => "expire-actions",
        }
    }

    /// The job with this name (case-insensitive).
    pub fn parse(name: &str) -> Option<JobKind> {
        Self::ALL
            .into_iter()
            .find(|j| j.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a schedule cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule `{schedule}`: invalid cron expression `{cron}`: {reason}")]
    Cron {
        schedule: String,
        cron: String,
        reason: String,
    },
    #[error(
        "schedule `{schedule}`: unknown time zone `{tz}` (use an IANA name such as Europe/Berlin)"
    )]
    TimeZone { schedule: String, tz: String },
    #[error("schedule name is empty")]
    EmptyName,
    #[error("two schedules are named `{0}`")]
    Duplicate(String),
}

/// A named cron schedule for one job.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    /// The expression as written.
    pub cron: String,
    pub tz: Tz,
    pub job: JobKind,
    parsed: Cron,
}

impl Schedule {
    /// Parses `cron` (5 fields, no seconds) for time zone `tz` (an IANA name, e.g. `UTC`).
    pub fn new(name: &str, cron: &str, tz: &str, job: JobKind) -> Result<Schedule, ScheduleError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ScheduleError::EmptyName);
        }
        let bad = |reason: String| ScheduleError::Cron {
            schedule: name.to_string(),
            cron: cron.to_string(),
            reason,
        };
        let fields = cron.split_whitespace().count();
        // Nicknames (@hourly, @daily, ...) are one field and fine; otherwise insist on five.
        if !cron.trim_start().starts_with('@') && fields != 5 {
            return Err(bad(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
            )));
        }
        let parsed = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(cron)
            .map_err(|e| bad(e.to_string().to_lowercase()))?;
        let tz: Tz = tz.trim().parse().map_err(|_| ScheduleError::TimeZone {
            schedule: name.to_string(),
            tz: tz.to_string(),
        })?;
        let schedule = Schedule {
            name: name.to_string(),
            cron: cron.to_string(),
            tz,
            job,
            parsed,
        };
        // Patterns such as `0 0 30 2 *` parse but never fire.
        if schedule.next_after(Utc::now()).is_none() {
            return Err(bad("it never matches a date".into()));
        }
        Ok(schedule)
    }

    /// The first run strictly after `after`, or None if the pattern never matches again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.tz);
        self.parsed
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Plain English, e.g. "At 09:00, on Monday, ... and Friday. (Europe/Berlin)".
    pub fn describe(&self) -> String {
        format!("{} ({})", self.parsed.describe(), self.tz.name())
    }
}

/// A schedule as written in configuration, e.g. YAML
/// `{name: poll, cron: "*/5 * * * *", tz: Europe/Berlin, job: poll-alerts}`; `tz` defaults to UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    pub name: String,
    pub cron: String,
    #[serde(default = "utc")]
    pub tz: String,
    pub job: JobKind,
}

fn utc() -> String {
    "UTC".to_string()
}

impl ScheduleSpec {
    pub fn build(&self) -> Result<Schedule, ScheduleError> {
        Schedule::new(&self.name, &self.cron, &self.tz, self.job)
    }
}

/// Builds every spec and checks the names are unique.
pub fn build_all(specs: &[ScheduleSpec]) -> Result<Vec<Schedule>, ScheduleError> {
    let schedules = specs
        .iter()
        .map(ScheduleSpec::build)
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(&schedules)?;
    Ok(schedules)
}

/// Checks names are unique; the scheduler keys its run history by name.
pub fn check_unique(schedules: &[Schedule]) -> Result<(), ScheduleError> {
    let mut seen = std::collections::HashSet::new();
    for s in schedules {
        if !seen.insert(s.name.as_str()) {
            return Err(ScheduleError::Duplicate(s.name.clone()));
        }
    }
    Ok(())
}

/// The schedules due at `now`: those with a slot in `(last run, now]`. However many slots were
/// missed (downtime), a schedule is due once. A schedule absent from `last_runs` has never run
/// and is not due here; the [`Scheduler`] counts its own start as that schedule's last run.
pub fn due<'a>(
    schedules: &'a [Schedule],
    last_runs: &HashMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<&'a Schedule> {
    schedules
        .iter()
        .filter(|s| {
            last_runs
                .get(&s.name)
                .and_then(|last| s.next_after(*last))
                .is_some_and(|next| next <= now)
        })
        .collect()
}

/// The earliest next slot of any schedule after its last run (None: nothing will ever run).
pub fn next_wake(
    schedules: &[Schedule],
    last_runs: &HashMap<String, DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    schedules
        .iter()
        .filter_map(|s| last_runs.get(&s.name).and_then(|last| s.next_after(*last)))
        .min()
}

#[cfg(test)]
mod tests;
