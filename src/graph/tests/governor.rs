//! The client's callers share Graph's throttling: a storm costs about one throttled request per
//! pause, not one per concurrent caller, and a pause on one resource does not hold another.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::emulate::{Emulator, Fault};
use crate::graph::{Credential, GraphClient, GraphConfig, GraphPath, GraphRequest, Secret};

const TENANT: &str = "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d";
const CLIENT: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51";
const SECRET: &str = "emu-secret-stanch-responder";

async fn emulator() -> crate::emulate::RunningEmulator {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tenant.json");
    Emulator::from_file(&fixture)
        .unwrap()
        .spawn("127.0.0.1:0")
        .await
        .unwrap()
}

fn client(url: &str) -> GraphClient {
    let mut config = GraphConfig::new(TENANT, CLIENT, Credential::Secret(Secret::new(SECRET)));
    config.graph_url = Some(format!("{url}/"));
    config.login_url = Some(url.to_string());
    config.max_attempts = 10;
    config.max_retry_wait = Duration::from_secs(5);
    GraphClient::new(config).unwrap()
}

fn user(upn: &str) -> GraphRequest {
    GraphRequest::get(
        GraphPath::new(["users"])
            .id(upn)
            .unwrap()
            .query("$select", "id"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_costs_one_429_per_pause_not_one_per_caller() {
    let running = emulator().await;
    let graph = client(&running.url);
    // Warm the token so the storm meets Graph calls only.
    graph.send(user("a.silva@contoso.com")).await.unwrap();
    running.emulator.clear_requests();
    // 2.5 s of 429s asking for 1 s pauses, on the directory only.
    running.emulator.inject(
        Fault::throttle(Some(1))
            .path_prefix("/v1.0/users")
            .lasting(2_500),
    );
    let started = Instant::now();
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let graph = graph.clone();
            tokio::spawn(async move { graph.send(user("b.jones@contoso.com")).await })
        })
        .collect();
    // A mailbox is another resource: the directory's pause does not hold it.
    let rules = GraphRequest::get(
        GraphPath::new(["users"])
            .id("c.lee@contoso.com")
            .unwrap()
            .segment("mailFolders")
            .segment("inbox")
            .segment("messageRules"),
    )
    .with_mailbox("c.lee@contoso.com");
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
    let took = started.elapsed();
    let throttled = running
        .emulator
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    eprintln!("{throttled} throttled requests, {took:?}");
    // The first wave of 16 was in flight together; after that, one probe per 1 s pause.
    assert!(
        throttled <= 16 + 4,
        "{throttled} throttled requests for 16 callers over a 2.5 s storm"
    );
    assert!(took >= Duration::from_secs(2), "{took:?}");
    // After the storm every caller got through; a mailbox call was never paused by it.
    running.emulator.inject(
        Fault::throttle(Some(30))
            .path_prefix("/v1.0/users/b.jones")
            .lasting(5_000),
    );
    let probe = graph.send(user("b.jones@contoso.com"));
    let other = tokio::time::timeout(Duration::from_secs(2), graph.send(rules));
    let (_, other) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(300), probe),
        other
    );
    other
        .expect("a mailbox call waited behind the directory's pause")
        .unwrap();
}
