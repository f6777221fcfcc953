//! Authentication methods, consents and devices: a.silva's story data and Graph's rules.

use reqwest::Method;
use serde_json::{Value, json};

use super::{A, Harness};

const ATTACKER_AUTHENTICATOR: &str = "6f1c2d3e-4a5b-4c6d-8e7f-a1b2c3d4e5ee";
const OWN_AUTHENTICATOR: &str = "6f1c2d3e-4a5b-4c6d-8e7f-a1b2c3d4e501";
const OWN_PHONE: &str = "3179e48a-750b-4051-897c-87b9720928f7";
const PASSWORD: &str = "28c10230-6103-485e-b985-444c60001490";
const GRAPH_APP: &str = "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c01";
const ATTACKER_APP: &str = "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c66";
const ATTACKER_DEVICE: &str = "d3a1b2c4-5e6f-4a7b-8c9d-0e1f2a3b4c66";

fn count(body: &Value) -> usize {
    body["value"].as_array().map(Vec::len).unwrap_or(0)
}

#[tokio::test]
async fn methods_list_delete_and_the_default_method_rule() {
    let h = Harness::start().await;
    let methods = format!("/users/{A}/authentication");
    let (status, body, _) = h
        .call(Method::GET, &format!("{methods}/methods"), None)
        .await;
    assert_eq!((status, count(&body)), (200, 4), "{body}");
    let (_, authenticators, _) = h
        .call(
            Method::GET,
            &format!("{methods}/microsoftAuthenticatorMethods"),
            None,
        )
        .await;
    assert_eq!(count(&authenticators), 2);
    let (status, ..) = h
        .call(
            Method::DELETE,
            &format!("{methods}/passwordMethods/{PASSWORD}"),
            None,
        )
        .await;
    assert_eq!(status, 405, "a password is never deleted");
    // The phone is the default: refused while other methods remain.
    let (status, body, _) = h
        .call(
            Method::DELETE,
            &format!("{methods}/phoneMethods/{OWN_PHONE}"),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("default method")
    );
    for id in [ATTACKER_AUTHENTICATOR, OWN_AUTHENTICATOR] {
        let path = format!("{methods}/microsoftAuthenticatorMethods/{id}");
        let (status, body, _) = h.call(Method::DELETE, &path, None).await;
        assert_eq!((status, body), (204, Value::Null));
        let (status, ..) = h.call(Method::DELETE, &path, None).await;
        assert_eq!(status, 404, "gone is gone");
    }
    // The wrong collection does not find a method of another type.
    let (status, ..) = h
        .call(
            Method::DELETE,
            &format!("{methods}/fido2Methods/{OWN_PHONE}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, ..) = h
        .call(
            Method::DELETE,
            &format!("{methods}/phoneMethods/{OWN_PHONE}"),
            None,
        )
        .await;
    assert_eq!(status, 204, "the default goes once it is the last");
}

#[tokio::test]
async fn a_temporary_access_pass_is_shown_once() {
    let h = Harness::start().await;
    let path = format!("/users/{A}/authentication/temporaryAccessPassMethods");
    let (status, ..) = h
        .call(Method::POST, &path, Some(json!({"lifetimeInMinutes": 5})))
        .await;
    assert_eq!(status, 400, "at least 10 minutes");
    let (status, created, _) = h
        .call(
            Method::POST,
            &path,
            Some(json!({"lifetimeInMinutes": 60, "isUsableOnce": true})),
        )
        .await;
    assert_eq!(status, 201);
    assert!(created["temporaryAccessPass"].as_str().unwrap().len() >= 8);
    let (_, listed, _) = h.call(Method::GET, &path, None).await;
    assert_eq!(listed["value"][0]["id"], created["id"]);
    assert_eq!(listed["value"][0]["temporaryAccessPass"], Value::Null);
    let (status, ..) = h.call(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(status, 400, "one pass at a time");
}

#[tokio::test]
async fn grants_and_assignments_are_revoked_and_granted_again_with_new_ids() {
    let h = Harness::start().await;
    let (_, grants, _) = h
        .call(
            Method::GET,
            &format!("/users/{A}/oauth2PermissionGrants"),
            None,
        )
        .await;
    assert_eq!(
        count(&grants),
        2,
        "AllPrincipals grants are not the user's: {grants}"
    );
    let attacker = grants["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["clientId"] == ATTACKER_APP)
        .unwrap()
        .clone();
    let grant_path = format!(
        "/oauth2PermissionGrants/{}",
        attacker["id"].as_str().unwrap()
    );
    let (status, ..) = h.call(Method::DELETE, &grant_path, None).await;
    assert_eq!(status, 204);
    let (status, ..) = h.call(Method::DELETE, &grant_path, None).await;
    assert_eq!(status, 404);
    let again = json!({"clientId": ATTACKER_APP, "consentType": "Principal", "principalId": A, "resourceId": GRAPH_APP, "scope": attacker["scope"]});
    let (status, created, _) = h
        .call(Method::POST, "/oauth2PermissionGrants", Some(again.clone()))
        .await;
    assert_eq!(status, 201);
    assert_ne!(created["id"], attacker["id"]);
    let (status, body, _) = h
        .call(Method::POST, "/oauth2PermissionGrants", Some(again))
        .await;
    assert_eq!(status, 409, "{body}");

    let assignments = format!("/users/{A}/appRoleAssignments");
    let (_, listed, _) = h
        .call(
            Method::GET,
            &format!("{assignments}?$select=id,resourceId"),
            None,
        )
        .await;
    assert_eq!(count(&listed), 2);
    assert!(
        listed["value"][0].get("createdDateTime").is_none(),
        "$select applies"
    );
    let role = json!({"principalId": A, "resourceId": ATTACKER_APP, "appRoleId": "00000000-0000-0000-0000-000000000000"});
    let (status, ..) = h.call(Method::POST, &assignments, Some(role.clone())).await;
    assert_eq!(status, 400, "the assignment exists already");
    let (status, app, _) = h
        .call(
            Method::GET,
            &format!("/servicePrincipals/{ATTACKER_APP}?$select=appId,displayName"),
            None,
        )
        .await;
    assert_eq!(
        (status, app["displayName"].clone()),
        (200, json!("Mail Backup Pro"))
    );
}

#[tokio::test]
async fn registered_devices_are_read_and_disabled_with_a_204() {
    let h = Harness::start().await;
    let (status, devices, _) = h
        .call(
            Method::GET,
            &format!("/users/{A}/registeredDevices?$select=id,registrationDateTime"),
            None,
        )
        .await;
    assert_eq!((status, count(&devices)), (200, 2));
    assert_eq!(
        devices["value"][1]["@odata.type"],
        "#microsoft.graph.device"
    );
    assert!(devices["value"][1].get("displayName").is_none());
    let path = format!("/devices/{ATTACKER_DEVICE}");
    let (status, ..) = h
        .call(Method::PATCH, &path, Some(json!({"accountEnabled": "no"})))
        .await;
    assert_eq!(status, 400);
    let (status, body, _) = h
        .call(Method::PATCH, &path, Some(json!({"accountEnabled": false})))
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let (_, device, _) = h.call(Method::GET, &path, None).await;
    assert_eq!(device["accountEnabled"], false);
    let (status, ..) = h
        .call(
            Method::GET,
            "/devices/00000000-0000-0000-0000-000000000000",
            None,
        )
        .await;
    assert_eq!(status, 404);
}
