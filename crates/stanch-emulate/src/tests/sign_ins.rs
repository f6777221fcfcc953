//! The sign-in log and its `$filter`.

use reqwest::Method;

use super::{A, Harness};

#[tokio::test]
async fn sign_ins_filter_top_and_order() {
    let h = Harness::start().await;
    let (status, body, _) = h
        .call(
            Method::GET,
            "/auditLogs/signIns?$filter=ipAddress%20eq%20'198.51.100.23'",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let users: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        [
            "a.silva@contoso.com",
            "d.patel@contoso.com",
            "a.silva@contoso.com"
        ]
    );
    let query = format!(
        "/auditLogs/signIns?$filter=userId eq '{A}' and createdDateTime ge 2021-06-02T00:00:00Z&$top=1"
    );
    let (_, body, _) = h.call(Method::GET, &query, None).await;
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["createdDateTime"], "2021-06-03T10:44:51Z");
    assert!(
        body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken=1")
    );
    let (status, ..) = h
        .call(
            Method::GET,
            "/auditLogs/signIns?$filter=startswith(userId,'a')",
            None,
        )
        .await;
    assert_eq!(status, 400);
}
