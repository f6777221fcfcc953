//! `stanch serve`: the real binary on port 0, the emulator behind it, real HTTP in front.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::active::Tenant;
use crate::helpers::{Env, actions, project_root, wait_until};

pub const TOKEN: &str = "test-intake-token";

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    pub fn start(env: &Env, config: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stanch"))
            .current_dir(project_root())
            .args([
                "serve",
                "--config",
                config,
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
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }

    pub fn stop(mut self) -> i32 {
        // SAFETY: sending SIGTERM to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

pub fn post(tenant: &Tenant, url: &str, body: String, headers: &[(&str, String)]) -> (u16, Value) {
    tenant.runtime.block_on(async {
        let mut request = reqwest::Client::new().post(url).body(body);
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn get(tenant: &Tenant, url: &str) -> (u16, String) {
    tenant.runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

pub fn bearer() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {TOKEN}"))]
}

#[test]
fn serve_accepts_durably_refuses_clearly_and_contains_in_the_background() {
    let tenant = Tenant::start();
    let env = Env::new();
    let config = tenant.config(&env, &format!("listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\n  hmac_secrets: {{ darktrace: k3y }}\n  max_body_bytes: 65536\n"));
    let server = Server::start(&env, &config);
    let intake = format!("{}/v1/detections", server.url);

    let story =
        std::fs::read_to_string(project_root().join("examples/attack-story.jsonl")).unwrap();
    let (status, body) = post(&tenant, &intake, story.clone(), &bearer());
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"].as_array().unwrap().len(), 14);

    let (status, body) = post(&tenant, &intake, story.clone(), &[]);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );

    let mixed = "{\"id\":\"ok-1\",\"name\":\"SaaS / Compliance / New Email Rule\",\"observed_at\":\"2021-06-03T13:20:00Z\",\"user\":{\"upn\":\"g.muller@contoso.com\"}}\n{\"id\":\"bad\",\"name\":\"x\",\"observed_at\":\"2025-09-18T15:14:17+0530577Z\"}\n";
    let (status, body) = post(&tenant, &intake, mixed.to_string(), &bearer());
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

    let (status, body) = post(&tenant, &intake, "x".repeat(70_000), &bearer());
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
    let (status, body) = post(&tenant, &intake, signed_body.clone(), &signed);
    assert_eq!(status, 202, "{body}");
    let (status, _) = post(&tenant, &intake, format!("{signed_body} "), &signed);
    assert_eq!(status, 401, "a signature over another body is refused");

    // The worker contains the accounts in the background.
    wait_until(20, "the worker did not disable b.jones's rule", || {
        !(tenant
            .rules("b.jones@contoso.com")
            .iter()
            .any(|r| r["displayName"] == "." && r["isEnabled"] == true))
    });
    assert_eq!(
        get(&tenant, &format!("{}/healthz", server.url)),
        (200, "ok".to_string())
    );
    let (status, ready) = get(&tenant, &format!("{}/readyz", server.url));
    assert_eq!(status, 200, "{ready}");
    let (_, metrics) = get(&tenant, &format!("{}/metrics", server.url));
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
    assert_eq!(server.stop(), 0, "a SIGTERM is a clean shutdown");
}

#[test]
fn serve_refuses_to_start_without_intake_credentials() {
    let env = Env::new();
    let config = env
        .write("config.yaml", "listen: 127.0.0.1:0\n")
        .display()
        .to_string();
    let out = env.stanch(&["serve", "--config", &config]);
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
    let tenant = Tenant::start();
    let env = Env::new();
    let config = tenant.config(
        &env,
        &format!("listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\n"),
    );
    let server = Server::start(&env, &config);
    let mut planned = 0;
    for (format, payload, expected) in &cases {
        // The endpoint named for the format, and the shape-detecting one, must agree.
        for url in [
            format!("{}/v1/detections/{format}", server.url),
            format!("{}/v1/detections", server.url),
        ] {
            let (status, body) = post(&tenant, &url, payload.clone(), &bearer());
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
    let (status, body) = post(
        &tenant,
        &format!("{}/v1/detections/carrier-pigeon", server.url),
        "{}".into(),
        &bearer(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_format")),
        "{body}"
    );
    assert_eq!(server.stop(), 0);
}

/// SIGKILL in the middle of a run of 200 detections, with Graph latency injected; after a
/// restart, every detection is there, every action finished, and no revocation was sent twice.
#[test]
fn a_killed_server_loses_nothing_and_repeats_no_graph_write() {
    let tenant = Tenant::start();
    tenant
        .running
        .emulator
        .inject(stanch::emulate::Fault::latency(5).path_prefix("/v1.0"));
    let env = Env::new();
    let config = tenant.config(
        &env,
        &format!(
            "listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\n  max_body_bytes: 4194304\n"
        ),
    );
    let users = ["a.silva", "b.jones", "c.lee", "d.patel", "e.novak"];
    let body: String = (0..200)
        .map(|i| format!("{{\"id\":\"k-{i}\",\"source\":\"darktrace\",\"name\":\"SaaS / Unusual Activity / Unusual External Source for SaaS Credential Use\",\"severity\":\"high\",\"observed_at\":\"2021-06-01T06:12:00Z\",\"user\":{{\"upn\":\"{}@contoso.com\"}},\"country\":\"NG\"}}\n", users[i % users.len()]))
        .collect();
    let server = Server::start(&env, &config);
    let (status, accepted) = post(
        &tenant,
        &format!("{}/v1/detections", server.url),
        body,
        &bearer(),
    );
    assert_eq!(status, 202, "{accepted}");
    // Let the worker get going, then kill it without warning.
    wait_until(20, "the worker did not start", || {
        tenant.running.emulator.requests().len() >= 40
    });
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let at_kill = tenant.running.emulator.requests().len();

    let restarted = Server::start(&env, &config);
    let deadline = Instant::now() + Duration::from_secs(60);
    let statuses = loop {
        let actions = actions(&env, &config);
        if actions
            .iter()
            .all(|a| a["status"] != "pending" && a["status"] != "executing")
        {
            break actions
                .iter()
                .map(|a| a["status"].as_str().unwrap().to_string())
                .collect::<Vec<_>>();
        }
        assert!(
            Instant::now() < deadline,
            "the restarted worker did not drain the queue"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(restarted.stop(), 0);
    assert!(
        tenant.running.emulator.requests().len() > at_kill,
        "the restarted server carried on"
    );
    assert_eq!(
        statuses.len(),
        400,
        "200 detections × (revoke + notify), none lost"
    );
    assert!(statuses.iter().all(|s| s == "succeeded"), "{statuses:?}");
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
    let tenant = Tenant::start();
    tenant.running.emulator.inject(
        stanch::emulate::Fault::unavailable(Some(0))
            .method("POST")
            .path_prefix("/v1.0/users/c.lee@contoso.com/revokeSignInSessions")
            .times(5),
    );
    let env = Env::new();
    let config = tenant.config(
        &env,
        &format!("listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\n"),
    );
    let server = Server::start(&env, &config);
    let detection = "{\"id\":\"r-1\",\"source\":\"darktrace\",\"name\":\"SaaS / Unusual Activity / Unusual External Source for SaaS Credential Use\",\"severity\":\"high\",\"observed_at\":\"2021-06-01T06:12:00Z\",\"user\":{\"upn\":\"c.lee@contoso.com\"},\"country\":\"NG\"}";
    let (status, body) = post(
        &tenant,
        &format!("{}/v1/detections", server.url),
        detection.to_string(),
        &bearer(),
    );
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let revoke = loop {
        let actions = actions(&env, &config);
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
    assert_eq!(server.stop(), 0);
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
    let tenant = Tenant::start();
    let env = Env::new();
    let config = tenant.config(&env, "");
    let first = env.stanch(&["job", "run", "poll-alerts", "--config", &config]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let summary: Value = serde_json::from_str(first.stdout.trim()).unwrap();
    assert_eq!(summary["detections"], 4, "{summary}");
    let again = env.stanch(&["job", "run", "poll-alerts", "--config", &config]);
    let summary: Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(summary["detections"], 0, "nothing new: {summary}");
    tenant.running.emulator.add_alert(serde_json::json!({
        "id": "late-1", "title": "Atypical travel", "severity": "high", "serviceSource": "azureAdIdentityProtection",
        "createdDateTime": "2030-01-01T00:00:00Z", "firstActivityDateTime": "2030-01-01T00:00:00Z",
        "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence", "roles": ["compromised"],
                      "userAccount": {"userPrincipalName": "c.lee@contoso.com", "azureAdUserId": "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0003"}}]
    }));
    let late = env.stanch(&["job", "run", "poll-alerts", "--config", &config]);
    let summary: Value = serde_json::from_str(late.stdout.trim()).unwrap();
    assert_eq!(summary["detections"], 1, "{summary}");
    assert_eq!(
        env.stanch(&["job", "run", "verify-audit", "--config", &config])
            .code,
        0
    );

    let bad = tenant.config(&env, &format!("listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\nschedules:\n  - {{ name: poll, cron: \"*/5 * * * * *\", job: poll-alerts }}\n"));
    let out = env.stanch(&["serve", "--config", &bad]);
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
    let tenant = Tenant::start();
    let env = Env::new();
    let config = tenant.config(
        &env,
        &format!("listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\n"),
    );
    let server = Server::start(&env, &config);
    let surge = |id: &str, upn: &str| {
        format!(
            "{{\"id\":\"{id}\",\"source\":\"darktrace\",\"name\":\"Antigena Email: Unusual Login Location + Sender Surge\",\"severity\":\"critical\",\"observed_at\":\"2021-06-01T10:05:00Z\",\"user\":{{\"upn\":\"{upn}\"}},\"ip\":\"203.0.113.77\"}}\n"
        )
    };
    let body = surge("ap-1", "b.jones@contoso.com") + &surge("ap-2", "e.novak@contoso.com");
    let (status, accepted) = post(
        &tenant,
        &format!("{}/v1/detections", server.url),
        body,
        &bearer(),
    );
    assert_eq!(status, 202, "{accepted}");
    let requests = || -> Vec<Value> {
        serde_json::from_str(
            &env.stanch(&["approvals", "list", "--json", "--config", &config])
                .stdout,
        )
        .unwrap()
    };
    let find = |kind: &str, target: Option<&str>| -> String {
        requests()
            .iter()
            .find(|a| a["action"] == kind && target.is_none_or(|t| a["target"] == t))
            .unwrap()["id"]
            .to_string()
    };
    let decide = |verb: &str, id: &str, who: &str| {
        env.stanch(&[
            "approvals",
            verb,
            id,
            "--as",
            who,
            "--reason",
            "checked the sign-in logs",
            "--config",
            &config,
        ])
    };
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
        again.code, 2,
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
    assert_eq!(server.stop(), 0);
    let block = find("block_ips", None);
    assert!(
        decide("approve", &block, "f.okafor@contoso.com")
            .stdout
            .contains("\"waiting\"")
    );
    assert_eq!(
        decide("approve", &block, "f.okafor@contoso.com").code,
        2,
        "one person counts once"
    );
    let tamper = |ips: &str| {
        tenant.runtime.block_on(async {
            let pool = crate::helpers::raw_sqlite(&env).await;
            let sql =
                format!("UPDATE actions SET params = '{{\"ips\":[\"{ips}\"]}}' WHERE pk = {block}");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        })
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
    let third = env.stanch(&["approvals", "list", "--json", "--config", &config]);
    assert!(
        third.stdout.contains(&format!("\"id\":{block}")),
        "still waiting: {}",
        third.stdout
    );
    tenant.runtime.block_on(async {
        let pool = crate::helpers::raw_sqlite(&env).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE actions SET status = 'pending' WHERE pk = {block}"
        )))
        .execute(&pool)
        .await
        .unwrap();
    });
    tamper("0.0.0.0/0");
    let server = Server::start(&env, &config);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let actions = actions(&env, &config);
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
    assert_eq!(server.stop(), 0);
    let audit = env.stanch(&["audit", "export", "--config", &config]).stdout;
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
    let tenant = Tenant::start();
    let env = Env::new();
    let config = tenant.config(&env, &format!("listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [{TOKEN}]\napprovals:\n  link_secret: l1nk-s3cr3t\n"));
    let server = Server::start(&env, &config);
    let surge = "{\"id\":\"lk-1\",\"source\":\"darktrace\",\"name\":\"Antigena Email: Unusual Login Location + Sender Surge\",\"severity\":\"critical\",\"observed_at\":\"2021-06-01T10:05:00Z\",\"user\":{\"upn\":\"b.jones@contoso.com\"}}";
    assert_eq!(
        post(
            &tenant,
            &format!("{}/v1/detections", server.url),
            surge.to_string(),
            &bearer()
        )
        .0,
        202
    );
    let approvals: Vec<Value> = serde_json::from_str(
        &env.stanch(&["approvals", "list", "--json", "--config", &config])
            .stdout,
    )
    .unwrap();
    let id = approvals
        .iter()
        .find(|a| a["action"] == "disable_account")
        .unwrap()["id"]
        .to_string();
    let link = env.stanch(&[
        "approvals",
        "link",
        &id,
        "--for",
        "f.okafor@contoso.com",
        "--config",
        &config,
    ]);
    assert_eq!(link.code, 0, "{}", link.stderr);
    let token = link.stdout.trim().rsplit('/').next().unwrap().to_string();
    let page_url = format!("{}/approve/{token}", server.url);

    let (status, html) = get(&tenant, &page_url);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("disable_account")
            && html.contains("b.jones@contoso.com")
            && html.contains("<form method=\"post\""),
        "{html}"
    );
    assert_eq!(
        get(&tenant, &page_url).0,
        200,
        "opening it again changes nothing"
    );
    assert_eq!(
        tenant.user("b.jones@contoso.com")["accountEnabled"],
        true,
        "a GET never decides"
    );

    let submit = |url: &str, decision: &str| -> (u16, String) {
        tenant.runtime.block_on(async {
            let form = [
                ("decision", decision),
                ("reason", "confirmed with the user's manager"),
            ];
            let response = reqwest::Client::new()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    let tampered = format!("{}/approve/{}x", server.url, token);
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
        submit(&format!("{}/approve/{expired}", server.url), "approve").0,
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
    assert_eq!(server.stop(), 0);
    let audit = env.stanch(&["audit", "export", "--config", &config]).stdout;
    assert_eq!(
        audit.matches("approval.refused").count(),
        2,
        "the tampered and the expired link"
    );
    assert!(audit.contains("\\\"channel\\\":\\\"link\\\""));
}
