//! The attacker's persistence on a.silva (an authenticator, an app consent, a device, all
//! registered on 2021-06-01 beside her own older ones) removed in active mode by the real
//! binary against the emulator, and rolled back where Graph allows.

use serde_json::Value;

use crate::harness::{TestApp, wait_until};

const PLAYBOOK: &str = r#"version: 1
id: remove-persistence
match: { name: "Test / Persistence" }
steps:
  - { id: methods, action: remove_auth_methods, with: { temporary_access_pass: true, pass_channel: default } }
  - { id: consents, action: revoke_app_consent }
  - { id: devices, action: disable_devices }
tests: []
"#;

const DETECTION: &str = r#"{"id":"per-1","source":"darktrace","name":"Test / Persistence","severity":"high","observed_at":"2021-06-01T07:05:00Z","user":{"upn":"a.silva@contoso.com","id":"0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0001"},"ip":"198.51.100.23","asn":37100}"#;

const SILVA: &str = "a.silva@contoso.com";
const ATTACKER_AUTHENTICATOR: &str = "6f1c2d3e-4a5b-4c6d-8e7f-a1b2c3d4e5ee";
const ATTACKER_APP: &str = "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c66";
const ATTACKER_DEVICE: &str = "d3a1b2c4-5e6f-4a7b-8c9d-0e1f2a3b4c66";

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn without(mut list: Vec<String>, gone: &str) -> Vec<String> {
    list.retain(|id| id != gone);
    list
}

/// Each grant as `client consentType scope`: ids change when a grant is given again.
fn grants(state: &Value) -> Vec<String> {
    let mut grants: Vec<String> = state["oauth2PermissionGrants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| format!("{} {} {}", g["clientId"], g["consentType"], g["scope"]))
        .collect();
    grants.sort();
    grants
}

fn enabled_devices(state: &Value) -> Vec<String> {
    let mut on: Vec<String> = state["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["accountEnabled"] == true)
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    on.sort();
    on
}

#[test]
fn exactly_the_attackers_method_consent_and_device_go_and_rollback_restores_what_it_can() {
    let app = TestApp::builder()
        .tenant()
        .playbook("persistence.yaml", PLAYBOOK)
        .build();
    let tenant = app.tenant();
    let before = tenant.state();
    let out = app.run_input(DETECTION);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for kind in [
        "remove_auth_methods",
        "revoke_app_consent",
        "disable_devices",
    ] {
        assert!(
            out.stdout.contains(&format!("succeeded {kind}")),
            "{kind}: {}",
            out.stdout
        );
    }

    let after = tenant.state();
    let methods_after = &after["authenticationMethods"][SILVA];
    let pass = "#microsoft.graph.temporaryAccessPassAuthenticationMethod";
    let passes: Vec<&Value> = methods_after
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["@odata.type"] == pass)
        .collect();
    assert_eq!(passes.len(), 1, "one pass issued: {methods_after}");
    let own_methods = without(ids(methods_after), passes[0]["id"].as_str().unwrap());
    assert_eq!(
        own_methods,
        without(
            ids(&before["authenticationMethods"][SILVA]),
            ATTACKER_AUTHENTICATOR
        ),
        "only the attacker's authenticator is removed"
    );
    let mut kept_grants = grants(&before);
    kept_grants.retain(|g| !g.contains(ATTACKER_APP));
    assert_eq!(grants(&before).len(), 3);
    assert_eq!(
        grants(&after),
        kept_grants,
        "only the attacker's grant goes"
    );
    assert_eq!(
        ids(&after["appRoleAssignments"]),
        ids(&before["appRoleAssignments"])
            .into_iter()
            .filter(|id| id != "cm9sZS1hdHRhY2tlci1hc2lsdmE")
            .collect::<Vec<_>>()
    );
    assert_eq!(
        enabled_devices(&after),
        without(enabled_devices(&before), ATTACKER_DEVICE),
        "only the attacker's device is disabled"
    );
    assert!(
        tenant
            .writes()
            .iter()
            .all(|w| !w.contains("00bb") && !w.contains("breakglass")),
        "{:?}",
        tenant.writes()
    );
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);

    // The Temporary Access Pass went to the channel alone: not to the trail, not to the store.
    let sent = tenant.running.emulator.webhooks();
    let text = sent
        .iter()
        .filter_map(|m| m["text"].as_str())
        .find(|t| t.starts_with("Temporary Access Pass for"))
        .unwrap_or_else(|| panic!("no pass delivered: {sent:?}"));
    let secret = text.split(": ").nth(1).unwrap().split(' ').next().unwrap();
    assert!(secret.len() >= 8 && secret != "[redacted]", "{text}");
    let export = app.stanch(&["audit", "export"]).stdout;
    assert!(!export.contains(secret), "the pass reached the audit trail");
    assert!(export.contains("[redacted]"));
    let listed = app.stanch(&["actions", "list", "--json"]).stdout;
    assert!(
        !listed.contains(secret),
        "the pass reached the stored outcome"
    );

    let trail = app.audit_trail();
    let deletes = trail
        .iter()
        .filter(|(kind, p)| kind == "graph.request" && p["method"] == "DELETE")
        .count();
    assert_eq!(
        deletes, 3,
        "one audited DELETE per method, grant, assignment"
    );

    // The same detection again acts on nothing twice.
    let writes = tenant.writes().len();
    let again = app.run_input(DETECTION);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(tenant.writes().len(), writes, "{:?}", tenant.writes());

    let actions = app.actions();
    let pk = |kind: &str| {
        actions
            .iter()
            .find(|a| a["kind"] == kind && a["status"] == "succeeded")
            .unwrap_or_else(|| panic!("no succeeded {kind}: {actions:#?}"))["pk"]
            .to_string()
    };
    let removed = app.rollback(&pk("remove_auth_methods"));
    assert_ne!(removed.code, 0, "a removed method cannot come back");
    assert!(
        removed.stderr.contains("cannot be rolled back"),
        "{}",
        removed.stderr
    );
    for kind in ["revoke_app_consent", "disable_devices"] {
        let rolled = app.rollback(&pk(kind));
        assert_eq!(
            rolled.code, 0,
            "{kind}: {}\n{}",
            rolled.stdout, rolled.stderr
        );
    }
    let restored = tenant.state();
    assert_eq!(
        grants(&restored),
        grants(&before),
        "the grant is given again"
    );
    assert_eq!(restored["appRoleAssignments"].as_array().unwrap().len(), 2);
    assert_eq!(enabled_devices(&restored), enabled_devices(&before));
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);
}

/// The consent revoked from a.silva names the attacker's app; the shipped `consented-app`
/// playbook asks a person before disabling it for the whole tenant, and a rollback enables it.
#[test]
fn the_app_whose_consent_was_revoked_is_disabled_tenant_wide_only_once_a_person_approves() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .playbook("persistence.yaml", PLAYBOOK)
        .playbook(
            "consented-app.yaml",
            include_str!("../../playbooks/consented-app.yaml"),
        )
        .serve()
        .build();
    let tenant = app.tenant();
    let sp_enabled = |id: &str| {
        tenant.state()["servicePrincipals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|sp| sp["id"] == id)
            .unwrap()["accountEnabled"]
            .clone()
    };
    let (status, body) = app.post_detections(format!("{DETECTION}\n"));
    assert_eq!(status, 202, "{body}");
    let disable_app = || {
        app.actions()
            .into_iter()
            .find(|a| a["kind"] == "disable_app")
    };
    wait_until(30, "disabling the app waits for a person", || {
        disable_app().is_some_and(|a| a["status"] == "awaiting_approval")
    });
    let action = disable_app().unwrap();
    assert_eq!(action["params"]["app"], ATTACKER_APP, "{action}");
    assert_eq!(
        sp_enabled(ATTACKER_APP),
        true,
        "nothing before the approval"
    );
    let approvals = app.approvals();
    assert_eq!(
        approvals
            .iter()
            .filter(|a| a["action"] == "disable_app")
            .count(),
        1,
        "one request for the app: {approvals:#?}"
    );

    let pk = action["pk"].to_string();
    let approved = app.decide(
        "approve",
        &pk,
        "f.okafor@contoso.com",
        "Mail Backup Pro is the attacker's",
    );
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    wait_until(30, "the approved disable runs", || {
        disable_app().is_some_and(|a| a["status"] == "succeeded")
    });
    assert_eq!(sp_enabled(ATTACKER_APP), false);
    for other in [
        "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c01",
        "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c02",
    ] {
        assert_eq!(sp_enabled(other), true, "{other} is not the attacker's");
    }
    let rolled = app.stanch(&[
        "actions",
        "rollback",
        &pk,
        "--as",
        "ops@contoso.com",
        "--reason",
        "false positive",
    ]);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    assert_eq!(sp_enabled(ATTACKER_APP), true);
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);
}
