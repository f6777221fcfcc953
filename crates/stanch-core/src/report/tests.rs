use chrono::{DateTime, Utc};

use super::*;
use crate::rails::Budget;

fn at(minute: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2021-06-01T10:{minute:02}:00Z"))
        .unwrap()
        .to_utc()
}

fn row(seq: i64, kind: &str, target: &str, minute: u32, reasons: &[&str]) -> PassiveAction {
    PassiveAction {
        playbook: "p".into(),
        kind: kind.into(),
        target: Some(target.into()),
        gate_reasons: reasons.iter().map(|r| r.to_string()).collect(),
        refused: Vec::new(),
        detection_seq: seq,
        observed_at: at(minute),
    }
}

#[test]
fn replays_cooldowns_budgets_and_gates_in_detection_time() {
    let safety = SafetySettings {
        budgets: vec![Budget {
            name: "disables".into(),
            action: Some(ActionKind::DisableAccount),
            playbook: None,
            max: 2,
            per_secs: 3600,
        }],
        ..SafetySettings::default()
    };
    let rows = vec![
        row(1, "revoke_sessions", "a@x", 0, &[]),
        row(2, "revoke_sessions", "a@x", 5, &[]), // within 15m: suppressed
        row(3, "revoke_sessions", "a@x", 30, &[]), // after the cooldown: runs
        row(4, "disable_account", "a@x", 0, &[]),
        row(5, "disable_account", "b@x", 1, &[]),
        row(6, "disable_account", "c@x", 2, &[]), // third account in the hour: held
        row(
            7,
            "disable_account",
            "d@x",
            3,
            &["step `disable` requires approval"],
        ),
        row(
            8,
            "disable_account",
            "bg@x",
            4,
            &["`bg@x` is a protected account: never touched without a human"],
        ),
    ];
    let report = build(rows, &safety);
    assert_eq!(report.detections, 8);
    assert_eq!(report.from.as_deref(), Some("2021-06-01T10:00:00Z"));
    let actions = &report.playbooks[0].actions;
    let revoke = actions
        .iter()
        .find(|a| a.action == "revoke_sessions")
        .unwrap();
    assert_eq!(
        (
            revoke.planned,
            revoke.accounts,
            revoke.would_run,
            revoke.suppressed_by_cooldown
        ),
        (3, 1, 2, 1)
    );
    let disable = actions
        .iter()
        .find(|a| a.action == "disable_account")
        .unwrap();
    assert_eq!(disable.planned, 5);
    assert_eq!(disable.accounts, 5);
    assert_eq!(disable.would_run, 2);
    assert_eq!(disable.held_by_budget["disables"], 1);
    assert_eq!(disable.step_approval, 1);
    assert_eq!(disable.protected, 1);
}

fn block(seq: i64, minute: u32, refused: &[(&str, &str)]) -> PassiveAction {
    PassiveAction {
        target: None,
        refused: refused
            .iter()
            .map(|(r, why)| (r.to_string(), why.to_string()))
            .collect(),
        ..row(seq, "block_ips", "", minute, &[])
    }
}

#[test]
fn refused_blocks_are_reported_with_each_range_and_why_and_never_would_run() {
    let rows = vec![
        block(
            1,
            0,
            &[("0.0.0.0/0", "is the default route: every IPv4 address")],
        ),
        block(2, 1, &[]),
    ];
    let report = build(rows, &SafetySettings::default());
    let blocks = &report.playbooks[0].actions[0];
    assert_eq!(
        (blocks.planned, blocks.refused, blocks.would_run),
        (2, 1, 1)
    );
    assert_eq!(
        blocks.refused_ranges["0.0.0.0/0"],
        "is the default route: every IPv4 address"
    );
}

#[test]
fn a_budget_counts_tenant_wide_blocks_one_each_and_holds_the_one_over() {
    let safety = SafetySettings {
        budgets: vec![
            Budget {
                name: "blocks".into(),
                action: Some(ActionKind::BlockIps),
                playbook: None,
                max: 1,
                per_secs: 3600,
            },
            Budget {
                name: "everything".into(),
                action: None,
                playbook: None,
                max: 1,
                per_secs: 3600,
            },
        ],
        ..SafetySettings::default()
    };
    // `everything` is spent by the first block; a notification is not counted, so it runs.
    let notify = PassiveAction {
        target: None,
        ..row(3, "notify", "", 2, &[])
    };
    let report = build(vec![block(1, 0, &[]), block(2, 1, &[]), notify], &safety);
    let actions = &report.playbooks[0].actions;
    let blocks = actions.iter().find(|a| a.action == "block_ips").unwrap();
    assert_eq!(blocks.would_run, 1);
    assert_eq!(blocks.held_by_budget["blocks"], 1);
    assert_eq!(blocks.suppressed_by_cooldown, 0, "no account, no cooldown");
    let notify = actions.iter().find(|a| a.action == "notify").unwrap();
    assert_eq!(notify.would_run, 1);
}
