//! Containment at machine speed: many accounts are acted on at once (`graph.concurrency`), one
//! account's actions keep the order of the detections that asked for them, and a throttling
//! storm slows the whole pool down together instead of every worker finding out for itself.

use serde_json::Value;
use stanch::emulate::Fault;

use crate::harness::TestApp;
use crate::harness::tenant::grown_fixture;

const ACCOUNTS: usize = 40;

const PLAYBOOKS: &[(&str, &str)] = &[
    (
        "spray.yaml",
        r#"version: 1
id: spray-revoke
match: { name: "Spray / Valid login" }
steps:
  - { id: revoke, action: revoke_sessions }
"#,
    ),
    (
        "lock.yaml",
        r#"version: 1
id: spray-lock
match: { name: "Spray / Mailbox rule" }
steps:
  - { id: disable, action: disable_account }
"#,
    ),
];

fn app(concurrency: usize) -> TestApp {
    let builder = TestApp::builder();
    let fixture = builder.path("tenant.json");
    grown_fixture(&fixture, "spray", "7c000000", ACCOUNTS);
    let mut builder = builder
        .tenant_from(&fixture)
        .graph(&format!("concurrency: {concurrency}"));
    for (file, text) in PLAYBOOKS {
        builder = builder.playbook(file, text);
    }
    builder.build()
}

fn detection(id: &str, name: &str, n: usize, minute: usize) -> String {
    format!(
        "{{\"id\":\"{id}\",\"source\":\"soc\",\"name\":\"{name}\",\"severity\":\"high\",\"observed_at\":\"2021-06-01T10:{minute:02}:00Z\",\"user\":{{\"upn\":\"spray{n}@contoso.com\"}}}}\n"
    )
}

/// One detection `name` for each account, at 10:`minute`.
fn wave(prefix: &str, name: &str, minute: usize) -> String {
    (0..ACCOUNTS)
        .map(|n| detection(&format!("{prefix}-{n}"), name, n, minute))
        .collect()
}

/// The Graph writes on account `n` (by its UPN or its object id), in the order Graph got them.
fn writes_on(writes: &[String], n: usize) -> Vec<&String> {
    let names = [
        format!("/users/spray{n}@contoso.com"),
        format!("/users/7c000000-0000-4000-8000-{n:012}"),
    ];
    writes
        .iter()
        .filter(|w| {
            names.iter().any(|name| {
                w.split_once(name.as_str())
                    .is_some_and(|(_, rest)| rest.starts_with(['/', ' ']))
            })
        })
        .collect()
}

#[test]
fn accounts_are_contained_at_once_and_each_account_keeps_the_order_it_was_asked_in() {
    let app = app(8);
    let tenant = app.tenant();
    // Each revoke takes a while in Graph, so accounts can only overlap if they run at once.
    tenant.running.emulator.inject(
        Fault::latency(150)
            .method("POST")
            .path_prefix("/v1.0/users"),
    );
    let input = wave("v", "Spray / Valid login", 1) + &wave("r", "Spray / Mailbox rule", 2);
    let out = app.run_input(&input);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let writes = tenant.writes();
    for n in 0..ACCOUNTS {
        let mine = writes_on(&writes, n);
        assert_eq!(
            mine.len(),
            2,
            "one revoke and one disable for account {n}, nothing repeated: {mine:?}"
        );
        assert!(
            mine[0].starts_with("POST") && mine[0].contains("/revokeSignInSessions"),
            "account {n}'s revoke comes first, as it was asked: {mine:?}"
        );
        assert!(mine[1].starts_with("PATCH"), "{mine:?}");
        assert_eq!(
            tenant.user(&format!("spray{n}@contoso.com"))["accountEnabled"],
            false
        );
    }
    // The lines are still reported in input order.
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains("spray")).collect();
    assert!(lines.len() >= 2 * ACCOUNTS, "{}", out.stdout);
    let first_lock = lines.iter().position(|l| l.contains("spray-lock"));
    let last_revoke = lines.iter().rposition(|l| l.contains("spray-revoke"));
    assert!(first_lock > last_revoke, "{}", out.stdout);
    // Revokes overlapped in Graph: more than one was in flight at once.
    let requests = tenant.running.emulator.requests();
    let revokes: Vec<&str> = requests
        .iter()
        .filter(|r| r.path.ends_with("/revokeSignInSessions"))
        .map(|r| r.time.as_str())
        .collect();
    assert_eq!(revokes.len(), ACCOUNTS);
    let distinct: std::collections::BTreeSet<&&str> = revokes.iter().collect();
    assert!(
        overlapping(&revokes, 150) > 1,
        "revokes of different accounts run at once: {distinct:?}"
    );
}

/// The most requests logged within `ms` of one another (the log stamps each when it is
/// answered), i.e. how many were in flight together at some moment.
fn overlapping(times: &[&str], ms: i64) -> usize {
    let mut at: Vec<i64> = times
        .iter()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    at.sort();
    (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t - at[i] < ms).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_throttling_storm_costs_about_what_it_costs_one_careful_client_not_one_per_worker() {
    let app = app(16);
    let tenant = app.tenant();
    // Two seconds of 429s with Retry-After: 1 for everything under /users: a client that
    // honours it meets the storm about twice.
    tenant.running.emulator.inject(
        Fault::throttle(Some(1))
            .path_prefix("/v1.0/users")
            .lasting(2_000),
    );
    let input = wave("s", "Spray / Valid login", 1);
    let out = app.run_input(&input);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // The same end as without a storm: every account revoked, once.
    let writes = tenant.writes();
    for n in 0..ACCOUNTS {
        let revokes: Vec<&String> = writes_on(&writes, n)
            .into_iter()
            .filter(|w| w.contains("/revokeSignInSessions"))
            .collect();
        assert_eq!(revokes.len(), 1, "account {n}: {revokes:?}");
        assert!(revokes[0].ends_with(" 200"), "{revokes:?}");
        assert_ne!(
            tenant.user(&format!("spray{n}@contoso.com"))["signInSessionsValidFromDateTime"],
            "2021-05-01T08:00:00Z"
        );
    }
    let throttled = tenant
        .running
        .emulator
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    // The storm's own count is 2 (at 0 s and at 1 s); 16 workers each finding out would be 32+.
    assert!(
        (1..=4).contains(&throttled),
        "{throttled} requests were throttled during a storm one careful client meets twice"
    );
}

/// Repeats of one step on one account (a burst of detections, no cooldown for the step) are
/// decided once: the first runs, every equal one requested before it started is covered by it
/// without a Graph call, audited as such, and a replay runs none of them again.
#[test]
fn a_burst_on_one_account_is_decided_once_and_a_replay_runs_nothing_again() {
    let app = TestApp::builder()
        .tenant()
        .playbook(
            "rules.yaml",
            r#"version: 1
id: burst-rules
match: { name: "Burst / New inbox rule" }
steps:
  - { id: rules, action: disable_inbox_rules }
"#,
        )
        .build();
    let tenant = app.tenant();
    let burst: String = (0..12)
        .map(|i| {
            format!(
                "{{\"id\":\"burst-{i}\",\"name\":\"Burst / New inbox rule\",\"observed_at\":\"2021-06-01T09:{:02}:00Z\",\"user\":{{\"upn\":\"b.jones@contoso.com\"}}}}\n",
                10 + i
            )
        })
        .collect();
    // From a file: read at once, one batch (stdin may arrive in pieces, and an action that ran
    // before the next piece was recorded rightly covers nothing in it).
    let input = app.write("burst.jsonl", &burst).display().to_string();
    let calls_before = tenant.graph_calls();
    let out = app.stanch(&["run", "--input", &input]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let actions = app.actions();
    let status = |s: &str| actions.iter().filter(|a| a["status"] == s).count();
    // Lines are recorded in batches as they are read: an action that ran before the next batch
    // was recorded covers nothing in it, so it is "one per batch", and the batches are few.
    let (ran, covered_actions) = (status("succeeded"), status("covered"));
    assert_eq!(ran + covered_actions, 12, "{actions:#?}");
    assert!(covered_actions >= 6, "{actions:#?}");
    for action in actions.iter().filter(|a| a["status"] == "covered") {
        let by = action["result"]["covered_by"].as_i64().expect("covered_by");
        let covering = actions.iter().find(|a| a["pk"] == by).unwrap();
        assert_eq!(covering["status"], "succeeded", "{covering:#?}");
        assert_eq!(covering["kind"], "disable_inbox_rules");
    }
    let one_run = tenant.graph_calls() - calls_before;
    let covered: Vec<Value> = app.audit_of("action.covered");
    assert_eq!(covered.len(), covered_actions);
    assert!(
        covered[0]["why"]
            .as_str()
            .unwrap()
            .contains("after this one was requested")
    );

    // The same input again: every action is done already (run or covered), nothing is read.
    let calls_before = tenant.graph_calls();
    let again = app.stanch(&["run", "--input", &input]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(tenant.graph_calls(), calls_before, "a replay called Graph");
    assert!(one_run > 0);
}
