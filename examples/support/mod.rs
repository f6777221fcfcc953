//! What the benchmarks share: a plan with one automatic action for a detection's user, and
//! recording such plans as one active run.

use serde_json::Map;
use stanch::engine::{Gate, Plan, PlannedAction};
use stanch::intake::{Detection, UserRef};
use stanch::store::{Evaluation, Store, StoreError};
use stanch::vocab::{ActionKind, Mode};

/// The plan a playbook with one automatic, active step `step` (doing `kind`) makes for `d`.
pub fn one_action_plan(d: &Detection, playbook: &str, step: &str, kind: ActionKind) -> Plan {
    Plan {
        detection: d.key(),
        campaign: None,
        evaluated_at: "2021-06-01T10:00:00Z".into(),
        matched: Vec::new(),
        actions: vec![PlannedAction {
            key: format!("{}/{step}", d.key()),
            playbook: playbook.into(),
            step: step.into(),
            action: kind,
            target: Some(UserRef {
                upn: d.user.as_ref().and_then(|u| u.upn.clone()),
                id: None,
            }),
            params: Map::new(),
            mode: Mode::Active,
            gate: Gate::Automatic,
            expires_after_secs: None,
            reason: "bench".into(),
            recorded_at: None,
        }],
        skipped: Vec::new(),
    }
}

/// Records `detections` and their `plans` as one active run, in batches of 1,000; the run id.
pub async fn record_run(
    store: &Store,
    detections: &[Detection],
    plans: &[Plan],
) -> Result<i64, StoreError> {
    let run = store
        .start_run(Mode::Active, "bench", chrono::Utc::now())
        .await?;
    for (ds, ps) in detections.chunks(1000).zip(plans.chunks(1000)) {
        let items: Vec<Evaluation<'_>> = ds
            .iter()
            .zip(ps)
            .map(|(detection, plan)| Evaluation::Accepted {
                line: None,
                detection,
                plan,
            })
            .collect();
        store.record_batch(run, &items).await?;
    }
    Ok(run)
}
