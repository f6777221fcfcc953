use serde_json::json;

use super::*;
use crate::approvals::request::ApprovalLink;

fn request(links: Vec<ApprovalLink>) -> ApprovalRequest {
    ApprovalRequest {
        action: 42,
        action_hash: "ab12".into(),
        round: 0,
        kind: "disable_account".into(),
        target: Some("b.jones@contoso.com".into()),
        params: json!({}),
        playbook: "sender-surge".into(),
        step: "disable".into(),
        reasons: json!(["the step asks for approval"]),
        detection: json!({"id": "dt-1", "source": "darktrace", "severity": "critical",
                          "name": "Surge [Approve](https://evil.example/x)\n- item",
                          "observed_at": "2021-06-01T10:05:00Z", "ip": "203.0.113.77",
                          "asn": 16509, "country": "US"}),
        approvers: vec!["group:SOC Tier 2".into()],
        quorum: 1,
        deadline: "2021-06-01T10:20:00Z".into(),
        links,
    }
}

fn links() -> Vec<ApprovalLink> {
    ["f.okafor@contoso.com", "g.muller@contoso.com"]
        .iter()
        .map(|who| ApprovalLink {
            approver: who.to_string(),
            url: format!("https://stanch.example.com/approve/token-for-{who}"),
        })
        .collect()
}

/// The envelope and card shape a Workflows webhook and Teams accept.
#[test]
fn the_request_card_has_the_shape_teams_requires() {
    let request = request(links());
    let body = message(request_card(&request, Buttons::OpenLinks));
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(attachments[0]["contentUrl"].is_null());
    assert!(
        attachments[0]
            .as_object()
            .unwrap()
            .contains_key("contentUrl")
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );

    let title = &card["body"][0];
    assert_eq!(title["type"], "TextBlock");
    assert_eq!(title["text"], request.summary());
    let facts = card["body"][1]["facts"].as_array().unwrap();
    assert_eq!(card["body"][1]["type"], "FactSet");
    let titles: Vec<&str> = facts.iter().map(|f| f["title"].as_str().unwrap()).collect();
    let expected: Vec<&str> = request.facts().iter().map(|(t, _)| *t).collect();
    assert_eq!(titles, expected);
    assert!(facts.iter().all(|f| f["value"].is_string()));
    let fact = |name: &str| facts.iter().find(|f| f["title"] == name).unwrap()["value"].clone();
    assert_eq!(fact("Action"), "disable_account");
    assert_eq!(fact("Target"), "b.jones@contoso.com");

    let actions = card["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2);
    for (action, link) in actions.iter().zip(links()) {
        assert_eq!(action["type"], "Action.OpenUrl");
        assert_eq!(action["title"], format!("Review as {}", link.approver));
        assert_eq!(action["url"], link.url);
    }
    assert!(!body.to_string().contains("Action.Submit"));
}

/// The card for the shared channel never carries a signed link (anyone there could decide as
/// its approver); each approver's card carries that person's link alone.
#[test]
fn the_shared_card_carries_no_personal_link_and_each_person_gets_only_their_own() {
    let request = request(links());
    for personal in [true, false] {
        let card = request_card(&request, Buttons::Shared { personal });
        assert!(card.get("actions").is_none(), "{card}");
        assert!(!card.to_string().contains("/approve/"), "{card}");
    }
    let link = &request.links[1];
    let body = personal_message(
        &link.approver,
        request_card(&request.for_one(link), Buttons::OpenLinks),
    );
    assert_eq!(body["recipient"], "g.muller@contoso.com");
    let card = &body["attachments"][0]["content"];
    let actions = card["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["url"], link.url);
    assert!(!body.to_string().contains(&request.links[0].url));
}

#[test]
fn without_links_the_card_says_how_to_decide_and_has_no_buttons() {
    let card = request_card(&request(Vec::new()), Buttons::OpenLinks);
    assert!(card.get("actions").is_none(), "{card}");
    let text = card["body"].to_string();
    assert!(
        text.contains("stanch approvals approve 42 --as YOUR-UPN"),
        "{text}"
    );
}

/// A bot channel can reuse the card with in-card buttons that carry the action and its hash.
#[test]
fn a_bot_gets_execute_buttons_and_a_reason_field() {
    let card = request_card(&request(links()), Buttons::Execute);
    let actions = card["actions"].as_array().unwrap();
    let verbs: Vec<&str> = actions
        .iter()
        .map(|a| a["verb"].as_str().unwrap())
        .collect();
    assert_eq!(verbs, ["approve", "deny"]);
    assert!(actions.iter().all(|a| a["type"] == "Action.Execute"
        && a["data"] == json!({"action": 42, "action_hash": "ab12"})));
    let input = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "Input.Text")
        .unwrap();
    assert_eq!(
        (input["id"].clone(), input["isRequired"].clone()),
        (json!("reason"), json!(true))
    );
    assert!(!card.to_string().contains("Action.Submit"));
}

/// Attacker-influenced evidence cannot become a disguised link or a list in the card.
#[test]
fn evidence_is_shown_as_text() {
    let card = request_card(&request(links()), Buttons::OpenLinks);
    let detection = card["body"][1]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["title"] == "Detection")
        .unwrap()["value"]
        .clone();
    assert_eq!(
        detection,
        "Surge \\[Approve\\](https://evil.example/x) - item (critical)"
    );
    let long = plain(&"x".repeat(2000));
    assert_eq!(long.chars().count(), MAX_VALUE_CHARS + 1);
    assert!(long.ends_with('…'));
}

#[test]
fn the_outcome_card_says_how_it_ended() {
    let outcome = Outcome {
        action: 42,
        state: ApprovalState::Approved,
        by: Some("f.okafor@contoso.com".into()),
        text: "Approved by f.okafor@contoso.com".into(),
    };
    let body = message(outcome_card(
        "disable_account on b.jones@contoso.com",
        &outcome,
    ));
    let card = &body["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["body"][0]["text"], "Approved by f.okafor@contoso.com");
    assert_eq!(card["body"][0]["color"], "Good");
    assert_eq!(
        card["body"][1]["text"],
        "disable_account on b.jones@contoso.com"
    );
    assert!(card.get("actions").is_none());
}

/// The webhook URL is a secret: neither failures nor refusals repeat it.
#[tokio::test]
async fn errors_never_contain_the_webhook_url() {
    let app = axum::Router::new().route(
        "/workflows/x",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": {"code": "TriggerInputSchemaMismatch",
                                            "message": "sig=s3cr3t-sig was wrong"}})),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = Client::new();
    let request = request(Vec::new());
    for url in [
        format!("http://{addr}/workflows/x?api-version=1&sig=s3cr3t-sig"),
        "http://127.0.0.1:1/workflows/x?sig=s3cr3t-sig".to_string(),
    ] {
        let teams = Teams::new(&TeamsSettings::from_url(&url).unwrap());
        let err = teams.send(&http, &request).await.unwrap_err().to_string();
        assert!(
            !err.contains("s3cr3t") && !err.contains("workflows"),
            "{err}"
        );
        assert!(!format!("{teams:?}").contains("s3cr3t"));
    }
    let teams = Teams::new(
        &TeamsSettings::from_url(&format!("http://{addr}/workflows/x?sig=s3cr3t-sig")).unwrap(),
    );
    let err = teams.send(&http, &request).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the Teams webhook answered 400 (TriggerInputSchemaMismatch)"
    );
}
