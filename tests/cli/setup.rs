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
