//! What an app was granted: its service principal's app role assignments, named through the
//! Graph service principal's `appRoles`.

use reqwest::Method;
use serde_json::Value;

use super::{CLIENT, Harness, SECRET, fixture};
use crate::Emulator;

/// The permission names `CLIENT`'s service principal holds, as a client reads them.
async fn granted(h: &Harness) -> Vec<String> {
    let (status, found, _) = h
        .call(
            Method::GET,
            &format!("/servicePrincipals?$filter=appId eq '{CLIENT}'&$select=id"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let sp = found["value"][0]["id"].as_str().unwrap().to_string();
    let (_, graph, _) = h
        .call(
            Method::GET,
            &format!(
                "/servicePrincipals?$filter=appId eq '{}'",
                crate::GRAPH_APP_ID
            ),
            None,
        )
        .await;
    let roles = graph["value"][0]["appRoles"].as_array().unwrap().clone();
    let (status, held, _) = h
        .call(
            Method::GET,
            &format!("/servicePrincipals/{sp}/appRoleAssignments"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{held}");
    held["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let role = roles.iter().find(|r| r["id"] == a["appRoleId"]).unwrap();
            assert_eq!(a["principalId"], Value::String(sp.clone()));
            role["value"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_app_holds_every_permission_the_fixture_does_not_withhold() {
    let h = Harness::start().await;
    let all = granted(&h).await;
    assert_eq!(all.len(), crate::GRAPH_APP_ROLES.len());
    assert!(all.iter().any(|p| p == "Mail.ReadWrite"));

    let mut tenant = fixture();
    tenant.clients[0].withheld_permissions = vec!["mail.readwrite".into()];
    let emu = Emulator::new(tenant).spawn("127.0.0.1:0").await.unwrap();
    let mut h = Harness {
        emu,
        http: reqwest::Client::new(),
        token: String::new(),
    };
    h.token = h.fetch_token(CLIENT, SECRET).await;
    let some = granted(&h).await;
    assert_eq!(some.len(), all.len() - 1);
    assert!(!some.iter().any(|p| p == "Mail.ReadWrite"), "{some:?}");
}
