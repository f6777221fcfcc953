//! `stanch doctor`: what is missing for containment, found before an attack, with what to do.

use serde_json::Value;

use crate::harness::tenant::{CLIENT, QUARANTINE, SECRET, TENANT};
use crate::harness::{TestApp, project_root, wait_until};

/// The story's tenant with `change` applied, written into the app's directory.
fn fixture(change: impl FnOnce(&mut Value)) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(project_root().join("examples/tenant.json")).unwrap();
    let mut tenant: Value = serde_json::from_str(&text).unwrap();
    change(&mut tenant);
    let path = dir.path().join("tenant.json");
    std::fs::write(&path, tenant.to_string()).unwrap();
    (dir, path)
}

fn findings(app: &TestApp, config: &str) -> (i32, Value) {
    let out = app.stanch(&["--config", config, "doctor", "--json"]);
    let report =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
    (out.code, report)
}

#[test]
fn doctor_passes_against_the_emulator_with_the_example_configs_as_the_readme_shows() {
    let app = TestApp::builder().tenant().build();
    let url = app.tenant().running.url.clone();
    // The README's step: the emulator variant, only its address changed.
    let emulate = std::fs::read_to_string(project_root().join("examples/stanch.emulate.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:8941", &url);
    let config = app.write("emulate.yaml", &emulate).display().to_string();
    let out = app.stanch(&["--config", &config, "doctor"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("ok    permissions"), "{}", out.stdout);
    assert!(out.stdout.contains("doctor: ready"), "{}", out.stdout);
    // The README shows this very output.
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    let start = readme.find("doctor`, which passes:\n\n   ```\n").unwrap();
    let shown: String = readme[start..]
        .lines()
        .skip(3)
        .take_while(|l| l.trim() != "```")
        .map(|l| format!("{}\n", l.strip_prefix("   ").unwrap_or(l)))
        .collect();
    assert_eq!(shown, out.stdout.replace(&url, "http://127.0.0.1:8941"));

    // The full example, its placeholders filled with the emulator's tenant.
    let full = std::fs::read_to_string(project_root().join("examples/stanch.yaml"))
        .unwrap()
        .replacen("00000000-0000-0000-0000-000000000000", TENANT, 1)
        .replacen(
            "00000000-0000-0000-0000-000000000000",
            &format!("{CLIENT}\n  graph_url: {url}\n  login_url: {url}"),
            1,
        )
        .replace(
            "client_secret: change-me",
            &format!("client_secret: {SECRET}"),
        )
        .replace("11111111-1111-1111-1111-111111111111", QUARANTINE)
        .replace("/etc/stanch/playbooks", "playbooks");
    let config = app.write("full.yaml", &full).display().to_string();
    let (code, report) = findings(&app, &config);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
}

#[test]
fn a_permission_withheld_from_the_app_fails_doctor_naming_what_needs_it_and_what_to_do() {
    let (_dir, tenant) = fixture(|t| {
        t["clients"][0]["withheldPermissions"] = serde_json::json!(["Mail.ReadWrite"]);
    });
    let app = TestApp::builder().tenant_from(&tenant).build();
    let (code, report) = findings(&app, &app.config());
    assert_eq!(code, 1, "{report:#}");
    let failed: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(
        message.contains("`Mail.ReadWrite` is not granted"),
        "{message}"
    );
    assert!(message.contains("purge_messages (playbook"), "{message}");
    assert!(
        failed[0]["fix"]
            .as_str()
            .unwrap()
            .contains("Grant admin consent"),
        "{report:#}"
    );
    let text = app.stanch(&["doctor"]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("FAIL  permissions"), "{}", text.stdout);
}

#[test]
fn a_missing_quarantine_group_fails_and_a_report_only_policy_warns() {
    let (_dir, tenant) = fixture(|t| {
        t["conditionalAccessPolicies"][0]["state"] = "enabledForReportingButNotEnforced".into();
    });
    let app = TestApp::builder().tenant_from(&tenant).build();
    let (code, report) = findings(&app, &app.config());
    assert_eq!(code, 0, "a warning is no failure: {report:#}");
    let policy = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "ca-policy")
        .cloned()
        .unwrap();
    assert_eq!(policy["status"], "warn", "{policy}");
    assert!(policy["fix"].as_str().unwrap().contains("--enforce"));

    let out = app.stanch_with_changed_config(
        QUARANTINE,
        "9e3b1c2d-0000-4000-8000-00000000dead",
        &["doctor"],
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("the quarantine group 9e3b1c2d-0000-4000-8000-00000000dead does not exist")
            && out.stdout.contains("stanch setup legacy-auth"),
        "{}",
        out.stdout
    );
}

#[test]
fn doctor_that_cannot_read_its_config_exits_2() {
    let app = TestApp::new();
    let out = app.stanch(&["--config", "/nonexistent/stanch.yaml", "doctor"]);
    assert_eq!(out.code, 2, "{out:?}");
}

#[test]
fn serve_logs_a_failing_check_and_readyz_reports_it() {
    let (_dir, tenant) = fixture(|t| {
        t["clients"][0]["withheldPermissions"] = serde_json::json!(["User.RevokeSessions.All"]);
    });
    let app = TestApp::builder()
        .tenant_from(&tenant)
        .intake()
        .serve()
        .build();
    let url = app.url("/readyz");
    let mut last = String::new();
    wait_until(20, "readyz never reported the doctor's finding", || {
        let (status, body) = app.get(&url);
        last = body;
        status == 503 && last.contains("User.RevokeSessions.All")
    });
    let body: Value = serde_json::from_str(&last).unwrap();
    assert!(
        body["doctor"]["failing"][0]
            .as_str()
            .unwrap()
            .starts_with("permissions:"),
        "{body}"
    );
    let (_, metrics) = app.get(&app.url("/metrics"));
    assert!(
        metrics.contains("stanch_doctor_failing_checks 1"),
        "{metrics}"
    );
    assert!(
        app.server_log()
            .contains("doctor: `User.RevokeSessions.All` is not granted"),
        "{}",
        app.server_log()
    );
}

#[test]
fn slack_is_checked_with_auth_test_and_a_refused_token_fails_with_what_to_do() {
    let app = TestApp::builder().slack().build();
    let out = app.stanch(&["doctor"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("ok    slack        auth.test: the bot token works (team Contoso)"),
        "{}",
        out.stdout
    );
    assert_eq!(app.slack().calls("auth.test").len(), 1);

    let out =
        app.stanch_with_changed_config("bot_token: ", "bot_token: xoxb-revoked-", &["doctor"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("auth.test refused the bot token: invalid_auth")
            && out.stdout.contains("Bot User OAuth Token"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_database_that_cannot_be_opened_is_a_finding_not_a_crash() {
    let app = TestApp::new();
    // A directory where the database file should be.
    std::fs::create_dir(app.path("stanch.db")).unwrap();
    let out = app.stanch(&["doctor", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let database = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "database")
        .cloned()
        .unwrap();
    assert_eq!(database["status"], "fail", "{database}");
    assert!(database["fix"].as_str().unwrap().contains("database_url"));
}
