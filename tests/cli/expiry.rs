//! Expiring actions against the Graph emulator: temporary containment undone by the
//! `expire-actions` job back to exactly the state before, unless an operator extended or
//! confirmed it; nothing undone twice; a transient failure retried at the next run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use serde_json::Value;
use stanch::emulate::Fault;

use crate::active::Tenant;
use crate::helpers::{Env, Output, actions, project_root, wait_until};

const B_JONES: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0002";

/// Every reversible action, each expiring one second after it succeeds.
const TEMPORARY: &str = r#"version: 1
id: temporary
match: { name: "Test / Temporary" }
steps:
  - { id: rules, action: disable_inbox_rules, expires_after: 1s }
  - { id: legacy, action: block_legacy_auth, expires_after: 1s }
  - { id: disable, action: disable_account, expires_after: 1s }
  - { id: ips, action: block_ips, with: { ips: "{{ ip | cidr(24) }}" }, expires_after: 1s }
tests: []
"#;

const DETECTION: &str = r#"{"id":"tmp-1","name":"Test / Temporary","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"b.jones@contoso.com"},"ip":"203.0.113.77"}"#;

/// Runs `playbook` in active mode on DETECTION; returns the config path.
fn contain(tenant: &Tenant, env: &Env, playbook: &str, extra: &str) -> String {
    std::fs::create_dir(env.path("pbs")).unwrap();
    env.write("pbs/temporary.yaml", playbook);
    let config = tenant.config(
        env,
        &format!("playbooks: [{}]\n{extra}", env.path("pbs").display()),
    );
    let out = env.stanch_with_input(
        &["run", "--input", "-", "--config", &config],
        Some(DETECTION),
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    config
}

/// `stanch job run expire-actions`: its exit code and JSON summary.
fn expire(env: &Env, config: &str) -> (Output, Value) {
    let out = env.stanch(&["job", "run", "expire-actions", "--config", config]);
    let summary = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("not a JSON summary ({e}): {out:?}"));
    (out, summary)
}

fn by_step<'a>(list: &'a [Value], step: &str) -> &'a Value {
    list.iter()
        .find(|a| a["step"] == step)
        .unwrap_or_else(|| panic!("no action for step {step}: {list:#?}"))
}

fn deadline(action: &Value) -> DateTime<Utc> {
    action["expires_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no deadline: {action}"))
        .parse()
        .unwrap()
}

/// Sleeps until every deadline in `list` has passed.
fn wait_past(deadlines: impl IntoIterator<Item = DateTime<Utc>>) {
    if let Some(last) = deadlines.into_iter().max() {
        let left = (last - Utc::now()).to_std().unwrap_or_default();
        std::thread::sleep(left + std::time::Duration::from_millis(50));
    }
}

/// The audit trail as (kind, payload) pairs.
fn trail(env: &Env) -> Vec<(String, Value)> {
    env.stanch(&["audit", "export"])
        .stdout
        .lines()
        .map(|l| {
            let record: Value = serde_json::from_str(l).unwrap();
            let payload = match &record["payload"] {
                Value::String(text) => serde_json::from_str(text).unwrap(),
                other => other.clone(),
            };
            (record["kind"].as_str().unwrap().to_string(), payload)
        })
        .collect()
}

fn graph_calls(tenant: &Tenant) -> usize {
    tenant
        .running
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1.0"))
        .count()
}

#[test]
fn every_reversible_action_expires_back_to_exactly_the_state_before() {
    let tenant = Tenant::start();
    let env = Env::new();
    let before = tenant.state();
    let config = contain(&tenant, &env, TEMPORARY, "");
    assert_ne!(tenant.state(), before, "the actions changed the tenant");
    let list = actions(&env, &config);
    assert_eq!(list.len(), 4, "{list:#?}");
    for action in &list {
        assert_eq!(action["status"], "succeeded", "{action}");
        assert_eq!(action["confirmed"], false);
        let finished: DateTime<Utc> = action["updated_at"].as_str().unwrap().parse().unwrap();
        let left = deadline(action) - finished;
        assert!(left.num_milliseconds().abs_diff(1000) < 50, "{action}");
    }
    wait_past(list.iter().map(deadline));

    let (out, summary) = expire(&env, &config);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        (&summary["due"], &summary["expired"], &summary["failed"]),
        (&4.into(), &4.into(), &0.into()),
        "{summary:#}"
    );
    assert_eq!(tenant.state(), before, "the tenant is exactly as before");
    let list = actions(&env, &config);
    assert!(list.iter().all(|a| a["status"] == "expired"), "{list:#?}");

    // Every undo is in the trail: why, what, and each Graph call before and after.
    let records = trail(&env);
    let expired: Vec<&Value> = records
        .iter()
        .filter(|(kind, _)| kind == "action.expired")
        .map(|(_, payload)| payload)
        .collect();
    assert_eq!(expired.len(), 4);
    let disable = expired
        .iter()
        .find(|p| p["action"] == "disable_account")
        .unwrap();
    assert_eq!(
        disable["undone"],
        serde_json::json!({"accountEnabled": true})
    );
    assert!(
        disable["reason"]
            .as_str()
            .unwrap()
            .starts_with("`expires_after: 1s` ran out at"),
        "{disable}"
    );
    let count = |kind: &str| records.iter().filter(|(k, _)| k == kind).count();
    assert_eq!(count("action.rollback_started"), 4);
    assert_eq!(count("graph.request"), graph_calls(&tenant));
    assert_eq!(count("graph.response"), graph_calls(&tenant));
    assert_eq!(env.stanch(&["audit", "verify"]).code, 0);

    // A second run undoes nothing twice, and neither does an operator.
    let calls = graph_calls(&tenant);
    let (again, summary) = expire(&env, &config);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(summary["due"], 0, "{summary}");
    let id = by_step(&list, "legacy")["pk"].to_string();
    let rollback = env.stanch(&["actions", "rollback", &id, "--config", &config]);
    assert_eq!(rollback.code, 2);
    assert!(
        rollback
            .stderr
            .contains("is expired; only a succeeded action can be rolled back"),
        "{}",
        rollback.stderr
    );
    // Nor does the same detection delivered again: its actions ran their course.
    let replay = env.stanch_with_input(
        &["run", "--input", "-", "--config", &config],
        Some(DETECTION),
    );
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    assert_eq!(
        replay.stdout.matches("duplicate ").count(),
        4,
        "{}",
        replay.stdout
    );
    assert_eq!(graph_calls(&tenant), calls, "nothing was sent to Graph");
    assert_eq!(count("action.expired"), 4);
    assert_eq!(tenant.state(), before);
}

#[test]
fn extended_and_confirmed_actions_outlive_their_deadline() {
    let tenant = Tenant::start();
    let env = Env::new();
    let config = contain(&tenant, &env, TEMPORARY, "");
    let list = actions(&env, &config);
    let id = |step: &str| by_step(&list, step)["pk"].to_string();
    let operator = |args: &[&str]| {
        let mut all = vec!["actions"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", &config]);
        env.stanch(&all)
    };
    let who = [
        "--as",
        "a.lead@contoso.com",
        "--reason",
        "attacker still active",
    ];

    let extended = operator(&[&["extend", &id("legacy"), "--by", "1h"], &who[..]].concat());
    assert_eq!(extended.code, 0, "{}", extended.stderr);
    assert!(
        extended.stdout.contains("now expires at"),
        "{}",
        extended.stdout
    );
    let extended = operator(&[&["extend", &id("ips"), "--by", "5s"], &who[..]].concat());
    assert_eq!(extended.code, 0, "{}", extended.stderr);
    let confirmed = operator(&[&["confirm", &id("disable")], &who[..]].concat());
    assert_eq!(confirmed.code, 0, "{}", confirmed.stderr);
    assert!(
        confirmed.stdout.contains("permanent"),
        "{}",
        confirmed.stdout
    );
    let twice = operator(&[&["confirm", &id("disable")], &who[..]].concat());
    assert_eq!(twice.code, 2);
    assert!(
        twice.stderr.contains("was confirmed by a.lead@contoso.com"),
        "{}",
        twice.stderr
    );
    let nameless = operator(&["confirm", &id("rules"), "--reason", "x"]);
    assert_eq!(nameless.code, 2, "--as is required");
    assert!(nameless.stderr.contains("--as"), "{}", nameless.stderr);

    let now = actions(&env, &config);
    assert!(deadline(by_step(&now, "legacy")) > deadline(by_step(&list, "legacy")));
    assert_eq!(by_step(&now, "disable")["confirmed"], true);
    assert_eq!(
        by_step(&now, "disable")["confirmed_by"],
        "a.lead@contoso.com"
    );
    let text = operator(&["list"]).stdout;
    assert!(text.contains("confirmed by a.lead@contoso.com"), "{text}");
    assert!(text.contains("expires "), "{text}");

    // At the old deadlines only the untouched action goes.
    wait_past(list.iter().map(deadline));
    let (out, summary) = expire(&env, &config);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(summary["expired"], 1, "{summary:#}");
    assert_eq!(summary["actions"][0]["action"], "disable_inbox_rules");
    assert!(tenant.quarantined().contains(&B_JONES.to_string()));
    assert_eq!(tenant.user("b.jones@contoso.com")["accountEnabled"], false);
    let ips = by_step(&actions(&env, &config), "ips").clone();
    assert_eq!(ips["status"], "succeeded", "extended, so not yet: {ips}");

    // The extended one goes at its new deadline; the confirmed one never does.
    wait_past([deadline(&ips)]);
    let (_, summary) = expire(&env, &config);
    assert_eq!(summary["expired"], 1, "{summary:#}");
    assert_eq!(summary["actions"][0]["action"], "block_ips");
    let end = actions(&env, &config);
    assert_eq!(by_step(&end, "disable")["status"], "succeeded");
    assert_eq!(by_step(&end, "legacy")["status"], "succeeded");

    // An action that is not in effect, or does not expire, cannot be extended.
    let gone = operator(&[&["extend", &id("rules"), "--by", "1h"], &who[..]].concat());
    assert_eq!(gone.code, 2);
    assert!(
        gone.stderr
            .contains("is expired; only a succeeded action that expires can be extended"),
        "{}",
        gone.stderr
    );
    let records = trail(&env);
    let changes: Vec<&(String, Value)> = records
        .iter()
        .filter(|(k, _)| k == "action.extended" || k == "action.confirmed")
        .collect();
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert!(
        changes
            .iter()
            .all(|(_, p)| p["by"] == "a.lead@contoso.com" && p["reason"] == "attacker still active")
    );
}

#[test]
fn a_transient_failure_leaves_the_action_due_for_the_next_run() {
    let tenant = Tenant::start();
    let env = Env::new();
    let config = contain(&tenant, &env, TEMPORARY, "");
    wait_past(actions(&env, &config).iter().map(deadline));
    // Removing a group member stays unavailable through every retry of this run.
    tenant.running.emulator.inject(
        Fault::unavailable(Some(0))
            .method("DELETE")
            .path_prefix("/v1.0/groups"),
    );
    let (out, summary) = expire(&env, &config);
    assert_eq!(
        out.code, 1,
        "a failure shows in the exit status: {}",
        out.stderr
    );
    assert_eq!(
        (
            &summary["expired"],
            &summary["failed"],
            &summary["retrying"]
        ),
        (&3.into(), &1.into(), &1.into()),
        "{summary:#}"
    );
    let legacy = by_step(&actions(&env, &config), "legacy").clone();
    assert_eq!(legacy["status"], "succeeded", "still in effect: {legacy}");
    assert!(tenant.quarantined().contains(&B_JONES.to_string()));
    let failed: Vec<Value> = trail(&env)
        .into_iter()
        .filter(|(k, _)| k == "action.rollback_failed")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["retryable"], true);

    tenant.running.emulator.clear_faults();
    let (out, summary) = expire(&env, &config);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        (&summary["due"], &summary["expired"]),
        (&1.into(), &1.into())
    );
    assert!(!tenant.quarantined().contains(&B_JONES.to_string()));
    assert_eq!(
        by_step(&actions(&env, &config), "legacy")["status"],
        "expired"
    );
}

/// `stanch serve` runs `expire-actions` from its `schedules:`; a run recorded long ago makes the
/// schedule due as soon as the server starts.
#[test]
fn serve_expires_actions_on_its_schedule() {
    let tenant = Tenant::start();
    let env = Env::new();
    let schedule = "listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [t]\nschedules:\n  - { name: expire, cron: \"* * * * *\", tz: UTC, job: expire-actions }\n";
    let config = contain(&tenant, &env, TEMPORARY, schedule);
    wait_past(actions(&env, &config).iter().map(deadline));
    tenant.runtime.block_on(async {
        let db = crate::helpers::raw_sqlite(&env).await;
        sqlx::query("INSERT INTO schedule_runs (schedule, job, started_at, outcome) VALUES ('expire', 'expire-actions', '2020-01-01T00:00:00.000000Z', 'succeeded')")
            .execute(&db)
            .await
            .unwrap();
        db.close().await;
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_stanch"))
        .current_dir(project_root())
        .args([
            "serve",
            "--config",
            &config,
            "--database-url",
            &env.database_url(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn stanch serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on "), "{line}");
    wait_until(30, "the scheduled job expired the actions", || {
        actions(&env, &config)
            .iter()
            .all(|a| a["status"] == "expired")
    });
    // SAFETY: sending SIGTERM to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(tenant.user("b.jones@contoso.com")["accountEnabled"], true);
}
