use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::util::to_hex;

/// The `prev_hash` of the first record: there is nothing before it.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something worth recording, before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    /// A dotted name such as `detection.received` or `plan.decided`.
    pub kind: String,
    /// What the event is about: a detection key, a UPN, a run id.
    pub subject: String,
    /// The payload as JSON text: serialized once, hashed and stored exactly as is.
    pub payload: String,
}

impl AuditEvent {
    pub fn new(
        at: DateTime<Utc>,
        kind: impl Into<String>,
        subject: impl Into<String>,
        payload: impl Serialize,
    ) -> AuditEvent {
        // Serializing our own payload types cannot fail: their map keys are strings.
        let payload = serde_json::to_string(&payload).unwrap_or_else(|_| "null".to_string());
        AuditEvent::with_json(at, kind, subject, payload)
    }

    /// An event whose payload is already JSON text (e.g. built around a pre-serialized body).
    pub fn with_json(
        at: DateTime<Utc>,
        kind: impl Into<String>,
        subject: impl Into<String>,
        payload: String,
    ) -> AuditEvent {
        AuditEvent {
            at,
            kind: kind.into(),
            subject: subject.into(),
            payload,
        }
    }
}

/// A sealed record, exactly as stored and exported (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    /// RFC 3339, UTC, microseconds.
    pub at: String,
    pub kind: String,
    pub subject: String,
    /// The exact JSON text that was hashed; kept as text so re-serializing can never change it.
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// The hash this record's contents call for; differs from `hash` if anything was edited.
    pub fn compute_hash(&self) -> String {
        record_hash(
            self.seq,
            &self.at,
            &self.kind,
            &self.subject,
            &self.payload,
            &self.prev_hash,
        )
    }

    /// Kind and subject, the way a person would name the record: `plan.decided darktrace/123`.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.subject)
    }
}

/// The last record of a chain: where the next record attaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

impl From<&AuditRecord> for ChainHead {
    fn from(record: &AuditRecord) -> ChainHead {
        ChainHead {
            seq: record.seq,
            hash: record.hash.clone(),
        }
    }
}

/// Seals one event onto the chain after `prev`.
pub fn seal(prev: &ChainHead, event: &AuditEvent) -> AuditRecord {
    let seq = prev.seq + 1;
    let at = event.at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let payload = event.payload.clone();
    let hash = record_hash(seq, &at, &event.kind, &event.subject, &payload, &prev.hash);
    AuditRecord {
        seq,
        at,
        kind: event.kind.clone(),
        subject: event.subject.clone(),
        payload,
        prev_hash: prev.hash.clone(),
        hash,
    }
}

/// Seals events in order after `prev`; returns the records and the new head.
pub fn seal_all<'a>(
    prev: &ChainHead,
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> (Vec<AuditRecord>, ChainHead) {
    let mut head = prev.clone();
    let records: Vec<AuditRecord> = events
        .into_iter()
        .map(|event| {
            let record = seal(&head, event);
            head = ChainHead::from(&record);
            record
        })
        .collect();
    (records, head)
}

/// SHA-256 over a domain tag and length-prefixed fields, so bytes cannot be shifted from one
/// field to the next (`kind="a.b", subject="c"` vs `kind="a", subject=".bc"`) without changing it.
fn record_hash(seq: i64, at: &str, kind: &str, subject: &str, payload: &str, prev: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"stanch-audit-v1\0");
    hasher.update(seq.to_be_bytes());
    for field in [at, kind, subject, payload, prev] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    to_hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, subject: &str) -> AuditEvent {
        let at = DateTime::parse_from_rfc3339("2021-06-01T00:00:00Z")
            .unwrap()
            .to_utc();
        AuditEvent::new(at, kind, subject, json!({"n": 1}))
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }

    #[test]
    fn first_record_links_to_genesis_and_chain_advances() {
        let (records, head) = seal_all(
            &ChainHead::genesis(),
            &[event("run.started", "1"), event("run.finished", "1")],
        );
        assert_eq!(records[0].seq, 1);
        assert_eq!(records[0].prev_hash, GENESIS_HASH);
        assert_eq!(records[1].prev_hash, records[0].hash);
        assert_eq!(
            head,
            ChainHead {
                seq: 2,
                hash: records[1].hash.clone()
            }
        );
        assert_eq!(records[0].at, "2021-06-01T00:00:00.000000Z");
        assert_eq!(records[0].hash.len(), 64);
        assert_eq!(records[0].compute_hash(), records[0].hash);
    }

    #[test]
    fn shifting_bytes_between_fields_changes_the_hash() {
        let a = seal(&ChainHead::genesis(), &event("a.b", "c"));
        let b = seal(&ChainHead::genesis(), &event("a", ".bc"));
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn records_round_trip_through_json() {
        let record = seal(&ChainHead::genesis(), &event("plan.decided", "darktrace/1"));
        let line = serde_json::to_string(&record).unwrap();
        let back: AuditRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.compute_hash(), back.hash);
    }
}
