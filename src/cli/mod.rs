//! The command line: thin glue over the library. `anyhow` lives here and nowhere else.
//!
//! Exit codes: 0 success; 1 the input or playbooks had problems (rejected detections, invalid
//! playbooks, failing tests, a broken audit chain); 2 stanch itself could not do its job.

mod approvals;
mod args;
mod audit;
mod campaigns;
mod demo;
mod demo_approval;
mod demo_evidence;
mod doctor;
mod local;
pub(crate) mod mistake;
mod operate;
mod output;
mod playbooks;
mod report;
mod run;

#[cfg(test)]
mod error_chain;

#[cfg(test)]
pub(crate) use run::graph_runner;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use args::{
    ActionsCommand, ApprovalsCommand, AuditCommand, CampaignsCommand, JobCommand, SetupCommand,
};

use crate::config::Config;
use stanch_core::vocab::Mode;

#[derive(Debug, Parser)]
#[command(
    name = "stanch",
    version,
    about = "Autonomous, auditable response to Microsoft 365 account compromise"
)]
pub struct Cli {
    /// Configuration file (YAML); STANCH_* environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL (sqlite://PATH or postgres://...), overriding the config.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Log format on stderr: `text` or `json` (one object per line, for log shippers).
    /// The level comes from STANCH_LOG (e.g. `info`, `stanch=debug`); default `warn`, `info` for serve.
    #[arg(long, global = true, env = "STANCH_LOG_FORMAT", value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay the attack story through the shipped playbooks against an in-process Graph emulator
    /// and show what was done, to whom, how fast, and each account's final state.
    Demo {
        /// Replay without acting (what would have been done).
        #[arg(long)]
        passive: bool,
    },
    /// Check playbooks and report every problem with file:line:col.
    Validate {
        /// Playbook files or directories (default: the configured playbooks, `playbooks/`).
        paths: Vec<PathBuf>,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Print the playbooks and every diagnostic (file, line, column) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the `tests:` blocks of playbooks.
    Test {
        /// Playbook files or directories (default: the configured playbooks).
        paths: Vec<PathBuf>,
        /// Print each test's outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Process a JSONL stream of detections and print what was done or would be done.
    Run {
        /// JSONL file of detections, or `-` for standard input.
        #[arg(long, short, value_name = "FILE|-")]
        input: String,
        /// Print one JSON object per line on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// The default mode for this run (overrides the config's `mode`); playbooks and steps
        /// that set their own mode keep it.
        #[arg(long, value_parser = ["passive", "active"])]
        mode: Option<String>,
        /// Force every action passive, whatever the config and playbooks say.
        #[arg(long, conflicts_with = "mode")]
        passive: bool,
        /// Print only the summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Serve the HTTP intake (`POST /v1/detections`) and carry out actions durably.
    Serve,
    /// Check that this installation can contain an attack: the Graph token, the app's granted
    /// permissions against what the playbooks need, the quarantine group and its policy, the
    /// named location, approver groups, Slack, approval links, the database. Each finding says
    /// what to do. Exit 0 when nothing fails, 1 when a check fails.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Inspect the tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the JSON Schema of the playbook format (for editors).
    Schema,
    /// What passive mode would have done, per playbook and action, and what the safety rails
    /// (cooldowns, budgets, protected accounts, approvals) would have stopped: the evidence for
    /// promoting a playbook to active.
    Report {
        /// Only detections observed at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only detections observed at or before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Serve a local fake Microsoft 365 tenant that speaks the Graph and token protocols.
    Emulate {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8950")]
        listen: String,
        /// Tenant fixture (JSON); default: the attack story's tenant, built in (`examples/tenant.json`).
        #[arg(long, value_name = "FILE")]
        fixture: Option<PathBuf>,
    },
    /// Run a scheduled job once, now (`poll-alerts`, `verify-audit`, `expire-actions`).
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Actions waiting for a human decision.
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// Inspect and undo executed actions.
    Actions {
        #[command(subcommand)]
        command: ActionsCommand,
    },
    /// One-time tenant setup for containment resources.
    Setup {
        #[command(subcommand)]
        command: SetupCommand,
    },
    /// Campaigns: the accounts of one attack, connected by shared infrastructure.
    Campaigns {
        #[command(subcommand)]
        command: CampaignsCommand,
    },
}

/// The outcome of a command that ran to completion: did it find problems?
pub(crate) enum Verdict {
    Clean,
    /// The input had problems (exit 1).
    Problems,
    /// Actions it carried out failed or ended with an effect nobody can prove (exit 3): the
    /// compromise may not be contained, which a script must not mistake for bad input.
    ActionsFailed,
}

pub fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Asked for help or the version: that is an answer, not a mistake.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // A mistyped command or argument is bad input (1), not stanch failing (2).
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(1);
        }
    };
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("stanch: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(Verdict::Clean) => ExitCode::SUCCESS,
        Ok(Verdict::Problems) => ExitCode::from(1),
        Ok(Verdict::ActionsFailed) => ExitCode::from(3),
        // A closed pipe (`stanch run ... | head`) is the reader's choice, not a failure.
        Err(err)
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) if mistake::is_mistake(&err) => {
            eprintln!("stanch: error: {err:#}");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("stanch: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = if matches!(cli.command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STANCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // A log that cannot be written (its disk is full) must not take the request that logged
    // with it: tracing's own report of the failure is an `eprintln!`, which panics when stderr
    // fails, and a panicking handler drops the connection mid-answer.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    // A second initialization can only happen in tests that call `main` twice; ignore it.
    let _ = if cli.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`stanch demo | head`) would panic; like
/// other Unix tools, stanch should simply stop.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<Verdict> {
    let mut config = Config::load(cli.config.as_deref(), |name| std::env::var(name).ok())?;
    if let Some(url) = cli.database_url {
        config.database_url = crate::config::SecretUrl::database(url);
    }
    match cli.command {
        Command::Demo { passive } => demo::demo(&config, passive).await,
        Command::Validate {
            paths,
            deny_warnings,
            json,
        } => playbooks::validate(&config, paths, deny_warnings, json),
        Command::Test { paths, json } => playbooks::test(&config, paths, json),
        Command::Schema => playbooks::schema(),
        Command::Report { since, until, json } => {
            report::report(&config, since.as_deref(), until.as_deref(), json).await
        }
        Command::Serve => serve::serve(&config).await,
        Command::Doctor { json } => doctor::doctor(&config, json).await,
        Command::Approvals {
            command: ApprovalsCommand::List { json },
        } => approvals::approvals_list(&config, json).await,
        Command::Approvals {
            command: ApprovalsCommand::Show { id, json },
        } => approvals::approvals_show(&config, id, json).await,
        Command::Approvals {
            command: ApprovalsCommand::Link { id, approver, ttl },
        } => approvals::approvals_link(&config, id, &approver, &ttl).await,
        Command::Approvals {
            command:
                ApprovalsCommand::Approve {
                    id,
                    approver,
                    reason,
                },
        } => approvals::approvals_decide(&config, id, &approver, true, &reason).await,
        Command::Approvals {
            command:
                ApprovalsCommand::Deny {
                    id,
                    approver,
                    reason,
                },
        } => approvals::approvals_decide(&config, id, &approver, false, &reason).await,
        Command::Job {
            command: JobCommand::Run { name, now },
        } => serve::run_job(&config, &name, now.as_deref()).await,
        Command::Actions {
            command:
                ActionsCommand::Retry {
                    id,
                    operator,
                    reason,
                },
        } => operate::actions_retry(&config, id, &operator, &reason).await,
        Command::Emulate { listen, fixture } => operate::emulate(&listen, fixture).await,
        Command::Actions {
            command: ActionsCommand::List { json, status },
        } => operate::actions_list(&config, json, status).await,
        Command::Actions {
            command:
                ActionsCommand::Rollback {
                    id,
                    operator,
                    reason,
                },
        } => operate::actions_rollback(&config, id, &operator, &reason).await,
        Command::Actions {
            command:
                ActionsCommand::Extend {
                    id,
                    by,
                    operator,
                    reason,
                },
        } => operate::actions_expiry(&config, id, Some(&by), &operator, &reason).await,
        Command::Actions {
            command:
                ActionsCommand::Confirm {
                    id,
                    operator,
                    reason,
                },
        } => operate::actions_expiry(&config, id, None, &operator, &reason).await,
        Command::Setup {
            command: SetupCommand::LegacyAuth { dry_run, enforce },
        } => {
            let options = crate::actions::SetupOptions { dry_run, enforce };
            operate::setup_legacy_auth(&config, options).await
        }
        Command::Run {
            input,
            json,
            mode,
            passive,
            quiet,
        } => {
            if let Some(mode) = mode.as_deref().and_then(Mode::parse) {
                config.mode = mode;
            }
            run::run(
                &config,
                &input,
                run::Options {
                    json,
                    passive,
                    quiet,
                },
            )
            .await
        }
        Command::Campaigns {
            command: CampaignsCommand::List { json },
        } => campaigns::list(&config, json).await,
        Command::Campaigns {
            command: CampaignsCommand::Show { id, json },
        } => campaigns::show(&config, &id, json).await,
        Command::Campaigns {
            command: CampaignsCommand::Confirm { id, by, reason },
        } => campaigns::confirm(&config, &id, &by, &reason).await,
        Command::Audit {
            command: AuditCommand::Verify { file, json },
        } => audit::verify(&config, file, json).await,
        Command::Audit {
            command: AuditCommand::Export { output },
        } => audit::export(&config, output).await,
        Command::Audit {
            command: AuditCommand::Reanchor { reason },
        } => audit::reanchor(&config, &reason).await,
    }
}
