//! The Teams channel end to end: a gated step's card arrives at a fake Workflows webhook with the
//! evidence and links that open the approval page; outcomes follow as cards, once each.

use crate::helpers::wait_until;
use crate::stack::{SIG, Stack, facts, open_urls};

/// A step that needs approval puts a card in Teams with the evidence and one link per approver;
/// the link opens the stanch approval page, and the outcome follows as a second card.
#[test]
fn a_gated_step_posts_an_adaptive_card_whose_links_open_the_approval_page() {
    let stack = Stack::start();
    stack.post_surge("tm-1", "b.jones@contoso.com");
    let cards = stack.wait_for_cards(1);
    let post = stack.hook.posts()[0].clone();
    assert!(post.content_type.starts_with("application/json"));
    assert!(post.query.ends_with(&format!("sig={SIG}")), "the full URL");
    assert_eq!(post.body["type"], "message");
    let attachment = &post.body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(attachment["contentUrl"].is_null());
    let card = &cards[0];
    assert_eq!(
        (card["type"].as_str(), card["version"].as_str()),
        (Some("AdaptiveCard"), Some("1.4"))
    );

    let facts = facts(card);
    let fact = |title: &str| {
        facts
            .iter()
            .find(|(t, _)| t == title)
            .unwrap_or_else(|| panic!("no fact {title}: {facts:?}"))
            .1
            .clone()
    };
    assert_eq!(fact("Action"), "disable_account");
    assert_eq!(fact("Target"), "b.jones@contoso.com");
    assert!(fact("Detection").contains("Sender Surge (critical)"));
    assert!(fact("Approvers").contains("group:SOC Tier 2"));
    let links = open_urls(card);
    let titles: Vec<&str> = links.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Review as f.okafor@contoso.com",
            "Review as g.muller@contoso.com"
        ]
    );
    let approve_base = format!("{}/approve/", stack.server.url);
    assert!(
        links.iter().all(|(_, url)| url.starts_with(&approve_base)),
        "{links:?}"
    );

    // The link opens the page with the evidence; opening it decides nothing.
    let (status, html) = stack.tenant.runtime.block_on(async {
        let response = reqwest::get(&links[0].1).await.unwrap();
        (response.status(), response.text().await.unwrap())
    });
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("f.okafor@contoso.com")
            && html.contains("disable_account")
            && html.contains("b.jones@contoso.com"),
        "{html}"
    );
    let id = stack.pending_id();
    assert_eq!(stack.show(id)["state"], "pending");
    let deliveries = stack.show(id)["deliveries"].clone();
    assert_eq!(deliveries[0]["channel"], "teams");
    assert_eq!(deliveries[0]["ok"], true, "{deliveries}");

    // Deciding on the page posts the outcome as a follow-up card (the first cannot be edited).
    let status = stack.tenant.runtime.block_on(async {
        reqwest::Client::new()
            .post(&links[0].1)
            .form(&[
                ("decision", "approve"),
                ("reason", "confirmed with the manager"),
            ])
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let cards = stack.wait_for_cards(2);
    let follow_up = cards[1].to_string();
    assert!(
        follow_up.contains("Approved by f.okafor@contoso.com"),
        "{follow_up}"
    );
    assert!(follow_up.contains(&format!("action #{id}")), "{follow_up}");
    assert!(cards[1].get("actions").is_none());
    wait_until(20, "the approved disable did not run", || {
        stack.tenant.user("b.jones@contoso.com")["accountEnabled"] == false
    });
    // The other approver's link now explains instead of offering a form.
    let html = stack.tenant.runtime.block_on(async {
        reqwest::get(&links[1].1)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        html.contains("no longer waiting for a decision") && !html.contains("<form"),
        "{html}"
    );
    stack.assert_webhook_url_never_shown();
}

/// Nobody answers: the escalation is a new card for the new audience, and each outcome is
/// posted once (not once per round); a denial runs nothing.
#[test]
fn an_escalation_is_a_new_card_and_each_outcome_is_posted_once() {
    let stack = Stack::start();
    stack.post_surge("tm-2", "e.novak@contoso.com");
    stack.wait_for_cards(1);
    let id = stack.pending_id();
    stack.tenant.runtime.block_on(async {
        let pool = crate::helpers::raw_sqlite(&stack.env).await;
        let sql = format!(
            "UPDATE actions SET approval_deadline = '2000-01-01T00:00:00.000000Z' WHERE pk = {id}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    });
    let job = stack
        .env
        .stanch(&["job", "run", "approval-timeouts", "--config", &stack.config]);
    assert_eq!(job.code, 0, "{job:?}");
    let cards = stack.wait_for_cards(3);
    assert!(
        cards[1]["body"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Approval needed (escalated): disable_account on e.novak@contoso.com"),
        "{}",
        cards[1]
    );
    let links = open_urls(&cards[1]);
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].0, "Review as secops-lead@contoso.com");
    assert!(
        cards[2]
            .to_string()
            .contains("Nobody answered in time; escalated")
    );

    let status = stack.tenant.runtime.block_on(async {
        reqwest::Client::new()
            .post(&links[0].1)
            .form(&[
                ("decision", "deny"),
                ("reason", "the user is on a known trip"),
            ])
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let cards = stack.wait_for_cards(4);
    assert!(
        cards[3]
            .to_string()
            .contains("Denied by secops-lead@contoso.com")
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        stack.hook.posts().len(),
        4,
        "one card per event: {:?}",
        stack.hook.cards()
    );
    assert_eq!(stack.show(id)["state"], "denied");
    assert_eq!(
        stack.tenant.user("e.novak@contoso.com")["accountEnabled"],
        true
    );
}
