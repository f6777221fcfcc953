//! Raw-SQL tampering with a stored trail (8 records: run.started, three detection.received /
//! plan.decided pairs, run.finished) is caught and the right record named.

use super::suite::tamper_is_named;
use crate::store::Store;
use stanch_core::audit::ProblemKind::{Deleted, Edited, HeadMismatch, Inserted, Reordered};

pub const EDIT: &str = "UPDATE audit_log SET payload = '{}' WHERE seq = 4";
pub const DELETE_MIDDLE: &str = "DELETE FROM audit_log WHERE seq = 5";
pub const DELETE_LAST: &str = "DELETE FROM audit_log WHERE seq = 8";
/// Exchanges two rows' contents, keeping the seq column in place.
pub const SWAP: &str = "UPDATE audit_log SET seq = -3 WHERE seq = 3; \
     UPDATE audit_log SET seq = 3 WHERE seq = 6; \
     UPDATE audit_log SET seq = 6 WHERE seq = -3";
/// Makes room at seq 5 and slips a forged plan.decided in.
pub const INSERT: &str = "UPDATE audit_log SET seq = -seq WHERE seq >= 5; \
     UPDATE audit_log SET seq = 1 - seq WHERE seq < 0; \
     INSERT INTO audit_log (seq, at, kind, subject, payload, prev_hash, hash) \
     SELECT 5, at, 'plan.decided', subject, '{\"actions\":[]}', hash, hash FROM audit_log WHERE seq = 4";

pub const CASES: [(&str, &[(i64, stanch_core::audit::ProblemKind)]); 5] = [
    (EDIT, &[(4, Edited)]),
    (DELETE_MIDDLE, &[(5, Deleted)]),
    (DELETE_LAST, &[(8, HeadMismatch)]),
    (SWAP, &[(3, Reordered), (6, Reordered)]),
    (INSERT, &[(5, Inserted), (6, Reordered)]),
];

#[tokio::test]
async fn sqlite_tampering_is_named() {
    for (tamper, expected) in CASES {
        let store = Store::open("sqlite::memory:").await.unwrap();
        tamper_is_named(&store, tamper, expected).await;
    }
}

#[tokio::test]
async fn edited_message_names_the_record() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    tamper_is_named(&store, EDIT, &[(4, Edited)]).await;
    let report = store.verify_audit().await.unwrap();
    assert_eq!(
        report.problems[0].message,
        "record 4 (detection.received generic/2) was edited: its hash does not match its contents"
    );
}
