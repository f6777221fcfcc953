//! The signed approval page in a real browser: headless Chromium, driven through chromedriver,
//! opens the approver's personal link from Teams and approves with the page's own form.

use serde_json::Value;

use crate::harness::fakes::open_urls;
use crate::harness::webdriver::Browser;
use crate::harness::{LINK_SECRET, TestApp};
use crate::teams::{post_surge, start};

const REASON: &str = "Bestätigt: the manager says she is not travelling — disable";

/// The decisions recorded for action `id`.
fn decisions(stack: &TestApp, id: i64) -> Vec<Value> {
    stack.approval(id)["decisions"].as_array().cloned().unwrap()
}

#[test]
fn approving_in_chromium_through_the_personal_link_from_teams() {
    let Some(browser) = Browser::launch() else {
        return;
    };
    let stack = start();
    post_surge(&stack, "cr-1", "b.jones@contoso.com");
    let cards = stack.teams().wait_for_cards(1);
    assert!(
        open_urls(&cards[0]).is_empty(),
        "no link in the shared channel"
    );
    let links: Vec<(String, String)> = (stack.teams().wait_for_personal_links(2).into_iter())
        .map(|(_, title, url)| (title, url))
        .collect();
    let (title, link) = &links[0];
    assert_eq!(title, "Review as f.okafor@contoso.com");
    let id = stack.pending_approval_id();

    // The page shows the evidence; loading it (twice) decides nothing.
    browser.goto(link);
    assert_eq!(browser.title(), "Approval requested · stanch");
    browser.refresh();
    let text = browser.text();
    for expected in [
        "f.okafor@contoso.com",
        "disable_account",
        "b.jones@contoso.com",
        "Parameters",
        "{}",
        "sender-surge / disable",
        "awaiting_approval",
        "Antigena Email: Unusual Login Location + Sender Surge",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert_eq!(stack.approval(id)["state"], "pending");
    assert!(decisions(&stack, id).is_empty());

    // A second tab keeps the form open, to submit it again once the action is decided.
    let main = browser.window();
    let stale = browser.new_tab();
    browser.goto(link);
    browser.switch_to(&main);

    browser.type_into("input[name=reason]", REASON);
    browser.click("button[value=approve]");
    assert_eq!(
        browser.title(),
        "Decision recorded · stanch",
        "{}",
        browser.source()
    );
    assert!(browser.text().contains("approved"), "{}", browser.text());
    crate::harness::wait_until(20, "the approved disable did not run", || {
        stack.tenant().user("b.jones@contoso.com")["accountEnabled"] == false
    });
    let recorded = decisions(&stack, id);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["channel"], "link");
    assert_eq!(recorded[0]["approver"], "f.okafor@contoso.com");
    assert_eq!(recorded[0]["decision"], "approve");
    assert_eq!(
        recorded[0]["reason"], REASON,
        "the reason arrives as typed (UTF-8)"
    );

    // Reloading the result page re-posts the form (chromedriver turns off the repost prompt):
    // refused. Opening the link again shows why there is no form; the form left open in the
    // other tab is refused too.
    browser.refresh();
    assert_eq!(browser.title(), "Already decided · stanch");
    assert!(
        browser.text().contains("is not waiting for approval"),
        "{}",
        browser.text()
    );
    browser.goto(link);
    assert_eq!(browser.title(), "Already decided · stanch");
    assert!(
        browser
            .text()
            .contains("no longer waiting for a decision (status: succeeded)")
    );
    assert!(
        browser.all("button[value=approve]").is_empty(),
        "no form once decided"
    );
    browser.switch_to(&stale);
    assert_eq!(
        browser.title(),
        "Approval requested · stanch",
        "loaded before the decision"
    );
    browser.type_into("input[name=reason]", "approving twice");
    browser.click("button[value=approve]");
    assert_eq!(browser.title(), "Already decided · stanch");
    assert_eq!(decisions(&stack, id).len(), 1, "decided once");

    // A tampered link (another approver's claims under this link's signature) and an expired one
    // show the refusal page.
    let token = |url: &str| url.rsplit('/').next().unwrap().to_string();
    let mine = token(link);
    let theirs = token(&links[1].1);
    let spliced = format!(
        "{}.{}",
        theirs.split_once('.').unwrap().0,
        mine.split_once('.').unwrap().1
    );
    let expired = stanch::approvals::link::sign_link(
        LINK_SECRET.as_bytes(),
        &stanch::approvals::link::LinkClaims {
            a: id,
            h: stack.approval(id)["action_hash"]
                .as_str()
                .unwrap()
                .to_string(),
            u: "f.okafor@contoso.com".into(),
            e: 1,
        },
    );
    for (token, why) in [
        (spliced, "signature is not valid"),
        (expired, "the link expired"),
    ] {
        browser.goto(&stack.url(&format!("/approve/{token}")));
        assert_eq!(browser.title(), "Link refused · stanch");
        assert!(browser.text().contains(why), "{}", browser.text());
        assert!(browser.all("button[value=approve]").is_empty());
    }
    // The audit trail has the one decision, made through the link.
    let audit = stack.stanch(&["audit", "export"]).stdout;
    let approvals: Vec<Value> = audit
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|r| r["kind"] == "approval.approved")
        .map(|r| serde_json::from_str(r["payload"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["channel"], "link");
    assert_eq!(approvals[0]["approver"], "f.okafor@contoso.com");
    assert_eq!(approvals[0]["reason"], REASON);
    stack.assert_teams_webhook_url_never_shown();
}
