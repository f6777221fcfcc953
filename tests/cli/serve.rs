//! `stanch serve`: the real binary on port 0, the emulator behind it, real HTTP in front.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::detection::{credential_use, surge};
use crate::harness::{TestApp, bearer, project_root, wait_until};

#[test]
fn serve_accepts_durably_refuses_clearly_and_contains_in_the_background() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .hmac_secrets("{ darktrace: k3y }")
        .max_body_bytes(65536)
        .serve()
        .build();
    let tenant = app.tenant();
    let intake = app.url("/v1/detections");

    let story =
        std::fs::read_to_string(project_root().join("examples/attack-story.jsonl")).unwrap();
    let (status, body) = app.post(&intake, story.clone(), &bearer());
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"].as_array().unwrap().len(), 14);

    let (status, body) = app.post(&intake, story.clone(), &[]);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );

    let mixed = "{\"id\":\"ok-1\",\"name\":\"SaaS / Compliance / New Email Rule\",\"observed_at\":\"2021-06-03T13:20:00Z\",\"user\":{\"upn\":\"g.muller@contoso.com\"}}\n{\"id\":\"bad\",\"name\":\"x\",\"observed_at\":\"2025-09-18T15:14:17+0530577Z\"}\n";
    let (status, body) = app.post(&intake, mixed.to_string(), &bearer());
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_detections");
    assert_eq!(body["error"]["details"][0]["line"], 2);
    assert!(
        body["error"]["details"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("is not an RFC 3339 timestamp")
    );
    assert_eq!(
        body["accepted"].as_array().unwrap().len(),
        1,
        "the valid one is still accepted"
    );

    let (status, body) = app.post(&intake, "x".repeat(70_000), &bearer());
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );

    let signed_body =
        "{\"id\":\"sig-1\",\"name\":\"Nothing to match\",\"observed_at\":\"2021-06-03T13:20:00Z\"}"
            .to_string();
    let signature = stanch::http::sign(
        b"k3y",
        chrono::Utc::now().timestamp(),
        signed_body.as_bytes(),
    );
    let signed = vec![
        ("x-stanch-source", "darktrace".to_string()),
        ("x-stanch-signature", signature),
    ];
    let (status, body) = app.post(&intake, signed_body.clone(), &signed);
    assert_eq!(status, 202, "{body}");
    let (status, _) = app.post(&intake, format!("{signed_body} "), &signed);
    assert_eq!(status, 401, "a signature over another body is refused");

    // The worker contains the accounts in the background.
    wait_until(20, "the worker did not disable b.jones's rule", || {
        !(tenant
            .rules("b.jones@contoso.com")
            .iter()
            .any(|r| r["displayName"] == "." && r["isEnabled"] == true))
    });
    assert_eq!(app.get(&app.url("/healthz")), (200, "ok".to_string()));
    let (status, ready) = app.get(&app.url("/readyz"));
    assert_eq!(status, 200, "{ready}");
    let (_, metrics) = app.get(&app.url("/metrics"));
    assert!(
        metrics.contains("stanch_detections_received_total 16"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stanch_detections_rejected_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stanch_intake_unauthorized_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stanch_approvals_waiting ")
            && !metrics.contains("stanch_approvals_waiting 0\n"),
        "the story's gated steps wait for people: {metrics}"
    );
    assert_eq!(app.stop_server(), 0, "a SIGTERM is a clean shutdown");
}

#[test]
fn serve_refuses_to_start_without_intake_credentials() {
    let app = TestApp::builder().yaml("listen: 127.0.0.1:0\n").build();
    let out = app.stanch(&["serve"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("configure `intake.bearer_tokens` or `intake.hmac_secrets`"),
        "{}",
        out.stderr
    );
}

/// Every sample payload that is a detection, posted to its format's endpoint.
#[test]
fn every_detection_sample_is_accepted_or_rejected_with_a_reason() {
    let samples = project_root().join("../shared/samples");
    let read = |path: &str| {
        std::fs::read_to_string(samples.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let sekoia = |path: &str| -> String {
        let wrapper: Value = serde_json::from_str(&read(path)).unwrap();
        wrapper["input"]["message"].as_str().unwrap().to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "graph-alert",
            read(
                "SumoLogic__sumologic-documentation/microsoft-graph-security-v2.md.sample-alert.json",
            ),
            "accepted",
        ),
        (
            "graph-alert",
            read(
                "SumoLogic__sumologic-documentation/azure-security-microsoft-entra-id-protection.md.sample-alert.json",
            ),
            "firstActivityDateTime",
        ),
        (
            "graph-alert",
            read("elastic__integrations/test-alert.log"),
            "accepted",
        ),
        (
            "entra-risk-detection",
            read("elastic__integrations/test-identity-protection-detection-ip.log"),
            "accepted",
        ),
        (
            "entra-sign-in",
            read("elastic__integrations/test-signinlogs-raw.log"),
            "accepted",
        ),
        (
            "audit-inbox-rule",
            sekoia("SEKOIA-IO__intake-formats/inbox_rule.json"),
            "accepted",
        ),
        (
            "audit-inbox-rule",
            sekoia("SEKOIA-IO__intake-formats/operation_properties_01.json"),
            "accepted",
        ),
        (
            "audit-inbox-rule",
            sekoia("SEKOIA-IO__intake-formats/mcas_alert.json"),
            "accepted",
        ),
        (
            "entra-risk-detection",
            sekoia("SEKOIA-IO__intake-formats/user_risk_detection.json"),
            "accepted",
        ),
        (
            "entra-sign-in",
            sekoia("SEKOIA-IO__intake-formats/sign-in_activity.json"),
            "accepted",
        ),
        (
            "entra-sign-in",
            sekoia("SEKOIA-IO__intake-formats/empty_geolocalisation.json"),
            "accepted",
        ),
        (
            "entra-sign-in",
            sekoia("SEKOIA-IO__intake-formats/test_signin.json"),
            "accepted",
        ),
        (
            "darktrace-ai-analyst",
            sekoia("SEKOIA-IO__intake-formats/test_aianalyst_2.json"),
            "accepted",
        ),
        (
            "darktrace-ai-analyst",
            sekoia("SEKOIA-IO__intake-formats/test_aianalyst_without_log_type.json"),
            "accepted",
        ),
        (
            "darktrace-breach",
            read("demisto__content/fetch_breach.json"),
            "accepted",
        ),
    ];
    let app = TestApp::builder().tenant().intake().serve().build();
    let mut planned = 0;
    for (format, payload, expected) in &cases {
        // The endpoint named for the format, and the shape-detecting one, must agree.
        for url in [
            app.url(&format!("/v1/detections/{format}")),
            app.url("/v1/detections"),
        ] {
            let (status, body) = app.post(&url, payload.clone(), &bearer());
            if *expected == "accepted" {
                assert_eq!(status, 202, "{format} at {url}: {body}");
                planned += body["accepted"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["actions"].as_u64().unwrap())
                    .sum::<u64>();
            } else {
                assert_eq!(status, 400, "{format}: {body}");
                let reason = body["error"]["details"][0]["reason"].as_str().unwrap();
                assert!(
                    reason.contains(expected) && reason.contains("not an RFC 3339 timestamp"),
                    "{reason}"
                );
            }
        }
    }
    assert!(planned > 0, "some samples match the shipped playbooks");
    let (status, body) = app.post(
        &app.url("/v1/detections/carrier-pigeon"),
        "{}".into(),
        &bearer(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_format")),
        "{body}"
    );
    assert_eq!(app.stop_server(), 0);
}

/// SIGKILL in the middle of a run of 200 detections, with Graph latency injected; after a
/// restart, every detection is there, every action finished, and no revocation was sent twice.
#[test]
fn a_killed_server_loses_nothing_and_repeats_no_graph_write() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .max_body_bytes(4194304)
        // No cooldown: this is about crash recovery, so every repeat reaches the worker's
        // claim, where an equal action that already ran covers it.
        .yaml("safety:\n  cooldown: { default: 0s }\n")
        .build();
    let tenant = app.tenant();
    tenant
        .running
        .emulator
        .inject(stanch::emulate::Fault::latency(5).path_prefix("/v1.0"));
    let users = ["a.silva", "b.jones", "c.lee", "d.patel", "e.novak"];
    let body: String = (0..200)
        .map(|i| {
            credential_use(
                &format!("k-{i}"),
                &format!("{}@contoso.com", users[i % users.len()]),
            )
        })
        .collect();
    app.start_server();
    let (status, accepted) = app.post_detections(body);
    assert_eq!(status, 202, "{accepted}");
    // Let the worker get going, then kill it without warning.
    wait_until(20, "the worker did not start", || {
        tenant.running.emulator.requests().len() >= 10
    });
    app.kill_server();
    let at_kill = tenant.running.emulator.requests().len();

    app.start_server();
    let deadline = Instant::now() + Duration::from_secs(60);
    let statuses = loop {
        let actions = app.actions();
        if actions
            .iter()
            .all(|a| a["status"] != "pending" && a["status"] != "executing")
        {
            break actions
                .iter()
                .map(|a| {
                    (
                        a["kind"].as_str().unwrap().to_string(),
                        a["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>();
        }
        assert!(
            Instant::now() < deadline,
            "the restarted worker did not drain the queue"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(app.stop_server(), 0);
    assert!(
        tenant.running.emulator.requests().len() > at_kill,
        "the restarted server carried on"
    );
    assert_eq!(
        statuses.len(),
        400,
        "200 detections × (revoke + notify), none lost"
    );
    // A notification caught in flight by the kill cannot be proven sent, and a notification is
    // not idempotent: it waits for a person as `unverified` rather than being sent twice.
    let in_doubt = statuses
        .iter()
        .filter(|(kind, status)| kind == "notify" && status == "unverified")
        .count();
    assert!(
        in_doubt <= 1,
        "one worker has at most one action in flight: {statuses:?}"
    );
    // A repeat of an action that ran since it was requested is covered by it, not run again.
    let done = statuses
        .iter()
        .filter(|(_, s)| s == "succeeded" || s == "covered")
        .count();
    assert_eq!(done + in_doubt, 400, "{statuses:?}");
    assert!(
        statuses.iter().any(|(_, s)| s == "covered"),
        "repeats on one account are decided once: {statuses:?}"
    );
    for user in users {
        let revokes = tenant
            .writes()
            .iter()
            .filter(|w| {
                w.starts_with(&format!(
                    "POST /v1.0/users/{user}@contoso.com/revokeSignInSessions"
                ))
            })
            .count();
        assert_eq!(revokes, 1, "{user}'s sessions were revoked {revokes} times");
    }
}

/// Graph unavailable through all of the client's attempts: the worker retries the action later
/// instead of parking it, and it succeeds once Graph answers.
#[test]
fn a_transient_failure_is_retried_later_by_the_worker() {
    let app = TestApp::builder().tenant().intake().build();
    let tenant = app.tenant();
    tenant.running.emulator.inject(
        stanch::emulate::Fault::unavailable(Some(0))
            .method("POST")
            .path_prefix("/v1.0/users/c.lee@contoso.com/revokeSignInSessions")
            .times(5),
    );
    app.start_server();
    let (status, body) = app.post_detections(credential_use("r-1", "c.lee@contoso.com"));
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let revoke = loop {
        let actions = app.actions();
        let revoke = actions
            .into_iter()
            .find(|a| a["kind"] == "revoke_sessions")
            .unwrap();
        if revoke["status"] == "succeeded" {
            break revoke;
        }
        assert!(
            Instant::now() < deadline,
            "not retried to success: {revoke}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(revoke["attempts"], 1, "{revoke}");
    assert_eq!(app.stop_server(), 0);
    let unavailable = tenant
        .running
        .emulator
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert_eq!(unavailable, 5);
}

/// Alert polling: the tenant's Graph security alerts become detections once, with a watermark
/// that survives restarts; a schedule with a bad cron expression stops `serve` before it starts.
#[test]
fn polled_alerts_are_taken_in_once_and_bad_schedules_are_refused() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    let first = app.stanch(&["job", "run", "poll-alerts"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let summary: Value = serde_json::from_str(first.stdout.trim()).unwrap();
    assert_eq!(summary["detections"], 4, "{summary}");
    let again = app.stanch(&["job", "run", "poll-alerts"]);
    let summary: Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(summary["detections"], 0, "nothing new: {summary}");
    tenant.running.emulator.add_alert(serde_json::json!({
        "id": "late-1", "title": "Atypical travel", "severity": "high", "serviceSource": "azureAdIdentityProtection",
        "createdDateTime": "2030-01-01T00:00:00Z", "firstActivityDateTime": "2030-01-01T00:00:00Z",
        "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence", "roles": ["compromised"],
                      "userAccount": {"userPrincipalName": "c.lee@contoso.com", "azureAdUserId": "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0003"}}]
    }));
    let late = app.stanch(&["job", "run", "poll-alerts"]);
    let summary: Value = serde_json::from_str(late.stdout.trim()).unwrap();
    assert_eq!(summary["detections"], 1, "{summary}");
    assert_eq!(app.stanch(&["job", "run", "verify-audit"]).code, 0);

    let bad = TestApp::builder()
        .tenant()
        .intake()
        .yaml("schedules:\n  - { name: poll, cron: \"*/5 * * * * *\", job: poll-alerts }\n")
        .build();
    let out = bad.stanch(&["serve"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("schedule `poll`") && out.stderr.contains("*/5 * * * * *"),
        "{}",
        out.stderr
    );
}

/// Approvals from the CLI: only listed approvers (here, members of `group:SOC Tier 2`, resolved
/// through Graph) may decide, never the target; quorum counts distinct people; a denied action
/// never runs; an action changed after approval is not run. Every refusal is audited.
#[test]
fn approvals_gate_disruptive_steps_and_bind_to_the_exact_action() {
    let app = TestApp::builder().tenant().intake().serve().build();
    let tenant = app.tenant();
    let surge = |id: &str, upn: &str| surge(id, upn, Some("203.0.113.77"));
    let body = surge("ap-1", "b.jones@contoso.com") + &surge("ap-2", "e.novak@contoso.com");
    let (status, accepted) = app.post_detections(body);
    assert_eq!(status, 202, "{accepted}");
    let requests = || app.approvals();
    let find = |kind: &str, target: Option<&str>| -> String {
        requests()
            .iter()
            .find(|a| a["action"] == kind && target.is_none_or(|t| a["target"] == t))
            .unwrap()["id"]
            .to_string()
    };
    let decide =
        |verb: &str, id: &str, who: &str| app.decide(verb, id, who, "checked the sign-in logs");
    let disable_b = find("disable_account", Some("b.jones@contoso.com"));
    let disable_e = find("disable_account", Some("e.novak@contoso.com"));

    let target = decide("approve", &disable_b, "b.jones@contoso.com");
    assert_eq!(target.code, 1);
    assert!(
        target.stderr.contains("is the account this action targets"),
        "{}",
        target.stderr
    );
    let outsider = decide("approve", &disable_b, "h.room@contoso.com");
    assert!(
        outsider.stderr.contains("is not among the approvers"),
        "{}",
        outsider.stderr
    );
    let ok = decide("approve", &disable_b, "f.okafor@contoso.com");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("\"approved\""), "{}", ok.stdout);
    let again = decide("approve", &disable_b, "g.muller@contoso.com");
    assert_eq!(
        again.code, 1,
        "a decided action takes no more decisions: {}",
        again.stderr
    );
    let denied = decide("deny", &disable_e, "g.muller@contoso.com");
    assert_eq!(denied.code, 0, "{}", denied.stderr);

    wait_until(20, "the approved disable did not run", || {
        tenant.user("b.jones@contoso.com")["accountEnabled"] == false
    });
    assert_eq!(
        tenant.user("e.novak@contoso.com")["accountEnabled"],
        true,
        "a denied action never runs"
    );

    // Quorum of two distinct people; approvals bind the exact action.
    assert_eq!(app.stop_server(), 0);
    let block = find("block_ips", None);
    assert!(
        decide("approve", &block, "f.okafor@contoso.com")
            .stdout
            .contains("\"waiting\"")
    );
    assert_eq!(
        decide("approve", &block, "f.okafor@contoso.com").code,
        1,
        "one person counts once"
    );
    let tamper = |ips: &str| {
        app.sql(&[&format!(
            "UPDATE actions SET params = '{{\"ips\":[\"{ips}\"]}}' WHERE pk = {block}"
        )])
    };
    tamper("0.0.0.0/0");
    let second = decide("approve", &block, "g.muller@contoso.com");
    assert!(
        second.stdout.contains("\"waiting\""),
        "an approval of another version does not count: {}",
        second.stdout
    );
    // Restored, then approved; changed again before the worker runs it: refused at execution.
    tamper("203.0.113.0/24");
    assert!(
        decide("approve", &block, "it.admin@contoso.com")
            .stderr
            .contains("not among the approvers")
    );
    let third = app.stanch(&["approvals", "list", "--json"]);
    assert!(
        third.stdout.contains(&format!("\"id\":{block}")),
        "still waiting: {}",
        third.stdout
    );
    app.sql(&[&format!(
        "UPDATE actions SET status = 'pending' WHERE pk = {block}"
    )]);
    tamper("0.0.0.0/0");
    app.start_server();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let actions = app.actions();
        let row = actions
            .iter()
            .find(|a| a["pk"].to_string().as_str() == block.as_str())
            .unwrap()
            .clone();
        if row["status"] == "failed" {
            assert!(
                row["result"]["error"]
                    .as_str()
                    .unwrap()
                    .contains("differs from the one that was approved"),
                "{row}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the changed action was not refused: {row}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        tenant.state()["namedLocations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["displayName"] != "stanch: attacker ranges"),
        "nothing was blocked"
    );
    assert_eq!(app.stop_server(), 0);
    let audit = app.stanch(&["audit", "export"]).stdout;
    assert_eq!(
        audit.matches("approval.refused").count(),
        3,
        "every refusal is audited"
    );
    assert!(audit.contains("approval.mismatch"));
}

/// Signed approval links: opening one shows the evidence and decides nothing; a POST decides once;
/// tampered, expired and reused links are refused, and the refusals audited.
#[test]
fn signed_links_show_evidence_on_get_and_decide_once_on_post() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .link_secret("l1nk-s3cr3t")
        .serve()
        .build();
    let tenant = app.tenant();
    let surge = surge("lk-1", "b.jones@contoso.com", None);
    assert_eq!(app.post_detections(surge.to_string()).0, 202);
    let approvals = app.approvals();
    let id = approvals
        .iter()
        .find(|a| a["action"] == "disable_account")
        .unwrap()["id"]
        .to_string();
    let link = app.stanch(&["approvals", "link", &id, "--for", "f.okafor@contoso.com"]);
    assert_eq!(link.code, 0, "{}", link.stderr);
    let token = link.stdout.trim().rsplit('/').next().unwrap().to_string();
    let page_url = app.url(&format!("/approve/{token}"));

    let (status, html) = app.get(&page_url);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("disable_account")
            && html.contains("b.jones@contoso.com")
            && html.contains("<form method=\"post\""),
        "{html}"
    );
    assert_eq!(
        app.get(&page_url).0,
        200,
        "opening it again changes nothing"
    );
    assert_eq!(
        tenant.user("b.jones@contoso.com")["accountEnabled"],
        true,
        "a GET never decides"
    );

    let submit = |url: &str, decision: &str| {
        app.submit_form(
            url,
            &[
                ("decision", decision),
                ("reason", "confirmed with the user's manager"),
            ],
        )
    };
    let tampered = app.url(&format!("/approve/{token}x"));
    assert_eq!(submit(&tampered, "approve").0, 403);
    let expired = stanch::approvals::link::sign_link(
        b"l1nk-s3cr3t",
        &stanch::approvals::link::LinkClaims {
            a: id.parse().unwrap(),
            h: "x".into(),
            u: "f.okafor@contoso.com".into(),
            e: 1,
        },
    );
    assert_eq!(
        submit(&app.url(&format!("/approve/{expired}")), "approve").0,
        403
    );
    let (status, html) = submit(&page_url, "approve");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("approved"), "{html}");
    let (status, _) = submit(&page_url, "approve");
    assert_eq!(status, 409, "a link decides once");
    wait_until(20, "the approved action did not run", || {
        tenant.user("b.jones@contoso.com")["accountEnabled"] == false
    });
    assert_eq!(app.stop_server(), 0);
    let audit = app.stanch(&["audit", "export"]).stdout;
    assert_eq!(
        audit.matches("approval.refused").count(),
        2,
        "the tampered and the expired link"
    );
    assert!(audit.contains("\\\"channel\\\":\\\"link\\\""));
}

/// A client that mistypes a path or a method gets the same error shape as every other refusal,
/// not an empty body.
#[test]
fn unknown_paths_and_methods_answer_in_the_one_error_shape() {
    let app = TestApp::builder().tenant().intake().serve().build();
    let answers = [
        ("GET", "/v1/detection", app.get(&app.url("/v1/detection"))),
        // GET /v1/detections is the operator API's now; this path takes POST only.
        (
            "GET",
            "/v1/actions/1/rollback",
            app.get(&app.url("/v1/actions/1/rollback")),
        ),
        ("POST", "/healthz", {
            let (status, body) = app.post(&app.url("/healthz"), String::new(), &bearer());
            (status, body.to_string())
        }),
    ];
    let codes: Vec<(&str, &str, u16, String)> = answers
        .iter()
        .map(|(method, path, (status, body))| {
            let body: Value = serde_json::from_str(body).expect("a JSON answer");
            assert!(body["error"]["message"].is_string(), "{body}");
            let code = body["error"]["code"].as_str().unwrap_or_default();
            (*method, *path, *status, code.to_string())
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("GET", "/v1/detection", 404, "not_found".to_string()),
            (
                "GET",
                "/v1/actions/1/rollback",
                405,
                "method_not_allowed".to_string()
            ),
            ("POST", "/healthz", 405, "method_not_allowed".to_string()),
        ]
    );
    assert_eq!(app.stop_server(), 0);
}

/// One account's Graph hanging does not hold the others' containment: accounts run in lanes,
/// and work that arrives while one lane waits is taken up by another.
#[test]
fn a_hung_account_does_not_hold_another_accounts_containment() {
    let app = TestApp::builder().tenant().intake().build();
    let tenant = app.tenant();
    // Everything about e.novak answers after 8 s; c.lee's calls are not slowed.
    tenant.running.emulator.inject(
        stanch::emulate::Fault::latency(8_000).path_prefix("/v1.0/users/e.novak@contoso.com"),
    );
    app.start_server();
    let (status, answer) = app.post_detections(credential_use("h-1", "e.novak@contoso.com"));
    assert_eq!(status, 202, "{answer}");
    let status_of = |upn: &str| {
        app.actions()
            .iter()
            .find(|a| a["kind"] == "revoke_sessions" && a["target_upn"] == upn)
            .map(|a| a["status"].as_str().unwrap_or_default().to_string())
    };
    crate::harness::cli::wait_until(10, "e.novak's revoke under way", || {
        status_of("e.novak@contoso.com").as_deref() == Some("executing")
    });
    let (status, answer) = app.post_detections(credential_use("h-2", "c.lee@contoso.com"));
    assert_eq!(status, 202, "{answer}");
    let started = Instant::now();
    while status_of("c.lee@contoso.com").as_deref() != Some("succeeded") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "c.lee waited behind the hung account: {:?}",
            status_of("c.lee@contoso.com")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        status_of("e.novak@contoso.com").as_deref(),
        Some("executing"),
        "the hung account is still in flight"
    );
    assert_eq!(app.stop_server(), 0, "{}", app.server_log());
}

/// `--log-format json` (or STANCH_LOG_FORMAT=json) means every line on stderr is one JSON
/// object a log shipper can parse, including the start-up notes; and what an operator needs
/// to see is logged: detections received, refused credentials, each finished action's target.
#[test]
fn json_logs_are_only_json_and_say_what_came_in_and_what_was_done() {
    let app = TestApp::builder().tenant().intake().build();
    let log = app.path("json.log");
    let server = crate::harness::Server::start_with(
        &app.database_url(),
        Path::new(&app.config()),
        &log,
        Some("info"),
        &[("STANCH_LOG_FORMAT", "json")],
    );
    let url = format!("{}/v1/detections", server.url);
    let (status, body) = app.post(&url, credential_use("j-1", "c.lee@contoso.com"), &bearer());
    assert_eq!(status, 202, "{body}");
    let wrong = vec![("authorization", "Bearer wrong".to_string())];
    let (status, _) = app.post(&url, credential_use("j-2", "c.lee@contoso.com"), &wrong);
    assert_eq!(status, 401);
    wait_until(20, "the action did not finish", || {
        std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("action finished") && l.contains("revoke_sessions"))
    });
    assert_eq!(server.stop(), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let said = |message: &str| {
        events
            .iter()
            .find(|e| e["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no `{message}` event in {text}"))
    };
    let received = &said("detections received")["fields"];
    assert_eq!(received["accepted"], 1);
    assert!(received["actions"].as_u64().unwrap() >= 1, "{received}");
    assert!(
        received["playbooks"]
            .as_str()
            .unwrap()
            .contains("credential"),
        "{received}"
    );
    said("intake request refused: bad credentials");
    let revoked = events
        .iter()
        .find(|e| {
            e["fields"]["message"] == "action finished" && e["fields"]["kind"] == "revoke_sessions"
        })
        .unwrap_or_else(|| panic!("no finished revoke in {text}"));
    assert_eq!(
        revoked["fields"]["target"], "c.lee@contoso.com",
        "{revoked}"
    );
}
