//! Several `stanch serve` replicas on one PostgreSQL database, and the failures replicas exist
//! for: a replica killed, frozen past its lease, or cut off from the database mid-run. Every
//! scenario ends with every account contained, each Graph write made once, nothing left
//! `executing`, and the audit chain intact.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::cli::run;
use crate::harness::detection::credential_use;
use crate::harness::netsplit::Netsplit;
use crate::harness::postgres::PgDb;
use crate::harness::{Server, TestApp, bearer, wait_until};

const USERS: [&str; 5] = ["a.silva", "b.jones", "c.lee", "d.patel", "e.novak"];
/// Short leases, so a dead replica's work is rescued within seconds.
const LEASE: &[(&str, &str)] = &[("STANCH_LEASE_SECS", "3")];

fn app() -> TestApp {
    TestApp::builder()
        .tenant()
        .intake()
        .max_body_bytes(4194304)
        // Every repeat reaches the worker and must be made harmless by the pre-checks.
        .yaml("safety:\n  cooldown: { default: 0s }\n")
        .build()
}

fn replica(app: &TestApp, db: &PgDb, name: &str) -> Server {
    replica_at(app, &db.url, name)
}

fn replica_at(app: &TestApp, database_url: &str, name: &str) -> Server {
    Server::start_with(
        database_url,
        Path::new(&app.config()),
        &app.path(&format!("{name}.log")),
        None,
        LEASE,
    )
}

fn wave(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            credential_use(
                &format!("{prefix}-{i}"),
                &format!("{}@contoso.com", USERS[i % USERS.len()]),
            )
        })
        .collect()
}

fn actions(db: &PgDb) -> Vec<Value> {
    let out = run(&db.url, &["actions", "list", "--json"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    match serde_json::from_str::<Value>(&out.stdout).unwrap() {
        Value::Array(items) => items,
        other => panic!("not a JSON array: {other}"),
    }
}

/// Waits until nothing is pending or executing; the statuses by kind.
fn drained(db: &PgDb, within: Duration) -> Vec<(String, String)> {
    let deadline = Instant::now() + within;
    loop {
        let all = actions(db);
        if all
            .iter()
            .all(|a| a["status"] != "pending" && a["status"] != "executing")
        {
            return all
                .iter()
                .map(|a| {
                    (
                        a["kind"].as_str().unwrap().to_string(),
                        a["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "the replicas did not drain the queue within {within:?}: {:?}",
            all.iter()
                .filter(|a| a["status"] == "pending" || a["status"] == "executing")
                .take(5)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every detection's actions ended, each account's sessions revoked exactly once, and the
/// chain intact. At most a few notifications (in flight at a failure) wait for a person as
/// `unverified`; nothing else does (a directory away for a moment delays an action, it does not
/// hold it for a human).
fn assert_contained_once(app: &TestApp, db: &PgDb, statuses: &[(String, String)], n: usize) {
    assert_eq!(statuses.len(), 2 * n, "{n} detections × (revoke + notify)");
    let in_doubt = statuses
        .iter()
        .filter(|(kind, status)| kind == "notify" && status == "unverified")
        .count();
    assert!(in_doubt <= 8, "{statuses:?}");
    // Run, or covered by an equal action that ran after it was requested.
    let done = |s: &str| s == "succeeded" || s == "covered";
    assert_eq!(
        statuses.iter().filter(|(_, s)| done(s)).count() + in_doubt,
        2 * n,
        "not contained: {:?}",
        statuses
            .iter()
            .filter(|(_, s)| !done(s))
            .collect::<Vec<_>>()
    );
    let writes = app.tenant().writes();
    for user in USERS {
        let revoke = format!("POST /v1.0/users/{user}@contoso.com/revokeSignInSessions");
        let revokes = writes.iter().filter(|w| w.starts_with(&revoke)).count();
        assert_eq!(revokes, 1, "{user}'s sessions were revoked {revokes} times");
    }
    let verify = run(&db.url, &["audit", "verify"], None);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

/// Two replicas on a fresh database, one wave of 200 detections (all recorded before the first
/// revoke lands, which slow writes at the start make sure of, so each account is revoked once) posted half to each, and both at work on it.
fn two_replicas_at_work() -> Option<(TestApp, PgDb, Server, Server)> {
    let app = app();
    let db = PgDb::create(&app.runtime)?;
    let (a, b) = two_replicas_on(&app, &db.url);
    Some((app, db, a, b))
}

/// [`two_replicas_at_work`] on a database reached at `database_url`.
fn two_replicas_on(app: &TestApp, database_url: &str) -> (Server, Server) {
    app.tenant()
        .running
        .emulator
        .inject(stanch::emulate::Fault::latency(5).path_prefix("/v1.0"));
    let a = replica_at(app, database_url, "a");
    let b = replica_at(app, database_url, "b");
    // Graph's writes are slow for the first seconds, so both halves of the wave are recorded
    // before any account is revoked: a detection recorded after a revoke rightly revokes again.
    app.tenant().running.emulator.inject(
        stanch::emulate::Fault::latency(2_000)
            .method("POST")
            .path_prefix("/v1.0/users")
            .lasting(3_000),
    );
    post(app, &a, wave("a", 100));
    post(app, &b, wave("b", 100));
    wait_until(20, "the replicas did not start working", || {
        app.tenant().running.emulator.requests().len() >= 40
    });
    (a, b)
}

fn post(app: &TestApp, server: &Server, body: String) {
    let (status, answer) = app.post(&format!("{}/v1/detections", server.url), body, &bearer());
    assert_eq!(status, 202, "{answer}");
}

fn signal(server: &Server, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_replica_killed_mid_run_leaves_its_work_to_the_other_and_nothing_is_repeated() {
    let Some((app, db, a, b)) = two_replicas_at_work() else {
        return;
    };
    let started = Instant::now();
    a.kill();
    let statuses = drained(&db, Duration::from_secs(60));
    let took = started.elapsed();
    assert_contained_once(&app, &db, &statuses, 200);
    eprintln!("drained {took:?} after the kill");
    // The survivor leads now, and its metrics say so.
    wait_until(10, "the survivor did not take the lead", || {
        let (_, metrics) = app.get(&format!("{}/metrics", b.url));
        metrics
            .lines()
            .any(|l| l.starts_with("stanch_leader{replica=") && l.ends_with("} 1"))
    });
    let (status, ready) = app.get(&format!("{}/readyz", b.url));
    assert_eq!(status, 200, "{ready}");
    assert_eq!(b.stop(), 0);
    db.drop_with(&app.runtime);
}

#[test]
fn a_replica_frozen_past_its_lease_wakes_without_repeating_what_the_other_took_over() {
    let Some((app, db, a, b)) = two_replicas_at_work() else {
        return;
    };
    signal(&a, "STOP");
    // Past its lease: the other replica rescues what it held.
    std::thread::sleep(Duration::from_secs(6));
    signal(&a, "CONT");
    let statuses = drained(&db, Duration::from_secs(60));
    assert_contained_once(&app, &db, &statuses, 200);
    assert_eq!(a.stop(), 0);
    assert_eq!(b.stop(), 0);
    db.drop_with(&app.runtime);
}

#[test]
fn replicas_survive_their_database_sessions_being_terminated_and_a_graceful_restart() {
    let Some((app, db, a, b)) = two_replicas_at_work() else {
        return;
    };
    assert!(db.terminate_backends(&app.runtime) > 0);
    // One replica restarts gracefully while the other executes.
    assert_eq!(a.stop(), 0);
    let a = replica(&app, &db, "a2");
    let statuses = drained(&db, Duration::from_secs(60));
    assert_contained_once(&app, &db, &statuses, 200);
    assert_eq!(a.stop(), 0);
    assert_eq!(b.stop(), 0);
    db.drop_with(&app.runtime);
}

#[test]
fn replicas_cut_off_from_their_database_for_20_s_finish_the_wave_once_it_is_back() {
    let app = app();
    let Some(db) = PgDb::create(&app.runtime) else {
        return;
    };
    let (_, upstream) = db.via(0);
    let split = Netsplit::start(&app.runtime, upstream);
    let (through_split, _) = db.via(split.port);
    let (a, b) = two_replicas_on(&app, &through_split);
    split.cut();
    let cut_at = Instant::now();
    // A replica that lost its database says so.
    wait_until(10, "readiness did not report the lost database", || {
        let (status, body) = app.get(&format!("{}/readyz", a.url));
        status == 503 && body.contains("database")
    });
    std::thread::sleep(Duration::from_secs(20).saturating_sub(cut_at.elapsed()));
    split.restore();
    let statuses = drained(&db, Duration::from_secs(90));
    assert_contained_once(&app, &db, &statuses, 200);
    let (status, body) = app.get(&format!("{}/readyz", a.url));
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.stop(), 0);
    assert_eq!(b.stop(), 0);
    db.drop_with(&app.runtime);
}

#[test]
fn a_signed_request_replayed_to_another_replica_is_refused_and_stored_once() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .hmac_secrets("{ darktrace: k3y }")
        .build();
    let Some(db) = PgDb::create(&app.runtime) else {
        return;
    };
    let (a, b) = (replica(&app, &db, "a"), replica(&app, &db, "b"));
    let body = credential_use("replayed-1", "a.silva@contoso.com");
    let signed = vec![
        ("x-stanch-source", "darktrace".to_string()),
        (
            "x-stanch-signature",
            stanch::http::sign(b"k3y", chrono::Utc::now().timestamp(), body.as_bytes()),
        ),
    ];
    let (status, answer) = app.post(&format!("{}/v1/detections", a.url), body.clone(), &signed);
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = app.post(&format!("{}/v1/detections", b.url), body, &signed);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("replayed_request")),
        "{answer}"
    );
    let trail = run(&db.url, &["audit", "export"], None);
    assert_eq!(trail.code, 0, "{}", trail.stderr);
    assert_eq!(
        trail.stdout.matches("\"detection.received\"").count(),
        1,
        "{}",
        trail.stdout
    );
    assert_eq!(
        trail.stdout.matches("\"intake.replay_refused\"").count(),
        1,
        "{}",
        trail.stdout
    );
}
