//! Active mode against the Graph emulator: the real binary, the story's tenant, real HTTP.

use serde_json::Value;
use stanch::emulate::Fault;

use crate::harness::tenant::{CLIENT, SECRET, TENANT};
use crate::harness::{TestApp, attack_story};

fn enabled(rules: &[Value], name: &str) -> bool {
    rules
        .iter()
        .find(|r| r["displayName"] == name)
        .unwrap_or_else(|| panic!("no rule {name}"))["isEnabled"]
        == true
}

#[test]
fn the_attack_story_is_contained_against_the_emulator() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    let out = app.stanch(&["run", "--input", &attack_story()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("failed "), "{}", out.stdout);

    // B: the hiding rule is off, the newsletter rule untouched, sessions revoked, quarantined.
    let b = tenant.rules("b.jones@contoso.com");
    assert!(!enabled(&b, "."), "{b:?}");
    assert!(enabled(&b, "Newsletters"));
    assert!(!enabled(&tenant.rules("d.patel@contoso.com"), ".."));
    assert!(enabled(
        &tenant.rules("d.patel@contoso.com"),
        "Important clients"
    ));
    let quarantined = tenant.quarantined();
    for id in [
        "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0002",
        "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0003",
        "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0004",
    ] {
        assert!(
            quarantined.iter().any(|m| m == id),
            "{id} not quarantined: {quarantined:?}"
        );
    }
    // Both phishing waves are out of every inbox the app may read (in Deleted Items, so they can
    // be put back); the benign message from the same sender stays; the unreadable mailbox is
    // reported, not skipped silently.
    let state = tenant.state();
    let folders = |upn: &str, id: &str| -> Vec<String> {
        state["messages"][upn]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["internetMessageId"] == id)
            .map(|m| m["parentFolderId"].as_str().unwrap().to_string())
            .collect()
    };
    const WAVE_1: &str = "<DB7PR04MB5163C1F0A2B3@DB7PR04MB5163.eurprd04.prod.outlook.com>";
    const WAVE_2: &str = "<AM6PR02MB4417E9D8C7B6@AM6PR02MB4417.eurprd02.prod.outlook.com>";
    const BENIGN: &str = "<AM6PR02MB4417A1B2C3D4@AM6PR02MB4417.eurprd02.prod.outlook.com>";
    for upn in [
        "c.lee@contoso.com",
        "d.patel@contoso.com",
        "e.novak@contoso.com",
        "f.okafor@contoso.com",
        "g.muller@contoso.com",
    ] {
        assert_eq!(folders(upn, WAVE_1), ["deleteditems"], "wave 1 for {upn}");
        assert_eq!(folders(upn, WAVE_2), ["deleteditems"], "wave 2 for {upn}");
    }
    assert_eq!(
        folders("b.jones@contoso.com", WAVE_2),
        ["deleteditems"],
        "B got wave 2 too"
    );
    for upn in ["c.lee@contoso.com", "d.patel@contoso.com"] {
        assert_eq!(
            folders(upn, BENIGN),
            ["inbox"],
            "the benign message stays for {upn}"
        );
    }
    assert!(
        out.stdout.contains("it.admin@contoso.com"),
        "the unreadable mailbox is named: {}",
        out.stdout
    );
    // The attacker's persistence on A: exactly the authenticator, the consent and the device
    // registered in the campaign's window; A's own older ones stay.
    let methods: Vec<&str> = state["authenticationMethods"]["a.silva@contoso.com"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        !methods.contains(&"6f1c2d3e-4a5b-4c6d-8e7f-a1b2c3d4e5ee"),
        "{methods:?}"
    );
    assert!(methods.len() >= 2, "her own methods stay: {methods:?}");
    let grants = state["oauth2PermissionGrants"].as_array().unwrap();
    assert!(
        !grants
            .iter()
            .any(|g| g["clientId"] == "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c66"),
        "{grants:?}"
    );
    assert_eq!(
        grants.len(),
        2,
        "her own grant and the admin grant stay: {grants:?}"
    );
    let device = |id: &str| {
        state["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .unwrap()["accountEnabled"]
            .clone()
    };
    assert_eq!(
        device("d3a1b2c4-5e6f-4a7b-8c9d-0e1f2a3b4c66"),
        false,
        "the attacker's device"
    );
    assert_eq!(
        device("d3a1b2c4-5e6f-4a7b-8c9d-0e1f2a3b4c01"),
        true,
        "her own laptop"
    );

    // Disabling accounts waits for a human; the break-glass account is never touched.
    assert_eq!(tenant.user("b.jones@contoso.com")["accountEnabled"], true);
    assert!(!quarantined.iter().any(|m| m.ends_with("00bb")));
    assert!(
        tenant
            .writes()
            .iter()
            .all(|w| !w.contains("00bb") && !w.contains("breakglass")),
        "{:?}",
        tenant.writes()
    );

    // Every Graph call carried a client-request-id and is in the audit trail before and after.
    let requests = tenant.running.emulator.requests();
    assert!(
        requests
            .iter()
            .filter(|r| r.path.starts_with("/v1.0"))
            .all(|r| r.client_request_id.is_some() && r.has_authorization)
    );
    let export = app.stanch(&["audit", "export"]);
    let kinds: Vec<String> = export
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let graph_calls = requests
        .iter()
        .filter(|r| r.path.starts_with("/v1.0"))
        .count();
    assert_eq!(
        kinds.iter().filter(|k| *k == "graph.request").count(),
        graph_calls
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "graph.response").count(),
        graph_calls
    );
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);

    // What waits for a human: the account disables, the tenant-wide blocks, disabling the app
    // a.silva was consented to for the whole tenant, the break-glass account (its own
    // legacy-auth block and the revoke after it, and the seven steps of containing it as a
    // campaign member).
    let approvals = app.approvals();
    assert_eq!(approvals.len(), 22, "{approvals:#?}");
    let disable_app: Vec<&Value> = (approvals.iter())
        .filter(|a| a["action"] == "disable_app")
        .collect();
    assert_eq!(disable_app.len(), 1, "{disable_app:#?}");
    assert_eq!(
        disable_app[0]["params"]["app"], "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c66",
        "Mail Backup Pro, the attacker's app"
    );
    assert!(approvals.iter().all(|a| a["state"] == "pending"));
    let breakglass = approvals
        .iter()
        .find(|a| a["target"] == "breakglass@contoso.com")
        .expect("break-glass request");
    assert!(
        breakglass["reasons"][0]
            .as_str()
            .unwrap()
            .contains("protected account")
    );

    // Running the same detections again acts on nothing twice.
    let writes_before = tenant.writes().len();
    let again = app.stanch(&["run", "--input", &attack_story()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("duplicate"), "{}", again.stdout);
    assert_eq!(
        tenant.writes().len(),
        writes_before,
        "a re-run wrote to Graph: {:?}",
        &tenant.writes()[writes_before..]
    );
}

#[test]
fn rollback_restores_exactly_what_was_changed() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    let before_rules = tenant.rules("b.jones@contoso.com");
    let detection = r#"{"id":"rb-1","source":"darktrace","name":"SaaS / Compromise / Unusual Login and New Email Rule","severity":"high","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"b.jones@contoso.com"}}"#;
    let out = app.run_input(detection);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!enabled(&tenant.rules("b.jones@contoso.com"), "."));
    let list = app.stanch(&["actions", "list", "--json", "--status", "succeeded"]);
    let actions: Vec<Value> = serde_json::from_str(&list.stdout).unwrap();
    let rules_action = actions
        .iter()
        .find(|a| a["kind"] == "disable_inbox_rules")
        .expect("rules action");
    let id = rules_action["pk"].to_string();
    let rolled = app.rollback(&id);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    assert_eq!(
        tenant.rules("b.jones@contoso.com"),
        before_rules,
        "rules are back as they were"
    );
    let again = app.rollback(&id);
    assert_eq!(again.code, 1, "a second rollback is refused as a mistake");
    assert!(
        again
            .stderr
            .contains("only a succeeded action can be rolled back"),
        "{}",
        again.stderr
    );
}

#[test]
fn throttling_storms_are_ridden_out_and_a_privileged_account_goes_to_a_human() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    tenant.running.emulator.inject(
        Fault::throttle(Some(1))
            .method("POST")
            .path_prefix("/v1.0/users")
            .times(2),
    );
    tenant
        .running
        .emulator
        .inject(Fault::throttle(None).method("PATCH").times(2));
    tenant.running.emulator.inject(
        Fault::unavailable(None)
            .method("GET")
            .path_prefix("/v1.0/groups")
            .times(1),
    );
    let detection = r#"{"id":"t-1","source":"darktrace","name":"SaaS / Compromise / Unusual Login and New Email Rule","severity":"high","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"e.novak@contoso.com"}}
{"id":"t-2","source":"darktrace","name":"SaaS / Access / Suspicious Login Attempt","severity":"high","observed_at":"2021-06-01T09:42:00Z","user":{"upn":"c.lee@contoso.com"},"client_app":"IMAP4"}"#;
    let out = app.run_input(detection);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("failed "), "{}", out.stdout);
    assert!(!enabled(&tenant.rules("e.novak@contoso.com"), "Sync"));
    let statuses: Vec<u16> = tenant
        .running
        .emulator
        .requests()
        .iter()
        .map(|r| r.status)
        .collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&503),
        "{statuses:?}"
    );
}

#[test]
fn a_run_whose_containment_fails_exits_3_not_0() {
    let app = TestApp::builder().tenant().build();
    // Graph never recovers for session revokes: every retry is spent, the action fails.
    app.tenant().running.emulator.inject(
        Fault::unavailable(Some(0))
            .method("POST")
            .path_prefix("/v1.0/users"),
    );
    let detection = r#"{"id":"f-1","source":"darktrace","name":"SaaS / Compromise / Unusual Login and New Email Rule","severity":"high","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"e.novak@contoso.com"}}"#;
    let out = app.run_input(detection);
    assert_eq!(
        out.code, 3,
        "failed actions have their own exit status\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("failed revoke_sessions"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_403_on_a_privileged_account_goes_to_a_human_and_is_not_retried() {
    let app = TestApp::builder()
        .tenant()
        .playbook(
            "disable.yaml",
            "version: 1\nid: disable-now\nmatch: { name: \"Test / Disable\" }\nsteps:\n  - { id: disable, action: disable_account }\ntests: []\n",
        )
        .build();
    let tenant = app.tenant();
    let admin = r#"{"id":"p-1","name":"Test / Disable","observed_at":"2021-06-01T10:00:00Z","user":{"upn":"it.admin@contoso.com"}}"#;
    let out = app.run_input(admin);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("needs_human disable_account"),
        "{}",
        out.stdout
    );
    assert_eq!(tenant.user("it.admin@contoso.com")["accountEnabled"], true);
    let patches = tenant
        .running
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 1, "a 403 is not retried");
}

#[test]
fn a_token_that_expires_mid_run_is_renewed() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    tenant.running.emulator.inject(
        Fault::expire_tokens()
            .method("POST")
            .path_prefix("/v1.0/users")
            .times(1),
    );
    let detection = r#"{"id":"x-1","source":"darktrace","name":"SaaS / Unusual Activity / Unusual External Source for SaaS Credential Use","severity":"high","observed_at":"2021-06-01T06:12:00Z","user":{"upn":"a.silva@contoso.com"},"country":"NG"}"#;
    let out = app.run_input(detection);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("succeeded revoke_sessions"),
        "{}",
        out.stdout
    );
    let tokens = tenant
        .running
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .count();
    assert!(
        tokens >= 2,
        "a new token was fetched after the 401 ({tokens} token requests)"
    );
}

#[test]
fn a_path_injection_attempt_never_reaches_graph() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    let detection = r#"{"id":"inj-1","source":"darktrace","name":"SaaS / Compromise / Unusual Login and New Email Rule","severity":"high","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"x/../../groups/9e3b1c2d@contoso.com"}}"#;
    let out = app.run_input(detection);
    assert_eq!(out.code, 1, "the detection is rejected: {}", out.stdout);
    assert!(
        out.stdout.contains("rejected: field `user.upn`"),
        "{}",
        out.stdout
    );
    assert!(tenant.writes().is_empty(), "{:?}", tenant.writes());
}

/// A playbook that runs every action, active and without approval, so each can be checked.
const EVERY_ACTION: &str = r#"version: 1
id: every-action
match: { name: "Test / Everything" }
steps:
  - { id: rules, action: disable_inbox_rules }
  - { id: revoke, action: revoke_sessions }
  - { id: legacy, action: block_legacy_auth }
  - { id: disable, action: disable_account }
  - { id: confirm, action: confirm_compromised }
  - { id: password, action: reset_password }
  - { id: ips, action: block_ips, with: { ips: "{{ ip | cidr(24) }}" } }
  - { id: tell, action: notify, with: { message: "contained {{ user.upn }}" } }
tests: []
"#;

#[test]
fn every_action_acts_on_the_emulator_and_reversible_ones_roll_back_to_the_state_before() {
    let app = TestApp::builder()
        .tenant()
        .playbook("every.yaml", EVERY_ACTION)
        .build();
    let tenant = app.tenant();
    let before = tenant.state();
    let detection = r#"{"id":"all-1","name":"Test / Everything","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"b.jones@contoso.com"},"ip":"203.0.113.77"}"#;
    let out = app.run_input(detection);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("succeeded ").count(),
        8,
        "{}",
        out.stdout
    );

    let b = tenant.user("b.jones@contoso.com");
    assert_eq!(b["accountEnabled"], false);
    assert_ne!(
        b["signInSessionsValidFromDateTime"],
        before["users"][1]["signInSessionsValidFromDateTime"]
    );
    assert_eq!(b["passwordProfile"]["forceChangePasswordNextSignIn"], true);
    assert!(!enabled(&tenant.rules("b.jones@contoso.com"), "."));
    assert!(
        tenant
            .quarantined()
            .contains(&"0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0002".to_string())
    );
    let state = tenant.state();
    let risky = state["riskyUsers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0002")
        .cloned()
        .unwrap();
    assert_eq!(risky["riskState"], "confirmedCompromised");
    let location = state["namedLocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["displayName"] == "stanch: blocked attacker IPs")
        .cloned()
        .expect("location");
    assert_eq!(location["ipRanges"][0]["cidrAddress"], "203.0.113.0/24");
    let policy = state["conditionalAccessPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["conditions"]["locations"]["includeLocations"][0] == location["id"])
        .cloned()
        .expect("policy");
    assert_eq!(policy["grantControls"]["builtInControls"][0], "block");
    assert_eq!(
        policy["conditions"]["users"]["excludeUsers"][0], "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e00bb",
        "break-glass excluded"
    );
    assert_eq!(
        tenant.running.emulator.webhooks()[0]["text"],
        "contained b.jones@contoso.com"
    );
    // The password is never written to the audit trail.
    let password = b["passwordProfile"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!app.stanch(&["audit", "export"]).stdout.contains(&password));

    let list = app.stanch(&["actions", "list", "--json", "--status", "succeeded"]);
    let actions: Vec<Value> = serde_json::from_str(&list.stdout).unwrap();
    for kind in [
        "disable_inbox_rules",
        "block_legacy_auth",
        "disable_account",
        "block_ips",
    ] {
        let id = actions.iter().find(|a| a["kind"] == kind).unwrap()["pk"].to_string();
        let out = app.rollback(&id);
        assert_eq!(out.code, 0, "{kind}: {}", out.stderr);
    }
    let after = tenant.state();
    assert_eq!(after["inboxRules"], before["inboxRules"]);
    assert_eq!(after["groups"], before["groups"]);
    assert_eq!(after["namedLocations"], before["namedLocations"]);
    assert_eq!(
        after["conditionalAccessPolicies"],
        before["conditionalAccessPolicies"]
    );
    assert_eq!(tenant.user("b.jones@contoso.com")["accountEnabled"], true);
    let not_reversible = actions
        .iter()
        .find(|a| a["kind"] == "revoke_sessions")
        .unwrap()["pk"]
        .to_string();
    let refused = app.rollback(&not_reversible);
    assert!(
        refused.stderr.contains("cannot be undone"),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_demo_contains_the_story_against_the_in_process_emulator() {
    let app = TestApp::new();
    let out = app.stanch(&["demo"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("executed through Graph: 13 duplicate, 58 succeeded, 3 suppressed"),
        "{}",
        out.stdout
    );
    // The waves are out of every inbox the app may read (it.admin's is not), the benign message
    // stays, and exactly the attacker's persistence is gone.
    for line in [
        "message `Q3 invoices: files shared via Tresorit`: in 7 inbox(es) before, 1 after",
        "message `Site visit Friday: parking at the east entrance`: in 2 inbox(es) before, 2 after",
        "a.silva@contoso.com: sign-in methods 4 → 3; removed: microsoftAuthenticatorAuthenticationMethod SM-A515F",
        "app consents revoked: Mail Backup Pro",
        "still enabled for the rest of the tenant (disable_app waits for a person): Mail Backup Pro",
        "devices disabled: DESKTOP-7Q2K9RT",
    ] {
        assert!(out.stdout.contains(line), "no `{line}` in\n{}", out.stdout);
    }
    let line = |upn: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(upn) && l.contains("sign-in"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("b.jones@contoso.com").contains("sessions revoked")
            && line("b.jones@contoso.com").contains("rules disabled: `.`")
    );
    // The destructive step waited for the SOC: requested, the link opened without deciding,
    // approved on the page, then carried out.
    assert!(
        out.stdout.contains("action still awaiting_approval"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("approves on the page: approved"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("then stanch runs it: succeeded disable_account"),
        "{}",
        out.stdout
    );
    assert!(line("b.jones@contoso.com").contains("sign-in BLOCKED"));
    assert!(
        line("breakglass@contoso.com").contains("sessions untouched"),
        "{}",
        line("breakglass@contoso.com")
    );
    assert!(out.stdout.contains("hash chain intact"));
    let campaign = out
        .stdout
        .lines()
        .find(|l| l.starts_with("cmp-"))
        .unwrap_or_else(|| panic!("no campaign line in {}", out.stdout));
    assert!(
        campaign.contains("6 account(s)") && campaign.contains("confirmed 2021-06-01T09:41"),
        "{campaign}"
    );
    let passive = TestApp::new().stanch(&["demo", "--passive"]);
    assert_eq!(passive.code, 0, "{}", passive.stderr);
    assert!(
        passive
            .stdout
            .contains("nothing was sent to Microsoft Graph")
    );
}

/// A crash between an action's Graph write and the record of its outcome: on restart the action
/// is re-queued and run again, and its pre-check sees the effect already there, so Graph gets no
/// second write.
#[test]
fn an_action_interrupted_after_its_write_completes_without_writing_again() {
    use stanch::actions::{ActionRunner, GraphRunner, execute, planned_from_row};
    use stanch::config::ContainmentSettings;
    use stanch::graph::{Credential, GraphClient, GraphConfig, Secret};

    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    // Record the story's first detection for b.jones in active mode, without executing it.
    let config = app
        .write("passive-exec.yaml", "mode: active\n")
        .display()
        .to_string();
    let detection = r#"{"id":"crash-1","source":"darktrace","name":"SaaS / Compromise / Unusual Login and New Email Rule","severity":"high","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"b.jones@contoso.com"}}"#;
    let out = app.stanch_with_input(
        &["run", "--input", "-", "--config", &config],
        Some(detection),
    );
    assert!(out.stdout.contains("left pending"), "{}", out.stdout);

    app.runtime.block_on(async {
        let store = stanch::store::Store::open(&app.database_url())
            .await
            .unwrap();
        let mut graph = GraphConfig::new(TENANT, CLIENT, Credential::Secret(Secret::new(SECRET)));
        graph.graph_url = Some(tenant.running.url.clone());
        graph.login_url = Some(tenant.running.url.clone());
        let runner = GraphRunner::new(
            GraphClient::new(graph).unwrap(),
            store.clone(),
            ContainmentSettings::default(),
            Default::default(),
            vec![],
        );
        for kind in [
            "revoke_sessions",
            "disable_inbox_rules",
            "confirm_compromised",
        ] {
            let row = store
                .pending_actions(100)
                .await
                .unwrap()
                .into_iter()
                .find(|a| a.kind == kind)
                .unwrap();
            let action = planned_from_row(&row).unwrap();
            // The first attempt: claimed, carried out, and then the process "dies".
            store
                .claim_action(row.detection_seq, &row.idempotency_key)
                .await
                .unwrap();
            runner.run(&action).await.unwrap();
        }
        let writes_before = tenant.writes();
        // The restart: the dead process's leases are over.
        let me = store.replica().id.clone();
        store.lapse_leases_of(&me).await.unwrap();
        assert_eq!(store.recover_interrupted().await.unwrap(), 3);
        for row in store
            .pending_actions(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| {
                [
                    "revoke_sessions",
                    "disable_inbox_rules",
                    "confirm_compromised",
                ]
                .contains(&a.kind.as_str())
            })
        {
            let result = execute(
                &runner,
                &store,
                row.detection_seq,
                &planned_from_row(&row).unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(result.status, "succeeded", "{result:?}");
        }
        let log: Vec<String> = tenant
            .running
            .emulator
            .requests()
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect();
        assert_eq!(
            tenant.writes(),
            writes_before,
            "the resumed actions wrote to Graph again: {log:#?}"
        );
    });
}

/// The demo can be run again and again from the same directory: it starts from a fresh
/// database each time, and its audit anchor goes with the old one.
#[test]
fn the_demo_runs_twice_in_one_directory() {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = crate::harness::project_root().join("playbooks");
    std::fs::create_dir(dir.path().join("playbooks")).unwrap();
    for entry in std::fs::read_dir(playbooks).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.path().join("playbooks").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    for run in 1..=2 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stanch"))
            .current_dir(dir.path())
            .env_remove("STANCH_DATABASE_URL")
            .arg("demo")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
