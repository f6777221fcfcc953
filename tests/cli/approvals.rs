//! Approval requests over the generic signed webhook, and what timeouts do: deny, escalate to a
//! second audience, approve (never for a protected account); and four eyes for the requester.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;

use crate::active::Tenant;
use crate::helpers::{Env, actions, wait_until};
use crate::serve::{Server, TOKEN, bearer, post};

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

/// A webhook receiver that keeps every request's signature header and raw body.
type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

fn start_receiver(tenant: &Tenant) -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let url = tenant.runtime.block_on(async move {
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let sink = sink.clone();
                async move {
                    let signature = headers
                        .get("x-stanch-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    sink.lock().unwrap().push((signature, body));
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    });
    (url, received)
}

/// The bodies received so far, after checking each one's signature.
fn verified(received: &Received) -> Vec<Value> {
    received
        .lock()
        .unwrap()
        .iter()
        .map(|(signature, body)| {
            let t: i64 = signature
                .split(',')
                .find_map(|p| p.strip_prefix("t="))
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("no timestamp in {signature:?}"));
            assert_eq!(
                signature,
                &stanch::http::sign(WEBHOOK_SECRET.as_bytes(), t, body),
                "every webhook delivery is signed over its exact body"
            );
            serde_json::from_slice(body).unwrap()
        })
        .collect()
}

fn of_type<'a>(bodies: &'a [Value], kind: &str) -> Vec<&'a Value> {
    bodies.iter().filter(|b| b["type"] == kind).collect()
}

#[test]
fn requests_go_out_signed_and_timeouts_deny_escalate_or_approve() {
    let tenant = Tenant::start();
    let env = Env::new();
    let (hook, received) = start_receiver(&tenant);
    let dir = env.path("playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("timeouts.yaml"), PLAYBOOK).unwrap();
    let config = tenant.config(
        &env,
        &format!(
            "listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\nplaybooks: [{}]\napprovals:\n  link_secret: link-secret\n  public_url: https://stanch.example.com\n  webhook:\n    url: {hook}\n    secret: {WEBHOOK_SECRET}\n",
            dir.display()
        ),
    );
    let server = Server::start(&env, &config);
    let detection = |id: &str, upn: &str| {
        format!(
            "{{\"id\":\"{id}\",\"source\":\"soc\",\"name\":\"Test / Approval timeouts\",\"severity\":\"high\",\"observed_at\":\"2021-06-01T10:05:00Z\",\"user\":{{\"upn\":\"{upn}\"}},\"ip\":\"203.0.113.77\",\"details\":{{\"requested_by\":\"f.okafor@contoso.com\"}}}}\n"
        )
    };
    let body =
        detection("t-1", "b.jones@contoso.com") + &detection("t-2", "breakglass@contoso.com");
    let (status, answer) = post(
        &tenant,
        &format!("{}/v1/detections", server.url),
        body,
        &bearer(),
    );
    assert_eq!(status, 202, "{answer}");

    wait_until(20, "six approval requests were not delivered", || {
        of_type(&verified(&received), "approval.requested").len() == 6
    });
    let bodies = verified(&received);
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
        actions(&env, &config)
            .iter()
            .find(|a| a["step"] == step && a["target_upn"] == upn)
            .unwrap()["pk"]
            .as_i64()
            .unwrap()
    };
    let decide = |id: i64, who: &str| {
        env.stanch(&[
            "approvals",
            "approve",
            &id.to_string(),
            "--as",
            who,
            "--reason",
            "looked at it",
            "--config",
            &config,
        ])
    };
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

    std::thread::sleep(Duration::from_millis(1100));
    let job = env.stanch(&["job", "run", "approval-timeouts", "--config", &config]);
    assert_eq!(job.code, 0, "{}", job.stderr);
    let summary: Value = serde_json::from_str(job.stdout.trim()).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"denied": 3, "approved": 1, "escalated": 2}),
        "b.jones: deny, escalate, approve; breakglass: deny, escalate, and a protected account is never approved by a timeout"
    );
    let status_of = |step: &str, upn: &str| -> String {
        actions(&env, &config)
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

    let bodies = verified(&received);
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

    std::thread::sleep(Duration::from_millis(1100));
    let job = env.stanch(&["job", "run", "approval-timeouts", "--config", &config]);
    let summary: Value = serde_json::from_str(job.stdout.trim()).unwrap();
    assert_eq!(
        summary["denied"], 1,
        "the escalation's own timeout denies: {summary}"
    );
    assert_eq!(
        status_of("escalate-on-timeout", "breakglass@contoso.com"),
        "timed_out"
    );
    assert_eq!(server.stop(), 0);

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

    let trail = env.stanch(&["audit", "export", "--config", &config]).stdout;
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
    assert_eq!(
        env.stanch(&["audit", "verify", "--config", &config]).code,
        0
    );
}
