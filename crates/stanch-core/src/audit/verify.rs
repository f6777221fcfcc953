use std::collections::HashMap;

use serde::Serialize;

use super::chain::{AuditRecord, ChainHead, GENESIS_HASH};

/// The outcome of checking a trail. An empty `problems` means the trail is intact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub records_checked: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing wrong with the trail, at the record where it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub seq: i64,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    Edited,
    Deleted,
    Reordered,
    Inserted,
    HeadMismatch,
}

/// Checks a trail: seq contiguous from 1, every hash recomputes, every record links to the one
/// before it, and the last record is the stored chain head (when one is given).
///
/// Records are checked in seq order whatever order they come in, since seq is what the chain
/// commits to. Each kind of tampering is reported once, where it happened, rather than as a
/// cascade of broken links after it.
pub fn verify(
    records: impl IntoIterator<Item = AuditRecord>,
    expected_head: Option<&ChainHead>,
) -> VerifyReport {
    let mut records: Vec<AuditRecord> = records.into_iter().collect();
    records.sort_by_key(|record| record.seq);
    let mut check = Check::new(&records);
    for i in 0..records.len() {
        check.record(i);
    }
    let renumbered_last = check
        .moved
        .last()
        .filter(|&&(i, _)| i + 1 == records.len())
        .map(|&(_, sealed)| sealed);
    check.moved_runs();
    if let Some(head) = expected_head {
        check.head(head, renumbered_last);
    }
    let mut problems = check.problems;
    problems.sort_by_key(|problem| problem.seq);
    VerifyReport {
        records_checked: records.len() as u64,
        problems,
    }
}

struct Check<'a> {
    records: &'a [AuditRecord],
    by_hash: HashMap<&'a str, usize>,
    /// Records already explained by a problem, so links broken by them are not reported again.
    reported: Vec<bool>,
    /// (index, the seq the record was sealed with) for records found under another seq.
    moved: Vec<(usize, i64)>,
    problems: Vec<Problem>,
    next_seq: i64,
}

impl<'a> Check<'a> {
    fn new(records: &'a [AuditRecord]) -> Check<'a> {
        let by_hash = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.hash.as_str(), i))
            .collect();
        Check {
            records,
            by_hash,
            reported: vec![false; records.len()],
            moved: Vec::new(),
            problems: Vec::new(),
            next_seq: 1,
        }
    }

    fn problem(&mut self, seq: i64, kind: ProblemKind, message: String) {
        self.problems.push(Problem { seq, kind, message });
    }

    fn record(&mut self, i: usize) {
        let record = &self.records[i];
        let mut gap = false;
        if record.seq > self.next_seq {
            let missing = seq_range(self.next_seq, record.seq - 1);
            let message = format!(
                "{missing} deleted: the trail jumps from record {} to record {} ({})",
                self.next_seq - 1,
                record.seq,
                record.label()
            );
            self.problem(self.next_seq, ProblemKind::Deleted, message);
            gap = true;
        } else if record.seq < self.next_seq {
            let message = format!(
                "record {} ({}) appears more than once: a forged copy was inserted",
                record.seq,
                record.label()
            );
            self.problem(record.seq, ProblemKind::Inserted, message);
            self.reported[i] = true;
        }
        self.next_seq = self.next_seq.max(record.seq + 1);

        let expected_prev = if i == 0 {
            GENESIS_HASH
        } else {
            self.records[i - 1].hash.as_str()
        };
        // The next record linking straight to our predecessor means we were slipped in between.
        let bypassed = self
            .records
            .get(i + 1)
            .is_some_and(|next| next.seq != record.seq && next.prev_hash == expected_prev);
        if !self.reported[i] {
            let intact = record.compute_hash() == record.hash;
            let sealed = if intact {
                None
            } else {
                self.sealed_seq(record)
            };
            if let Some(sealed) = sealed {
                self.moved.push((i, sealed));
                self.reported[i] = true;
            } else if bypassed {
                let message = format!(
                    "record {} ({}) was inserted: record {} links past it to the record before",
                    record.seq,
                    record.label(),
                    self.records[i + 1].seq
                );
                self.problem(record.seq, ProblemKind::Inserted, message);
                self.reported[i] = true;
            } else if !intact {
                let message = format!(
                    "record {} ({}) was edited: its hash does not match its contents",
                    record.seq,
                    record.label()
                );
                self.problem(record.seq, ProblemKind::Edited, message);
                self.reported[i] = true;
            }
        }

        if record.prev_hash == expected_prev {
            return;
        }
        if gap || self.reported[i] || (i >= 1 && self.reported[i - 1]) {
            return;
        }
        self.reported[i] = true;
        if let Some(&j) = self.by_hash.get(record.prev_hash.as_str()) {
            let message = format!(
                "record {} ({}) was reordered: it was sealed after record {}, not record {}",
                record.seq,
                record.label(),
                self.records[j].seq,
                record.seq - 1
            );
            self.problem(record.seq, ProblemKind::Reordered, message);
        } else if i >= 1 {
            let rewritten = &self.records[i - 1];
            let message = format!(
                "record {} ({}) was rewritten: its hash was recomputed, but record {} was sealed \
                 after a different version of it",
                rewritten.seq,
                rewritten.label(),
                record.seq
            );
            self.problem(rewritten.seq, ProblemKind::Edited, message);
        } else {
            let message = format!(
                "record {} ({}) was forged: it does not start the chain",
                record.seq,
                record.label()
            );
            self.problem(record.seq, ProblemKind::Inserted, message);
        }
    }

    /// The seq a record was sealed with, if its contents are intact but it sits under another seq
    /// (rows renumbered or swapped). Tries the seq its `prev_hash` implies, and its neighbours.
    fn sealed_seq(&self, record: &AuditRecord) -> Option<i64> {
        let after = if record.prev_hash == GENESIS_HASH {
            Some(1)
        } else {
            self.by_hash
                .get(record.prev_hash.as_str())
                .map(|&j| self.records[j].seq + 1)
        };
        [after, Some(record.seq - 1), Some(record.seq + 1)]
            .into_iter()
            .flatten()
            .filter(|&seq| seq != record.seq && seq >= 1)
            .find(|&seq| {
                AuditRecord {
                    seq,
                    ..record.clone()
                }
                .compute_hash()
                    == record.hash
            })
    }

    /// Reports moved records, one problem per run shifted by the same amount (a renumbering after
    /// an insertion moves every later record by one; that is one event, not hundreds).
    fn moved_runs(&mut self) {
        let moved = std::mem::take(&mut self.moved);
        let mut start = 0;
        while start < moved.len() {
            let (first, sealed) = moved[start];
            let shift = self.records[first].seq - sealed;
            let mut end = start + 1;
            while end < moved.len()
                && moved[end].0 == moved[end - 1].0 + 1
                && self.records[moved[end].0].seq - moved[end].1 == shift
            {
                end += 1;
            }
            let record = &self.records[first];
            let message = if end - start == 1 {
                format!(
                    "record {} ({}) was reordered: it was sealed as record {}",
                    record.seq,
                    record.label(),
                    sealed
                )
            } else {
                let last = &self.records[moved[end - 1].0];
                format!(
                    "records {}..{} were renumbered: they were sealed as records {}..{}",
                    record.seq,
                    last.seq,
                    sealed,
                    moved[end - 1].1
                )
            };
            self.problem(record.seq, ProblemKind::Reordered, message);
            start = end;
        }
    }

    fn head(&mut self, head: &ChainHead, renumbered_last: Option<i64>) {
        let mut last = self
            .records
            .last()
            .map_or_else(ChainHead::genesis, ChainHead::from);
        if let Some(sealed) = renumbered_last {
            // A renumbering that shifted the tail is already reported; judge the head by the
            // seq the last record was sealed with.
            last.seq = sealed;
        }
        if last.seq < head.seq {
            let missing = seq_range(last.seq + 1, head.seq);
            let message = format!(
                "{missing} deleted from the end of the trail: the chain head says the last record \
                 is {} but the trail ends at {}",
                head.seq, last.seq
            );
            self.problem(last.seq + 1, ProblemKind::HeadMismatch, message);
        } else if last.seq > head.seq {
            let message = format!(
                "{} come after the chain head (record {}): appended outside stanch or forged",
                seq_range(head.seq + 1, last.seq),
                head.seq
            );
            self.problem(head.seq + 1, ProblemKind::Inserted, message);
        } else if last.hash != head.hash {
            let message = format!(
                "record {} does not match the chain head: the record or the head was edited",
                last.seq
            );
            self.problem(last.seq, ProblemKind::HeadMismatch, message);
        }
    }
}

/// "record 7 was" / "records 7..9 were", for messages.
fn seq_range(first: i64, last: i64) -> String {
    if first == last {
        format!("record {first} was")
    } else {
        format!("records {first}..{last} were")
    }
}

#[cfg(test)]
mod tests;
