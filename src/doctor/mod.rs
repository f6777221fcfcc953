//! `stanch doctor`: is this installation ready to contain an attack? Each check yields findings
//! that say what is wrong and what to do: the token, the app's granted permissions against what
//! the playbooks and features need, the quarantine group and its Conditional Access policy, the
//! blocked-IP named location, the approver groups and roles, Slack, approval links, the audit
//! receivers, the database. `stanch serve` runs the same checks at start, and `/readyz` reports the last result.
//!
//! Everything it needs is handed in ([`Subject`]): the CLI builds the Graph client and opens the
//! store (which, as for every command, creates and migrates a database that is not there yet),
//! the server passes its own. Doctor changes nothing in the tenant: it only reads.

mod local;
pub mod permissions;
mod tenant;

use serde::Serialize;
use stanch_core::playbook::PlaybookSet;

use crate::config::Config;
use crate::graph::GraphClient;
use crate::store::Store;

/// How one finding came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Works, but not as it should in production (a report-only policy...).
    Warn,
    /// Containment would fail or be unsafe: fix it (exit 1).
    Fail,
}

/// One result of a check: what was found, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub(crate) fn pass(check: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Pass,
            message: message.into(),
            fix: None,
        }
    }

    pub(crate) fn warn(
        check: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::with_fix(check, Status::Warn, message.into(), fix.into())
    }

    pub(crate) fn fail(
        check: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::with_fix(check, Status::Fail, message.into(), fix.into())
    }

    fn with_fix(check: &'static str, status: Status, message: String, fix: String) -> Finding {
        Finding {
            check,
            status,
            message,
            fix: Some(fix),
        }
    }
}

/// Every finding of one run, in check order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.status == Status::Fail)
    }

    /// The failing findings as one line each (`check: message`), for `/readyz`.
    pub fn failing(&self) -> Vec<String> {
        self.findings
            .iter()
            .filter(|f| f.status == Status::Fail)
            .map(|f| format!("{}: {}", f.check, f.message))
            .collect()
    }

    pub fn to_json(&self) -> serde_json::Value {
        let count = |s: Status| self.findings.iter().filter(|f| f.status == s).count();
        serde_json::json!({
            "ok": !self.failed(),
            "failed": count(Status::Fail),
            "warnings": count(Status::Warn),
            "findings": self.findings,
        })
    }

    /// The report for a person: one line per finding, its fix indented below it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let tag = match f.status {
                Status::Pass => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            out.push_str(&format!("{tag}  {:<12} {}\n", f.check, f.message));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("      {:<12} → {fix}\n", ""));
            }
        }
        let failed = self
            .findings
            .iter()
            .filter(|f| f.status == Status::Fail)
            .count();
        let warned = self
            .findings
            .iter()
            .filter(|f| f.status == Status::Warn)
            .count();
        out.push_str(&match (failed, warned) {
            (0, 0) => "doctor: everything checked is ready\n".to_string(),
            (0, w) => format!("doctor: ready, with {w} warning(s)\n"),
            (f, w) => format!("doctor: {f} check(s) failed, {w} warning(s)\n"),
        });
        out
    }
}

/// What doctor examines: the configuration, and what the caller could build from it.
pub struct Subject<'a> {
    pub config: &'a Config,
    /// The loaded playbooks, or why they could not be loaded.
    pub playbooks: Result<&'a PlaybookSet, String>,
    /// The Graph client (`None` without a `graph` section), or why it could not be built.
    pub graph: Option<Result<GraphClient, String>>,
    /// The opened store, or why it could not be opened.
    pub store: Result<&'a Store, String>,
    /// Whether to connect to the `audit.forward` receivers. `serve` does not: a SIEM that is
    /// down must not make the intake unready (its records wait, and the forwarder says so).
    pub probe_receivers: bool,
}

/// Runs every check.
pub async fn examine(subject: Subject<'_>) -> Report {
    let mut report = Report::default();
    let playbooks = match &subject.playbooks {
        Ok(set) => {
            report.findings.push(Finding::pass(
                "playbooks",
                format!("{} playbook(s) loaded", set.playbooks.len()),
            ));
            Some(*set)
        }
        Err(why) => {
            report.findings.push(Finding::fail(
                "playbooks",
                why.clone(),
                "run `stanch validate` and fix what it lists",
            ));
            None
        }
    };
    match &subject.graph {
        None => report.findings.push(Finding::warn(
            "graph",
            "no `graph` section: nothing in the tenant was checked, and active actions stay pending",
            "configure `graph.tenant_id`, `graph.client_id` and a secret or certificate",
        )),
        Some(Err(why)) => report.findings.push(Finding::fail(
            "graph",
            why.clone(),
            "complete the `graph` section (see the README's configuration table)",
        )),
        Some(Ok(client)) => {
            tenant::check(&mut report, subject.config, playbooks, client).await;
        }
    }
    if subject.probe_receivers {
        local::forwarding(&mut report, subject.config).await;
    }
    local::check(&mut report, subject.config, subject.store).await;
    report
}
