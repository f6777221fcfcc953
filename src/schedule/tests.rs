use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;
use stanch_core::vocab::JobOutcome;

use super::*;
use crate::store::Store;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn every5() -> Schedule {
    Schedule::new("poll", "*/5 * * * *", "UTC", JobKind::PollAlerts).unwrap()
}

#[test]
fn five_field_expression_in_utc() {
    let s = every5();
    // Base time of stack-check §5: Fri 2026-03-27 10:02:30 UTC.
    let next = s.next_after(at("2026-03-27T10:02:30Z")).unwrap();
    assert_eq!(next, at("2026-03-27T10:05:00Z"));
    assert_eq!(s.next_after(next).unwrap(), at("2026-03-27T10:10:00Z"));
}

#[test]
fn weekdays_in_a_named_time_zone() {
    let s = Schedule::new(
        "verify",
        "0 9 * * MON-FRI",
        "Europe/Berlin",
        JobKind::VerifyAudit,
    )
    .unwrap();
    // Friday 10:02 UTC is 11:02 CET, past 09:00: next is Monday 09:00 CEST (DST began Sunday).
    let next = s.next_after(at("2026-03-27T10:02:30Z")).unwrap();
    assert_eq!(next, at("2026-03-30T07:00:00Z"));
    assert_eq!(s.next_after(next).unwrap(), at("2026-03-31T07:00:00Z"));
    let text = s.describe();
    assert!(text.contains("09:00") && text.contains("Monday"), "{text}");
    assert!(text.ends_with("(Europe/Berlin)"), "{text}");
    // POSIX day numbers: 1-5 is Monday to Friday, 0 is Sunday.
    let numeric = Schedule::new("n", "0 9 * * 1-5", "Europe/Berlin", JobKind::VerifyAudit).unwrap();
    assert_eq!(numeric.next_after(at("2026-03-27T10:02:30Z")), Some(next));
    assert!(Schedule::new("s", "0 9 * * 0", "UTC", JobKind::VerifyAudit).is_ok());
}

#[test]
fn daylight_saving_gap_moves_the_run() {
    let s = Schedule::new("gap", "30 2 * * *", "Europe/Berlin", JobKind::ExpireActions).unwrap();
    // 02:30 does not exist on 2026-03-29 in Berlin; croner fires at 03:00 CEST (01:00 UTC).
    let next = s.next_after(at("2026-03-28T12:00:00Z")).unwrap();
    assert_eq!(next, at("2026-03-29T01:00:00Z"));
}

#[test]
fn bad_expressions_name_the_schedule_and_expression() {
    for (cron, needle) in [
        ("0 */5 * * * *", "expected 5 fields"),
        ("*/5 * * *", "expected 5 fields"),
        ("61 * * * *", ""),
        ("* * * * FOO", ""),
        ("0 0 30 2 *", ""),
    ] {
        let err = Schedule::new("nightly", cron, "UTC", JobKind::VerifyAudit).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ScheduleError::Cron { .. }), "{cron}: {text}");
        assert!(text.contains("`nightly`") && text.contains(cron), "{text}");
        assert!(text.contains(needle), "{text}");
    }
    let err =
        Schedule::new("nightly", "0 3 * * *", "Mars/Olympus", JobKind::VerifyAudit).unwrap_err();
    assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    assert!(matches!(
        Schedule::new(" ", "0 3 * * *", "UTC", JobKind::VerifyAudit),
        Err(ScheduleError::EmptyName)
    ));
    assert!(matches!(
        check_unique(&[every5(), every5()]),
        Err(ScheduleError::Duplicate(name)) if name == "poll"
    ));
}

#[test]
fn nicknames_are_accepted() {
    let s = Schedule::new("h", "@hourly", "UTC", JobKind::ApprovalTimeouts).unwrap();
    assert_eq!(
        s.next_after(at("2026-03-27T10:02:30Z")),
        Some(at("2026-03-27T11:00:00Z"))
    );
}

#[test]
fn specs_deserialize_and_build() {
    let specs: Vec<ScheduleSpec> = serde_json::from_value(json!([
        {"name": "poll", "cron": "*/5 * * * *", "job": "poll-alerts"},
        {"name": "verify", "cron": "0 9 * * MON-FRI", "tz": "Europe/Berlin", "job": "verify-audit"},
    ]))
    .unwrap();
    let built = build_all(&specs).unwrap();
    assert_eq!(built[0].tz, chrono_tz::UTC);
    assert_eq!(built[1].job, JobKind::VerifyAudit);
    let twice = [specs[0].clone(), specs[0].clone()];
    assert!(matches!(
        build_all(&twice),
        Err(ScheduleError::Duplicate(_))
    ));
    assert!(
        serde_json::from_value::<ScheduleSpec>(
            json!({"name": "x", "cron": "* * * * *", "job": "reboot"})
        )
        .is_err()
    );
}

#[test]
fn job_kinds_round_trip() {
    for job in JobKind::ALL {
        assert_eq!(JobKind::parse(job.name()), Some(job));
        assert_eq!(serde_json::to_value(job).unwrap(), json!(job.name()));
    }
    assert_eq!(JobKind::parse("nope"), None);
}

#[test]
fn due_runs_missed_slots_once() {
    let schedules = vec![
        every5(),
        Schedule::new("daily", "0 3 * * *", "UTC", JobKind::VerifyAudit).unwrap(),
        Schedule::new("fresh", "* * * * *", "UTC", JobKind::ApprovalTimeouts).unwrap(),
    ];
    let now = at("2026-03-27T10:02:30Z");
    let mut last = HashMap::new();
    last.insert("poll".to_string(), at("2026-03-27T10:00:00Z"));
    last.insert("daily".to_string(), at("2026-03-27T03:00:00Z"));
    // Neither has reached its next slot; "fresh" never ran, so it is not due either.
    assert!(due(&schedules, &last, now).is_empty());
    assert_eq!(
        next_wake(&schedules, &last),
        Some(at("2026-03-27T10:05:00Z"))
    );
    // Exactly on the slot is due.
    let names = |v: Vec<&Schedule>| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(due(&schedules, &last, at("2026-03-27T10:05:00Z"))),
        ["poll"]
    );
    // Two days of downtime: each schedule is due once, not once per missed slot.
    let later = at("2026-03-29T12:00:00Z");
    assert_eq!(names(due(&schedules, &last, later)), ["poll", "daily"]);
    // After running at `later`, nothing is due until the next slot.
    last.insert("poll".to_string(), later);
    last.insert("daily".to_string(), later);
    assert!(due(&schedules, &last, later).is_empty());
    assert_eq!(
        next_wake(&schedules, &last),
        Some(at("2026-03-29T12:05:00Z"))
    );
}

#[tokio::test]
async fn scheduler_runs_a_missed_job_once_records_it_and_stops() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    // The last run was two hours ago: 24 slots were missed.
    let long_ago = Utc::now() - chrono::Duration::hours(2);
    let pk = store
        .start_schedule_run("poll", "poll-alerts", long_ago)
        .await
        .unwrap();
    store
        .finish_schedule_run(pk, long_ago, JobOutcome::Succeeded, &json!({}))
        .await
        .unwrap();
    let failing = Schedule::new("expire", "*/5 * * * *", "UTC", JobKind::ExpireActions).unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let runner = move |job: JobKind| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(job);
            Ok(json!({"job": job.name()}))
        }
    };
    let scheduler = Scheduler::new(vec![every5(), failing], runner, store.clone()).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move { scheduler.run(stop_rx).await });
    // Wait for the catch-up run to be recorded, then stop.
    for _ in 0..200 {
        let runs = store.schedule_runs(10).await.unwrap();
        if runs.iter().any(|r| r.pk != pk && r.outcome == "succeeded") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap().unwrap();
    // "expire" never ran before, so it waits for its first slot instead of running now
    // (unless the test straddled a 5-minute boundary).
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls.iter().filter(|j| **j == JobKind::PollAlerts).count(),
        1
    );
    let runs = store.schedule_runs(10).await.unwrap();
    let newest = runs.iter().find(|r| r.schedule == "poll").unwrap();
    assert_eq!(newest.outcome, "succeeded");
    assert_eq!(newest.summary, Some(json!({"job": "poll-alerts"})));
    assert!(newest.started_at > long_ago && newest.finished_at.is_some());
}

#[tokio::test]
async fn scheduler_records_failures() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let long_ago = Utc::now() - chrono::Duration::hours(1);
    store
        .start_schedule_run("expire", "expire-actions", long_ago)
        .await
        .unwrap();
    let s = Schedule::new("expire", "* * * * *", "UTC", JobKind::ExpireActions).unwrap();
    let runner = |_job: JobKind| async { Err::<serde_json::Value, _>("graph is down".to_string()) };
    let scheduler = Scheduler::new(vec![s], runner, store.clone()).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move { scheduler.run(stop_rx).await });
    let mut failed = None;
    for _ in 0..200 {
        let runs = store.schedule_runs(10).await.unwrap();
        if let Some(r) = runs.into_iter().find(|r| r.outcome == "failed") {
            failed = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(stop_tx);
    task.await.unwrap().unwrap();
    let failed = failed.expect("a failed run was recorded");
    assert_eq!(failed.summary, Some(json!({"error": "graph is down"})));
    assert_eq!(failed.job, "expire-actions");
}
