//! Users, rules, groups, Conditional Access, Identity Protection and sign-ins.

use reqwest::Method;
use serde_json::{Value, json};

use super::{A, B, BREAKGLASS, Harness, PRIV_CLIENT, PRIV_SECRET, QUARANTINE};

#[tokio::test]
async fn revoke_answers_the_200_quirk_and_guards_admins() {
    let h = Harness::start().await;
    let (status, body, _) = h
        .call(
            Method::POST,
            "/users/b.jones@contoso.com/revokeSignInSessions",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean","value":true})
    );
    let user = &h.emu.emulator.state()["users"][1];
    assert!(user["signInSessionsValidFromDateTime"].as_str().unwrap() > "2021-06-04");
    let (status, body, _) = h
        .call(
            Method::POST,
            &format!("/users/{BREAKGLASS}/revokeSignInSessions"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
}

#[tokio::test]
async fn user_patch_disable_reset_and_privilege() {
    let h = Harness::start().await;
    let (status, body, _) = h
        .call(
            Method::PATCH,
            "/users('B.Jones@contoso.com')",
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, body, _) = h.call(Method::GET, &format!("/users/{B}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["accountEnabled"], false);
    assert!(body.get("passwordProfile").is_none() && body.get("privileged").is_none());

    let weak =
        json!({"passwordProfile": {"password": "password", "forceChangePasswordNextSignIn": true}});
    let (status, body, _) = h
        .call(Method::PATCH, &format!("/users/{B}"), Some(weak))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    let strong = json!({"passwordProfile": {"password": "Zq7!vN3#pL9$wR2x", "forceChangePasswordNextSignIn": true}});
    let (status, ..) = h
        .call(Method::PATCH, &format!("/users/{B}"), Some(strong.clone()))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        h.emu.emulator.state()["users"][1]["passwordProfile"]["forceChangePasswordNextSignIn"],
        true
    );

    let (status, body, _) = h
        .call(
            Method::PATCH,
            "/users/breakglass@contoso.com",
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    // Non-sensitive attributes of an admin stay writable.
    let (status, ..) = h
        .call(
            Method::PATCH,
            &format!("/users/{BREAKGLASS}"),
            Some(json!({"jobTitle": "x"})),
        )
        .await;
    assert_eq!(status, 204);

    let privileged = Harness::start_as(PRIV_CLIENT, PRIV_SECRET).await;
    let (status, ..) = privileged
        .call(Method::PATCH, &format!("/users/{BREAKGLASS}"), Some(strong))
        .await;
    assert_eq!(status, 204);

    let (status, body, _) = h.call(Method::GET, "/users/nobody@contoso.com", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
}

#[tokio::test]
async fn bodies_are_validated_strictly() {
    let h = Harness::start().await;
    let url = format!("{}/v1.0/users/{A}", h.emu.url);
    let plain = h
        .http
        .patch(&url)
        .bearer_auth(&h.token)
        .header("content-type", "text/plain")
        .body(r#"{"accountEnabled":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    let broken = h
        .http
        .patch(&url)
        .bearer_auth(&h.token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    let body: Value = broken.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    let (status, body, _) = h.call(Method::GET, "/nonsense/path", None).await;
    assert_eq!(status, 404);
    assert!(body["error"]["innerError"]["date"].is_string());
}

#[tokio::test]
async fn inbox_rules_list_patch_delete_and_read_only() {
    let h = Harness::start().await;
    let base = "/users/b.jones@contoso.com/mailFolders/inbox/messageRules";
    let (status, body, _) = h.call(Method::GET, base, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["value"][0]["actions"]["forwardTo"][0]["emailAddress"]["address"],
        "drop@evil.example"
    );

    let (status, body, _) = h
        .call(
            Method::PATCH,
            &format!("{base}/AQAAAJ5dZqA%3D"),
            Some(json!({"isEnabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["isEnabled"], false);
    assert_eq!(body["displayName"], ".");
    assert!(body["actions"]["delete"].as_bool().unwrap());
    let (status, ..) = h
        .call(Method::DELETE, &format!("{base}/AQAAAJ5dZqA%3D"), None)
        .await;
    assert_eq!(status, 204);
    let (status, body, _) = h
        .call(Method::DELETE, &format!("{base}/AQAAAJ5dZqA%3D"), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("ErrorItemNotFound"))
    );

    // Ids with `/` and `+` survive percent-encoding.
    let (status, body, _) = h
        .call(
            Method::PATCH,
            "/users/d.patel@contoso.com/mailFolders/inbox/messageRules/AQAAAJ7xQ%2F1%2B",
            Some(json!({"isEnabled": false})),
        )
        .await;
    assert_eq!((status, body["displayName"].as_str()), (200, Some("..")));

    let (status, body, _) = h
        .call(
            Method::PATCH,
            "/users/e.novak@contoso.com/mailFolders/inbox/messageRules/AQAAAJ8NoR%3D",
            Some(json!({"isEnabled": false})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("ErrorAccessDenied"))
    );
    let (status, body, _) = h
        .call(
            Method::GET,
            "/users/h.room@contoso.com/mailFolders/inbox/messageRules",
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("MailboxNotEnabledForRESTAPI"))
    );
    // The benign rule was never touched.
    let (_, body, _) = h.call(Method::GET, base, None).await;
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["isEnabled"], true);
}

#[tokio::test]
async fn quarantine_group_membership() {
    let h = Harness::start().await;
    let add =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{A}")});
    let path = format!("/groups/{QUARANTINE}/members/$ref");
    let (status, ..) = h.call(Method::POST, &path, Some(add.clone())).await;
    assert_eq!(status, 204);
    let (status, body, _) = h.call(Method::POST, &path, Some(add)).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    let (_, body, _) = h
        .call(Method::GET, &format!("/groups/{QUARANTINE}/members"), None)
        .await;
    assert_eq!(body["value"][0]["id"], A);
    let (status, ..) = h
        .call(
            Method::DELETE,
            &format!("/groups/{QUARANTINE}/members/{A}/$ref"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body, _) = h.call(Method::POST, "/groups", Some(json!({"displayName": "IR 2", "mailEnabled": false, "mailNickname": "ir2", "securityEnabled": true}))).await;
    assert_eq!(status, 201);
    assert!(body["id"].is_string());
}

#[tokio::test]
async fn conditional_access_policy_and_named_location() {
    let h = Harness::start().await;
    let policy = json!({"displayName":"IR containment: block legacy auth INC-123","state":"enabled",
        "conditions":{"clientAppTypes":["exchangeActiveSync","other"],
          "applications":{"includeApplications":["All"]},
          "users":{"includeUsers":[B],"excludeUsers":[BREAKGLASS]}},
        "grantControls":{"operator":"OR","builtInControls":["block"]}});
    let (status, body, _) = h
        .call(
            Method::POST,
            "/identity/conditionalAccess/policies",
            Some(policy),
        )
        .await;
    assert_eq!(status, 201);
    assert!(body["id"].is_string() && body["createdDateTime"].is_string());
    assert_eq!(body["modifiedDateTime"], Value::Null);
    assert_eq!(body["sessionControls"], Value::Null);
    assert_eq!(body["conditions"]["users"]["includeGroups"], json!([]));
    assert_eq!(
        body["grantControls"]["customAuthenticationFactors"],
        json!([])
    );
    assert_eq!(body["grantControls"]["termsOfUse"], json!([]));
    let id = body["id"].as_str().unwrap().to_string();
    let (status, ..) = h
        .call(
            Method::PATCH,
            &format!("/identity/conditionalAccess/policies/{id}"),
            Some(json!({"state": "disabled"})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body, _) = h
        .call(
            Method::POST,
            "/identity/conditionalAccess/policies",
            Some(json!({"displayName": "x", "state": "on"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("Request_BadRequest"))
    );
    let (status, ..) = h
        .call(
            Method::DELETE,
            &format!("/identity/conditionalAccess/policies/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);

    let location = json!({"@odata.type":"#microsoft.graph.ipNamedLocation","displayName":"IR attacker IPs INC-123","isTrusted":false,
        "ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"198.51.100.23/32"},
                    {"@odata.type":"#microsoft.graph.iPv6CidrRange","cidrAddress":"2001:db8::/48"}]});
    let (status, body, _) = h
        .call(
            Method::POST,
            "/identity/conditionalAccess/namedLocations",
            Some(location),
        )
        .await;
    assert_eq!(status, 201);
    let id = body["id"].as_str().unwrap().to_string();
    let replace = json!({"@odata.type":"#microsoft.graph.ipNamedLocation",
        "ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"203.0.113.77/32"}]});
    let path = format!("/identity/conditionalAccess/namedLocations/{id}");
    let (status, ..) = h.call(Method::PATCH, &path, Some(replace)).await;
    assert_eq!(status, 204);
    let (_, body, _) = h.call(Method::GET, &path, None).await;
    assert_eq!(
        body["ipRanges"],
        json!([{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"203.0.113.77/32"}])
    );
    assert_eq!(body["displayName"], "IR attacker IPs INC-123");
    let untyped = json!({"ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"203.0.113.77/32"}]});
    let (status, ..) = h.call(Method::PATCH, &path, Some(untyped)).await;
    assert_eq!(status, 400);
    let untyped_range = json!({"@odata.type":"#microsoft.graph.ipNamedLocation","displayName":"x","ipRanges":[{"cidrAddress":"203.0.113.77/32"}]});
    let (status, ..) = h
        .call(
            Method::POST,
            "/identity/conditionalAccess/namedLocations",
            Some(untyped_range),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn risky_users_confirm_and_dismiss() {
    let h = Harness::start().await;
    let (status, body, _) = h
        .call(
            Method::POST,
            "/identityProtection/riskyUsers/confirmCompromised",
            Some(json!({"userIds": [A, B]})),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let (_, body, _) = h
        .call(
            Method::GET,
            &format!("/identityProtection/riskyUsers/{A}"),
            None,
        )
        .await;
    assert_eq!(
        (body["riskLevel"].as_str(), body["riskState"].as_str()),
        (Some("high"), Some("confirmedCompromised"))
    );
    let (status, ..) = h
        .call(
            Method::POST,
            "/identityProtection/riskyUsers/dismiss",
            Some(json!({"userIds": [B]})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, body, _) = h
        .call(
            Method::GET,
            &format!("/identityProtection/riskyUsers/{B}"),
            None,
        )
        .await;
    assert_eq!(body["riskLevel"], "none");
    let many: Vec<String> = (0..61).map(|i| format!("id{i}")).collect();
    let (status, ..) = h
        .call(
            Method::POST,
            "/identityProtection/riskyUsers/dismiss",
            Some(json!({"userIds": many})),
        )
        .await;
    assert_eq!(status, 400);
}
