use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::audit::{AuditEvent, seal_all};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2021-06-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

/// Ten records: detection.received / plan.decided pairs for darktrace/1..5.
fn trail() -> (Vec<AuditRecord>, ChainHead) {
    let events: Vec<AuditEvent> = (1..=5)
        .flat_map(|n| {
            let subject = format!("darktrace/{n}");
            [
                AuditEvent::new(at(), "detection.received", &subject, json!({"n": n})),
                AuditEvent::new(at(), "plan.decided", &subject, json!({"actions": n})),
            ]
        })
        .collect();
    seal_all(&ChainHead::genesis(), &events)
}

fn kinds(report: &VerifyReport) -> Vec<(i64, ProblemKind)> {
    report.problems.iter().map(|p| (p.seq, p.kind)).collect()
}

/// Swaps everything but seq, the way an UPDATE of two rows' columns would.
fn swap_contents(records: &mut [AuditRecord], a: usize, b: usize) {
    let (seq_a, seq_b) = (records[a].seq, records[b].seq);
    records.swap(a, b);
    records[a].seq = seq_a;
    records[b].seq = seq_b;
}

#[test]
fn intact_trail_verifies() {
    let (records, head) = trail();
    let report = verify(records, Some(&head));
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records_checked, 10);
}

#[test]
fn empty_trail_matches_genesis_head() {
    assert!(verify(Vec::new(), Some(&ChainHead::genesis())).is_intact());
    assert!(verify(Vec::new(), None).is_intact());
}

#[test]
fn order_of_input_does_not_matter() {
    let (mut records, head) = trail();
    records.reverse();
    assert!(verify(records, Some(&head)).is_intact());
}

#[test]
fn edited_record_is_named_without_cascade() {
    let (mut records, head) = trail();
    records[3].payload = r#"{"actions":0}"#.into();
    let report = verify(records, Some(&head));
    assert_eq!(kinds(&report), [(4, ProblemKind::Edited)]);
    assert_eq!(
        report.problems[0].message,
        "record 4 (plan.decided darktrace/2) was edited: its hash does not match its contents"
    );
}

#[test]
fn edited_and_rehashed_record_is_named() {
    let (mut records, head) = trail();
    records[3].subject = "darktrace/99".into();
    records[3].hash = records[3].compute_hash();
    let report = verify(records, Some(&head));
    assert_eq!(kinds(&report), [(4, ProblemKind::Edited)]);
    assert!(
        report.problems[0].message.contains("rewritten"),
        "{}",
        report.problems[0].message
    );
}

#[test]
fn deleted_middle_record_is_named() {
    let (mut records, head) = trail();
    records.remove(4);
    let report = verify(records, Some(&head));
    assert_eq!(kinds(&report), [(5, ProblemKind::Deleted)]);
    assert!(
        report.problems[0]
            .message
            .starts_with("record 5 was deleted")
    );
}

#[test]
fn deleted_run_names_every_missing_seq() {
    let (mut records, head) = trail();
    records.drain(2..5);
    let report = verify(records, Some(&head));
    assert_eq!(kinds(&report), [(3, ProblemKind::Deleted)]);
    assert!(
        report.problems[0]
            .message
            .starts_with("records 3..5 were deleted")
    );
}

#[test]
fn deleted_first_record_is_named() {
    let (mut records, head) = trail();
    records.remove(0);
    assert_eq!(
        kinds(&verify(records, Some(&head))),
        [(1, ProblemKind::Deleted)]
    );
}

#[test]
fn deleted_last_record_shows_as_head_mismatch() {
    let (mut records, head) = trail();
    records.pop();
    let report = verify(records.clone(), Some(&head));
    assert_eq!(kinds(&report), [(10, ProblemKind::HeadMismatch)]);
    assert!(report.problems[0].message.contains("deleted from the end"));
    // Without a head to compare with, a truncated trail cannot be told from a short one.
    assert!(verify(records, None).is_intact());
}

#[test]
fn edited_head_is_reported() {
    let (records, mut head) = trail();
    head.hash = records[3].hash.clone();
    assert_eq!(
        kinds(&verify(records, Some(&head))),
        [(10, ProblemKind::HeadMismatch)]
    );
}

#[test]
fn swapped_records_are_reported_as_reordered() {
    let (mut records, head) = trail();
    swap_contents(&mut records, 2, 6);
    let report = verify(records, Some(&head));
    assert_eq!(
        kinds(&report),
        [(3, ProblemKind::Reordered), (7, ProblemKind::Reordered)]
    );
    assert_eq!(
        report.problems[0].message,
        "record 3 (detection.received darktrace/4) was reordered: it was sealed as record 7"
    );
}

#[test]
fn swapped_neighbours_are_reported_as_reordered() {
    let (mut records, head) = trail();
    swap_contents(&mut records, 4, 5);
    let report = verify(records, Some(&head));
    assert_eq!(
        kinds(&report),
        [(5, ProblemKind::Reordered), (6, ProblemKind::Reordered)]
    );
}

#[test]
fn forged_record_inserted_with_renumbering_is_named() {
    let (mut records, head) = trail();
    let forged = AuditEvent::new(at(), "plan.decided", "darktrace/3", json!({"actions": 0}));
    let (forged, _) = seal_all(&ChainHead::from(&records[4]), &[forged]);
    records.insert(5, forged[0].clone());
    for record in &mut records[6..] {
        record.seq += 1;
    }
    let report = verify(records, Some(&head));
    assert_eq!(
        kinds(&report),
        [(6, ProblemKind::Inserted), (7, ProblemKind::Reordered)]
    );
    assert_eq!(
        report.problems[0].message,
        "record 6 (plan.decided darktrace/3) was inserted: record 7 links past it to the record before"
    );
    assert_eq!(
        report.problems[1].message,
        "records 7..11 were renumbered: they were sealed as records 6..10"
    );
}

#[test]
fn forged_record_with_bad_hash_inserted_with_renumbering_is_named() {
    let (mut records, head) = trail();
    let mut forged = records[4].clone();
    forged.payload = "{}".into();
    forged.prev_hash = records[4].hash.clone();
    records.insert(5, forged);
    for (i, record) in records.iter_mut().enumerate().skip(5) {
        record.seq = i as i64 + 1;
    }
    let report = verify(records, Some(&head));
    assert_eq!(
        kinds(&report),
        [(6, ProblemKind::Inserted), (7, ProblemKind::Reordered)]
    );
}

#[test]
fn forged_duplicate_seq_is_named() {
    let (mut records, head) = trail();
    let mut forged = records[4].clone();
    forged.payload = "{}".into();
    records.push(forged);
    let report = verify(records, Some(&head));
    assert_eq!(kinds(&report), [(5, ProblemKind::Inserted)]);
}

#[test]
fn forged_record_appended_past_head_is_named() {
    let (mut records, head) = trail();
    let forged = AuditEvent::new(at(), "run.finished", "1", json!({}));
    let (forged, _) = seal_all(&head, &[forged]);
    records.extend(forged);
    let report = verify(records, Some(&head));
    assert_eq!(kinds(&report), [(11, ProblemKind::Inserted)]);
}
