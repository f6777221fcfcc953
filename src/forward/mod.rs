//! Audit streaming to a SIEM: every audit record, once sealed onto the chain, sent in sequence
//! order with its seq and hashes (so the SIEM can check the chain itself) over syslog (RFC 5424
//! over TCP, octet-counted, optionally TLS: `syslog.rs`) or to a Splunk HTTP Event Collector
//! (`hec.rs`).
//!
//! At least once: each forwarder's cursor (the last seq its receiver acknowledged) is kept in
//! the database (`audit_forward`) and forwarding resumes after it, after a restart too; while
//! the receiver is down, the forwarder retries with growing pauses and skips nothing. A record
//! may arrive twice (after a reconnect); its seq says so. With several replicas, the one holding
//! the `audit-forward` lease forwards.

pub mod hec;
pub mod syslog;

use std::time::Duration;

use stanch_core::audit::AuditRecord;
use tokio::sync::watch;

use crate::store::Store;
pub use hec::HecSettings;
pub use syslog::SyslogSettings;

/// `audit.forward`: where the trail goes (either, both or neither).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForwardSettings {
    pub syslog: Option<SyslogSettings>,
    pub hec: Option<HecSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Send(String),
    #[error("the audit trail: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// The named lease of the replica that forwards.
const LEASE: &str = "audit-forward";
/// How often a forwarder that does not hold the lease asks for it again (the heartbeat renews
/// it while held).
const LEASE_EVERY: Duration = Duration::from_secs(5);
/// Records per send.
const BATCH: i64 = 200;
/// How often the trail is looked at for new sealed records.
const POLL: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The record as the SIEM receives it: every field the hash covers, the payload as the exact
/// text that was hashed.
pub(crate) fn record_json(record: &AuditRecord) -> serde_json::Value {
    serde_json::json!({
        "seq": record.seq,
        "at": record.at,
        "kind": record.kind,
        "subject": record.subject,
        "payload": record.payload,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    })
}

enum Sink {
    Syslog(syslog::Syslog),
    Hec(hec::Hec),
}

impl Sink {
    fn name(&self) -> &'static str {
        match self {
            Sink::Syslog(_) => "syslog",
            Sink::Hec(_) => "hec",
        }
    }

    fn target(&self) -> String {
        match self {
            Sink::Syslog(s) => s.address().to_string(),
            Sink::Hec(h) => h.url().to_string(),
        }
    }
}

/// Whether each configured receiver can be reached (and takes the token): `(forwarder,
/// receiver, outcome)`, for `stanch doctor`. Sends no record.
pub async fn probe(settings: &ForwardSettings) -> Vec<(&'static str, String, Result<(), String>)> {
    let mut outcomes = Vec::new();
    if let Some(s) = &settings.syslog {
        let outcome = match syslog::Syslog::new(s.clone()) {
            Ok(mut sink) => sink.probe().await,
            Err(e) => Err(e),
        };
        outcomes.push((
            "syslog",
            s.address.clone(),
            outcome.map_err(|e| e.to_string()),
        ));
    }
    if let Some(h) = &settings.hec {
        let outcome = match hec::Hec::new(h.clone()) {
            Ok(sink) => sink.probe().await,
            Err(e) => Err(e),
        };
        outcomes.push(("hec", h.url.clone(), outcome.map_err(|e| e.to_string())));
    }
    outcomes
}

/// Starts one task per configured receiver; each runs until `stop`.
pub fn spawn(
    store: &Store,
    settings: &ForwardSettings,
    stop: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, ForwardError> {
    let mut sinks = Vec::new();
    if let Some(s) = &settings.syslog {
        sinks.push(Sink::Syslog(syslog::Syslog::new(s.clone())?));
    }
    if let Some(h) = &settings.hec {
        sinks.push(Sink::Hec(hec::Hec::new(h.clone())?));
    }
    Ok(sinks
        .into_iter()
        .map(|sink| tokio::spawn(run(store.clone(), sink, stop.clone())))
        .collect())
}

async fn run(store: Store, mut sink: Sink, mut stop: watch::Receiver<bool>) {
    let (name, target) = (sink.name(), sink.target());
    let after = store.forward_cursor(name).await.unwrap_or_default();
    tracing::info!(forwarder = name, %target, after_seq = after, "forwarding the audit trail");
    let mut backoff = Duration::ZERO;
    let mut failing = false;
    let mut lease: Option<(bool, std::time::Instant)> = None;
    loop {
        let pause = if backoff.is_zero() { POLL } else { backoff };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        // The lease is taken at start and asked for again now and then, not on every round:
        // a write four times a second would contend with intake for SQLite's lock.
        let leads = match lease {
            Some((leads, at)) if at.elapsed() < LEASE_EVERY => Ok(leads),
            _ => store.try_lease(LEASE).await.map_err(ForwardError::from),
        };
        let outcome = match leads {
            Ok(leads) => {
                if lease.is_none_or(|(_, at)| at.elapsed() >= LEASE_EVERY) {
                    lease = Some((leads, std::time::Instant::now()));
                }
                if leads {
                    step(&store, &mut sink).await
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                if failing {
                    tracing::info!(forwarder = name, %target, "the audit receiver takes records again");
                }
                failing = false;
                backoff = Duration::ZERO;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(forwarder = name, %target, error = %e, "cannot forward the audit trail; retrying with backoff, nothing is skipped");
                }
                failing = true;
                backoff = (backoff * 2).clamp(Duration::from_millis(250), MAX_BACKOFF);
            }
        }
    }
}

/// One round: confirm what was sent, then send what follows the cursor.
async fn step(store: &Store, sink: &mut Sink) -> Result<(), ForwardError> {
    let name = sink.name();
    match sink {
        Sink::Hec(hec) => loop {
            let after = store.forward_cursor(name).await?;
            let records = store.audit_records_after(after, BATCH).await?;
            let Some(last) = records.last() else {
                return Ok(());
            };
            hec.send(&records).await?;
            store.set_forward_cursor(name, last.seq).await?;
        },
        Sink::Syslog(syslog) => {
            if let Some(seq) = syslog.confirmed().await? {
                store.set_forward_cursor(name, seq).await?;
            }
            // Sent records are confirmed by time; what is unconfirmed is not sent twice on a
            // live connection, so the next batch starts after the last record sent.
            let after = match syslog.last_sent() {
                Some(seq) => seq,
                None => store.forward_cursor(name).await?,
            };
            let records = store.audit_records_after(after, BATCH).await?;
            if !records.is_empty() {
                syslog.send(&records).await?;
            }
            Ok(())
        }
    }
}
