//! `stanch setup legacy-auth`: the standing policy spares the protected accounts, and a protected
//! account that cannot be read stops the setup before anything is created.

use stanch::emulate::Fault;

use crate::harness::TestApp;

const BREAKGLASS_ID: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e00bb";

#[test]
fn setup_excludes_the_protected_accounts_from_the_legacy_auth_policy() {
    let app = TestApp::builder().tenant().build();
    let out = app.stanch(&["setup", "legacy-auth"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let state = app.tenant().state();
    let policy = state["conditionalAccessPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["displayName"] == "stanch: block legacy authentication for quarantined accounts"
        })
        .cloned()
        .expect("the policy");
    assert_eq!(
        policy["conditions"]["users"]["excludeUsers"],
        serde_json::json!([BREAKGLASS_ID])
    );
}

#[test]
fn setup_creates_nothing_when_a_protected_account_cannot_be_read() {
    let app = TestApp::builder().tenant().build();
    app.tenant().running.emulator.inject(
        Fault::unavailable(Some(0))
            .method("GET")
            .path_prefix("/v1.0/users"),
    );
    let out = app.stanch(&["setup", "legacy-auth"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("resolving a protected account"),
        "{}",
        out.stderr
    );
    assert!(
        app.tenant().writes().is_empty(),
        "{:?}",
        app.tenant().writes()
    );
}

/// Run twice, setup finds what the first run made; it starts report-only, a dry run writes
/// nothing, and `--enforce` switches the same policy on.
#[test]
fn setup_is_idempotent_starts_report_only_and_enforces_on_request() {
    let app = TestApp::builder().tenant().build();
    let ours = |state: &serde_json::Value| -> (usize, Vec<serde_json::Value>) {
        let groups = state["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["mailNickname"] == "stanch-quarantine")
            .count();
        let policies = state["conditionalAccessPolicies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                p["displayName"] == "stanch: block legacy authentication for quarantined accounts"
            })
            .cloned()
            .collect();
        (groups, policies)
    };

    let dry = app.stanch(&["setup", "legacy-auth", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("would be created"), "{}", dry.stdout);
    assert!(
        app.tenant().writes().is_empty(),
        "{:?}",
        app.tenant().writes()
    );

    for _ in 0..2 {
        let out = app.stanch(&["setup", "legacy-auth"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let (groups, policies) = ours(&app.tenant().state());
    assert_eq!(groups, 1, "one quarantine group after two runs");
    assert_eq!(policies.len(), 1, "one policy after two runs");
    assert_eq!(policies[0]["state"], "enabledForReportingButNotEnforced");
    let again = app.stanch(&["setup", "legacy-auth"]);
    assert!(
        again.stdout.contains("found (left as it was)"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("--enforce"), "{}", again.stdout);

    let enforce = app.stanch(&["setup", "legacy-auth", "--enforce"]);
    assert_eq!(enforce.code, 0, "{}", enforce.stderr);
    assert!(
        enforce.stdout.contains("switched to enforced"),
        "{}",
        enforce.stdout
    );
    let (groups, policies) = ours(&app.tenant().state());
    assert_eq!((groups, policies.len()), (1, 1));
    assert_eq!(policies[0]["state"], "enabled");
}
