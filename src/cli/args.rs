//! The operator subcommands of the command line (`stanch campaigns|actions|approvals|job|setup|audit ...`).

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum CampaignsCommand {
    /// List campaigns with their accounts, networks and whether they are confirmed.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The story of one campaign: accounts and how they joined, infrastructure, timeline, actions.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Confirm a campaign by hand: its members are contained like after a confirmed compromise.
    Confirm {
        id: String,
        /// Who confirms; recorded in the audit trail.
        #[arg(long = "as", value_name = "NAME")]
        by: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ActionsCommand {
    /// List planned and executed actions.
    List {
        #[arg(long)]
        json: bool,
        /// Only actions in this status (succeeded, failed, needs_human, pending...).
        #[arg(long)]
        status: Option<String>,
    },
    /// Put a failed (or needs-human) action back in the queue of `stanch serve`.
    Retry {
        id: i64,
        /// Who asks (recorded in the audit trail beside the OS user, as unauthenticated).
        #[arg(long = "as", value_name = "NAME")]
        operator: String,
        #[arg(long)]
        reason: String,
    },
    /// Undo a succeeded action from its recorded restore data.
    Rollback {
        id: i64,
        /// Who asks (recorded in the audit trail beside the OS user, as unauthenticated).
        #[arg(long = "as", value_name = "NAME")]
        operator: String,
        #[arg(long)]
        reason: String,
    },
    /// Push back the deadline of an expiring action (from its old deadline, or from now if
    /// that has passed).
    Extend {
        id: i64,
        /// How much longer, e.g. `24h`, `7d`, `1h30m`.
        #[arg(long, value_name = "DURATION")]
        by: String,
        /// Who decides (recorded in the audit trail).
        #[arg(long = "as", value_name = "NAME")]
        operator: String,
        #[arg(long)]
        reason: String,
    },
    /// Keep an expiring action for good: it becomes permanent and never expires.
    Confirm {
        id: i64,
        /// Who decides (recorded in the audit trail).
        #[arg(long = "as", value_name = "NAME")]
        operator: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ApprovalsCommand {
    /// List approval requests with the target account, the action and the state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one request: the evidence, where it was sent, and every decision.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Approve a gated action (counted toward its quorum).
    Approve {
        id: i64,
        /// Who decides (UPN); checked against the step's approvers.
        #[arg(long = "as", value_name = "NAME")]
        approver: String,
        #[arg(long)]
        reason: String,
    },
    /// Print a signed, short-lived approval link for one approver (needs `approvals.link_secret`).
    Link {
        id: i64,
        /// The approver the link is for (UPN).
        #[arg(long = "for", value_name = "UPN")]
        approver: String,
        /// How long the link stays valid.
        #[arg(long, default_value = "15m")]
        ttl: String,
    },
    /// Deny a gated action; it will not run.
    Deny {
        id: i64,
        #[arg(long = "as", value_name = "NAME")]
        approver: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum JobCommand {
    /// Run the job now; prints its summary as JSON.
    Run {
        name: String,
        /// Run the job as of this time instead of now (RFC 3339): approval timeouts and expiring
        /// actions whose deadline is at or before it are due. For rehearsals and tests.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum SetupCommand {
    /// Create the quarantine group and the Conditional Access policy blocking legacy auth for it
    /// (what an earlier run created is found, not created again; the policy starts report-only).
    LegacyAuth {
        /// Only read: say what would be created or enforced.
        #[arg(long)]
        dry_run: bool,
        /// Enforce the policy: create it enabled, or switch the report-only one on.
        #[arg(long)]
        enforce: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Check the hash chain; names every edited, deleted or reordered record.
    Verify {
        /// Verify an exported JSONL file instead of the database.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Print the verdict, the records checked, each problem and the head as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the audit trail as JSONL.
    Export {
        /// Output file (default: standard output).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Accept this database although its audit anchor vouches for another (a restored
    /// backup, a deliberate fresh start); recorded in the trail with the reason.
    Reanchor {
        /// Why this database replaces the anchored one (recorded).
        #[arg(long)]
        reason: String,
    },
}
