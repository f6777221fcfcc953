use serde_json::Value;

use crate::harness::{TestApp, attack_story};

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn plans(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "plan")
        .map(|l| &l["plan"])
        .collect()
}

fn plan_for<'a>(lines: &'a [Value], detection: &str) -> &'a Value {
    plans(lines)
        .into_iter()
        .find(|p| p["detection"] == detection)
        .unwrap_or_else(|| panic!("no plan for {detection}"))
}

fn actions_for<'a>(lines: &'a [Value], detection: &str) -> Vec<&'a Value> {
    plan_for(lines, detection)["actions"]
        .as_array()
        .unwrap()
        .iter()
        .collect()
}

#[test]
fn the_attack_story_is_planned_passively_with_reasons() {
    let app = TestApp::builder()
        .yaml("protected_accounts: [breakglass@contoso.com]\n")
        .build();
    let out = app.stanch(&["run", "--input", &attack_story(), "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines = json_lines(&out.stdout);
    assert_eq!(plans(&lines).len(), 14);
    let all_actions: Vec<&Value> = plans(&lines)
        .iter()
        .flat_map(|p| p["actions"].as_array().unwrap())
        .collect();
    assert!(
        all_actions.iter().all(|a| a["mode"] == "passive"),
        "every action is passive by default"
    );

    // Account B: rule + unusual login → rules disabled, sessions revoked, disable behind approval.
    let b = actions_for(&lines, "darktrace/dt-1003");
    let kinds: Vec<&str> = b.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "disable_inbox_rules",
            "revoke_sessions",
            "sweep_signins",
            "confirm_compromised",
            "disable_account",
            "notify"
        ]
    );
    assert_eq!(b[0]["target"]["upn"], "b.jones@contoso.com");
    assert_eq!(b[4]["gate"], "approval");
    // The sweep reads the sign-ins from the campaign's IPs, up to the detection's own time.
    assert_eq!(b[2]["params"]["until"], "2021-06-01T09:41:00Z");
    assert_eq!(
        b[2]["params"]["ips"],
        serde_json::json!(["198.51.100.23/32", "198.51.100.24/32", "203.0.113.77/32"])
    );
    let campaign = plan_for(&lines, "darktrace/dt-1003")["campaign"].clone();
    assert!(campaign.as_str().unwrap().starts_with("cmp-"));
    assert_eq!(plan_for(&lines, "darktrace/dt-3003")["campaign"], campaign);
    let matched = &plan_for(&lines, "darktrace/dt-1003")["matched"][0];
    assert_eq!(matched["playbook"], "compromise-login-and-new-rule");
    assert!(matched["reason"].as_str().unwrap().contains("name matches `SaaS / Compromise / Unusual Login and New Email Rule`; severity high ≥ medium"));
    assert_eq!(
        b[0]["reason"],
        "step `disable-rules` of `compromise-login-and-new-rule`"
    );

    // The legacy-client retry on B blocks legacy authentication.
    let retry = actions_for(&lines, "darktrace/dt-1005");
    assert_eq!(retry[0]["action"], "block_legacy_auth");
    let why = plan_for(&lines, "darktrace/dt-1005")["matched"][0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("(is \"Other clients\")"),
        "the reason quotes the value that held: {why}"
    );

    // The break-glass account is never touched automatically.
    let breakglass = actions_for(&lines, "darktrace/dt-2002");
    assert_eq!(breakglass[0]["action"], "block_legacy_auth");
    assert_eq!(breakglass[0]["gate"], "approval");
    assert!(
        breakglass[0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("protected account")
    );

    // The sender surge asks to block the attacker's /24 for the tenant.
    let surge = actions_for(&lines, "darktrace/dt-1004");
    let block = surge.iter().find(|a| a["action"] == "block_ips").unwrap();
    assert_eq!(
        block["params"]["ips"],
        serde_json::json!(["203.0.113.0/24"])
    );

    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["summary"]["rejected"], 0);
    assert_eq!(summary["summary"]["active_actions"], 0);
}

#[test]
fn replaying_gives_the_same_plan_on_the_same_and_on_a_fresh_database() {
    let (first, second) = (TestApp::new(), TestApp::new());
    let run = |app: &TestApp| {
        let out = app.stanch(&["run", "--input", &attack_story(), "--json"]);
        assert_eq!(out.code, 0, "{out:?}");
        json_lines(&out.stdout)
            .into_iter()
            .filter(|l| l["type"] == "plan")
            .collect::<Vec<_>>()
    };
    let once = run(&first);
    let twice = run(&first);
    let elsewhere = run(&second);
    assert_eq!(once, twice);
    assert_eq!(once, elsewhere);
    // Human output is stable too (apart from the run id).
    let text = |app: &TestApp| {
        let out = app.stanch(&["run", "--input", &attack_story()]).stdout;
        out.lines()
            .filter(|l| !l.starts_with("run ") && !l.starts_with("recorded in "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(text(&first), text(&second));
}

#[test]
fn malformed_lines_are_rejected_by_line_number_audited_and_the_rest_processed() {
    let app = TestApp::new();
    let good = r#"{"id":"ok-1","source":"darktrace","name":"SaaS / Compliance / New Email Rule","observed_at":"2021-06-03T13:20:00Z","user":{"upn":"a.silva@contoso.com"},"details":{"rule":{"delete":true}}}"#;
    let input = format!(
        "{good}\nnot json at all\n\n{}\n{}\n{}\n",
        r#"{"id":"bad-ts","name":"x","observed_at":"2025-09-18T15:14:17+0530577Z"}"#,
        r#"{"id":"bad-user","name":"x","observed_at":"2021-06-01T00:00:00Z","user":{"id":"x/../../groups/g1"}}"#,
        good.replace("ok-1", "ok-2"),
    );
    let out = app.stanch_with_input(&["run", "--input", "-"], Some(&input));
    assert_eq!(
        out.code, 1,
        "a rejected line makes the exit status 1: {out:?}"
    );
    assert!(
        out.stdout.contains("line 2: rejected: not valid JSON"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("line 4: rejected: field `observed_at`: `2025-09-18T15:14:17+0530577Z` is not an RFC 3339 timestamp"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "line 5: rejected: field `user.id`: `x/../../groups/g1` is not an Entra object id"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("line 6: darktrace/ok-2"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("2 detection(s) accepted, 3 rejected"),
        "{}",
        out.stdout
    );

    let export = app.stanch(&["audit", "export"]);
    let rejected: Vec<Value> = json_lines(&export.stdout)
        .into_iter()
        .filter(|r| r["kind"] == "detection.rejected")
        .collect();
    assert_eq!(rejected.len(), 3);
    let payload: Value = serde_json::from_str(rejected[0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["line"], 2);
    assert_eq!(payload["raw"], "not json at all");
}

#[test]
fn the_database_records_every_action_as_would_have_done() {
    let app = TestApp::builder()
        .yaml("protected_accounts: [breakglass@contoso.com]\n")
        .build();
    let out = app.stanch(&["run", "--input", &attack_story(), "--quiet"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("52 action(s) planned (52 passive, 0 active, 9 needing approval)"),
        "{}",
        out.stdout
    );
    app.runtime.block_on(async {
        let pool = app.raw_sqlite().await;
        let statuses: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM actions GROUP BY status ORDER BY status")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            statuses,
            [
                // The sign-in sweeps read only, so they wait to run even in passive mode.
                ("pending".to_string(), 5),
                ("would_execute".to_string(), 38),
                ("would_request_approval".to_string(), 9)
            ]
        );
        let params: String = sqlx::query_scalar(
            "SELECT params FROM actions WHERE kind = 'block_ips' ORDER BY pk LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(params.contains("203.0.113.0/24"), "{params}");
    });
}

#[test]
fn config_and_environment_choose_the_mode_and_passive_can_be_forced() {
    let app = TestApp::builder().yaml("mode: active\n").build();
    let active = app.stanch(&["run", "--input", &attack_story(), "--quiet"]);
    assert!(
        active.stdout.contains("(0 passive, 52 active"),
        "{}",
        active.stdout
    );
    let forced = app.stanch(&["run", "--input", &attack_story(), "--quiet", "--passive"]);
    assert!(
        forced.stdout.contains("(52 passive, 0 active"),
        "{}",
        forced.stdout
    );
    let bad = app.write("bad.yaml", "mode: passive\ndatabse_url: sqlite://x.db\n");
    let out = app.stanch(&[
        "run",
        "--input",
        &attack_story(),
        "--config",
        &bad.display().to_string(),
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "bad.yaml:2:1: error: unknown key `databse_url` in the config; did you mean `database_url`?"
        ),
        "{}",
        out.stderr
    );
}
