//! Polling against the Graph emulator and the example tenant.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::emulate::{Emulator, Fixture, RunningEmulator};
use crate::graph::{Credential, GraphConfig, Secret};

const TENANT: &str = "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d";
const CLIENT: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51";
const SECRET: &str = "emu-secret-stanch-responder";

struct Env {
    emu: RunningEmulator,
    client: GraphClient,
    store: Store,
}

async fn env() -> Env {
    let fixture: Fixture = serde_json::from_str(include_str!("../../../examples/tenant.json"))
        .expect("examples/tenant.json parses");
    fixture.validate().unwrap();
    let emu = Emulator::new(fixture).spawn("127.0.0.1:0").await.unwrap();
    let mut config = GraphConfig::new(TENANT, CLIENT, Credential::Secret(Secret::new(SECRET)));
    config.graph_url = Some(emu.url.clone());
    config.login_url = Some(emu.url.clone());
    config.max_retry_wait = Duration::from_millis(20);
    config.timeout = Duration::from_secs(5);
    let client = GraphClient::new(config).unwrap();
    let store = Store::open("sqlite::memory:").await.unwrap();
    Env { emu, client, store }
}

fn ids(outcome: &PollOutcome) -> Vec<String> {
    outcome.detections.iter().map(|d| d.id.clone()).collect()
}

fn alert(id: &str, created: &str, upn: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.security.alert",
        "id": id, "providerAlertId": id, "title": "Atypical travel", "severity": "high",
        "serviceSource": "azureAdIdentityProtection", "createdDateTime": created,
        "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence",
                      "roles": ["compromised"], "userAccount": {"userPrincipalName": upn}}]
    })
}

/// Polls and commits, as the scheduled job does after storing the detections.
async fn poll_and_commit(env: &Env, max_pages: usize) -> PollOutcome {
    let outcome = poll_alerts(&env.client, &env.store, max_pages)
        .await
        .unwrap();
    commit_watermark(&env.store, &outcome).await.unwrap();
    outcome
}

#[tokio::test]
async fn first_poll_takes_all_then_nothing_then_new_alerts_once() {
    let env = env().await;
    let first = poll_and_commit(&env, 10).await;
    assert_eq!(first.detections.len(), 4, "{:?}", first.rejected);
    assert!(first.rejected.is_empty() && !first.truncated);
    let d = &first.detections[0];
    assert_eq!(d.name, "Atypical travel");
    assert_eq!(
        d.user.as_ref().unwrap().upn.as_deref(),
        Some("a.silva@contoso.com")
    );
    assert_eq!(d.ip.unwrap().to_string(), "198.51.100.23");
    // The two fixture alerts created at 10:20:00 are both remembered.
    assert_eq!(
        first.watermark.created.as_deref(),
        Some("2021-06-03T10:20:00Z")
    );
    assert_eq!(first.watermark.ids.len(), 2);
    assert_eq!(first.summary()["detections"], 4);

    let second = poll_and_commit(&env, 10).await;
    assert!(second.detections.is_empty(), "{:?}", ids(&second));
    assert_eq!(
        second.fetched, 2,
        "ge re-reads the boundary alerts, which are dropped"
    );
    // The request filters and orders as Graph expects.
    let last = env.emu.emulator.requests().pop().unwrap();
    assert_eq!(last.path, "/v1.0/security/alerts_v2");
    assert!(
        last.query
            .contains("createdDateTime%20ge%202021-06-03T10:20:00Z"),
        "{}",
        last.query
    );
    assert!(
        last.query.contains("$orderby=createdDateTime%20asc"),
        "{}",
        last.query
    );

    env.emu.emulator.add_alert(alert(
        "late-1",
        "2021-06-04T09:00:00Z",
        "d.patel@contoso.com",
    ));
    let third = poll_and_commit(&env, 10).await;
    assert_eq!(ids(&third), ["late-1"]);
    assert!(poll_and_commit(&env, 10).await.detections.is_empty());
}

#[tokio::test]
async fn equal_timestamps_are_neither_repeated_nor_lost() {
    let env = env().await;
    poll_and_commit(&env, 10).await;
    let t = "2021-06-05T12:00:00.1234567Z";
    env.emu
        .emulator
        .add_alert(alert("same-1", t, "a.silva@contoso.com"));
    assert_eq!(ids(&poll_and_commit(&env, 10).await), ["same-1"]);
    // Another alert lands with exactly the watermark's timestamp after the poll.
    env.emu
        .emulator
        .add_alert(alert("same-2", t, "b.jones@contoso.com"));
    let next = poll_and_commit(&env, 10).await;
    assert_eq!(ids(&next), ["same-2"]);
    assert_eq!(next.watermark.ids.len(), 2);
    assert!(poll_and_commit(&env, 10).await.detections.is_empty());
}

#[tokio::test]
async fn uncommitted_poll_is_fetched_again() {
    let env = env().await;
    let fetched = poll_alerts(&env.client, &env.store, 10).await.unwrap();
    assert_eq!(fetched.detections.len(), 4);
    // Crash: the detections were never stored and the watermark never committed.
    let again = poll_alerts(&env.client, &env.store, 10).await.unwrap();
    assert_eq!(ids(&again), ids(&fetched));
    commit_watermark(&env.store, &again).await.unwrap();
    assert!(
        poll_alerts(&env.client, &env.store, 10)
            .await
            .unwrap()
            .detections
            .is_empty()
    );
}

#[tokio::test]
async fn paging_and_truncation_resume_from_the_watermark() {
    let env = env().await;
    for n in 0..(PAGE_SIZE + 5) {
        let created = format!("2021-07-01T00:{:02}:{:02}Z", n / 60, n % 60);
        env.emu.emulator.add_alert(alert(
            &format!("bulk-{n:03}"),
            &created,
            "c.lee@contoso.com",
        ));
    }
    // One page only: the 4 fixture alerts and the first 96 bulk ones.
    let first = poll_and_commit(&env, 1).await;
    assert!(first.truncated);
    assert_eq!(first.detections.len(), PAGE_SIZE);
    let rest = poll_and_commit(&env, 10).await;
    assert!(!rest.truncated);
    assert_eq!(rest.detections.len(), 9);
    assert_eq!(
        rest.detections.last().unwrap().id,
        format!("bulk-{:03}", PAGE_SIZE + 4)
    );
}

#[tokio::test]
async fn malformed_alerts_are_rejected_not_fatal() {
    let env = env().await;
    poll_and_commit(&env, 10).await;
    let mut bad = alert("bad-1", "2021-06-06T00:00:00Z", "a.silva@contoso.com");
    bad.as_object_mut().unwrap().remove("title");
    env.emu.emulator.add_alert(bad);
    env.emu.emulator.add_alert(alert(
        "good-1",
        "2021-06-06T00:00:01Z",
        "a.silva@contoso.com",
    ));
    let outcome = poll_and_commit(&env, 10).await;
    assert_eq!(ids(&outcome), ["good-1"]);
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(outcome.rejected[0].id.as_deref(), Some("bad-1"));
    assert!(
        outcome.rejected[0].reason.contains("title"),
        "{}",
        outcome.rejected[0].reason
    );
    // Reported once, not on every poll.
    assert!(poll_and_commit(&env, 10).await.rejected.is_empty());
}

#[tokio::test]
async fn corrupt_watermark_is_an_error() {
    let env = env().await;
    env.store
        .set_watermark(ALERTS_WATERMARK, "{\"created\":\"yesterday\",\"ids\":[]}")
        .await
        .unwrap();
    let err = poll_alerts(&env.client, &env.store, 1).await.unwrap_err();
    assert!(matches!(err, PollError::Watermark { .. }), "{err}");
    assert!(err.to_string().contains("yesterday"), "{err}");
}

#[tokio::test]
async fn emulator_control_endpoint_and_filters() {
    let env = env().await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/_emulator/alerts", env.emu.url))
        .json(&json!({"title": "Posted", "severity": "low"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let posted: Value = response.json().await.unwrap();
    assert!(posted["id"].is_string() && posted["createdDateTime"].is_string());
    // gt excludes the boundary; desc reverses.
    let path = crate::graph::GraphPath::new(["security", "alerts_v2"])
        .query(
            "$filter",
            "createdDateTime gt 2021-06-01T08:20:00Z and createdDateTime lt 2021-06-04T00:00:00Z",
        )
        .query("$orderby", "createdDateTime desc")
        .query("$top", "1");
    let paged = env.client.get_pages(path, 10).await.unwrap();
    let titles: Vec<&str> = paged
        .items
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    // Alerts 3 and 4 share 10:20:00 and keep their fixture order before the reversal.
    assert_eq!(
        titles,
        [
            "Unfamiliar sign-in properties",
            "Anomalous Token",
            "Suspicious inbox manipulation rule"
        ]
    );
    let bad = crate::graph::GraphPath::new(["security", "alerts_v2"])
        .query("$filter", "severity eq 'high'");
    assert!(env.client.get_pages(bad, 1).await.is_err());
}

#[tokio::test]
async fn poll_and_store_commits_only_after_storing() {
    let env = env().await;
    let failed = poll_and_store(&env.client, &env.store, 10, |_, _| async {
        Err("disk full".to_string())
    })
    .await
    .unwrap_err();
    assert!(matches!(failed, PollError::Storing(_)), "{failed}");
    assert!(failed.to_string().contains("disk full"), "{failed}");
    let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = stored.clone();
    let summary = poll_and_store(&env.client, &env.store, 10, |detections, _| async move {
        sink.lock()
            .unwrap()
            .extend(detections.into_iter().map(|d| d.id));
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(summary["detections"], 4);
    assert_eq!(
        stored.lock().unwrap().len(),
        4,
        "nothing was lost by the failed attempt"
    );
    let summary = poll_and_store(&env.client, &env.store, 10, |d, _| async move {
        assert!(d.is_empty());
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(summary["detections"], 0);
}
