//! The persistence actions (`remove_auth_methods`, `revoke_app_consent`, `disable_devices`)
//! against the emulator serving the story's tenant: a.silva holds an attacker's authenticator,
//! app consent and device (registered 2021-06-01) beside her own older ones.

use serde_json::{Value, json};
use stanch_core::engine::PlannedAction;
use stanch_core::vocab::ActionKind;

use super::tests::{Setup, planned, setup, setup_serving, story_tenant, trail};
use super::{ActionError, ActionRunner, Restore};

const SILVA: &str = "a.silva@contoso.com";
const ATTACKER_AUTHENTICATOR: &str = "6f1c2d3e-4a5b-4c6d-8e7f-a1b2c3d4e5ee";
const OWN_AUTHENTICATOR: &str = "6f1c2d3e-4a5b-4c6d-8e7f-a1b2c3d4e501";
const OWN_PHONE: &str = "3179e48a-750b-4051-897c-87b9720928f7";
const ATTACKER_APP: &str = "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c66";
const ATTACKER_DEVICE: &str = "d3a1b2c4-5e6f-4a7b-8c9d-0e1f2a3b4c66";
const OWN_DEVICE: &str = "d3a1b2c4-5e6f-4a7b-8c9d-0e1f2a3b4c01";
/// The story's campaign window start: a.silva's first sighting minus the 72 h grouping window.
const WINDOW_START: &str = "2021-05-29T06:12:00Z";

fn step(kind: ActionKind, params: Value) -> PlannedAction {
    let mut action = planned(kind, SILVA);
    action.params = params.as_object().cloned().unwrap_or_default();
    action
        .params
        .entry("registered_after")
        .or_insert(json!(WINDOW_START));
    action
}

fn ids(list: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str())
        .collect();
    ids.sort();
    ids
}

fn state(s: &Setup) -> Value {
    s.emulator.emulator.state()
}

fn methods(s: &Setup) -> Vec<String> {
    ids(&state(s)["authenticationMethods"][SILVA])
        .into_iter()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn only_the_method_registered_in_the_window_is_removed_and_a_rerun_finds_nothing() {
    let s = setup().await;
    let action = step(ActionKind::RemoveAuthMethods, json!({}));
    let execution = s.runner.run(&action).await.unwrap();
    assert_eq!(ids(&execution.outcome["removed"]), [ATTACKER_AUTHENTICATOR]);
    let left = methods(&s);
    assert!(
        !left.iter().any(|id| id == ATTACKER_AUTHENTICATOR),
        "{left:?}"
    );
    for own in [OWN_AUTHENTICATOR, OWN_PHONE] {
        assert!(
            left.iter().any(|id| id == own),
            "{own} must survive: {left:?}"
        );
    }
    // The phone has no registration time in Graph: kept, and named for a person.
    assert_eq!(ids(&execution.outcome["undated_kept"]), [OWN_PHONE]);
    let deletes: Vec<String> = s
        .emulator
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        deletes,
        [format!(
            "/v1.0/users/{SILVA}/authentication/microsoftAuthenticatorMethods/{ATTACKER_AUTHENTICATOR}"
        )]
    );

    let again = s.runner.run(&action).await.unwrap();
    assert_eq!(again.outcome["removed"], json!([]), "{again:?}");
    assert!(again.restore.is_none());

    let restore = execution.restore.expect("what was removed is recorded");
    assert_eq!(ids(&restore.0["removed"]), [ATTACKER_AUTHENTICATOR]);
    let err = s.runner.rollback(&action, &restore).await.unwrap_err();
    assert!(err.to_string().contains("cannot be rolled back"), "{err}");
    assert!(
        s.store.verify_audit().await.unwrap().is_intact(),
        "the trail verifies"
    );
}

/// `remove_auth_methods` on `tenant` waits for a person, saying `why`, and the attacker's
/// method is still registered.
async fn waits_for_a_person(tenant: crate::emulate::Fixture, why: &str) -> Setup {
    let s = setup_serving(tenant, "").await;
    let err = s
        .runner
        .run(&step(ActionKind::RemoveAuthMethods, json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::NeedsHuman { reason, .. } if reason.contains(why)),
        "{err}"
    );
    assert!(methods(&s).iter().any(|id| id == ATTACKER_AUTHENTICATOR));
    s
}

#[tokio::test]
async fn the_last_method_is_never_removed_without_a_person() {
    let mut tenant = story_tenant();
    tenant
        .authentication_methods
        .get_mut(SILVA)
        .unwrap()
        .retain(|m| {
            m["id"] == ATTACKER_AUTHENTICATOR
                || m["@odata.type"] == "#microsoft.graph.passwordAuthenticationMethod"
        });
    waits_for_a_person(tenant, "no sign-in method").await;
}

#[tokio::test]
async fn the_default_method_goes_to_a_person_and_other_filters_are_honoured() {
    let mut tenant = story_tenant();
    tenant
        .default_authentication_methods
        .insert(SILVA.into(), ATTACKER_AUTHENTICATOR.into());
    let s = waits_for_a_person(tenant, "default sign-in method").await;

    // A type filter leaves the attacker's authenticator alone; undated needs a type.
    let fido_only = step(
        ActionKind::RemoveAuthMethods,
        json!({"method_types": ["fido2"]}),
    );
    let execution = s.runner.run(&fido_only).await.unwrap();
    assert_eq!(execution.outcome["removed"], json!([]));
    let undated = step(
        ActionKind::RemoveAuthMethods,
        json!({"include_undated": true}),
    );
    let err = s.runner.run(&undated).await.unwrap_err();
    assert!(err.to_string().contains("needs `method_types`"), "{err}");
    assert_eq!(methods(&s).len(), 4);
}

#[tokio::test]
async fn the_consent_dated_by_its_assignment_is_revoked_and_rollback_grants_it_again() {
    let s = setup().await;
    let action = step(ActionKind::RevokeAppConsent, json!({}));
    let before = state(&s);
    let execution = s.runner.run(&action).await.unwrap();
    let revoked = &execution.outcome["revoked_grants"];
    assert_eq!(revoked.as_array().map(Vec::len), Some(1), "{execution:?}");
    assert_eq!(revoked[0]["clientId"], ATTACKER_APP);
    assert_eq!(revoked[0]["app"], "Mail Backup Pro");
    assert_eq!(
        execution.outcome["revoked_assignments"][0]["resourceId"],
        ATTACKER_APP
    );
    let after = state(&s);
    let clients = |state: &Value| -> Vec<String> {
        let mut c: Vec<String> = state["oauth2PermissionGrants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| format!("{} {}", g["clientId"], g["consentType"]))
            .collect();
        c.sort();
        c
    };
    assert_eq!(clients(&before).len(), 3);
    assert_eq!(clients(&after).len(), 2, "the legitimate grants stay");
    assert!(!clients(&after).iter().any(|c| c.contains(ATTACKER_APP)));
    assert_eq!(after["appRoleAssignments"].as_array().unwrap().len(), 1);

    let again = s.runner.run(&action).await.unwrap();
    assert_eq!(again.outcome["revoked_grants"], json!([]));
    assert_eq!(again.outcome["revoked_assignments"], json!([]));

    let restore = execution.restore.unwrap();
    assert_eq!(
        restore.0["grants"][0],
        json!({"clientId": ATTACKER_APP, "consentType": "Principal", "principalId": "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0001", "resourceId": "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c01", "scope": "Mail.ReadWrite Mail.Send Files.Read.All offline_access"})
    );
    s.runner.rollback(&action, &restore).await.unwrap();
    // Twice is once: what is back already is not granted again.
    s.runner.rollback(&action, &restore).await.unwrap();
    let restored = state(&s);
    assert_eq!(clients(&restored), clients(&before));
    let grant = restored["oauth2PermissionGrants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["clientId"] == ATTACKER_APP)
        .unwrap();
    assert_ne!(
        grant["id"], revoked[0]["id"],
        "a grant comes back with a new id"
    );
    assert_eq!(restored["appRoleAssignments"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_named_app_is_revoked_whatever_the_window() {
    let s = setup().await;
    let action = step(
        ActionKind::RevokeAppConsent,
        json!({"apps": ["mail backup pro"], "registered_after": "2030-01-01T00:00:00Z"}),
    );
    let execution = s.runner.run(&action).await.unwrap();
    assert_eq!(
        execution.outcome["revoked_grants"][0]["clientId"],
        ATTACKER_APP
    );
    assert_eq!(
        execution.outcome["revoked_assignments"][0]["resourceId"],
        ATTACKER_APP
    );
    let kept = &execution.outcome["kept_grants"];
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "{kept}");
}

#[tokio::test]
async fn the_device_registered_in_the_window_is_disabled_and_rollback_enables_it() {
    let s = setup().await;
    let action = step(ActionKind::DisableDevices, json!({}));
    let enabled = |s: &Setup, id: &str| {
        state(s)["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .unwrap()["accountEnabled"]
            .clone()
    };
    let execution = s.runner.run(&action).await.unwrap();
    assert_eq!(ids(&execution.outcome["disabled"]), [ATTACKER_DEVICE]);
    assert_eq!(enabled(&s, ATTACKER_DEVICE), false);
    assert_eq!(enabled(&s, OWN_DEVICE), true);

    let again = s.runner.run(&action).await.unwrap();
    assert_eq!(again.outcome["disabled"], json!([]));
    assert_eq!(ids(&again.outcome["already_disabled"]), [ATTACKER_DEVICE]);
    // The second run disabled nothing, so its rollback would enable nothing.
    assert_eq!(again.restore, Some(Restore(json!({"reenable": []}))));

    s.runner
        .rollback(&action, &execution.restore.unwrap())
        .await
        .unwrap();
    assert_eq!(enabled(&s, ATTACKER_DEVICE), true);
    assert_eq!(enabled(&s, OWN_DEVICE), true);
}

#[tokio::test]
async fn a_temporary_access_pass_goes_only_to_the_pass_channel_and_never_to_the_trail() {
    let s = setup().await;
    let nowhere = step(
        ActionKind::RemoveAuthMethods,
        json!({"temporary_access_pass": true, "pass_channel": "mailbox"}),
    );
    let err = s.runner.run(&nowhere).await.unwrap_err();
    assert!(err.to_string().contains("nothing was removed"), "{err}");
    assert_eq!(methods(&s).len(), 4);

    let action = step(
        ActionKind::RemoveAuthMethods,
        json!({"temporary_access_pass": true, "pass_channel": "helpdesk"}),
    );
    let execution = s.runner.run(&action).await.unwrap();
    let pass = &execution.outcome["temporary_access_pass"];
    assert_eq!(pass["issued"], true, "{pass}");
    assert_eq!(pass["pass"], "[redacted]");
    let sent = s.emulator.emulator.webhooks();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = sent[0]["text"].as_str().unwrap();
    let secret = text
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    assert!(secret.len() >= 8 && secret != "[redacted]", "{text}");
    let stored = state(&s)["authenticationMethods"][SILVA].to_string();
    assert!(stored.contains("temporaryAccessPassAuthenticationMethod"));
    assert!(!stored.contains(secret), "Graph shows the pass once");
    let trail = trail(&s).await;
    assert!(
        trail.iter().all(|(_, payload)| !payload.contains(secret)),
        "the pass reached the audit trail"
    );
    assert!(
        trail
            .iter()
            .any(|(kind, p)| kind == "notify.request" && p.contains("[redacted]"))
    );
    assert!(!serde_json::to_string(&execution).unwrap().contains(secret));

    // A second run finds the attacker's method gone and the pass held: nothing more is sent.
    let again = s.runner.run(&action).await.unwrap();
    assert_eq!(again.outcome["temporary_access_pass"]["issued"], false);
    assert_eq!(s.emulator.emulator.webhooks().len(), 1);
}
