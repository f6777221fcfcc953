//! The operator API (issue 14) against the emulator's identity provider: the sign-in flow
//! (authorization code + PKCE, client credentials), forged tokens refused with 401, roles
//! enforced with 403, and every write recorded with the authenticated identity.

use serde_json::{Value, json};
use stanch::emulate::jwt::{self, SigningKey};

use crate::harness::detection::login_at_home;
use crate::harness::idp::{AUTOMATION, automation_token, call, claims_of, sign_in};
use crate::harness::{TestApp, wait_until};

const OPERATORS: &str = "operators:\n  audience: api://stanch\n  refetch_interval: 0s\n";

const PLAYBOOK: &str = r#"version: 1
id: api-approvals
name: API approvals
match: { name: "Test / API approvals" }
steps:
  - id: disable
    action: disable_account
    approval: { approvers: [f.okafor@contoso.com], timeout: 1h, on_timeout: deny }
"#;

/// A server that accepts the emulator's operator tokens; with `PLAYBOOK` alone, or with the
/// shipped playbooks.
fn app_with(own_playbook: bool) -> TestApp {
    let builder = TestApp::builder().tenant().intake().yaml(OPERATORS);
    let builder = match own_playbook {
        true => builder.playbook("api.yaml", PLAYBOOK),
        false => builder,
    };
    builder.serve().build()
}

pub(crate) fn app() -> TestApp {
    app_with(true)
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn error_code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

#[test]
fn a_person_signs_in_with_pkce_and_the_api_knows_who_they_are() {
    let app = app();
    let token = sign_in(&app, "e.novak@contoso.com");
    let (status, me) = call(&app, "GET", "/v1/me", Some(&token), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["name"], "Eva Novak");
    assert_eq!(me["upn"], "e.novak@contoso.com");
    assert_eq!(me["roles"], json!(["responder"]));
    assert_eq!(
        me["object_id"],
        app.tenant().user("e.novak@contoso.com")["id"]
    );
    assert_eq!(me["token_id"], claims_of(&token)["uti"]);

    let robot = automation_token(&app);
    let (status, me) = call(&app, "GET", "/v1/me", Some(&robot), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["app"].as_bool(), me["name"].as_str()),
        (Some(true), Some(AUTOMATION))
    );
}

#[test]
fn anonymous_and_forged_tokens_get_401_in_the_one_shape() {
    let app = app();
    let good = sign_in(&app, "it.admin@contoso.com");
    let claims = claims_of(&good);
    let key = app.tenant().running.emulator.signing_key().clone();
    let now = chrono::Utc::now().timestamp();
    let stranger = SigningKey::generate("stranger");
    let impostor = SigningKey::generate(key.kid.clone());
    let (body, signature) = good.rsplit_once('.').unwrap();
    let header = body.split('.').next().unwrap();
    let escalated = jwt::encode_part(&with(claims.clone(), "roles", json!(["admin", "approver"])));
    let forged = [
        (
            "expired",
            key.sign(&with(
                with(claims.clone(), "exp", json!(now - 600)),
                "nbf",
                json!(now - 1200),
            )),
        ),
        (
            "wrong audience",
            key.sign(&with(claims.clone(), "aud", json!("api://someone-else"))),
        ),
        (
            "wrong issuer",
            key.sign(&with(
                claims.clone(),
                "iss",
                json!("https://login.microsoftonline.com/x/v2.0"),
            )),
        ),
        (
            "wrong tenant",
            key.sign(&with(
                claims.clone(),
                "tid",
                json!("00000000-0000-0000-0000-000000000000"),
            )),
        ),
        ("unknown key", stranger.sign(&claims)),
        (
            "another key under the published kid",
            impostor.sign(&claims),
        ),
        ("alg none", jwt::unsigned(&claims)),
        (
            "tampered claims",
            format!("{header}.{escalated}.{signature}"),
        ),
        ("not a token", "hello".to_string()),
    ];
    for path in [
        "/v1/actions",
        "/v1/audit",
        "/v1/approvals",
        "/v1/detections",
        "/v1/campaigns",
    ] {
        let (status, answer) = call(&app, "GET", path, None, None);
        assert_eq!(
            (status, error_code(&answer)),
            (401, "unauthorized"),
            "{path}: {answer}"
        );
    }
    let (status, answer) = call(
        &app,
        "POST",
        "/v1/actions/1/rollback",
        None,
        Some(json!({"reason": "x"})),
    );
    assert_eq!(
        (status, error_code(&answer)),
        (401, "unauthorized"),
        "{answer}"
    );
    for (what, token) in &forged {
        let (status, answer) = call(&app, "GET", "/v1/actions", Some(token), None);
        assert_eq!(
            (status, error_code(&answer)),
            (401, "unauthorized"),
            "{what}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let (status, answer) = call(&app, "GET", "/v1/actions", Some(&good), None);
    assert_eq!(status, 200, "the genuine token: {answer}");
    let refused: Vec<Value> = app
        .audit_trail()
        .into_iter()
        .filter(|(kind, _)| kind == "operator.unauthenticated")
        .map(|(_, payload)| payload)
        .collect();
    assert_eq!(
        refused.len(),
        forged.len(),
        "each forged token is audited: {refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|p| p["why"].as_str().unwrap().contains("expired"))
    );
}

#[test]
fn a_viewer_reads_but_gets_403_on_every_write() {
    let app = app();
    let viewer = sign_in(&app, "h.room@contoso.com");
    let (status, page) = call(&app, "GET", "/v1/actions?limit=10", Some(&viewer), None);
    assert_eq!(status, 200, "{page}");
    assert!(
        page["items"].is_array() && page["next_cursor"].is_null(),
        "{page}"
    );
    let reason = json!({"reason": "looks done"});
    for (path, body) in [
        ("/v1/actions/1/rollback", reason.clone()),
        ("/v1/actions/1/retry", reason.clone()),
        ("/v1/actions/1/confirm", reason.clone()),
        (
            "/v1/actions/1/extend",
            json!({"by": "1h", "reason": "later"}),
        ),
        (
            "/v1/approvals/1/decision",
            json!({"decision": "approve", "reason": "ok"}),
        ),
    ] {
        let (status, answer) = call(&app, "POST", path, Some(&viewer), Some(body));
        assert_eq!(
            (status, error_code(&answer)),
            (403, "forbidden"),
            "{path}: {answer}"
        );
    }
    let forbidden = app
        .audit_trail()
        .into_iter()
        .filter(|(kind, _)| kind == "operator.forbidden")
        .count();
    assert_eq!(forbidden, 5, "each refused write is audited");
}

#[test]
fn a_responders_rollback_and_retry_are_recorded_with_their_object_id() {
    let app = app_with(false);
    let detection = r#"{"id":"api-rb-1","source":"darktrace","name":"SaaS / Compromise / Unusual Login and New Email Rule","severity":"high","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"b.jones@contoso.com"}}"#;
    let out = app.run_input(detection);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let responder = sign_in(&app, "e.novak@contoso.com");
    let (status, page) = call(
        &app,
        "GET",
        "/v1/actions?status=succeeded&account=B.Jones@contoso.com",
        Some(&responder),
        None,
    );
    assert_eq!(status, 200, "{page}");
    let rules = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "disable_inbox_rules")
        .unwrap_or_else(|| panic!("no rules action: {page}"));
    let id = rules["pk"].as_i64().unwrap();

    let path = format!("/v1/actions/{id}/rollback");
    let (status, answer) = call(
        &app,
        "POST",
        &path,
        Some(&responder),
        Some(json!({"reason": " "})),
    );
    assert_eq!(
        (status, error_code(&answer)),
        (400, "invalid_request"),
        "a reason is required: {answer}"
    );
    let (status, answer) = call(
        &app,
        "POST",
        &path,
        Some(&responder),
        Some(json!({"reason": "false positive, confirmed with the user"})),
    );
    assert_eq!(status, 200, "{answer}");
    let oid = app.tenant().user("e.novak@contoso.com")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let trail = app.audit_trail();
    let rolled = trail
        .iter()
        .find(|(kind, p)| kind == "action.rolled_back" && p["pk"] == id)
        .map(|(_, p)| p)
        .expect("a rolled_back record");
    assert_eq!(rolled["actor"]["object_id"], oid.to_lowercase());
    assert_eq!(rolled["actor"]["authenticated"], true);
    assert_eq!(rolled["actor"]["roles"], json!(["responder"]));
    assert_eq!(rolled["actor"]["token_id"], claims_of(&responder)["uti"]);
    assert_eq!(rolled["reason"], "false positive, confirmed with the user");
    let (status, answer) = call(
        &app,
        "POST",
        &path,
        Some(&responder),
        Some(json!({"reason": "again"})),
    );
    assert_eq!((status, error_code(&answer)), (409, "conflict"), "{answer}");

    // The audit search finds it by the actor's object id; an app can retry, but not this.
    let (status, found) = call(
        &app,
        "GET",
        &format!("/v1/audit?actor={oid}&kind=action.rolled_back"),
        Some(&responder),
        None,
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    let (status, verified) = call(&app, "GET", "/v1/audit/verify", Some(&responder), None);
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["intact"], true, "{verified}");
    assert!(
        verified["records_checked"].as_u64().unwrap() > 10,
        "{verified}"
    );
    let robot = automation_token(&app);
    let (status, answer) = call(
        &app,
        "POST",
        &format!("/v1/actions/{id}/retry"),
        Some(&robot),
        Some(json!({"reason": "retry"})),
    );
    assert_eq!(
        (status, error_code(&answer)),
        (409, "conflict"),
        "a rolled-back action is not retried: {answer}"
    );
}

#[test]
fn an_approver_outside_the_steps_list_is_refused_and_audited() {
    let app = app();
    let detection = r#"{"id":"api-ap-1","source":"soc","name":"Test / API approvals","severity":"high","observed_at":"2021-06-01T10:05:00Z","user":{"upn":"b.jones@contoso.com"}}"#;
    let (status, answer) = app.post_detections(format!("{detection}\n"));
    assert_eq!(status, 202, "{answer}");
    let listed = sign_in(&app, "f.okafor@contoso.com");
    let unlisted = sign_in(&app, "g.muller@contoso.com");
    let mut pending = Value::Null;
    wait_until(20, "the approval request is pending", || {
        let (_, page) = call(&app, "GET", "/v1/approvals", Some(&listed), None);
        pending = page["items"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["state"] == "pending").cloned())
            .unwrap_or(Value::Null);
        !pending.is_null()
    });
    let id = pending["id"].as_i64().unwrap();
    assert_eq!(pending["approvers"], json!(["f.okafor@contoso.com"]));
    let path = format!("/v1/approvals/{id}/decision");
    let body = json!({"decision": "approve", "reason": "seen the sign-ins"});
    let (status, answer) = call(&app, "POST", &path, Some(&unlisted), Some(body.clone()));
    assert_eq!(
        (status, error_code(&answer)),
        (403, "approval_refused"),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not among the approvers"),
        "{answer}"
    );
    let trail = app.audit_trail();
    let refusal = trail
        .iter()
        .find(|(kind, _)| kind == "approval.refused")
        .map(|(_, p)| p)
        .expect("the refusal is audited");
    assert_eq!(refusal["approver"], "g.muller@contoso.com");
    assert_eq!(refusal["channel"], "api");
    assert_eq!(
        refusal["actor"]["object_id"],
        app.tenant().user("g.muller@contoso.com")["id"]
            .as_str()
            .unwrap()
            .to_lowercase()
    );

    let (status, answer) = call(&app, "POST", &path, Some(&listed), Some(body));
    assert_eq!(status, 200, "{answer}");
    let (_, shown) = call(
        &app,
        "GET",
        &format!("/v1/approvals/{id}"),
        Some(&listed),
        None,
    );
    assert_eq!(
        shown["decisions"][0]["approver"], "f.okafor@contoso.com",
        "{shown}"
    );
    let approved = app
        .audit_trail()
        .into_iter()
        .find(|(kind, _)| kind == "approval.approved")
        .map(|(_, p)| p)
        .expect("the approval is audited");
    assert_eq!(approved["actor"]["upn"], "f.okafor@contoso.com");
    assert_eq!(approved["actor"]["via"], "token");
}

/// `/openapi.json` is the document the code makes, and each operation in it is served: a
/// request to it gets any answer but "nothing is served at this path" or a 405. (Routes are
/// registered from their documentation, so none exists undocumented.)
#[test]
fn every_documented_operation_is_served_and_the_operator_ones_need_a_token() {
    let app = app();
    let (status, doc) = call(&app, "GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut probed = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "1")
            .replace("{format}", "1")
            .replace("{token}", "x");
        for (method, op) in item.as_object().unwrap() {
            let (status, answer) = call(&app, &method.to_uppercase(), &concrete, None, None);
            let unrouted =
                status == 405 || answer["error"]["message"] == "nothing is served at this path";
            assert!(
                !unrouted,
                "{method} {path} is documented but not served: {status} {answer}"
            );
            if op["tags"][0] == "operators" {
                assert_eq!(
                    status, 401,
                    "{method} {path} answered without a token: {answer}"
                );
            }
            probed += 1;
        }
    }
    assert!(probed >= 22, "{probed} operations");
}

/// The CLI at the box works without the API, and its records say so: the OS user, the name
/// typed after `--as`, `authenticated: false`.
#[test]
fn the_cli_records_the_os_user_as_local_and_unauthenticated() {
    let app = TestApp::builder().tenant().build();
    let detection = r#"{"id":"cli-rb-1","source":"darktrace","name":"SaaS / Compromise / Unusual Login and New Email Rule","severity":"high","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"b.jones@contoso.com"}}"#;
    let out = app.run_input(detection);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let rules = app
        .actions()
        .into_iter()
        .find(|a| a["kind"] == "disable_inbox_rules" && a["status"] == "succeeded")
        .expect("a succeeded rules action");
    let id = rules["pk"].to_string();
    let args = [
        "actions",
        "rollback",
        &id,
        "--as",
        "f.okafor@contoso.com",
        "--reason",
        "user confirmed the rule",
    ];
    let rolled = app.stanch(&args);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    let trail = app.audit_trail();
    let actor = &trail
        .iter()
        .find(|(kind, _)| kind == "action.rolled_back")
        .expect("a rolled_back record")
        .1["actor"];
    assert_eq!(actor["via"], "local");
    assert_eq!(actor["authenticated"], false);
    assert_eq!(actor["claimed_name"], "f.okafor@contoso.com");
    let os_user = std::env::var("USER").unwrap_or_else(|_| "unknown (USER is not set)".into());
    assert_eq!(actor["name"], os_user);
    assert!(actor.get("object_id").is_none(), "nothing proven: {actor}");
}

/// `operators.require_for_decisions`: deciding is for signed-in people only, so the CLI's
/// self-asserted `--as` cannot decide.
#[test]
fn a_config_can_require_the_api_for_decisions() {
    let app = TestApp::builder()
        .tenant()
        .yaml("operators:\n  audience: api://stanch\n  require_for_decisions: true\n")
        .build();
    let out = app.stanch(&[
        "approvals",
        "approve",
        "1",
        "--as",
        "f.okafor@contoso.com",
        "--reason",
        "ok",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("/v1/approvals/1/decision"),
        "{}",
        out.stderr
    );
}

/// `stanch doctor` fetches the issuer's keys; an issuer it cannot reach is a warning that says
/// what to check (the intake does not need it).
#[test]
fn doctor_warns_when_the_operator_issuer_cannot_be_reached() {
    let app = TestApp::builder()
        .tenant()
        .yaml("operators:\n  audience: api://stanch\n  issuer: http://127.0.0.1:9/nowhere/v2.0\n")
        .build();
    let out = app.stanch(&["doctor", "--json"]);
    let report: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "operators")
        .unwrap_or_else(|| panic!("no operators finding: {report:#}"));
    assert_eq!(finding["status"], "warn", "{finding}");
    assert!(
        finding["message"].as_str().unwrap().contains("127.0.0.1:9"),
        "{finding}"
    );
}

#[test]
fn a_responder_confirms_a_campaign_and_its_members_are_contained_by_the_worker() {
    let app = app_with(false);
    // Two unusual logins from one /24: grouped, but nothing confirms a compromise.
    let input = login_at_home("api-cc-1", "f.okafor@contoso.com", "198.51.100.23")
        + &login_at_home("api-cc-2", "g.muller@contoso.com", "198.51.100.99");
    let out = app.run_input(&input);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let viewer = sign_in(&app, "h.room@contoso.com");
    let (status, page) = call(&app, "GET", "/v1/campaigns", Some(&viewer), None);
    assert_eq!(status, 200, "{page}");
    let id = page["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no campaign: {page}"))
        .to_string();
    let path = format!("/v1/campaigns/{id}/confirm");
    let body = json!({"reason": "the user confirmed they never signed in from there"});
    let (status, answer) = call(&app, "POST", &path, Some(&viewer), Some(body.clone()));
    assert_eq!(
        (status, error_code(&answer)),
        (403, "forbidden"),
        "{answer}"
    );
    let (status, answer) = call(
        &app,
        "POST",
        "/v1/campaigns/no-such-campaign/confirm",
        Some(&sign_in(&app, "e.novak@contoso.com")),
        Some(body.clone()),
    );
    assert_eq!(
        (status, error_code(&answer)),
        (404, "not_found"),
        "{answer}"
    );

    let responder = sign_in(&app, "e.novak@contoso.com");
    let (status, answer) = call(&app, "POST", &path, Some(&responder), Some(body));
    assert_eq!(status, 200, "{answer}");
    // Two members and the infrastructure, as `stanch campaigns confirm` records them.
    assert_eq!(answer["follow_ups"], 3, "{answer}");
    let oid = app.tenant().user("e.novak@contoso.com")["id"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let confirmed = app.audit_of("campaign.confirmed_by_operator");
    assert_eq!(confirmed.len(), 1, "{confirmed:?}");
    assert_eq!(confirmed[0]["actor"]["object_id"], oid);
    assert_eq!(confirmed[0]["campaign"], id);
    // The worker contains the members as the campaign-member playbook says.
    wait_until(30, "the members' containment did not run", || {
        let all = app.actions();
        ["f.okafor@contoso.com", "g.muller@contoso.com"]
            .iter()
            .all(|upn| {
                all.iter().any(|a| {
                    a["playbook"] == "campaign-member"
                        && a["target_upn"] == *upn
                        && a["status"] == "succeeded"
                })
            })
    });
}

#[test]
fn the_api_shows_the_playbooks_with_their_tests_and_the_passive_report_as_the_cli_does() {
    let app = app_with(false);
    let out = app.stanch_with_input(
        &["run", "--input", "-", "--passive"],
        Some(&crate::harness::detection::credential_use(
            "api-rep-1",
            "c.lee@contoso.com",
        )),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let viewer = sign_in(&app, "h.room@contoso.com");
    let (status, listed) = call(&app, "GET", "/v1/playbooks", Some(&viewer), None);
    assert_eq!(status, 200, "{listed}");
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"campaign-member"), "{ids:?}");
    let cli = app.json(&["test", "--json"]);
    assert_eq!(listed["tests"]["passed"], cli["passed"], "{listed}");
    assert_eq!(listed["tests"]["failed"], 0, "{listed}");

    let (status, report) = call(&app, "GET", "/v1/report", Some(&viewer), None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report, app.json(&["report", "--json"]));
    assert!(report["detections"].as_u64().unwrap() >= 1, "{report}");
    let (status, answer) = call(
        &app,
        "GET",
        "/v1/report?since=yesterday",
        Some(&viewer),
        None,
    );
    assert_eq!(
        (status, error_code(&answer)),
        (400, "invalid_request"),
        "{answer}"
    );
    let (status, _) = call(&app, "GET", "/v1/playbooks", None, None);
    assert_eq!(status, 401);
}

#[test]
fn the_trail_exported_through_the_api_is_the_clis_export_and_verifies_offline() {
    let app = app_with(false);
    let out = app.run_input(&crate::harness::detection::credential_use(
        "api-exp-1",
        "c.lee@contoso.com",
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let viewer = sign_in(&app, "h.room@contoso.com");
    let url = app.url("/v1/audit/export");
    let (status, kind, body) = app.runtime.block_on(async {
        let answer = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        let kind = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        (answer.status().as_u16(), kind, answer.text().await.unwrap())
    });
    assert_eq!(
        (status, kind.as_str()),
        (200, "application/x-ndjson"),
        "{body}"
    );
    let cli = app.stanch(&["audit", "export"]).stdout;
    let downloaded: Vec<&str> = body.lines().collect();
    assert!(downloaded.len() > 10, "{body}");
    // The CLI's export was made a moment later: the download is its beginning.
    assert!(cli.starts_with(&body), "the same records, byte for byte");
    let file = app.write("trail.jsonl", &body).display().to_string();
    let verified = app.stanch(&["audit", "verify", "--file", &file]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    let (status, _) = call(&app, "GET", "/v1/audit/export", None, None);
    assert_eq!(status, 401);
}
