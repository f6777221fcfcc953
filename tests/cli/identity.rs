//! An account has many names: a UPN, its object id, either in any case. The rails see one
//! person whichever name a detection uses.

use crate::harness::{TestApp, wait_until};

const PLAYBOOK: &str = r#"version: 1
id: revoke
name: Revoke on a risky sign-in
match: { name: "Risky / Sign-in" }
steps:
  - id: revoke
    action: revoke_sessions
"#;

const SILVA_ID: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0001";
const BREAKGLASS_ID: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e00bb";

fn detection(id: &str, minute: u32, user: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"source\":\"soc\",\"name\":\"Risky / Sign-in\",\"severity\":\"high\",\
         \"observed_at\":\"2021-06-01T10:{minute:02}:00Z\",\"user\":{user}}}\n"
    )
}

fn revokes(app: &TestApp) -> usize {
    app.tenant()
        .writes()
        .iter()
        .filter(|w| w.contains("revokeSignInSessions"))
        .count()
}

#[test]
fn a_protected_account_named_by_its_object_id_is_held_for_a_human() {
    // The tenant's config protects `breakglass@contoso.com`, by UPN.
    let app = TestApp::builder()
        .tenant()
        .playbook("revoke.yaml", PLAYBOOK)
        .build();
    for user in [
        format!("{{\"id\":\"{BREAKGLASS_ID}\"}}"),
        format!("{{\"id\":\"{}\"}}", BREAKGLASS_ID.to_uppercase()),
        "{\"upn\":\" BreakGlass@Contoso.com\"}".to_string(),
    ] {
        let run = app.run_input(&detection(&format!("bg-{}", user.len()), 0, &user));
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(revokes(&app), 0, "{:?}", app.tenant().writes());
    let actions = app.actions();
    assert!(!actions.is_empty());
    for action in &actions {
        assert_eq!(action["status"], "awaiting_approval", "{action}");
        assert!(
            action["gate"]["reasons"].to_string().contains("protected"),
            "{action}"
        );
    }
}

#[test]
fn one_account_named_four_ways_is_revoked_once_within_the_cooldown() {
    let app = TestApp::builder()
        .tenant()
        .playbook("revoke.yaml", PLAYBOOK)
        .build();
    let names = [
        "{\"upn\":\"a.silva@contoso.com\"}".to_string(),
        "{\"upn\":\"A.Silva@Contoso.com\"}".to_string(),
        format!("{{\"id\":\"{SILVA_ID}\"}}"),
        format!("{{\"id\":\"{}\"}}", SILVA_ID.to_uppercase()),
    ];
    let detections: String = names
        .iter()
        .enumerate()
        .map(|(n, user)| detection(&format!("silva-{n}"), n as u32, user))
        .collect();
    let run = app.run_input(&detections);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(revokes(&app), 1, "{:?}", app.tenant().writes());
    let statuses: Vec<String> = app
        .actions()
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["succeeded", "suppressed", "suppressed", "suppressed"]
    );
}

#[test]
fn the_target_cannot_decide_on_its_own_containment_by_its_other_name() {
    let gated = PLAYBOOK.replace(
        "    action: revoke_sessions\n",
        "    action: revoke_sessions\n    approval: { approvers: [f.okafor@contoso.com] }\n",
    );
    let app = TestApp::builder()
        .tenant()
        .playbook("revoke.yaml", &gated)
        .build();
    let run = app.run_input(&detection(
        "silva-id",
        0,
        &format!("{{\"id\":\"{SILVA_ID}\"}}"),
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pk = app.pending_approval_id().to_string();
    for verb in ["deny", "approve"] {
        let out = app.stanch(&[
            "approvals",
            verb,
            &pk,
            "--as",
            "A.Silva@contoso.com",
            "--reason",
            "it is me",
        ]);
        assert_ne!(out.code, 0, "{verb}: {}", out.stdout);
        assert!(
            out.stderr.contains("is the account this action targets"),
            "{verb}: {}",
            out.stderr
        );
    }
    assert_eq!(app.actions()[0]["status"], "awaiting_approval");
}

#[test]
fn a_timeout_never_approves_an_action_on_a_protected_account_named_otherwise() {
    let on_timeout = PLAYBOOK.replace(
        "    action: revoke_sessions\n",
        "    action: revoke_sessions\n    approval: { approvers: [f.okafor@contoso.com], timeout: 1s, on_timeout: approve }\n",
    );
    let app = TestApp::builder()
        .tenant()
        .intake()
        .playbook("revoke.yaml", &on_timeout)
        .link_secret("link-secret")
        .public_url("https://stanch.example.com")
        .approval_webhook("hook-secret")
        .serve()
        .build();
    let user = format!("{{\"id\":\"{BREAKGLASS_ID}\"}}");
    let (status, body) = app.post_detections(detection("bg-timeout", 0, &user));
    assert_eq!(status, 202, "{body}");
    wait_until(20, "the approval request was not delivered", || {
        !app.hook().verified().is_empty()
    });
    app.clock.advance(std::time::Duration::from_millis(1100));
    let (job, summary) = app.job("approval-timeouts");
    assert_eq!(job.code, 0, "{}", job.stderr);
    assert_eq!(summary["approved"], 0, "{summary}");
    assert_eq!(summary["denied"], 1, "{summary}");
    assert_eq!(app.actions()[0]["status"], "timed_out");
    assert_eq!(revokes(&app), 0);
}
