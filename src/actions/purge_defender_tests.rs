//! `purge_messages` through Defender for Office 365 (`containment.purge_backend: defender`)
//! against the emulator: one remediation reaches every recipient (the mailbox the app may not
//! read too), only the wave's copies move, rollback puts them back in the Inbox.

use serde_json::{Value, json};

use super::purge_tests::{BENIGN, WAVE_1, WAVE_2, WAVE_2_READABLE, folders, purge};
use super::tests::{Setup, setup_with, trail};
use super::{ActionError, ActionRunner};

const DEFENDER: &str = "containment:\n  purge_backend: defender\n";

fn calls(s: &Setup, method: &str, path_part: &str) -> Vec<String> {
    (s.emulator.emulator.requests().into_iter())
        .filter(|r| r.method == method && r.path.contains(path_part))
        .map(|r| r.path)
        .collect()
}

fn remediations(s: &Setup) -> Vec<Value> {
    (s.emulator.emulator.requests().into_iter())
        .filter(|r| r.method == "POST" && r.path.ends_with("/analyzedEmails/remediate"))
        .filter_map(|r| r.body)
        .collect()
}

#[tokio::test]
async fn one_remediation_pulls_the_wave_from_every_inbox_even_one_the_app_cannot_read() {
    let s = setup_with(DEFENDER).await;
    let action = purge("a.silva@contoso.com", WAVE_2, json!({}));
    let done = s.runner.run(&action).await.unwrap();
    let state = s.emulator.emulator.state();
    for upn in WAVE_2_READABLE.iter().chain(&["it.admin@contoso.com"]) {
        assert_eq!(
            folders(&state, upn, WAVE_2),
            ["deleteditems"],
            "{upn}: {}",
            done.outcome
        );
    }
    assert_eq!(
        folders(&state, "c.lee@contoso.com", BENIGN),
        ["inbox"],
        "the benign message stays"
    );
    assert_eq!(
        folders(&state, "c.lee@contoso.com", WAVE_1),
        ["inbox"],
        "another wave is another id"
    );
    assert_eq!(
        folders(&state, "a.silva@contoso.com", WAVE_2),
        ["sentitems"],
        "the sender's copy is evidence"
    );

    let sent = remediations(&s);
    assert_eq!(sent.len(), 1, "one remediation for the whole wave");
    assert_eq!(sent[0]["action"], "moveToDeletedItems");
    assert_eq!(sent[0]["remediateSendersCopy"], false);
    assert_eq!(sent[0]["analyzedEmails"].as_array().unwrap().len(), 7);
    assert!(
        calls(&s, "GET", "/messages").is_empty(),
        "no mailbox is read"
    );
    assert_eq!(done.outcome["backend"], "defender");
    let audited = trail(&s).await;
    assert!(
        audited
            .iter()
            .any(|(kind, p)| kind == "graph.request" && p.contains("analyzedEmails/remediate")),
        "the remediation is audited before it is sent"
    );

    s.runner
        .rollback(
            &action,
            &done.restore.expect("a soft remediation is undoable"),
        )
        .await
        .unwrap();
    assert_eq!(remediations(&s)[1]["action"], "moveToInbox");
    let state = s.emulator.emulator.state();
    for upn in WAVE_2_READABLE {
        assert_eq!(folders(&state, upn, WAVE_2), ["inbox"], "{upn} has it back");
    }
}

#[tokio::test]
async fn a_hard_remediation_is_announced_as_irreversible_and_cannot_be_rolled_back() {
    let s = setup_with(DEFENDER).await;
    let action = purge(
        "b.jones@contoso.com",
        WAVE_1,
        json!({"mode": "hard", "sent_around": "2021-06-01T10:00:00Z"}),
    );
    let done = s.runner.run(&action).await.unwrap();
    assert!(done.restore.is_none());
    assert_eq!(remediations(&s)[0]["action"], "hardDelete");
    let state = s.emulator.emulator.state();
    assert!(folders(&state, "c.lee@contoso.com", WAVE_1).is_empty());
    let kinds: Vec<String> = trail(&s).await.into_iter().map(|(k, _)| k).collect();
    let announced = kinds
        .iter()
        .position(|k| k == "action.irreversible")
        .unwrap();
    let last_request = kinds.iter().rposition(|k| k == "graph.request").unwrap();
    assert!(announced < last_request, "{kinds:?}");
}

#[tokio::test]
async fn a_wave_over_the_budget_waits_for_a_person_and_nothing_is_remediated() {
    let s = setup_with(DEFENDER).await;
    let over = purge("a.silva@contoso.com", WAVE_2, json!({"max_recipients": 3}));
    let error = s.runner.run(&over).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::NeedsHuman { reason, .. } if reason.contains("7 mailboxes")),
        "{error}"
    );
    assert!(remediations(&s).is_empty());
}
