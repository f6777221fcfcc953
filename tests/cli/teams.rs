//! The Teams channel end to end: a gated step's card arrives at a fake Workflows webhook with the
//! evidence, each approver's link (which opens the approval page) goes to them alone through the
//! personal flow; outcomes follow as cards, once each.

use crate::harness::detection::surge;
use crate::harness::fakes::{TEAMS_SIG as SIG, facts, open_urls};
use crate::harness::{TestApp, wait_until};

/// The real `stanch serve` in active mode against the emulator, with the Teams channel posting
/// to a fake Workflows webhook; its links point at the server (no `approvals.public_url`: it
/// links to the address it bound, and the CLI's jobs are told it). Logs at debug: even then the
/// webhook URL must not show.
pub(crate) fn start() -> TestApp {
    TestApp::builder()
        .tenant()
        .intake()
        .teams()
        .pin_public_url()
        .log_level("debug")
        .serve()
        .build()
}

/// Posts a sender surge from `upn` (no IP, so only disabling the account waits for approval).
pub(crate) fn post_surge(app: &TestApp, id: &str, upn: &str) {
    let (status, body) = app.post_detections(surge(id, upn, None));
    assert_eq!(status, 202, "{body}");
}

/// A step that needs approval puts a card in Teams with the evidence and one link per approver;
/// the link opens the stanch approval page, and the outcome follows as a second card.
#[test]
fn a_gated_step_posts_an_adaptive_card_whose_links_open_the_approval_page() {
    let stack = start();
    post_surge(&stack, "tm-1", "b.jones@contoso.com");
    let cards = stack.teams().wait_for_cards(1);
    let post = stack.teams().posts()[0].clone();
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
    // The shared channel never sees a signed link: each approver gets their own, alone, in a
    // chat of their own (the personal flow), and the card says so.
    assert!(open_urls(card).is_empty(), "{card}");
    assert!(!card.to_string().contains("/approve/"), "{card}");
    assert!(
        card.to_string().contains("personal approval link"),
        "{card}"
    );
    let personal = stack.teams().wait_for_personal_links(2);
    assert!(
        personal
            .iter()
            .all(|(to, title, _)| title == &format!("Review as {to}")),
        "each link goes to the person it names: {personal:?}"
    );
    let links: Vec<(String, String)> = personal.into_iter().map(|(_, t, u)| (t, u)).collect();
    let titles: Vec<&str> = links.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Review as f.okafor@contoso.com",
            "Review as g.muller@contoso.com"
        ]
    );
    let approve_base = stack.url("/approve/");
    assert!(
        links.iter().all(|(_, url)| url.starts_with(&approve_base)),
        "{links:?}"
    );

    // The link opens the page with the evidence; opening it decides nothing.
    let (status, html) = stack.get(&links[0].1);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("f.okafor@contoso.com")
            && html.contains("disable_account")
            && html.contains("b.jones@contoso.com"),
        "{html}"
    );
    let id = stack.pending_approval_id();
    assert_eq!(stack.approval(id)["state"], "pending");
    let deliveries = stack.approval(id)["deliveries"].clone();
    assert_eq!(deliveries[0]["channel"], "teams");
    assert_eq!(deliveries[0]["ok"], true, "{deliveries}");

    // Deciding on the page posts the outcome as a follow-up card (the first cannot be edited).
    let (status, _) = stack.submit_form(
        &links[0].1,
        &[
            ("decision", "approve"),
            ("reason", "confirmed with the manager"),
        ],
    );
    assert_eq!(status, 200);
    let cards = stack.teams().wait_for_cards(2);
    let follow_up = cards[1].to_string();
    assert!(
        follow_up.contains("Approved by f.okafor@contoso.com"),
        "{follow_up}"
    );
    assert!(follow_up.contains(&format!("action #{id}")), "{follow_up}");
    assert!(cards[1].get("actions").is_none());
    wait_until(20, "the approved disable did not run", || {
        stack.tenant().user("b.jones@contoso.com")["accountEnabled"] == false
    });
    // The other approver's link now explains instead of offering a form.
    let (_, html) = stack.get(&links[1].1);
    assert!(
        html.contains("no longer waiting for a decision") && !html.contains("<form"),
        "{html}"
    );
    stack.assert_teams_webhook_url_never_shown();
}

/// Nobody answers: the escalation is a new card for the new audience, and each outcome is
/// posted once (not once per round); a denial runs nothing.
#[test]
fn an_escalation_is_a_new_card_and_each_outcome_is_posted_once() {
    let stack = start();
    post_surge(&stack, "tm-2", "e.novak@contoso.com");
    stack.teams().wait_for_cards(1);
    let id = stack.pending_approval_id();
    // Nobody answers until past the deadline: the job runs as of then.
    stack.clock.advance_past(stack.approval_deadline(id));
    let (job, _) = stack.job("approval-timeouts");
    assert_eq!(job.code, 0, "{job:?}");
    let cards = stack.teams().wait_for_cards(3);
    assert!(
        cards[1]["body"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Approval needed (escalated): disable_account on e.novak@contoso.com"),
        "{}",
        cards[1]
    );
    assert!(open_urls(&cards[1]).is_empty(), "{}", cards[1]);
    let personal = stack.teams().wait_for_personal_links(3);
    let links: Vec<(String, String)> = personal[2..]
        .iter()
        .map(|(_, t, u)| (t.clone(), u.clone()))
        .collect();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].0, "Review as secops-lead@contoso.com");
    assert_eq!(personal[2].0, "secops-lead@contoso.com");
    assert!(
        cards[2]
            .to_string()
            .contains("Nobody answered in time; escalated")
    );

    let (status, _) = stack.submit_form(
        &links[0].1,
        &[
            ("decision", "deny"),
            ("reason", "the user is on a known trip"),
        ],
    );
    assert_eq!(status, 200);
    let cards = stack.teams().wait_for_cards(4);
    assert!(
        cards[3]
            .to_string()
            .contains("Denied by secops-lead@contoso.com")
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        stack.teams().posts().len(),
        4,
        "one card per event: {:?}",
        stack.teams().cards()
    );
    assert_eq!(stack.approval(id)["state"], "denied");
    assert_eq!(
        stack.tenant().user("e.novak@contoso.com")["accountEnabled"],
        true
    );
}
