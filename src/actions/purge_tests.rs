//! `purge_messages` against the emulator's story tenant: both waves, the benign message of the
//! same sender, the mailbox the app may not read, the budget, message trace and its cache.

use serde_json::{Value, json};
use stanch_core::engine::Gate;
use stanch_core::vocab::ActionKind;

use super::tests::{planned, setup, setup_on, setup_with};
use super::{ActionError, ActionRunner};
use crate::emulate::{Emulator, Fault, Fixture};

pub(super) const WAVE_1: &str = "<DB7PR04MB5163C1F0A2B3@DB7PR04MB5163.eurprd04.prod.outlook.com>";
pub(super) const WAVE_2: &str = "<AM6PR02MB4417E9D8C7B6@AM6PR02MB4417.eurprd02.prod.outlook.com>";
pub(super) const BENIGN: &str = "<AM6PR02MB4417A1B2C3D4@AM6PR02MB4417.eurprd02.prod.outlook.com>";
pub(super) const WAVE_2_READABLE: [&str; 6] = [
    "b.jones@contoso.com",
    "c.lee@contoso.com",
    "d.patel@contoso.com",
    "e.novak@contoso.com",
    "f.okafor@contoso.com",
    "g.muller@contoso.com",
];

pub(super) fn purge(sender: &str, id: &str, params: Value) -> stanch_core::engine::PlannedAction {
    let mut action = planned(ActionKind::PurgeMessages, sender);
    action.key = format!("purge-{id}-{params}");
    action
        .params
        .insert("internet_message_id".into(), json!(id));
    action
        .params
        .insert("sent_around".into(), json!("2021-06-03T13:52:00Z"));
    if let Value::Object(extra) = params {
        action.params.extend(extra);
    }
    action
}

/// The folders holding copies of `id` in `upn`'s mailbox, by well-known name.
pub(super) fn folders(state: &Value, upn: &str, id: &str) -> Vec<String> {
    state["messages"][upn]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["internetMessageId"] == id)
        .map(|m| m["parentFolderId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_wave_leaves_every_readable_inbox_the_benign_message_stays_and_rollback_returns_it() {
    let s = setup().await;
    let emulator = &s.emulator.emulator;
    let action = purge("a.silva@contoso.com", WAVE_2, json!({}));
    let first = s.runner.run(&action).await.unwrap();
    let state = emulator.state();
    for upn in WAVE_2_READABLE {
        assert_eq!(
            folders(&state, upn, WAVE_2),
            ["deleteditems"],
            "{upn}: {}",
            first.outcome
        );
    }
    assert_eq!(folders(&state, "c.lee@contoso.com", BENIGN), ["inbox"]);
    assert_eq!(folders(&state, "d.patel@contoso.com", BENIGN), ["inbox"]);
    assert_eq!(
        folders(&state, "a.silva@contoso.com", WAVE_2),
        ["sentitems"],
        "the sender's copy is evidence"
    );
    assert_eq!(
        folders(&state, "c.lee@contoso.com", WAVE_1),
        ["inbox"],
        "another wave is another id"
    );
    // The mailbox the app may not read is named, and the outcome says it is partial.
    assert_eq!(folders(&state, "it.admin@contoso.com", WAVE_2), ["inbox"]);
    assert_eq!(first.outcome["partial"], true);
    assert_eq!(
        first.outcome["unreadable"][0]["mailbox"],
        "it.admin@contoso.com"
    );
    assert_eq!(first.outcome["unreadable"][0]["status"], 403);
    assert_eq!(first.outcome["moved"], 6);
    // 2021 is beyond message trace's 90 days: not asked, and the evidence says why.
    assert_eq!(
        first.evidence.0["found_by"]["message_trace"]["asked"],
        false
    );
    let restore = first.restore.clone().expect("soft moves are undoable");
    assert_eq!(restore.0["moved"].as_array().unwrap().len(), 6);

    // A second run finds nothing left to move, and succeeds.
    let second = s
        .runner
        .run(&purge(
            "a.silva@contoso.com",
            WAVE_2,
            json!({"mode": "soft"}),
        ))
        .await
        .unwrap();
    assert_eq!(
        (
            second.outcome["moved"].clone(),
            second.outcome["already_removed"].as_array().unwrap().len()
        ),
        (json!(0), 6)
    );

    s.runner.rollback(&action, &restore).await.unwrap();
    let state = emulator.state();
    for upn in WAVE_2_READABLE {
        assert_eq!(folders(&state, upn, WAVE_2), ["inbox"], "{upn} has it back");
    }
}

#[tokio::test]
async fn a_wave_over_the_budget_waits_for_a_person_unless_one_approved_the_step() {
    let s = setup().await;
    let over = purge("b.jones@contoso.com", WAVE_1, json!({"max_recipients": 3}));
    let error = s.runner.run(&over).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::NeedsHuman { reason, .. } if reason.contains("6 recipients")),
        "{error}"
    );
    let state = s.emulator.emulator.state();
    assert_eq!(
        folders(&state, "c.lee@contoso.com", WAVE_1),
        ["inbox"],
        "nothing moved"
    );

    let mut approved = over.clone();
    approved.gate = Gate::Approval {
        reasons: vec![],
        policy: None,
    };
    let done = s.runner.run(&approved).await.unwrap();
    assert_eq!(done.outcome["moved"], 5, "{}", done.outcome);
}

#[tokio::test]
async fn hard_delete_is_announced_before_it_is_sent_and_leaves_no_restore_data() {
    let s = setup().await;
    let action = purge("b.jones@contoso.com", WAVE_1, json!({"mode": "hard"}));
    let done = s.runner.run(&action).await.unwrap();
    assert!(done.restore.is_none());
    assert_eq!(done.outcome["purged"], 5);
    let state = s.emulator.emulator.state();
    assert!(folders(&state, "g.muller@contoso.com", WAVE_1).is_empty());
    let trail = s.store.audit_records().await.unwrap();
    let announced = trail
        .iter()
        .position(|r| r.kind == "action.irreversible")
        .expect("announced");
    let first_delete = trail
        .iter()
        .position(|r| r.kind == "graph.request" && r.payload.contains("permanentDelete"))
        .expect("sent");
    assert!(announced < first_delete);
}

/// The story tenant with its wave sent three hours ago and the sender's copy deleted.
fn recent_wave_without_sent_copy() -> Fixture {
    let mut tenant: Fixture =
        serde_json::from_str(include_str!("../../examples/tenant.json")).unwrap();
    let sent = (chrono::Utc::now() - chrono::Duration::hours(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for row in &mut tenant.message_traces {
        row["receivedDateTime"] = json!(sent);
    }
    if let Some(copies) = tenant.messages.get_mut("a.silva@contoso.com") {
        copies.retain(|m| m["internetMessageId"] != WAVE_2);
    }
    tenant
}

#[tokio::test]
async fn message_trace_finds_the_recipients_once_when_the_sent_copy_is_gone() {
    let s = setup_on(Emulator::new(recent_wave_without_sent_copy()), "").await;
    let emulator = &s.emulator.emulator;
    let now = chrono::Utc::now().to_rfc3339();
    let mut action = purge("a.silva@contoso.com", WAVE_2, json!({}));
    action.params.insert("sent_around".into(), json!(now));
    let done = s.runner.run(&action).await.unwrap();
    assert_eq!(done.outcome["moved"], 6, "{}", done.evidence.0);
    assert_eq!(
        done.evidence.0["found_by"]["message_trace"]["cached"],
        false
    );

    // Another detection of the same wave: message trace is not asked again.
    action.key.push_str("-again");
    let again = s.runner.run(&action).await.unwrap();
    assert_eq!(
        again.evidence.0["found_by"]["message_trace"]["cached"],
        true
    );
    let traced = emulator
        .requests()
        .iter()
        .filter(|r| r.path.contains("messageTraces"))
        .count();
    assert_eq!(
        traced, 1,
        "one trace request for the wave, whatever its size"
    );
}

#[tokio::test]
async fn a_wave_too_big_for_the_deadline_is_purged_in_part_and_keeps_its_restore_data() {
    let s = setup_with("  action_deadline: 3s\n").await;
    // Every mailbox read takes 400 ms: the pre-check has about a second for six mailboxes.
    s.emulator
        .emulator
        .inject(Fault::latency(400).method("GET").path_prefix("/v1.0/users"));
    let done = s
        .runner
        .for_one_action()
        .run(&purge("a.silva@contoso.com", WAVE_2, json!({})))
        .await
        .unwrap_or_else(|e| panic!("cut short, not failed: {e}"));
    let not_reached = done.outcome["not_reached"].as_array().unwrap();
    assert!(!not_reached.is_empty(), "{}", done.outcome);
    assert_eq!(done.outcome["partial"], true);
    let moved = done.restore.unwrap().0["moved"].as_array().unwrap().len();
    assert!(
        moved >= 1 && moved + not_reached.len() <= 7,
        "{moved} {}",
        done.outcome
    );
    let state = s.emulator.emulator.state();
    let purged = WAVE_2_READABLE
        .iter()
        .filter(|upn| folders(&state, upn, WAVE_2) == ["deleteditems"])
        .count();
    assert_eq!(purged, moved, "the restore data names every message moved");
}
