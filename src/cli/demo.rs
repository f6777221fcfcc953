//! `stanch demo`: the attack story, replayed through the shipped playbooks in passive mode.

use anyhow::Context as _;

use super::run::{Options, process};
use super::{Verdict, playbooks};
use crate::config::Config;
use crate::engine::testing::run_tests;
use crate::store::Store;

/// The attack story as JSONL detections (see `examples/attack-story.jsonl`).
pub const ATTACK_STORY: &str = include_str!("../../examples/attack-story.jsonl");
const DEMO_DATABASE: &str = "sqlite://stanch-demo.db";
const DEMO_PROTECTED: &str = "breakglass@contoso.com";

pub(crate) async fn demo(config: &Config) -> anyhow::Result<Verdict> {
    let mut config = config.clone();
    if config.database_url == Config::default().database_url {
        // A fresh database each time, so the demo tells the same story on every run.
        config.database_url = DEMO_DATABASE.to_string();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("stanch-demo.db{suffix}"));
        }
    }
    if !config
        .protected_accounts
        .iter()
        .any(|a| a.eq_ignore_ascii_case(DEMO_PROTECTED))
    {
        config.protected_accounts.push(DEMO_PROTECTED.to_string());
    }
    println!("== stanch demo: a multi-account Microsoft 365 hijack, replayed in passive mode ==\n");
    let Some(set) = playbooks::load(&config, Vec::new(), false).set else {
        anyhow::bail!(
            "the playbooks in {:?} have errors (listed above)",
            config.playbooks
        );
    };
    let outcomes = run_tests(&set);
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    println!(
        "loaded {} playbook(s); their {} built-in test(s): {} passed, {failed} failed",
        set.playbooks.len(),
        outcomes.len(),
        outcomes.len() - failed
    );
    println!(
        "protected accounts: {}\n",
        config.protected_accounts.join(", ")
    );

    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("opening {}", config.database_url))?;
    let options = Options {
        json: false,
        passive: true,
        quiet: false,
    };
    let summary = process(
        &config,
        &store,
        &set,
        None,
        Box::new(ATTACK_STORY.as_bytes()),
        "attack-story.jsonl (embedded)",
        None,
        &options,
    )
    .await?;

    let report = store
        .verify_audit()
        .await
        .context("verifying the audit trail")?;
    println!(
        "\naudit trail: {} record(s), hash chain {}",
        report.records_checked,
        if report.is_intact() {
            "intact"
        } else {
            "BROKEN"
        }
    );
    println!(
        "nothing was sent to Microsoft Graph: every action above is what stanch would have done."
    );
    println!(
        "next: `stanch audit verify --database-url {0}`, `stanch audit export --database-url {0}`",
        config.database_url
    );
    Ok(
        if summary.rejected == 0 && failed == 0 && report.is_intact() {
            Verdict::Clean
        } else {
            Verdict::Problems
        },
    )
}
