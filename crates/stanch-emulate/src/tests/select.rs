//! `$select` over HTTP: what a read returns with and without it.

use reqwest::Method;

use super::{B, Harness};

#[tokio::test]
async fn sign_in_sessions_valid_from_is_returned_only_when_selected() {
    let h = Harness::start().await;
    h.call(
        Method::POST,
        &format!("/users/{B}/revokeSignInSessions"),
        None,
    )
    .await;
    let (status, plain, _) = h.call(Method::GET, &format!("/users/{B}"), None).await;
    assert_eq!(status, 200);
    assert!(
        plain.get("signInSessionsValidFromDateTime").is_none(),
        "{plain}"
    );
    assert!(plain.get("onPremisesSyncEnabled").is_none(), "{plain}");
    let path = format!("/users/{B}?$select=id,signInSessionsValidFromDateTime");
    let (status, selected, _) = h.call(Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert!(
        selected["signInSessionsValidFromDateTime"].is_string(),
        "{selected}"
    );
    // Only what was selected (and the annotations) comes back.
    let keys: Vec<&String> = selected.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["@odata.context", "id", "signInSessionsValidFromDateTime"],
        "{selected}"
    );
    let (_, list, _) = h.call(Method::GET, "/users?$select=id", None).await;
    assert!(
        list["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u.as_object().unwrap().len() == 1)
    );
}
