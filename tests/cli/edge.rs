//! Hostile input at the intake edge: media types, item caps, bytes that are not UTF-8, spoofing
//! identities, duplicate keys and impossible years, over HTTP and `stanch run`.

use serde_json::Value;

use crate::harness::{TestApp, bearer};

const GOOD: &str = r#"{"id":"ok-1","name":"Nothing to match","observed_at":"2021-06-03T13:20:00Z","user":{"upn":"a.silva@contoso.com"}}"#;

#[test]
fn a_declared_media_type_that_is_not_json_ndjson_or_text_is_refused_with_415() {
    let app = TestApp::builder().intake().serve().build();
    let url = app.url("/v1/detections");
    let with = |ct: &str| {
        let mut headers = bearer();
        headers.push(("content-type", ct.to_string()));
        app.post(&url, GOOD.to_string(), &headers)
    };
    for refused in [
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/json; charset=utf-16",
    ] {
        let (status, body) = with(refused);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{refused}: {body}"
        );
    }
    for taken in [
        "application/json",
        "application/x-ndjson",
        "text/plain; charset=utf-8",
    ] {
        let (status, body) = with(taken);
        assert_eq!(status, 202, "{taken}: {body}");
    }
}

#[test]
fn a_body_of_junk_lines_over_the_item_cap_stores_nothing_and_answers_briefly() {
    let app = TestApp::builder().intake().yaml("").serve().build();
    let junk = "x\n".repeat(500_000);
    let before = app.audit_trail().len();
    let (status, body) = app.post_detections(junk);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_many_items")),
        "{body}"
    );
    assert!(body.to_string().len() < 1000, "{body}");
    assert_eq!(app.audit_trail().len(), before, "nothing was stored");

    // Under the cap, the answer lists the first 100 rejections and says how many more there were.
    let (status, body) = app.post_detections("x\n".repeat(900));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 100);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("900 of 900") && message.contains("800 more were rejected"),
        "{message}"
    );
}

#[test]
fn a_line_that_is_not_utf8_is_rejected_by_number_and_audited_and_the_rest_is_taken() {
    let app = TestApp::builder().intake().serve().build();
    let mut input = format!("{GOOD}\n").into_bytes();
    input.extend_from_slice(b"{\"id\":\"bad\",\"name\":\"caf\xe9\"}\n");
    input.extend_from_slice(GOOD.replace("ok-1", "ok-2").as_bytes());
    input.push(b'\n');

    // A file: the bad line is rejected with its number, the next one is still processed.
    let file = app.path("mixed.jsonl");
    std::fs::write(&file, &input).unwrap();
    let out = app.stanch(&["run", "--input", file.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("line 2: rejected: not valid UTF-8"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("2 detection(s) accepted, 1 rejected"),
        "{}",
        out.stdout
    );
    let rejected: Vec<Value> = app.audit_of("detection.rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["line"], 2);

    // HTTP: the same body is not refused whole.
    let (status, body) = app.runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(app.url("/v1/detections"))
            .header("authorization", format!("Bearer {}", crate::harness::TOKEN))
            .body(input.clone())
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    });
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["line"], 2, "{body}");
    assert_eq!(body["accepted"].as_array().unwrap().len(), 2, "{body}");
}

#[test]
fn spoofing_identities_duplicate_keys_and_impossible_years_are_rejected_naming_the_field() {
    let app = TestApp::builder().intake().serve().build();
    let with_upn = |upn: &str| GOOD.replace("a.silva@contoso.com", upn);
    let lines = [
        (
            with_upn("a..silva@contoso.com"),
            "field `user.upn`",
            "two dots in a row",
        ),
        (
            with_upn(&format!("{}@contoso.com", "a".repeat(300))),
            "field `user.upn`",
            "Entra allows at most 113",
        ),
        (
            with_upn("a.silva@contoso.com\u{202E}"),
            "field `user.upn`",
            "RIGHT-TO-LEFT OVERRIDE",
        ),
        (
            with_upn("a.si\u{200B}lva@contoso.com"),
            "field `user.upn`",
            "ZERO WIDTH SPACE",
        ),
        (
            with_upn("a.silv\u{0430}@contoso.com"),
            "field `user.upn`",
            "mixes Cyrillic letters with Latin ones",
        ),
        (
            GOOD.replace(
                "\"user\"",
                "\"user\":{\"upn\":\"b.jones@contoso.com\"},\"user\"",
            ),
            "field `user`",
            "appears more than once",
        ),
        (
            GOOD.replace("2021-06-03", "0001-06-03"),
            "field `observed_at`",
            "outside the years 2000 to 2099",
        ),
        (
            GOOD.replace("2021-06-03", "9999-06-03"),
            "field `observed_at`",
            "outside the years 2000 to 2099",
        ),
    ];
    let body: String = lines.iter().map(|(l, _, _)| format!("{l}\n")).collect();
    let (status, answer) = app.post_detections(body.clone());
    assert_eq!(status, 400, "{answer}");
    let details = answer["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), lines.len(), "{answer}");
    for (i, (_, field, reason)) in lines.iter().enumerate() {
        let got = details[i]["reason"].as_str().unwrap();
        assert_eq!(details[i]["line"], i + 1);
        assert!(
            got.starts_with(field) && got.contains(reason),
            "line {}: {got}",
            i + 1
        );
        assert!(
            !got.contains(['\u{202E}', '\u{200B}']),
            "hidden characters are escaped: {got:?}"
        );
    }
    // The same from a file.
    let out = app.run_input(&body);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(&format!(
            "0 detection(s) accepted, {} rejected",
            lines.len()
        )),
        "{}",
        out.stdout
    );
}

#[test]
fn readyz_says_not_ready_while_the_database_is_exclusively_locked() {
    let app = TestApp::builder().intake().serve().build();
    let (status, body) = app.get(&app.url("/readyz"));
    assert_eq!(status, 200, "{body}");
    let url = app.url("/readyz");
    let (locked, unlocked) = app.runtime.block_on(async {
        let pool = app.raw_sqlite().await;
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut *conn)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let response = reqwest::get(&url).await.unwrap();
        let locked = (
            response.status().as_u16(),
            response.text().await.unwrap(),
            started.elapsed(),
        );
        sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
        let response = reqwest::get(&url).await.unwrap();
        (
            locked,
            (response.status().as_u16(), response.text().await.unwrap()),
        )
    });
    assert_eq!(locked.0, 503, "{}", locked.1);
    assert!(locked.1.contains("locked"), "{}", locked.1);
    assert!(
        locked.2 < std::time::Duration::from_secs(5),
        "answered in {:?}",
        locked.2
    );
    assert_eq!(unlocked.0, 200, "{}", unlocked.1);
}

#[test]
fn a_signed_request_replayed_within_the_window_is_refused_and_audited() {
    let app = TestApp::builder()
        .intake()
        .hmac_secrets("{ darktrace: k3y }")
        .serve()
        .build();
    let url = app.url("/v1/detections");
    let body = GOOD.to_string();
    let signed = vec![
        ("x-stanch-source", "darktrace".to_string()),
        (
            "x-stanch-signature",
            stanch::http::sign(b"k3y", chrono::Utc::now().timestamp(), body.as_bytes()),
        ),
    ];
    let (status, answer) = app.post(&url, body.clone(), &signed);
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = app.post(&url, body.clone(), &signed);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("replayed_request")),
        "{answer}"
    );
    let received = app
        .audit_trail()
        .iter()
        .filter(|(k, _)| k == "detection.received")
        .count();
    assert_eq!(received, 1, "the replay stored nothing");
    let refused: Vec<Value> = app.audit_of("intake.replay_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["caller"], "hmac:darktrace");
}

#[test]
fn many_idle_connections_do_not_stop_a_legitimate_request_from_being_answered() {
    let app = TestApp::builder()
        .intake()
        .yaml("server:\n  max_connections: 16\n  header_timeout: 1s\n")
        .serve()
        .build();
    // The server gets few file descriptors, as a box under attack would have left: without a
    // connection cap, the idle connections take them all and intake stops.
    let limited = std::process::Command::new("prlimit")
        .args(["--pid", &app.server_pid().to_string(), "--nofile=80:80"])
        .status()
        .expect("prlimit");
    assert!(
        limited.success(),
        "could not lower the server's open-file limit"
    );
    let addr = app.url("").trim_start_matches("http://").to_string();
    let idle: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let started = std::time::Instant::now();
    let (status, body) = app.post_detections(format!("{GOOD}\n"));
    assert_eq!(status, 202, "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}

#[test]
fn a_flood_of_forged_approval_links_is_audited_in_bounded_space_and_counted() {
    let app = TestApp::builder()
        .intake()
        .link_secret("a-link-secret-of-enough-length")
        .serve()
        .build();
    let url = app.url("/approve/garbage");
    let refused = app.runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut refused = 0;
        for _ in 0..300 {
            let status = client.get(&url).send().await.unwrap().status();
            refused += usize::from(status == 403);
        }
        refused
    });
    assert_eq!(refused, 300, "every forged link is refused");
    assert_eq!(app.stop_server(), 0, "{}", app.server_log());
    let trail = app.audit_trail();
    let one_by_one = trail
        .iter()
        .filter(|(kind, _)| kind == "approval.refused")
        .count();
    let counted: u64 = trail
        .iter()
        .filter(|(kind, _)| kind == "approval.refused_aggregate")
        .map(|(_, payload)| payload["refused"].as_u64().unwrap())
        .sum();
    assert_eq!(one_by_one, 20, "the first ones are recorded one by one");
    assert_eq!(
        one_by_one as u64 + counted,
        300,
        "the rest are counted in an aggregate record, none lost"
    );
}
