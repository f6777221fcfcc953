//! `stanch demo`: the attack story end to end. The Graph emulator starts in-process with the
//! story's tenant, the story's detections are replayed through the shipped playbooks in active
//! mode, and the demo prints what was detected, what was done, to whom, how long it took, and
//! each account's final state. `--passive` replays without acting.

use anyhow::Context as _;
use serde_json::Value;

use super::run::{Options, graph_runner, process};
use super::{Verdict, playbooks};
use crate::config::{Config, GraphSettings, SecretString, SecretUrl};
use crate::emulate::{Emulator, Fixture};
use crate::store::Store;
use stanch_core::engine::testing::run_tests;
use stanch_core::vocab::Mode;

/// The attack story as JSONL detections (see `examples/attack-story.jsonl`).
pub const ATTACK_STORY: &str = include_str!("../../examples/attack-story.jsonl");
/// The story's tenant, served by the emulator (see `examples/tenant.json`).
/// The attack story's tenant, built in: the demo and `stanch emulate` need no file.
pub(crate) const TENANT: &str = include_str!("../../examples/tenant.json");
const DEMO_DATABASE: &str = "sqlite://stanch-demo.db";
const DEMO_PROTECTED: &str = "breakglass@contoso.com";
const STORY_ACCOUNTS: [&str; 6] = [
    "a.silva@contoso.com",
    "b.jones@contoso.com",
    "c.lee@contoso.com",
    "d.patel@contoso.com",
    "e.novak@contoso.com",
    "breakglass@contoso.com",
];

pub(crate) async fn demo(config: &Config, passive: bool) -> anyhow::Result<Verdict> {
    let mut config = config.clone();
    if config.database_url == Config::default().database_url {
        // A fresh database each time, so the demo tells the same story on every run.
        config.database_url = SecretUrl::database(DEMO_DATABASE);
        // Its audit anchor goes with it: the anchor vouches for the database it replaces.
        for file in [
            "stanch-demo.db",
            "stanch-demo.db-wal",
            "stanch-demo.db-shm",
            "stanch-demo.audit-anchor",
        ] {
            let _ = std::fs::remove_file(file);
        }
    }
    if !config
        .protected_accounts
        .iter()
        .any(|a| a.eq_ignore_ascii_case(DEMO_PROTECTED))
    {
        config.protected_accounts.push(DEMO_PROTECTED.to_string());
    }
    let mode = if passive {
        "passive (nothing is changed)"
    } else {
        "active, against the Graph emulator"
    };
    println!("== stanch demo: a multi-account Microsoft 365 hijack, replayed in {mode} ==\n");
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
        "protected accounts: {}",
        config.protected_accounts.join(", ")
    );

    let fixture: Fixture = serde_json::from_str(TENANT).context("the embedded tenant fixture")?;
    let emulator = Emulator::new(fixture.clone())
        .spawn("127.0.0.1:0")
        .await
        .context("starting the Graph emulator")?;
    if !passive {
        connect_to_emulator(&mut config, &fixture, &emulator.url)?;
        println!(
            "Graph emulator with the story's tenant at {}\n",
            emulator.url
        );
    } else {
        println!();
    }

    let store = Store::open(config.database_url.expose())
        .await
        .with_context(|| format!("opening {}", config.database_url))?;
    let runner = if passive {
        None
    } else {
        graph_runner(&config, &store)?
    };
    let options = Options {
        json: false,
        passive,
        quiet: false,
    };
    let input = Box::new(ATTACK_STORY.as_bytes());
    let summary = process(
        &config,
        &store,
        &set,
        runner.as_ref(),
        input,
        "attack-story.jsonl (embedded)",
        None,
        &options,
    )
    .await?;

    if let Some(runner) = &runner {
        super::demo_approval::approve_through_a_signed_link(&config, &store, runner).await?;
    }
    if !passive {
        let after = emulator.emulator.state();
        print_accounts(&after, &fixture);
        super::demo_evidence::print_evidence(
            &serde_json::to_value(&fixture).unwrap_or_default(),
            &after,
        );
        let graph_calls = emulator
            .emulator
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v1.0"))
            .count();
        let contained = summary
            .executed
            .get("succeeded")
            .copied()
            .unwrap_or_default();
        println!(
            "\n{graph_calls} Graph request(s) for {contained} action(s) carried out; approvals are still pending for the rest."
        );
    }
    print_campaigns(&store).await?;
    let report = store
        .verify_audit()
        .await
        .context("verifying the audit trail")?;
    println!(
        "audit trail: {} record(s), hash chain {}",
        report.records_checked,
        if report.is_intact() {
            "intact"
        } else {
            "BROKEN"
        }
    );
    if passive {
        println!(
            "nothing was sent to Microsoft Graph: every action above is what stanch would have done."
        );
    }
    println!(
        "next: `stanch audit verify --database-url {0}`, `stanch actions list --database-url {0}`",
        config.database_url
    );
    let ok = summary.rejected == 0
        && failed == 0
        && report.is_intact()
        && !summary.executed.contains_key("failed");
    Ok(if ok {
        Verdict::Clean
    } else {
        Verdict::Problems
    })
}

/// Active mode, with Graph, the token service and the notification channel all at the emulator.
fn connect_to_emulator(config: &mut Config, fixture: &Fixture, url: &str) -> anyhow::Result<()> {
    let tenant = serde_json::to_value(fixture)?;
    let client = tenant["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["privileged"] != true)
        .context("the fixture has no client")?;
    let group = tenant["groups"].as_array().into_iter().flatten().find(|g| {
        g["displayName"]
            .as_str()
            .is_some_and(|n| n.contains("Quarantine"))
    });
    config.mode = Mode::Active;
    config.graph = Some(GraphSettings {
        tenant_id: tenant["tenantId"].as_str().unwrap_or_default().to_string(),
        client_id: client["id"].as_str().unwrap_or_default().to_string(),
        client_secret: client["secret"].as_str().map(SecretString::new),
        cloud: "global".into(),
        graph_url: Some(url.to_string()),
        login_url: Some(url.to_string()),
        ..GraphSettings::default()
    });
    config.containment.quarantine_group_id =
        group.and_then(|g| g["id"].as_str()).map(str::to_string);
    config.notify.insert(
        "default".into(),
        SecretUrl::webhook(format!("{url}/_emulator/webhook")),
    );
    Ok(())
}

/// The campaigns the story formed: who is in them and whether they were confirmed.
async fn print_campaigns(store: &Store) -> anyhow::Result<()> {
    let campaigns = store.campaigns().await?;
    println!("\n== campaigns (`stanch campaigns show ID` tells each one) ==");
    for c in &campaigns {
        println!(
            "{}: {} account(s) ({}), networks {}; {}",
            c.id,
            c.accounts,
            c.account_list.join(", "),
            c.networks.join(", "),
            match (&c.confirmed_at, &c.confirmed_by) {
                (Some(at), Some(by)) => format!("confirmed {at} by {by}"),
                _ => "not confirmed".to_string(),
            }
        );
    }
    Ok(())
}

/// Each story account before → after: sign-in, sessions, risk, quarantine, inbox rules.
fn print_accounts(after: &Value, fixture: &Fixture) {
    let before = serde_json::to_value(fixture).unwrap_or_default();
    println!("\n== final state of the story's accounts ==");
    for upn in STORY_ACCOUNTS {
        let user = |state: &Value| {
            state["users"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|u| u["userPrincipalName"] == upn)
                .cloned()
                .unwrap_or_default()
        };
        let (was, now) = (user(&before), user(after));
        let id = now["id"].as_str().unwrap_or_default();
        let quarantined = after["groups"].as_array().into_iter().flatten().any(|g| {
            g["displayName"]
                .as_str()
                .is_some_and(|n| n.contains("Quarantine"))
                && g["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m == id)
        });
        let risk = after["riskyUsers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["id"] == id)
            .map(|r| r["riskState"].as_str().unwrap_or("none").to_string())
            .unwrap_or_else(|| "none".into());
        let rules = after["inboxRules"][upn]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let disabled: Vec<&str> = rules
            .iter()
            .filter(|r| r["isEnabled"] == false)
            .filter_map(|r| r["displayName"].as_str())
            .collect();
        println!(
            "{upn:<24} sign-in {:<8} sessions {:<9} risk {:<22} legacy auth {:<8} rules disabled: {}",
            if now["accountEnabled"] == false {
                "BLOCKED"
            } else {
                "allowed"
            },
            if now["signInSessionsValidFromDateTime"] != was["signInSessionsValidFromDateTime"] {
                "revoked"
            } else {
                "untouched"
            },
            risk,
            if quarantined { "blocked" } else { "allowed" },
            if disabled.is_empty() {
                "none".to_string()
            } else {
                disabled
                    .iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
    }
}
