use chrono::{DateTime, Utc};
use serde_json::Map;

use stanch_core::engine::{Gate, Plan, PlannedAction};
use stanch_core::intake::{Detection, UserRef, parse_generic};
use stanch_core::vocab::ActionKind;
use stanch_core::vocab::Mode;

pub fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2021-06-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

pub fn detection(n: usize) -> Detection {
    parse_generic(&format!(
        r#"{{"id":"{n}","name":"SaaS::Compromise::Login","observed_at":"2021-06-01T00:00:00Z",
            "severity":"high","user":{{"upn":"user{n}@contoso.com"}}}}"#
    ))
    .unwrap()
}

/// Two actions: one automatic, one that needs approval.
pub fn plan(detection: &Detection, mode: Mode) -> Plan {
    let action = |step: &str, kind: ActionKind, gate: Gate| PlannedAction {
        key: format!("{}/{step}", detection.key()),
        playbook: "compromise".into(),
        step: step.into(),
        action: kind,
        target: Some(UserRef {
            upn: detection.user.as_ref().and_then(|u| u.upn.clone()),
            id: None,
        }),
        params: Map::new(),
        mode,
        gate,
        expires_after_secs: Some(3600),
        reason: "matched SaaS / Compromise / *".into(),
        recorded_at: None,
    };
    Plan {
        detection: detection.key(),
        campaign: None,
        evaluated_at: "2021-06-01T00:00:00Z".into(),
        matched: Vec::new(),
        actions: vec![
            action("revoke", ActionKind::RevokeSessions, Gate::Automatic),
            action(
                "disable",
                ActionKind::DisableAccount,
                Gate::Approval {
                    reasons: vec!["step asks for approval".into()],
                    policy: None,
                },
            ),
        ],
        skipped: Vec::new(),
    }
}

pub fn batch(first: usize, count: usize, mode: Mode) -> (Vec<Detection>, Vec<Plan>) {
    let detections: Vec<Detection> = (first..first + count).map(detection).collect();
    let plans = detections.iter().map(|d| plan(d, mode)).collect();
    (detections, plans)
}

/// Each detection with its plan, as intake hands them to the store.
pub fn accepted<'a>(
    detections: &'a [Detection],
    plans: &'a [Plan],
) -> Vec<crate::store::Evaluation<'a>> {
    detections
        .iter()
        .zip(plans)
        .map(|(detection, plan)| crate::store::Evaluation::Accepted {
            line: None,
            detection,
            plan,
        })
        .collect()
}
