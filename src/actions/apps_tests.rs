//! `disable_app` against the emulator serving the story's tenant: the attacker's "Mail Backup
//! Pro" is disabled and enabled again; Microsoft's own apps, stanch's own and configured ones
//! are refused before anything is sent.

use std::sync::Arc;

use serde_json::{Value, json};
use stanch_core::engine::PlannedAction;
use stanch_core::rails::SafetySettings;
use stanch_core::vocab::ActionKind;

use super::safety::Safety;
use super::tests::{Setup, planned, setup, setup_serving, story_tenant};
use super::{ActionError, ActionRunner};

const ATTACKER_APP: &str = "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c66";
const ATTACKER_APP_ID: &str = "b9d4e8f1-2c3a-4e5b-8d6f-7a0b1c2d3e66";
const MICROSOFT_GRAPH: &str = "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c01";
const EXPENSES: &str = "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c02";

fn disable(app: &str) -> PlannedAction {
    let mut action = planned(ActionKind::DisableApp, "");
    action.target = None;
    action.params = json!({"app": app}).as_object().cloned().unwrap();
    action
}

fn enabled(s: &Setup, id: &str) -> Value {
    s.emulator.emulator.state()["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| sp["id"] == id)
        .unwrap()["accountEnabled"]
        .clone()
}

fn writes(s: &Setup) -> usize {
    (s.emulator.emulator.requests().iter())
        .filter(|r| r.method != "GET" && r.path.contains("servicePrincipals"))
        .count()
}

#[tokio::test]
async fn the_attackers_app_is_disabled_for_the_tenant_and_rollback_enables_it() {
    let s = setup().await;
    let action = disable(ATTACKER_APP);
    let execution = s.runner.run(&action).await.unwrap();
    assert_eq!(execution.outcome["disabled"], true, "{execution:?}");
    assert_eq!(execution.outcome["app"]["displayName"], "Mail Backup Pro");
    assert_eq!(enabled(&s, ATTACKER_APP), false);
    assert_eq!(enabled(&s, EXPENSES), true, "no other app is touched");

    // Disabled already: nothing is sent, and nothing is ours to enable on rollback.
    let again = s.runner.run(&action).await.unwrap();
    assert_eq!(again.outcome["already_disabled"], true);
    assert!(again.restore.is_none());
    assert_eq!(writes(&s), 1);

    s.runner
        .rollback(&action, &execution.restore.unwrap())
        .await
        .unwrap();
    assert_eq!(enabled(&s, ATTACKER_APP), true);
}

#[tokio::test]
async fn an_app_named_by_its_app_id_is_found_through_its_service_principal() {
    let s = setup().await;
    let execution = s.runner.run(&disable(ATTACKER_APP_ID)).await.unwrap();
    assert_eq!(execution.outcome["app"]["id"], ATTACKER_APP);
    assert_eq!(enabled(&s, ATTACKER_APP), false);
}

fn refused(result: Result<super::Execution, ActionError>) -> String {
    match result {
        Err(e @ ActionError::Refused { .. }) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn microsofts_own_app_and_stanchs_own_are_refused_before_anything_is_sent() {
    let mut tenant = story_tenant();
    // stanch's own app registration, as the tenant lists it.
    tenant.service_principals.push(json!({
        "id": "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c99",
        "appId": "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51",
        "displayName": "stanch",
        "accountEnabled": true,
        "appOwnerOrganizationId": "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d",
    }));
    let s = setup_serving(tenant, "").await;
    let why = refused(s.runner.run(&disable(MICROSOFT_GRAPH)).await);
    assert!(why.contains("Microsoft's first-party"), "{why}");
    let why = refused(
        s.runner
            .run(&disable("7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c99"))
            .await,
    );
    assert!(why.contains("stanch's own app registration"), "{why}");
    assert_eq!(writes(&s), 0, "nothing was sent");
    assert_eq!(enabled(&s, MICROSOFT_GRAPH), true);
}

#[tokio::test]
async fn an_app_listed_in_never_disable_apps_is_refused() {
    let s = setup().await;
    let settings = SafetySettings {
        never_disable_apps: vec!["contoso expenses".into()],
        ..SafetySettings::default()
    };
    let runner =
        s.runner
            .clone()
            .with_safety(Arc::new(Safety::new(settings, vec![], vec![], vec![])));
    let why = refused(runner.run(&disable(EXPENSES)).await);
    assert!(why.contains("safety.never_disable_apps"), "{why}");
    assert_eq!(enabled(&s, EXPENSES), true);
}

#[tokio::test]
async fn an_app_that_is_not_a_guid_or_not_in_the_tenant_fails_with_a_reason() {
    let s = setup().await;
    let err = s.runner.run(&disable("Mail Backup Pro")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("must be the service principal's object id"),
        "{err}"
    );
    let err = s
        .runner
        .run(&disable("00000000-1111-2222-3333-444444444444"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no service principal"), "{err}");
}
