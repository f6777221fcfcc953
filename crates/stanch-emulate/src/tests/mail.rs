//! Messages, mail folders and message trace, as a purge uses them.

use reqwest::{Client, Method};
use serde_json::{Value, json};

use super::{CLIENT, Harness, SECRET, fixture};
use crate::Emulator;

const WAVE_2: &str = "<AM6PR02MB4417E9D8C7B6@AM6PR02MB4417.eurprd02.prod.outlook.com>";
const BENIGN: &str = "<AM6PR02MB4417A1B2C3D4@AM6PR02MB4417.eurprd02.prod.outlook.com>";

fn by_id(id: &str) -> String {
    format!(
        "/messages?$filter=internetMessageId%20eq%20'{}'&$select=id,internetMessageId,parentFolderId,subject",
        id.replace('<', "%3C").replace('>', "%3E")
    )
}

#[tokio::test]
async fn a_move_answers_201_with_a_new_id_and_the_filter_finds_only_that_message() {
    let h = Harness::start().await;
    let inbox = "/users/c.lee@contoso.com";
    let (status, found, _) = h
        .call(Method::GET, &format!("{inbox}{}", by_id(WAVE_2)), None)
        .await;
    assert_eq!(status, 200, "{found}");
    let copies = found["value"].as_array().unwrap();
    assert_eq!(
        copies.len(),
        1,
        "one copy of the wave, not the benign message: {found}"
    );
    let copy = &copies[0];
    assert_eq!(copy["internetMessageId"], WAVE_2);
    assert!(copy.get("bodyPreview").is_none(), "$select applies: {copy}");
    let (_, folder, _) = h
        .call(Method::GET, &format!("{inbox}/mailFolders/inbox"), None)
        .await;
    assert_eq!(
        copy["parentFolderId"], folder["id"],
        "served as the folder's own id"
    );

    let old = copy["id"].as_str().unwrap();
    let (status, moved, _) = h
        .call(
            Method::POST,
            &format!("{inbox}/messages/{old}/move"),
            Some(json!({"destinationId": "deleteditems"})),
        )
        .await;
    assert_eq!(status, 201, "{moved}");
    assert_ne!(
        moved["id"], copy["id"],
        "Exchange gives a moved item a new id"
    );
    let (_, deleted, _) = h
        .call(
            Method::GET,
            &format!("{inbox}/mailFolders/deleteditems"),
            None,
        )
        .await;
    assert_eq!(moved["parentFolderId"], deleted["id"]);
    let (status, _, _) = h
        .call(Method::GET, &format!("{inbox}/messages/{old}"), None)
        .await;
    assert_eq!(status, 404, "the old id is gone");

    // Back by the folder's id, as a rollback does.
    let new = moved["id"].as_str().unwrap();
    let (status, back, _) = h
        .call(
            Method::POST,
            &format!("{inbox}/messages/{new}/move"),
            Some(json!({"destinationId": folder["id"]})),
        )
        .await;
    assert_eq!((status, &back["parentFolderId"]), (201, &folder["id"]));

    // The benign message of the same sender is another id, untouched.
    let (_, benign, _) = h
        .call(Method::GET, &format!("{inbox}{}", by_id(BENIGN)), None)
        .await;
    assert_eq!(benign["value"][0]["parentFolderId"], folder["id"]);

    let (status, error, _) = h
        .call(
            Method::GET,
            &format!("{inbox}/messages?$filter=subject%20eq%20'x'"),
            None,
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("ErrorInvalidUrlQueryFilter"))
    );
}

#[tokio::test]
async fn delete_keeps_the_item_recoverable_and_permanent_delete_purges_it() {
    let h = Harness::start().await;
    let mailbox = "/users/d.patel@contoso.com";
    let (_, found, _) = h
        .call(Method::GET, &format!("{mailbox}{}", by_id(WAVE_2)), None)
        .await;
    let id = found["value"][0]["id"].as_str().unwrap().to_string();
    let (status, _, _) = h
        .call(Method::DELETE, &format!("{mailbox}/messages/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (_, after, _) = h
        .call(Method::GET, &format!("{mailbox}{}", by_id(WAVE_2)), None)
        .await;
    assert_eq!(
        after["value"],
        json!([]),
        "Recoverable Items are not searched"
    );
    let (_, deletions, _) = h
        .call(
            Method::GET,
            &format!("{mailbox}/mailFolders/recoverableitemsdeletions"),
            None,
        )
        .await;
    assert_eq!(deletions["totalItemCount"], 1);

    let (_, benign, _) = h
        .call(Method::GET, &format!("{mailbox}{}", by_id(BENIGN)), None)
        .await;
    let id = benign["value"][0]["id"].as_str().unwrap();
    let (status, _, _) = h
        .call(
            Method::POST,
            &format!("{mailbox}/messages/{id}/permanentDelete"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = h
        .call(Method::GET, &format!("{mailbox}/messages/{id}"), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_mailbox_scoped_away_from_the_app_answers_403() {
    let h = Harness::start().await;
    let (status, body, _) = h
        .call(
            Method::GET,
            &format!("/users/it.admin@contoso.com{}", by_id(WAVE_2)),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("ErrorAccessDenied"))
    );
    let (status, _, _) = h
        .call(
            Method::GET,
            "/users/it.admin@contoso.com/mailFolders/deleteditems",
            None,
        )
        .await;
    assert_eq!(status, 403);
}

/// A tenant whose trace rows are recent, so the 90-day rule lets them be read.
async fn recent_trace() -> Harness {
    let mut tenant = fixture();
    let sent = chrono::Utc::now() - chrono::Duration::hours(3);
    for row in &mut tenant.message_traces {
        row["receivedDateTime"] = json!(sent.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let emu = Emulator::new(tenant).spawn("127.0.0.1:0").await.unwrap();
    let mut h = Harness {
        emu,
        http: Client::new(),
        token: String::new(),
    };
    h.token = h.fetch_token(CLIENT, SECRET).await;
    h
}

fn rows(body: &Value) -> Vec<&str> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recipientAddress"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn message_trace_filters_checks_its_window_and_throttles_after_100_requests() {
    let h = recent_trace().await;
    let now = chrono::Utc::now();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let wave = format!(
        "/admin/exchange/tracing/messageTraces?$filter=senderAddress eq 'a.silva@contoso.com' and messageId eq '{}' and receivedDateTime ge {} and receivedDateTime le {}",
        WAVE_2.replace('<', "%3C").replace('>', "%3E"),
        stamp(now - chrono::Duration::days(1)),
        stamp(now)
    );
    let (status, body, _) = h.call(Method::GET, &wave, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rows(&body).len(),
        7,
        "one row per recipient of the wave, not the benign one: {body}"
    );

    // Without a range: the last 48 hours. A range wider than 10 days, or older than 90: 400.
    let (_, all, _) = h
        .call(Method::GET, "/admin/exchange/tracing/messageTraces", None)
        .await;
    assert_eq!(rows(&all).len(), 15);
    let wide = format!(
        "/admin/exchange/tracing/messageTraces?$filter=receivedDateTime ge {} and receivedDateTime le {}",
        stamp(now - chrono::Duration::days(11)),
        stamp(now)
    );
    assert_eq!(h.call(Method::GET, &wide, None).await.0, 400);
    let old = format!(
        "/admin/exchange/tracing/messageTraces?$filter=receivedDateTime ge {} and receivedDateTime le {}",
        stamp(now - chrono::Duration::days(95)),
        stamp(now - chrono::Duration::days(91))
    );
    assert_eq!(h.call(Method::GET, &old, None).await.0, 400);

    // Four requests so far; the hundredth is served, the next is throttled with Retry-After.
    for _ in 4..100 {
        assert_eq!(
            h.call(Method::GET, "/admin/exchange/tracing/messageTraces", None)
                .await
                .0,
            200
        );
    }
    let (status, body, headers) = h
        .call(Method::GET, "/admin/exchange/tracing/messageTraces", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("TooManyRequests"))
    );
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
}

#[tokio::test]
async fn the_story_tenant_keeps_its_trace_rows_beyond_the_90_days() {
    let h = Harness::start().await;
    let (_, body, _) = h
        .call(Method::GET, "/admin/exchange/tracing/messageTraces", None)
        .await;
    assert_eq!(
        rows(&body),
        Vec::<&str>::new(),
        "2021 rows are outside the default 48 hours"
    );
}
