//! Approval requests over the generic signed webhook, and what timeouts do: deny, escalate to a
//! second audience, approve (never for a protected account); and four eyes for the requester.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{TestApp, wait_until};

const WEBHOOK_SECRET: &str = "approval-webhook-secret";

const PLAYBOOK: &str = r#"version: 1
id: approval-timeouts
name: Approval timeouts
match: { name: "Test / Approval timeouts" }
steps:
  - id: deny-on-timeout
    action: disable_account
    approval: { approvers: [f.okafor@contoso.com], timeout: 1s, on_timeout: deny }
  - id: escalate-on-timeout
    action: revoke_sessions
    approval: { approvers: [f.okafor@contoso.com], timeout: 1s, on_timeout: escalate, escalate_to: [g.muller@contoso.com] }
  - id: approve-on-timeout
    action: block_legacy_auth
    approval: { approvers: [f.okafor@contoso.com], timeout: 1s, on_timeout: approve }
"#;

fn of_type<'a>(bodies: &'a [Value], kind: &str) -> Vec<&'a Value> {
    bodies.iter().filter(|b| b["type"] == kind).collect()
}

#[test]
fn requests_go_out_signed_and_timeouts_deny_escalate_or_approve() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .playbook("timeouts.yaml", PLAYBOOK)
        .link_secret("link-secret")
        .public_url("https://stanch.example.com")
        .approval_webhook(WEBHOOK_SECRET)
        .serve()
        .build();
    let tenant = app.tenant();
    let verified = || app.hook().verified();
    let detection = |id: &str, upn: &str| {
        format!(
            "{{\"id\":\"{id}\",\"source\":\"soc\",\"name\":\"Test / Approval timeouts\",\"severity\":\"high\",\"observed_at\":\"2021-06-01T10:05:00Z\",\"user\":{{\"upn\":\"{upn}\"}},\"ip\":\"203.0.113.77\",\"details\":{{\"requested_by\":\"f.okafor@contoso.com\"}}}}\n"
        )
    };
    let body =
        detection("t-1", "b.jones@contoso.com") + &detection("t-2", "breakglass@contoso.com");
    let (status, answer) = app.post_detections(body);
    assert_eq!(status, 202, "{answer}");

    wait_until(20, "six approval requests were not delivered", || {
        of_type(&verified(), "approval.requested").len() == 6
    });
    let bodies = verified();
    let first = of_type(&bodies, "approval.requested")[0];
    let request = &first["request"];
    assert_eq!(request["round"], 0);
    assert_eq!(request["approvers"][0], "f.okafor@contoso.com");
    assert_eq!(
        request["detection"]["name"], "Test / Approval timeouts",
        "the evidence travels with the request"
    );
    assert!(
        request["action_hash"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    assert!(
        request["links"][0]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://stanch.example.com/approve/")),
        "{request}"
    );

    let find = |step: &str, upn: &str| -> i64 {
        app.actions()
            .iter()
            .find(|a| a["step"] == step && a["target_upn"] == upn)
            .unwrap()["pk"]
            .as_i64()
            .unwrap()
    };
    let decide = |id: i64, who: &str| app.decide("approve", &id.to_string(), who, "looked at it");
    let requester = decide(
        find("deny-on-timeout", "b.jones@contoso.com"),
        "f.okafor@contoso.com",
    );
    assert_eq!(requester.code, 1);
    assert!(
        requester.stderr.contains("requested this action"),
        "{}",
        requester.stderr
    );
    let early = decide(
        find("escalate-on-timeout", "b.jones@contoso.com"),
        "g.muller@contoso.com",
    );
    assert!(
        early.stderr.contains("not among the approvers"),
        "the escalation audience decides only after the escalation: {}",
        early.stderr
    );

    // Past the 1 s timeouts: the job runs as of the app's clock, a little over a second ahead.
    app.clock.advance(Duration::from_millis(1100));
    let (job, summary) = app.job("approval-timeouts");
    assert_eq!(job.code, 0, "{}", job.stderr);
    assert_eq!(
        summary,
        serde_json::json!({"denied": 3, "approved": 1, "escalated": 2}),
        "b.jones: deny, escalate, approve; breakglass: deny, escalate, and a protected account is never approved by a timeout"
    );
    // Each escalation is logged with the account and who is asked now.
    let escalated = job
        .stderr
        .lines()
        .find(|l| l.contains("approval escalated") && l.contains("b.jones@contoso.com"))
        .unwrap_or_else(|| panic!("no escalation logged for b.jones: {}", job.stderr));
    assert!(escalated.contains("g.muller@contoso.com"), "{escalated}");
    let status_of = |step: &str, upn: &str| -> String {
        app.actions()
            .iter()
            .find(|a| a["step"] == step && a["target_upn"] == upn)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        status_of("deny-on-timeout", "b.jones@contoso.com"),
        "timed_out"
    );
    assert_eq!(
        status_of("approve-on-timeout", "breakglass@contoso.com"),
        "timed_out"
    );
    wait_until(20, "the step approved by its timeout did not run", || {
        status_of("approve-on-timeout", "b.jones@contoso.com") == "succeeded"
    });

    let bodies = verified();
    let escalations: Vec<_> = of_type(&bodies, "approval.requested")
        .into_iter()
        .filter(|b| b["request"]["round"] == 1)
        .collect();
    assert_eq!(escalations.len(), 2);
    assert_eq!(
        escalations[0]["request"]["approvers"],
        serde_json::json!(["g.muller@contoso.com"])
    );
    assert!(
        of_type(&bodies, "approval.updated")
            .iter()
            .any(|b| b["outcome"]["state"] == "timed_out")
    );

    let escalated = decide(
        find("escalate-on-timeout", "b.jones@contoso.com"),
        "g.muller@contoso.com",
    );
    assert_eq!(escalated.code, 0, "{}", escalated.stderr);
    wait_until(20, "the escalated approval did not run", || {
        status_of("escalate-on-timeout", "b.jones@contoso.com") == "succeeded"
    });

    app.clock.advance(Duration::from_millis(1100));
    let (_, summary) = app.job("approval-timeouts");
    assert_eq!(
        summary["denied"], 1,
        "the escalation's own timeout denies: {summary}"
    );
    assert_eq!(
        status_of("escalate-on-timeout", "breakglass@contoso.com"),
        "timed_out"
    );
    assert_eq!(app.stop_server(), 0);

    let breakglass = tenant.user("breakglass@contoso.com");
    assert_eq!(breakglass["accountEnabled"], true);
    assert!(
        !tenant
            .quarantined()
            .contains(&breakglass["id"].as_str().unwrap().to_string())
    );
    assert_eq!(
        tenant.user("b.jones@contoso.com")["accountEnabled"],
        true,
        "a timed-out disable never ran"
    );

    let trail = app.stanch(&["audit", "export"]).stdout;
    for kind in [
        "approval.requested",
        "approval.escalated",
        "approval.timeout",
        "approval.refused",
        "approval.approved",
    ] {
        assert!(
            trail.contains(&format!("\"{kind}\"")),
            "no {kind} in the audit trail"
        );
    }
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);
}

#[test]
fn role_approvers_are_members_of_the_directory_role() {
    let app = TestApp::builder()
        .tenant()
        .playbook(
            "role.yaml",
        "version: 1\nid: role\nmatch: { name: \"Test / Role\" }\nsteps:\n  - id: disable\n    action: disable_account\n    approval: { approvers: [\"role:Global Administrator\"] }\n",
        )
        .build();
    let detection = r#"{"id":"r-1","source":"soc","name":"Test / Role","observed_at":"2021-06-01T10:05:00Z","user":{"upn":"c.lee@contoso.com"}}"#;
    let run = app.run_input(detection);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = app.actions()[0]["pk"].to_string();
    let decide = |who: &str| app.decide("approve", &id, who, "admin call");
    let outsider = decide("f.okafor@contoso.com");
    assert!(
        outsider.stderr.contains("not among the approvers"),
        "{}",
        outsider.stderr
    );
    let admin = decide("it.admin@contoso.com");
    assert_eq!(
        admin.code, 0,
        "a Global Administrator may decide: {}",
        admin.stderr
    );
    assert!(admin.stdout.contains("approved"), "{}", admin.stdout);
}
